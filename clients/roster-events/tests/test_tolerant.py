"""The tolerant reader, on the golden payloads with fields a newer minor release might add: at
the envelope, in ``data``, in the user snapshot and inside its lists. Within a supported
``schema_version`` they are set aside (counted, logged once) and the rest decodes exactly as
the payload without them; a newer version or an unknown type is still refused; and the shared
contract models — the producer side — still refuse the same payloads."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from pydantic import ValidationError
from roster_events import Dispatcher, UnsupportedEvent
from roster_events.decoding import decode_event, decode_snapshot
from roster_events.tolerant import IgnoredFields
from roster_shared.events.lifecycle import LIFECYCLE_ADAPTER, UserChange
from roster_shared.events.people import UserSnapshot
from test_dispatch import TENANT, Recorder, golden


def with_additions(name: str) -> dict[str, Any]:
    raw = golden(name)
    raw["trace_parent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    raw["data"]["region"] = "eu-west-1"
    user = raw["data"]["user"]
    user["pronouns"] = "she/her"
    user["emails"][0]["verified_at"] = "2026-11-28T09:00:00Z"
    user["identity_links"][0]["last_seen_at"] = "2026-11-28T09:30:00Z"
    user["extra"]["costCenter"] = "42"  # free-form by contract: kept, not an unknown field
    return raw


ADDED = {
    ("user.created", "trace_parent"),
    ("user.created", "data.region"),
    ("user.created", "data.user.pronouns"),
    ("user.created", "data.user.emails.[0].verified_at"),
    ("user.created", "data.user.identity_links.[0].last_seen_at"),
}


def test_additive_fields_are_set_aside_and_the_rest_decodes_as_without_them() -> None:
    ignored = IgnoredFields()
    event = decode_event(json.dumps(with_additions("user.created")).encode(), ignored)
    pristine = golden("user.created")
    pristine["data"]["user"]["extra"]["costCenter"] = "42"
    assert event == LIFECYCLE_ADAPTER.validate_python(pristine)
    assert isinstance(event.data, UserChange)
    assert event.data.user.extra == {"title": "Analyst", "costCenter": "42"}
    assert set(ignored.counts) == ADDED and ignored.total == 5


def test_the_producer_side_contracts_stay_strict() -> None:
    with pytest.raises(ValidationError, match="trace_parent"):
        LIFECYCLE_ADAPTER.validate_python(with_additions("user.created"))
    user = with_additions("user.created")["data"]["user"]
    with pytest.raises(ValidationError, match="pronouns"):
        UserSnapshot.model_validate(user)


def test_a_snapshot_with_additive_fields_decodes() -> None:
    ignored = IgnoredFields()
    user = with_additions("user.created")["data"]["user"]
    decoded = decode_snapshot(json.dumps(user).encode(), ignored)
    assert decoded.user_name == "ada.lovelace@example.com" and decoded.version == 3
    assert ("user snapshot", "emails.[0].verified_at") in ignored.counts


def test_membership_and_group_events_with_additions() -> None:
    ignored = IgnoredFields()
    membership = golden("membership.added")
    membership["data"]["role"] = "owner"
    group = golden("group.created")
    group["data"]["group"]["colour"] = "teal"
    assert decode_event(json.dumps(membership).encode(), ignored).type == "membership.added"
    assert decode_event(json.dumps(group).encode(), ignored).type == "group.created"
    assert set(ignored.counts) == {
        ("membership.added", "data.role"),
        ("group.created", "data.group.colour"),
    }


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"schema_version": 2}, "schema_version 2 is newer"),
        ({"type": "user.suspended"}, "unknown event type 'user.suspended'"),
    ],
)
def test_a_newer_version_or_unknown_type_is_still_refused(
    changes: dict[str, Any], why: str
) -> None:
    raw = {**with_additions("user.created"), **changes}
    with pytest.raises(UnsupportedEvent, match=why):
        decode_event(json.dumps(raw).encode(), IgnoredFields())


def test_a_known_field_missing_is_still_refused() -> None:
    raw = copy.deepcopy(with_additions("user.created"))
    del raw["data"]["user"]["user_name"]
    with pytest.raises(UnsupportedEvent, match="does not match its contract"):
        decode_event(json.dumps(raw).encode(), IgnoredFields())


async def test_the_dispatcher_hands_over_counts_and_logs_each_field_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Recorder()
    dispatcher = Dispatcher(app, tenant_id=TENANT)
    caplog.set_level(logging.WARNING, logger="roster_events")
    for event_id in ("e-1", "e-2"):
        raw = with_additions("user.created")
        raw["event_id"] = event_id
        await dispatcher.record(TENANT, json.dumps(raw).encode())
    assert [e.event_id for e in app.events] == ["e-1", "e-2"]
    assert dispatcher.stats.events == 2 and dispatcher.stats.unsupported == 0
    assert dispatcher.stats.ignored_fields == 10
    assert all(count == 2 for count in dispatcher.ignored.counts.values())
    warnings = [r.getMessage() for r in caplog.records if "ignoring field" in r.getMessage()]
    assert len(warnings) == 5 and any("'data.user.pronouns'" in w for w in warnings)
