"""JSON from outside, with its nesting bounded: what every service parses request bodies with.

``json.loads`` recurses once per level: 100,000 nested brackets (100 kB) end in a
``RecursionError``, and a document a little under Python's limit parses, only to exhaust the
stack of whatever recursive code walks it next (validation, PATCH, normalisation). No message
Roster takes nests anywhere near :data:`MAX_DEPTH`, so deeper is refused as malformed, before
any code of ours walks it.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
"""Levels of arrays and objects in one document (a SCIM PATCH or bulk body needs under 10; a
filter tree at the user-store's own depth limit, 32, under 70 with its ``items`` arrays)."""


class TooDeep(ValueError):
    """The document nests deeper than allowed (a ``ValueError``, as malformed JSON is)."""


def depth_exceeds(value: Any, max_depth: int) -> bool:
    """True when ``value`` nests arrays and objects deeper than ``max_depth``; iterative, so
    the check itself cannot run out of stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads``, raising :class:`TooDeep` (a ``ValueError``) for documents nested deeper
    than ``max_depth``; other malformed input raises ``ValueError`` as ``json.loads`` does."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooDeep(f"the JSON nests deeper than {max_depth} levels") from None
    if depth_exceeds(value, max_depth):
        raise TooDeep(f"the JSON nests deeper than {max_depth} levels")
    return value
