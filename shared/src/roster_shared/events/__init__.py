"""Event contracts: the envelope, ingestion events, lifecycle events and replies.

Import modules, not names, where names repeat across topics::

    from roster_shared.events import ingest, lifecycle
    ingest.UserDeactivated    # a source says: take access away
    lifecycle.UserDeactivated # the user-store says: access was taken away
"""

from roster_shared.events import ingest, lifecycle, people, replies
from roster_shared.events.envelope import EnvelopeBase, Source, new_id, utcnow

__all__ = ["EnvelopeBase", "Source", "ingest", "lifecycle", "new_id", "people", "replies", "utcnow"]
