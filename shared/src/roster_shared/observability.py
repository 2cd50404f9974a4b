"""Structured JSON logs, Prometheus metrics and the health endpoints every service serves."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


TEXT_FIELDS = ("tenant", "status", "reason", "reference", "route", "path", "error")
"""The ``extra`` fields a text line shows (the JSON lines carry every one)."""

_SECRETS = re.compile(r"\b(rs[lt]_[A-Za-z0-9]{16}_)[A-Za-z0-9_-]{43}")
"""A setup link or SCIM token (``user_store``'s formats): the id stays, the secret goes. The
setup portal's URLs carry the link, and an access log line must not."""


def redact(text: str) -> str:
    """``text`` with the secret part of any setup link or SCIM token replaced by ``***``."""
    return _SECRETS.sub(r"\1***", text)


class TextFormatter(logging.Formatter):
    """A line for people at a terminal: the message, then the :data:`TEXT_FIELDS` it has.

    Without them, a refusal logged as "sign-in error page" with its reason and reference in
    ``extra`` showed neither in ``roster dev``.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [
            f"{key}={value if isinstance(value, int) else json.dumps(str(value))}"
            for key in TEXT_FIELDS
            if (value := record.__dict__.get(key)) is not None
        ]
        if extras:
            head, newline, rest = line.partition("\n")  # a traceback stays below the first line
            line = f"{head} {' '.join(extras)}{newline}{rest}"
        return redact(line)


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Log to stderr, as JSON lines in production or plain text for people at a terminal."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))


Check = Callable[[], Awaitable[bool]]


def health_routes(registry: CollectorRegistry, ready: Check) -> list[web.RouteDef]:
    """``/healthz`` (the process answers), ``/readyz`` (its dependencies do), ``/metrics``."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        ok = await ready()
        return web.json_response(
            {"status": "ready" if ok else "not ready"}, status=200 if ok else 503
        )

    async def metrics(_request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    return [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)]


def reference_id() -> str:
    """A short id to quote in an error shown to a person and find in the logs."""
    return uuid.uuid4().hex[:12]


def count_responses(registry: CollectorRegistry, name: str, documentation: str) -> Middleware:
    """A middleware counting responses by HTTP status in a Prometheus counter ``name``."""
    responses = Counter(name, documentation, ["status"], registry=registry)
    # The counter of each status, looked up once: ``labels()`` takes a lock and builds a key
    # on every call. Statuses are three-digit numbers, so the map stays small.
    by_status: dict[int, Any] = {}

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        counter = by_status.get(response.status)
        if counter is None:
            counter = by_status[response.status] = responses.labels(str(response.status))
        counter.inc()
        return response

    return count
