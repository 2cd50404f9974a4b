"""A downstream app that keeps its own ``users`` table in step with Roster, over Kafka.

It is the example of ``docs/consuming-events.md``: the first start bootstraps the tenant's users
from ``roster.users``; after that it follows ``roster.lifecycle``. Every change and the id of the
event that caused it are written in one SQLite transaction, so a crash at any point either kept
both or neither, and a redelivered event is recognised by its id and skipped.

    python examples/user-mirror/user_mirror.py --kafka localhost:9092 \
        --tenant 7f1c3a52-9d7e-4c1e-8d5f-2b0c4e6a8f10 --database mirror.db

SIGTERM or Ctrl-C stops it after the event in hand; it prints its counters as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import signal
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from roster_events import ConsumerConfig, LifecycleConsumer, LifecycleEvent, UnsupportedEvent
from roster_shared.events import lifecycle
from roster_shared.events.people import UserSnapshot

log = logging.getLogger("user_mirror")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    external_id TEXT,
    active INTEGER NOT NULL,
    display_name TEXT,
    given_name TEXT,
    family_name TEXT,
    emails TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS handled_events (
    event_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    handled_at TEXT NOT NULL
);
"""

# Newer versions only: an event read again after a replay never takes a user back in time.
UPSERT = """
INSERT INTO users (id, tenant_id, user_name, external_id, active, display_name, given_name,
                   family_name, emails, version)
VALUES (:id, :tenant_id, :user_name, :external_id, :active, :display_name, :given_name,
        :family_name, :emails, :version)
ON CONFLICT (id) DO UPDATE SET
    user_name = excluded.user_name, external_id = excluded.external_id,
    active = excluded.active, display_name = excluded.display_name,
    given_name = excluded.given_name, family_name = excluded.family_name,
    emails = excluded.emails, version = excluded.version
WHERE excluded.version > users.version
"""

USER_CHANGES = (
    lifecycle.UserCreated,
    lifecycle.UserUpdated,
    lifecycle.UserDeactivated,
    lifecycle.UserReactivated,
)


class MirrorStore:
    """The app's own database. Also the consumer's de-duplicator: an event id is remembered in
    the transaction of the change it caused.

    sqlite3 is synchronous; each call here is one small local transaction, short enough to run
    on the event loop of an app that does nothing else.
    """

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript(SCHEMA)

    async def seen(self, event_id: str) -> bool:
        """Whether the event was applied before (the consumer skips it)."""
        row = self.db.execute("SELECT 1 FROM handled_events WHERE event_id = ?", (event_id,))
        return row.fetchone() is not None

    async def remember(self, event_id: str) -> None:
        """Nothing to do: :meth:`apply` recorded the id with the change."""

    def apply(
        self, event_id: str | None, type_: str, upsert: UserSnapshot | None, drop: str | None
    ) -> None:
        """One change and its event id, in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            if upsert is not None:
                self.db.execute(UPSERT, _row(upsert))
            if drop is not None:
                self.db.execute("DELETE FROM users WHERE id = ?", (drop,))
            if event_id is not None:
                self.db.execute(
                    "INSERT INTO handled_events VALUES (?, ?, ?)",
                    (event_id, type_, datetime.now(UTC).isoformat()),
                )


def _row(user: UserSnapshot) -> dict[str, object]:
    return {
        "id": user.id,
        "tenant_id": user.tenant_id,
        "user_name": user.user_name,
        "external_id": user.external_id,
        "active": int(user.active),
        "display_name": user.display_name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "emails": json.dumps([email.value for email in user.emails]),
        "version": user.version,
    }


class Mirror:
    """The handler: what each snapshot and event means for the ``users`` table."""

    def __init__(self, store: MirrorStore) -> None:
        self.store = store

    async def on_snapshot(self, user: UserSnapshot) -> None:
        self.store.apply(None, "snapshot", user, None)

    async def on_gone(self, tenant_id: str, user_id: str) -> None:
        self.store.apply(None, "snapshot", None, user_id)

    async def on_event(self, event: LifecycleEvent) -> None:
        if isinstance(event, USER_CHANGES):
            self.store.apply(event.event_id, event.type, event.data.user, None)
        elif isinstance(event, lifecycle.UserDeleted):
            self.store.apply(event.event_id, event.type, None, event.data.user.id)
        else:
            # Groups and memberships: this app does not keep them; remember the id all the same.
            self.store.apply(event.event_id, event.type, None, None)

    async def on_unsupported(self, problem: UnsupportedEvent) -> None:
        log.warning("skipped: %s", problem.reason)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Mirror a Roster tenant's users into SQLite.")
    parser.add_argument("--kafka", required=True, help="Kafka bootstrap servers (host:port)")
    parser.add_argument("--tenant", required=True, help="the tenant id (UUID)")
    parser.add_argument("--database", required=True, help="the SQLite file of the app")
    parser.add_argument("--group", default="user-mirror", help="consumer group (user-mirror)")
    parser.add_argument("--topic-prefix", default="", help="ROSTER_TOPIC_PREFIX of the install")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, int]:
    store = MirrorStore(args.database)
    consumer = LifecycleConsumer(
        ConsumerConfig(
            bootstrap_servers=args.kafka,
            group=args.group,
            tenant_id=args.tenant,
            topic_prefix=args.topic_prefix,
        ),
        Mirror(store),
        dedup=store,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, consumer.stop)
    await consumer.run()
    return {**dataclasses.asdict(consumer.stats), "bootstrapped": int(consumer.bootstrapped)}


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    stats = asyncio.run(run(parse(argv)))
    print(json.dumps(stats), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
