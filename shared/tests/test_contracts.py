"""Golden samples of every event round-trip unchanged, and the committed spec is current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from roster_shared.events import ingest, lifecycle, replies
from roster_shared.events.spec import render

GOLDEN = Path(__file__).parent / "golden"
SPEC = Path(__file__).parents[2] / "docs" / "events" / "asyncapi.json"
ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "ingest": ingest.INGEST_ADAPTER,
    "lifecycle": lifecycle.LIFECYCLE_ADAPTER,
    "reply": replies.REPLY_ADAPTER,
}


def _samples() -> list[Path]:
    return sorted(GOLDEN.glob("*.json"))


@pytest.mark.parametrize("path", _samples(), ids=lambda p: p.stem)
def test_golden_sample_round_trips(path: Path) -> None:
    adapter = ADAPTERS[path.stem.split(".")[0]]
    text = path.read_text()
    event = adapter.validate_json(text)
    assert json.loads(adapter.dump_json(event)) == json.loads(text)
    if path.stem.startswith(("ingest.", "lifecycle.")):
        assert event.type == path.stem.split(".", 1)[1]  # type: ignore[union-attr]


def test_every_wire_type_has_a_golden_sample() -> None:
    names = {p.stem for p in _samples()}
    spec = json.loads(SPEC.read_text())
    for channel in ("roster.ingest", "roster.lifecycle"):
        for message in spec["channels"][channel]["messages"]:
            assert message in names, f"no golden sample for {message}"
    assert len([n for n in names if n.startswith("lifecycle.")]) == 10
    assert len([n for n in names if n.startswith("ingest.")]) == 6


def test_committed_spec_is_current() -> None:
    assert SPEC.read_text() == render(), (
        "docs/events/asyncapi.json is stale: python -m roster_shared.events.spec > "
        "docs/events/asyncapi.json"
    )


def test_contracts_refuse_unknown_fields_and_are_frozen() -> None:
    sample = json.loads((GOLDEN / "ingest.user.deleted.json").read_text())
    with pytest.raises(ValidationError):
        ingest.INGEST_ADAPTER.validate_python({**sample, "surprise": 1})
    with pytest.raises(ValidationError):
        ingest.INGEST_ADAPTER.validate_python({**sample, "type": "user.teleported"})
    event = ingest.INGEST_ADAPTER.validate_python(sample)
    with pytest.raises(ValidationError):
        event.tenant_id = "other"  # type: ignore[misc]
