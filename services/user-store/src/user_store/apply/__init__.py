"""Applying ingestion events: identity resolution (docs/design.md, "Identity resolution") and the
canonical write, one module per idea:

* :mod:`.context` — the session, tenant, clock and batch state an applier works in;
* :mod:`.writes` — row writes and the fast path's deferred e-mail rows;
* :mod:`.resolution` — how an event finds its account (rules 1, 2) and uniqueness (rule 4);
* :mod:`.outcomes` — the reply, the lifecycle events, a user update's version bump (rule 7);
* :mod:`.scim_users` — the SCIM user lifecycle (rules 1, 3, 4, 5);
* :mod:`.logins` — JIT logins (rules 2, 6 and the decision table);
* :mod:`.groups` — groups, memberships, and login-made groups;
* :mod:`.applier` — :class:`Applier`, which composes them and routes each event.

Everything here runs inside the caller's transaction and returns what to publish; it never
commits and never talks to the bus.
"""

from user_store.apply.applier import Applier
from user_store.apply.context import ApplyContext
from user_store.apply.outcomes import Outcome
from user_store.apply.writes import USER_FIELDS

__all__ = ["USER_FIELDS", "Applier", "ApplyContext", "Outcome"]
