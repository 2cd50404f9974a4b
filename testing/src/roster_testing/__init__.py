"""roster_testing: real Kafka and PostgreSQL for Roster's tests, with or without Docker.

* :mod:`roster_testing.infra` - ``kafka_service()`` / ``postgres_service()`` context managers
  choosing env-provided servers, testcontainers, or the local launchers;
* :mod:`roster_testing.kafka` - ``ensure_kafka_classpath()`` and ``LocalKafka`` (KRaft broker
  from Maven Central jars);
* :mod:`roster_testing.postgres` - ``LocalPostgres`` and per-test database helpers;
* :mod:`roster_testing.pytest_plugin` - fixtures ``kafka_bootstrap``, ``postgres_url``,
  ``fresh_database_url``;
* ``python -m roster_testing up|fetch`` - the same servers for benchmarks, jar prefetch for CI.

Submodules are imported on demand so that importing the package stays cheap.
"""
