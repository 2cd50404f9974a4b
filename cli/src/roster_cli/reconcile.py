"""``roster tenant advise``, ``roster directory connect`` and ``roster reconcile``.

The advice is pure logic (``reconciler.advice``). In production (``--url``) connecting a directory
and running the reconciler go to the running reconciler's API, which publishes on the bus for the
running user-stores. On a database (``--data``; ``--database-url``) the directory's settings are
written straight to it, and a run is the reconciler's own code in this process, reading through a
user-store composed by :mod:`roster_cli.compose` for the length of the run: on the embedded store
that user-store also applies the run's events (an in-process bus); on any other database the run
publishes on Kafka for the running user-stores and waits for their replies. Nothing migrates.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from reconciler.advice import Requirements, advise
from reconciler.credentials import Vault, new_key
from reconciler.errors import NotConfigured
from reconciler.policy import (
    DEFAULT_SESSION_MAX_AGE,
    DIRECTORY_SECTION,
    ReconcilerPolicy,
    session_max_age,
    tenant_policy,
)
from reconciler.records import RunRecord
from reconciler.routes import directory_config
from reconciler.runs import Reconciler
from reconciler.store import StateStore
from roster_shared.bus.base import Bus
from roster_shared.bus.memory import MemoryBus
from roster_shared.bus.requests import Requester
from roster_shared.settings import RosterSettings
from roster_shared.topics import Topics
from roster_shared.userstore_client import UserStoreClient
from sqlalchemy.engine import make_url
from user_store.db import create_engine, normalise_url

from roster_cli.api import AdminApi
from roster_cli.compose import Wiring, listening, user_store
from roster_cli.data import describe_url
from roster_cli.schema import require_newest
from roster_cli.tenants import Admin, Outcome, admin_of

KEY_ENV = "ROSTER_DIRECTORY_KEY"
KEY_FILE = "directory-key"


async def advice(
    requirements: Requirements, *, url: Admin | str | None = None, tenant: str | None = None
) -> Outcome:
    """``roster tenant advise``: with ``tenant`` (read through ``url``, an admin or a database
    URL), under that tenant's reconciler policy."""
    policy = ReconcilerPolicy()
    session = DEFAULT_SESSION_MAX_AGE
    if tenant is not None and url is not None:
        settings = (await admin_of(url).tenant(tenant)).settings
        policy = tenant_policy(settings)
        session = session_max_age(settings)
    result = advise(requirements, policy, session_max_age=session)
    lines = [
        f"Recommended mode: {result.mode}"
        + ("" if result.meets_requirements else "  (does NOT meet every requirement: see below)"),
        "",
        "Worst-case delay between someone leaving and losing access:",
        f"  {result.worst_case_delay}",
        "",
        "Why:",
        *(f"  - {reason}" for reason in result.reasons),
        "",
        "What removes access: " + "; ".join(result.signals),
    ]
    if result.warnings:
        lines += ["", "Warnings:", *(f"  ! {warning}" for warning in result.warnings)]
    if result.next_steps:
        lines += ["", "Next steps:", *(f"  $ {step}" for step in result.next_steps)]
    return Outcome(result.model_dump(mode="json"), "\n".join(lines))


# -- directory connect ---------------------------------------------------------------------


def directory_key(data: Path | None) -> str | None:
    """``$ROSTER_DIRECTORY_KEY``, else (embedded) the key kept in ``DIR/directory-key``,
    made on first use (mode 0600)."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return from_env
    if data is None:
        return None
    path = data / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip() or None
    key = new_key()
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(key + "\n")
    return key


async def connect(
    where: Admin | str, ref: str, kind: str, api_url: str | None, token: str, key: str | None
) -> Outcome:
    """``roster directory connect``: the token is stored encrypted and never shown again."""
    admin = admin_of(where)
    if isinstance(admin, AdminApi):
        data = await admin.connect_directory(ref, kind, api_url, token)
    else:
        config = directory_config(Vault(key), kind, api_url, token)
        tenant = await admin.put_settings(ref, DIRECTORY_SECTION, config.model_dump())
        data = {"tenant": tenant.slug, "kind": config.kind, "url": config.url}
    slug = data["tenant"]
    text = (
        f"Tenant {slug!r} now reads its directory from {data['url']} ({data['kind']}); "
        "the token is stored encrypted.\n"
        f"Try it without changing anything: roster reconcile {slug} --dry-run"
    )
    return Outcome(data, text)


# -- reconcile -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def local_reconciler(
    url: str, key: str | None, *, migrate_hint: str | None = None
) -> AsyncIterator[Reconciler]:
    """A reconciler in this process, and the user-store's internal API on a loopback port.

    On the embedded store (SQLite) the user-store also consumes, on an in-process bus, so the
    run's events are applied before this returns. On any other database the events must reach
    the production user-stores: the run publishes on Kafka (``ROSTER_KAFKA_BOOTSTRAP``,
    ``ROSTER_TOPIC_PREFIX``) and waits for their replies, and nothing here consumes. The schema
    must be the newest already (``migrate_hint`` says how, in the error).
    """
    embedded = make_url(normalise_url(url)).get_backend_name() == "sqlite"
    common = RosterSettings()
    topics = Topics(common.topic_prefix)
    bus: Bus
    if embedded:
        bus = MemoryBus()
    elif common.kafka_bootstrap:
        from roster_shared.bus.kafka import KafkaBus

        bus = KafkaBus(common.kafka_bootstrap, client_id=f"{common.kafka_client_id}-cli")
    else:
        raise NotConfigured(
            "on a shared database the run must publish where the user-stores consume: set "
            "ROSTER_KAFKA_BOOTSTRAP (and ROSTER_TOPIC_PREFIX), or use the reconciler's API "
            "(roster reconcile --url URL --admin-token TOKEN)"
        )
    engine = create_engine(url)
    where = describe_url(url)
    try:
        await require_newest(
            engine, where, migrate_hint or f"roster migrate --database-url {where}"
        )
    except BaseException:
        await engine.dispose()
        raise
    internal = secrets.token_urlsafe(24)
    sock = socket.create_server(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    wiring = Wiring(
        database_url=url,
        self_url=base,
        admin_token=secrets.token_urlsafe(24),
        internal_token=internal,
        topic_prefix=common.topic_prefix,
        overrides={"user-store": {"migrate_on_start": False}},
    )
    await bus.start()
    try:
        app = user_store(wiring, bus=bus, engine=engine, consume=embedded)
        async with listening(app, sock):
            users = UserStoreClient(base, token=internal)
            store = StateStore(base, token=internal)
            requester = Requester(bus, topic=topics.replies)
            await users.start()
            await store.start()
            await requester.start()
            try:
                yield Reconciler(
                    users,
                    store,
                    bus,
                    vault=Vault(key),
                    topics=topics,
                    instance=f"cli-{socket.gethostname()}-{os.getpid()}",
                    requester=requester,
                )
            finally:
                await requester.stop()
                await store.close()
                await users.close()
    finally:
        await bus.stop()


def _record_text(record: RunRecord) -> str:
    lines = [
        f"Run {record.id} of tenant {record.tenant!r} ({record.mode}): {record.status}"
        + (" (dry run)" if record.dry_run else ""),
    ]
    if record.error:
        lines.append(f"  error: {record.error}")
    if record.directory:
        d = record.directory
        lines.append(
            f"  directory {d['kind']}: {d['listed']} listed ({d['disabled']} disabled, "
            f"{d['deleted']} deleted) in {d['pages']} pages, {d['retries']} retries"
        )
    if record.checked:
        lines.append("  checked: " + ", ".join(f"{k} {v}" for k, v in record.checked.items()))
    for action in record.actions:
        lines.append(f"  {action.action} {action.user_name} [{action.outcome}]: {action.reason}")
    for action in record.reported:
        lines.append(f"  report {action.user_name}: {action.reason}")
    lines += [f"  note: {note}" for note in record.notes]
    if record.status == "held":
        lines.append(f"  approve with: roster reconcile {record.tenant} --approve {record.id}")
    return "\n".join(lines)


async def reconcile(
    where: Admin | str,
    ref: str,
    key: str | None,
    *,
    dry_run: bool = False,
    approve: str | None = None,
    reject: str | None = None,
    by: str = "cli",
) -> Outcome:
    """``roster reconcile``: run now (or approve / reject a held run); the run record."""
    admin = admin_of(where)
    if isinstance(admin, AdminApi):
        if approve:
            record = await admin.decide(ref, approve, "approve", by)
        elif reject:
            record = await admin.decide(ref, reject, "reject", by)
        else:
            record = await admin.run(ref, dry_run=dry_run)
    else:
        async with local_reconciler(admin.url, key, migrate_hint=admin.migrate_hint) as reconciler:
            if approve:
                record = await reconciler.approve(ref, approve, by=by)
            elif reject:
                record = await reconciler.reject(ref, reject, by=by)
            else:
                record = await reconciler.run(ref, dry_run=dry_run)
    return Outcome(record.model_dump(mode="json"), _record_text(record))


async def runs(where: Admin | str, ref: str, limit: int) -> Outcome:
    """``roster reconcile TENANT --runs``: the latest run records."""
    slug, found = await admin_of(where).runs(ref, limit)
    lines = [f"Runs of tenant {slug!r} (newest first):"]
    for record in found:
        actions = record.get("actions") or []
        lines.append(
            f"  {record['id']}  {record['started_at']}  {record['status']:<9}  "
            f"{'dry run  ' if record.get('dry_run') else ''}{len(actions)} action(s)"
        )
    if not found:
        lines.append(f"  none yet; run one with: roster reconcile {slug} --dry-run")
    return Outcome({"tenant": slug, "runs": found}, "\n".join(lines))
