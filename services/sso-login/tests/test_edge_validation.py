"""A login whose attributes the user-store could not store is refused before anything is
published (roster_shared.events.text, issue 12): a MappingError for the mapped attributes, a
LoginError for the identity link, never a 500."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest
from roster_shared.bus.requests import Requester
from roster_shared.events.envelope import utcnow
from roster_shared.tenants import ProvisioningMode, TenantInfo, TenantPolicy
from roster_shared.userstore_client import UserStoreClient
from sso_login.errors import LoginError
from sso_login.login import provision
from sso_login.mapping import MappingError, map_user


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"email": "ada\u0000@example.com"}, "U+0000"),
        ({"email": "ada@example.com", "given_name": "x" * 300}, "at most 256"),
        ({"email": "ada@example.com", "name": "Ada\nLovelace"}, "control character"),
    ],
)
def test_unstorable_claims_are_a_mapping_error(claims: dict[str, Any], why: str) -> None:
    with pytest.raises(MappingError, match=re.escape(why)):
        map_user(claims, subject="sub-1", mapping="generic")


class _NeverSends(Requester):
    def __init__(self) -> None:
        self.sent = 0

    async def request(self, *_args: Any, **_kwargs: Any) -> Any:  # pragma: no cover
        self.sent += 1
        raise AssertionError("nothing may be published")


async def test_an_unstorable_subject_is_refused_before_publishing() -> None:
    person = map_user({"email": "ada@example.com"}, subject="sub-1", mapping="generic")
    person = type(person)(
        subject="sub\u00001",
        attributes=person.attributes,
        groups=person.groups,
        link_keys=person.link_keys,
    )
    tenant = TenantInfo(
        id="0b0e7c0e-52b4-4c43-9a4f-6f3f2f1f0a11",
        slug="acme",
        mode=ProvisioningMode.SCIM_JIT,
        policy=TenantPolicy(),
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    requester = _NeverSends()
    with pytest.raises(LoginError) as refused:
        await provision(
            requester,
            cast(UserStoreClient, None),  # never asked: refused before the read
            "roster.ingest",
            tenant,
            person,
            issuer="https://idp.example.com",
            subject_format=None,
            correlation_id=None,
            timeout=5,
        )
    assert refused.value.status == 400
    assert "U+0000" in refused.value.reason
    assert requester.sent == 0
