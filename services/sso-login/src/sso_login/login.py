"""The JIT use case: tell the user-store who just logged in, and let it decide.

sso-login never writes the database. It first asks the user-store, in one internal read,
whether the login is of a returning user it would not change (``roster_shared.login_reads``:
linked by this issuer + subject to a live, active account whose login-managed attributes and
groups already equal the assertion's, under the tenant's mode). Then the login proceeds as that
account, and its ``UserUpserted`` (source ``jit``) is published without waiting for the
user-store's reply: it records the last login. Otherwise it publishes the same event and waits
for the reply; the user-store applies the rules of the tenant's mode (docs/design.md, "Identity
resolution"): it may create, update or refuse (not provisioned, deactivated, link refused).
"""

from __future__ import annotations

import logging

import aiohttp
from pydantic import ValidationError
from roster_shared.bus.ingest import IngestClient, IngestUnavailable
from roster_shared.bus.requests import Requester
from roster_shared.events import ingest
from roster_shared.events.envelope import Source, utcnow
from roster_shared.events.people import IdentityLink, UserSnapshot
from roster_shared.events.replies import ErrorCode
from roster_shared.tenants import TenantInfo
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError

from sso_login.errors import AccessDenied, LoginError, Unavailable
from sso_login.mapping import MappedUser

log = logging.getLogger(__name__)


def login_event(
    tenant: TenantInfo,
    person: MappedUser,
    *,
    issuer: str,
    subject_format: str | None,
    correlation_id: str | None,
) -> ingest.UserUpserted:
    """The ingestion event of a login (also what Test sign-in's dry run sends)."""
    try:
        return ingest.UserUpserted(
            tenant_id=tenant.id,
            source=Source.JIT,
            correlation_id=correlation_id,
            data=ingest.UserUpsertedData(
                attributes=person.attributes,
                identity_link=IdentityLink(
                    issuer=issuer, subject=person.subject, subject_format=subject_format
                ),
                link_keys=person.link_keys,
                groups=person.groups,
                login_at=utcnow(),
            ),
        )
    except ValidationError as exc:
        # The shared contract's rules: nothing the user-store could not store is published.
        raise LoginError(
            "Your organisation's identity provider sent details we could not accept.",
            reason=f"refused before publishing: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}",
        ) from exc


async def provision(
    requester: Requester,
    store: UserStoreClient,
    ingest_topic: str,
    tenant: TenantInfo,
    person: MappedUser,
    *,
    issuer: str,
    subject_format: str | None,
    correlation_id: str | None,
    timeout: float,  # noqa: ASYNC109 - passed to the requester
) -> UserSnapshot:
    """The canonical user the login may proceed as, or a :class:`LoginError`."""
    event = login_event(
        tenant, person, issuer=issuer, subject_format=subject_format, correlation_id=correlation_id
    )
    client = IngestClient(requester, ingest_topic, timeout)
    returning = await _returning(store, tenant, event.data)
    if returning is not None:
        # A returning user the login does not change: the read answered it. The last login is
        # still recorded by the very event the write path would have sent, on the same
        # per-tenant ordered topic, applied exactly once by its event id with every rule (a
        # deactivation that lands in between is applied first, and the record is refused).
        # We wait for the bus to take it (acks=all: durable, not lost if we crash after the
        # redirect), but not for the user-store's apply and reply: that round trip is what a
        # returning login no longer pays. A bus that cannot take it fails the login as the
        # write path would, so a login is never answered with its record silently dropped.
        try:
            await client.publish(event)
        except IngestUnavailable as exc:
            raise Unavailable("Sign-in is unavailable right now; please try again.") from exc
        return returning
    try:
        reply = await client.submit(event)
    except IngestUnavailable as exc:
        raise Unavailable("Sign-in is unavailable right now; please try again.") from exc
    if reply.error is not None:
        code = reply.error.code
        if code is ErrorCode.NOT_PROVISIONED:
            raise AccessDenied(
                "Your organisation has not given you access to this application yet. "
                "Ask your administrator to assign it to you.",
                reason=reply.error.detail,
            )
        if code is ErrorCode.LINK_REFUSED:
            # Never say which account the login pointed at: the person may be an attacker.
            raise AccessDenied(
                "Your sign-in could not be matched safely to an account in this application. "
                "Ask your administrator to check how your identity provider identifies you.",
                reason=f"link refused: {reply.error.detail}",
            )
        if code is ErrorCode.DEACTIVATED:
            raise AccessDenied(
                "Your account for this application is deactivated. "
                "Ask your administrator if you need access.",
                reason=reply.error.detail,
            )
        raise LoginError(
            "Your organisation's identity provider sent details we could not accept.",
            reason=f"{code.value}: {reply.error.detail}",
        )
    if reply.user is None or not reply.user.active:
        raise AccessDenied("Your account for this application is not active.", reason="inactive")
    return reply.user


async def _returning(
    store: UserStoreClient, tenant: TenantInfo, login: ingest.UserUpsertedData
) -> UserSnapshot | None:
    """The account a returning, unchanged login proceeds as; None takes the write path (also
    when the read fails: the write path is the authoritative one, and answers for itself)."""
    try:
        user = await store.returning_login(tenant.id, login)
    except (UserStoreClientError, aiohttp.ClientError, TimeoutError) as exc:
        log.warning(
            "returning-login read failed; taking the write path",
            extra={"tenant": tenant.slug, "error": str(exc)},
        )
        return None
    return user if user is not None and user.active else None
