"""Request bodies of the user-store's HTTP API: JSON objects, nesting bounded, or a typed 400."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from roster_shared import bounded_json

from user_store.errors import Invalid


def json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, its nesting bounded (:mod:`roster_shared.bounded_json`),
    or :class:`Invalid` saying why not."""
    try:
        data = bounded_json.loads(raw)
    except bounded_json.TooDeep as exc:
        raise Invalid(f"the body is refused: {exc}") from exc
    except ValueError as exc:  # UnicodeDecodeError is one
        raise Invalid("the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    return data


def first_error(exc: ValidationError) -> str:
    """Where and why a body failed its model, from the first error: ``parts.0: Input should
    be ...`` (only the why when the error is the whole body's)."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
