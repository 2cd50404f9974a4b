"""Any filter text a client sends is answered with a page (200) or a SCIM 400 - never a 500.

Hypothesis strings together tokens of the filter grammar (attribute names of every kind,
operators, literals of every type, brackets and keywords) in orders both valid and not, and
sends them through the whole path: the scim-api's parser, the user-store's SQL compiler, the
database.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.scim.stack import ERROR, Tenant

# 300 filters through the whole stack (HTTP, bus, database) per run: out of the fast loop.
pytestmark = pytest.mark.slow

TOKENS = st.sampled_from(
    [
        "userName",
        "USERNAME",
        "externalId",
        "active",
        "title",
        "name.givenName",
        "name",
        "emails",
        "emails.value",
        "emails.type",
        "emails.primary",
        "groups",
        "meta.created",
        "meta.lastModified",
        "meta.version",
        "id",
        "phoneNumbers",
        "members",
        "password",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        "nosuch",
        "value",
        "type",
        "eq",
        "ne",
        "co",
        "sw",
        "ew",
        "gt",
        "ge",
        "lt",
        "le",
        "pr",
        "and",
        "or",
        "not",
        "(",
        ")",
        "[",
        "]",
        '"a"',
        '"%_"',
        '"2020-01-01T00:00:00Z"',
        '"\\u00df"',
        "true",
        "false",
        "null",
        "1",
        "-2.5",
        "1e999",
        '"',
        "'x'",
        ".value",
    ]
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tokens=st.lists(TOKENS, min_size=1, max_size=8))
async def test_any_filter_is_a_page_or_a_scim_400(acme: Tenant, tokens: list[str]) -> None:
    text = " ".join(tokens)
    for path in ("/Users", "/Groups"):
        status, body, _ = await acme.request("GET", path, params={"filter": text})
        assert status in (200, 400), (text, body)
        if status == 400:
            assert body["schemas"] == [ERROR] and body["scimType"] in ("invalidFilter", "tooMany")
