"""The settings of a served service: where it listens, and how it reaches the user-store.

Each service subclasses one of these with its own fields and default port; all read ``ROSTER_*``
variables (:class:`~roster_shared.settings.RosterSettings`). The database URL is not here: only
the user-store's settings have one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from roster_shared.settings import RosterSettings


class ServiceSettings(RosterSettings):
    """What every service has: the address it listens on and the internal credential."""

    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=8100, description="Port to listen on.")
    access_log: bool = Field(
        default=False,
        description="Log every HTTP request (``ROSTER_ACCESS_LOG``). Off by default: formatting "
        "a line per request was ~6 % of the scim-api under SCIM load (issue 10); the "
        "``/metrics`` request counters and the error logs cover what operators need.",
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description="The event loop a served process runs on (``ROSTER_EVENT_LOOP``): uvloop "
        "(libuv; the default where it is installed, which is everywhere but Windows) or "
        "Python's own asyncio loop.",
    )
    internal_token: SecretStr | None = Field(
        default=None,
        description="Bearer credential of the user-store's internal API "
        "(``ROSTER_INTERNAL_TOKEN``): when set, the user-store requires it and the other "
        "services send it.",
    )

    def internal_token_value(self) -> str | None:
        """The internal credential in clear, or None when the internal API is open."""
        return self.internal_token.get_secret_value() if self.internal_token else None


class UserStoreClientSettings(ServiceSettings):
    """A service that reads from the user-store over HTTP and waits for its replies on the bus
    (scim-api, sso-login, the reconciler)."""

    user_store_url: str = Field(
        default="http://127.0.0.1:8100",
        description="Base URL of the user-store's internal API (tenants, tokens, users).",
    )
    request_timeout: float = Field(
        default=20.0,
        gt=0,
        description="Seconds one step of a request may take at most: a call to the user-store's "
        "internal API, or sending an ingestion event and waiting for its reply.",
    )
    request_deadline: float = Field(
        default=25.0,
        gt=0,
        description="Seconds a whole SCIM request or sign-in step may take, authentication, "
        "send and reply wait together (``ROSTER_REQUEST_DEADLINE``); each step gets what is "
        "left. Well under Entra ID's 60 s, after which it gives up and retries; past it the "
        "answer is 503 with Retry-After.",
    )
    max_in_flight: int = Field(
        # 1024: the best goodput under 2x overload in every same-run comparison of
        # bench/overload.py (quiet machine: 1.09x saturation, against 0.68x at 256); this
        # stack's throughput keeps growing with concurrency, and 1024 in flight were still
        # answered within 11 s on a loaded 2-core machine, under the 25 s deadline.
        default=1024,
        ge=1,
        description="Requests scim-api / sso-login serve at once (``ROSTER_MAX_IN_FLIGHT``); "
        "beyond, 503 with Retry-After at once.",
    )
    adaptive_in_flight: bool = Field(
        # Off: measured (bench/overload.py, issue 12 notes) it gave less goodput under 2x
        # overload than a fixed bound at the saturating concurrency on this stack, whose
        # throughput keeps growing with concurrency (bigger consumer batches).
        default=False,
        description="Bound the requests in flight by a limit that keeps their mean latency "
        "under a fifth of ``ROSTER_REQUEST_DEADLINE`` (shrinks as requests queue, grows while "
        "they do not), under ``ROSTER_MAX_IN_FLIGHT`` as a ceiling "
        "(``ROSTER_ADAPTIVE_IN_FLIGHT``); off, the bound is ``ROSTER_MAX_IN_FLIGHT`` itself.",
    )
    max_in_flight_per_tenant: int = Field(
        # A quarter of the total: one tenant's burst (an IdP's first sync) cannot take every
        # slot from the others, yet alone it gets the concurrency that saturates the stack.
        default=256,
        ge=1,
        description="Requests of one tenant served at once "
        "(``ROSTER_MAX_IN_FLIGHT_PER_TENANT``); beyond, 429 with Retry-After at once.",
    )
    shed_retry_after: int = Field(
        default=1,
        ge=0,
        description="The Retry-After (seconds) of a request refused by load shedding.",
    )
    request_log: bool = Field(
        default=True,
        description="scim-api and sso-login send each request's outcome (no secrets, no "
        "bodies) to the user-store's request log in background batches, for the console's "
        "health pages (``ROSTER_REQUEST_LOG=false``: they do not).",
    )
