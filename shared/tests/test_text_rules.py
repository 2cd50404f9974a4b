"""The one set of text rules the contracts enforce (roster_shared.events.text): what a decoded
ingestion event holds is what the user-store's database can store."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from roster_shared.events import ingest
from roster_shared.events.text import correlation, is_token

TENANT = str(uuid.uuid4())


def _upsert(**attributes: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "user.upserted",
        "tenant_id": TENANT,
        "source": "scim",
        "data": {"attributes": {"user_name": "kim@example.com", **attributes}},
    }


def _refused(raw: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        ingest.INGEST_ADAPTER.validate_json(json.dumps(raw))
    return str(caught.value)


def test_a_valid_event_decodes() -> None:
    event = ingest.INGEST_ADAPTER.validate_json(json.dumps(_upsert(extra={"title": "Boss"})))
    assert isinstance(event, ingest.UserUpserted)


@pytest.mark.parametrize(
    ("attributes", "where", "why"),
    [
        ({"user_name": "kim\u0000@example.com"}, "user_name", "U+0000"),
        ({"user_name": "kim\n@example.com"}, "user_name", "control character U+000A"),
        ({"user_name": "k" * 513}, "user_name", "at most 512"),
        ({"external_id": "x\u0000"}, "external_id", "U+0000"),
        ({"display_name": "\u0085"}, "display_name", "U+0085"),
        ({"emails": [{"value": "a\u0000@example.com"}]}, "emails.0.value", "U+0000"),
        ({"extra": {"title": "a\u0000b"}}, "extra", "title contains U+0000"),
        ({"extra": {"a\u0000": 1}}, "extra", "a key contains U+0000"),
    ],
)
def test_unstorable_attributes_are_refused_naming_them(
    attributes: dict[str, Any], where: str, why: str
) -> None:
    detail = _refused(_upsert(**attributes))
    assert f"data.attributes.{where}" in detail
    assert why in detail


def test_a_lone_surrogate_is_refused_when_built_in_python() -> None:
    # Python's json module turns "\ud800" into a lone surrogate, which cannot be encoded as UTF-8.
    surrogate = json.loads('"a\\ud800"')
    with pytest.raises(ValidationError, match="user_name"):
        ingest.UserUpsertedData(attributes={"user_name": surrogate})
    with pytest.raises(ValidationError, match="lone surrogate"):
        ingest.UserUpsertedData(
            attributes={"user_name": "kim@example.com", "extra": {"title": surrogate}}
        )


def test_deep_extra_is_refused() -> None:
    deep: Any = "leaf"
    for _ in range(20):
        deep = {"x": deep}
    assert "deeper than 16" in _refused(_upsert(extra=deep))


@pytest.mark.parametrize(
    "event_id", ["e" * 65, "a b", "", "-leading", "x\u0000", "\u00e9t\u00e9", ".."]
)
def test_event_ids_have_the_documented_form(event_id: str) -> None:
    raw = _upsert()
    raw["event_id"] = event_id
    assert "event_id" in _refused(raw)


def test_ids_in_data_have_the_documented_form() -> None:
    raw = {
        "type": "user.deactivated",
        "tenant_id": TENANT,
        "source": "reconciler",
        "data": {"user_id": "u" * 100},
    }
    assert "data.user_id" in _refused(raw)
    raw = {
        "type": "group.members_changed",
        "tenant_id": TENANT,
        "source": "scim",
        "data": {"group_id": str(uuid.uuid4()), "add": ["ok", "not ok"]},
    }
    assert "data.add.1" in _refused(raw)


def test_tokens() -> None:
    assert is_token(str(uuid.uuid4()))
    assert is_token("_a1b2c3") and is_token("x" * 64)
    assert not is_token("x" * 65) and not is_token("") and not is_token(None)
    assert correlation("req-1") == "req-1"
    assert correlation("a\r\nb") is None and correlation("z" * 65) is None
