"""Provisioning health in words: rates, failure shares and the warning before quarantine.

Microsoft documents that Entra ID's provisioning service puts an application in quarantine when
most of its requests fail (its threshold is around 40 % failures); Okta stops pushing after
repeated errors too. The console warns far earlier — at :data:`CAUTION` and :data:`DANGER` —
so an admin fixes a token or a mapping before the IdP stops provisioning (and so before leavers
stop being deprovisioned).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CAUTION = 0.10
DANGER = 0.25
QUARANTINE = 0.40
MIN_REQUESTS = 5
"""Below this many requests in a window a share says little: shown, not warned about."""


@dataclass(frozen=True)
class Window:
    """One window's figures."""

    label: str
    total: int
    failed: int
    per_minute: float

    @property
    def share(self) -> float:
        return self.failed / self.total if self.total else 0.0

    @property
    def level(self) -> str:
        """``ok``, ``caution`` or ``danger``."""
        if self.total < MIN_REQUESTS:
            return "ok"
        if self.share >= DANGER:
            return "danger"
        if self.share >= CAUTION:
            return "caution"
        return "ok"


@dataclass(frozen=True)
class SourceHealth:
    """SCIM or sign-in health of one tenant."""

    hour: Window
    day: Window
    last_success_at: str | None

    @property
    def warning(self) -> str | None:
        worst = max((self.hour, self.day), key=lambda w: ("ok", "caution", "danger").index(w.level))
        if worst.level == "ok":
            return None
        return (
            f"{worst.share:.0%} of requests failed over the last {worst.label} "
            f"({worst.failed} of {worst.total}). Entra ID quarantines an app at about "
            f"{QUARANTINE:.0%} failures and then stops provisioning — including deactivations. "
            "Read the errors below and fix their cause now."
        )


def source_health(data: dict[str, Any]) -> SourceHealth:
    """The figures of one source from the user-store's health answer."""
    hour, day = data["hour"], data["day"]
    return SourceHealth(
        hour=Window("hour", hour["total"], hour["failed"], hour["total"] / 60),
        day=Window("day", day["total"], day["failed"], day["total"] / 1440),
        last_success_at=data.get("last_success_at"),
    )


def plain_status(status: int) -> str:
    """What an HTTP status means to an IdP admin."""
    return {
        200: "OK",
        201: "created",
        204: "done",
        303: "signed in",
        400: "the request was refused as invalid",
        401: "the token was refused (wrong, revoked or missing)",
        403: "not allowed",
        404: "not found",
        409: "conflict: that user or group already exists",
        412: "changed in between (version mismatch)",
        413: "too large",
        429: "too many requests",
        500: "failed on our side",
        503: "temporarily unavailable",
    }.get(status, "failed" if status >= 400 else "OK")
