"""A Jepsen-style fault run of Roster on its production path (issue 12).

Kafka and PostgreSQL as the tests start them, the user-store and scim-api as ``roster serve``
processes, an IdP-like load generator that retries and records every SCIM request as
acknowledged, failed or indeterminate, faults injected mid-load, then a set check of what the
IdP was told against PostgreSQL, ``roster.lifecycle`` and ``roster.users``.

    fleet     - the ``roster serve`` processes of one run (start, kill -9, restart, readiness)
    idp       - the load generator and what it was told
    check     - the set check
    scenarios - the faults, and one function that runs a scenario end to end

``bench/faults.py`` runs every scenario and prints a table; ``tests/integration/test_fault_run.py``
keeps one of them in the test suite.
"""
