"""The machine-readable event spec for downstream teams: AsyncAPI 3.0 with JSON Schema payloads.

``python -m roster_shared.events.spec`` prints it; the committed copy lives in
``docs/events/asyncapi.json`` and a test keeps the two equal.
"""

from __future__ import annotations

import json
import sys
from typing import Any, get_args

from pydantic import BaseModel, TypeAdapter

from roster_shared.events import ingest, lifecycle
from roster_shared.events.replies import Reply
from roster_shared.topics import INGEST, INGEST_DLQ, LIFECYCLE, REPLIES, USERS


def _members(union: Any) -> list[type[BaseModel]]:
    inner = get_args(union)[0]
    return list(get_args(inner))


def _wire_type(model: type[BaseModel]) -> str:
    return str(model.model_fields["type"].default)


def asyncapi() -> dict[str, Any]:
    """The whole spec as a JSON-ready dict."""
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}

    def add(prefix: str, model: type[BaseModel], key: str) -> str:
        name = f"{prefix}.{_wire_type(model)}" if "type" in model.model_fields else prefix
        schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas[def_name] = definition
        schema_name = f"{prefix.capitalize()}{model.__name__}"
        schemas[schema_name] = schema
        messages[name] = {
            "name": _wire_type(model) if "type" in model.model_fields else name,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{schema_name}"},
            "x-kafka-key": key,
        }
        return name

    channels: dict[str, Any] = {}

    def channel(topic: str, names: list[str], description: str) -> None:
        channels[topic] = {
            "address": topic,
            "description": description,
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
        }

    channel(
        INGEST,
        [add("ingest", m, "tenant id") for m in _members(ingest.IngestEvent)],
        "What a source (scim, jit, reconciler, admin) observed. Produced by scim-api, "
        "sso-login and the reconciler; consumed by the user-store only.",
    )
    channel(
        LIFECYCLE,
        [add("lifecycle", m, "tenant id") for m in _members(lifecycle.LifecycleEvent)],
        "Canonical changes with the full snapshot, from the user-store's transactional "
        "outbox. De-duplicate by event_id: delivery is at least once.",
    )
    channel(
        REPLIES,
        [add("reply", Reply, "request id (the ingestion event_id)")],
        "The outcome of one ingestion event, for the requester waiting on it.",
    )
    schemas_users = TypeAdapter(lifecycle.UserChange).json_schema(
        ref_template="#/components/schemas/{model}"
    )
    for def_name, definition in schemas_users.pop("$defs", {}).items():
        schemas[def_name] = definition
    messages["users.snapshot"] = {
        "name": "user snapshot",
        "title": "UserSnapshot",
        "contentType": "application/json",
        "summary": "The latest state of one user; a null value (tombstone) once deleted.",
        "payload": {"$ref": "#/components/schemas/UserSnapshot"},
        "x-kafka-key": "tenant id:user id",
    }
    channel(
        USERS,
        ["users.snapshot"],
        "Compacted: the latest snapshot of every user, for "
        "consumers that bootstrap their own copy.",
    )
    channels[INGEST_DLQ] = {
        "address": INGEST_DLQ,
        "description": "Ingestion events the user-store could not apply: a JSON object with "
        "reason, topic, partition, offset, key and the original value as text.",
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Roster events",
            "version": "1",
            "description": "Every event carries an envelope: event_id, type, schema_version, "
            "occurred_at, tenant_id, source, correlation_id, data. Topic names may carry an "
            "installation prefix (ROSTER_TOPIC_PREFIX).",
        },
        "channels": channels,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def render() -> str:
    """The spec as stable, indented JSON text."""
    return json.dumps(asyncapi(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
