"""What the reconciler keeps between runs, stored here because the reconciler never writes the
database: :mod:`.storage` holds the lease, the run records, the state document and the user scan;
:mod:`.internal_api` serves them to the reconciler over the internal API.
"""

from user_store.reconciler_state.internal_api import SECTIONS, routes
from user_store.reconciler_state.storage import (
    RUN_STATUSES,
    acquire_lease,
    get_run,
    get_state,
    list_runs,
    put_state,
    release_lease,
    save_run,
    scan_users,
)

__all__ = [
    "RUN_STATUSES",
    "SECTIONS",
    "acquire_lease",
    "get_run",
    "get_state",
    "list_runs",
    "put_state",
    "release_lease",
    "routes",
    "save_run",
    "scan_users",
]
