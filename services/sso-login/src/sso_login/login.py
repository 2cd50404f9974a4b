"""The JIT use case: tell the user-store who just logged in, and let its reply decide.

sso-login never writes the database: it publishes ``UserUpserted`` (source ``jit``, with the
identity link issuer + subject) and waits for the reply. The user-store applies the rules of the
tenant's mode (docs/design.md, "Identity resolution"): it may create, update or refuse (not
provisioned, deactivated).
"""

from __future__ import annotations

from pydantic import ValidationError
from roster_shared.bus.ingest import IngestClient, IngestUnavailable
from roster_shared.bus.requests import Requester
from roster_shared.events import ingest
from roster_shared.events.envelope import Source, utcnow
from roster_shared.events.people import IdentityLink, UserSnapshot
from roster_shared.events.replies import ErrorCode
from roster_shared.tenants import TenantInfo

from sso_login.errors import AccessDenied, LoginError, Unavailable
from sso_login.mapping import MappedUser


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
    try:
        reply = await IngestClient(requester, ingest_topic, timeout).submit(event)
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
