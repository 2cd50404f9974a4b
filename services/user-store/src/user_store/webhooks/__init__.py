"""What the webhooks service keeps, stored here because only the user-store writes the database:
:mod:`.tables` (endpoints, consumed events, deliveries, attempts), :mod:`.endpoints` (endpoints
and their secrets), :mod:`.deliveries` (fan-out, ordered claims, attempts), :mod:`.on_demand`
(replays, test events), :mod:`.retention` (pruning) and :mod:`.internal_api` (served to the
webhooks service over the internal API)."""

from user_store.webhooks.internal_api import routes

__all__ = ["routes"]
