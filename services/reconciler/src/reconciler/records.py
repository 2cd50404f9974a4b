"""What a reconciler run reads and what it leaves behind: the user as a run sees them, one
decision about that user, and the run's record.

The record is stored by the user-store and readable through the CLI and the API (the JSON
``roster reconcile --json`` prints): what was checked, what was decided and why, how long after
the directory change, and what became of each decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Signal = Literal["directory", "absent", "inactivity", "unconfirmed"]
"""What a decision rests on: the directory's status, absence from it, inactivity, or a JIT user
SCIM never confirmed."""

Verb = Literal["deactivate", "reactivate", "report"]


def aware(moment: datetime) -> datetime:
    """Every stored time is UTC; SQLite gives it back without its zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Action(BaseModel):
    """One decision about one user."""

    user_id: str
    user_name: str
    action: Verb
    signal: Signal
    reason: str
    changed_at: datetime | None = Field(
        default=None, description="When the directory says the change happened."
    )
    delay_seconds: float | None = Field(
        default=None, description="From the directory change to this run's decision."
    )
    outcome: str = "planned"  # would | held | published | skipped: ...


class RunRecord(BaseModel):
    """What a run checked, decided and did (the JSON ``roster reconcile --json`` prints)."""

    id: str
    tenant_id: str
    tenant: str
    mode: str
    trigger: str
    dry_run: bool
    status: Literal["running", "held", "completed", "failed", "rejected"] = "running"
    instance: str
    started_at: datetime
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    policy: dict[str, Any] = Field(default_factory=dict)
    directory: dict[str, Any] | None = None
    checked: dict[str, int] = Field(default_factory=dict)
    actions: list[Action] = Field(default_factory=list)
    reported: list[Action] = Field(default_factory=list)
    brake: dict[str, Any] | None = None
    published: int = 0
    error: str | None = None
    notes: list[str] = Field(default_factory=list)
    approved_by: str | None = None
    approved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Member:
    """A user as a run sees them (the user-store's lean scan)."""

    id: str
    user_name: str
    external_id: str | None
    active: bool
    origin: str
    scim_managed: bool
    created_at: datetime
    last_login_at: datetime | None
    deactivated_reason: str | None
    emails: tuple[str, ...]
    subjects: tuple[str, ...]

    @classmethod
    def of(cls, data: dict[str, Any]) -> Member:
        """From the scan's JSON."""
        last = data.get("last_login_at")
        return cls(
            id=data["id"],
            user_name=data["user_name"],
            external_id=data.get("external_id"),
            active=bool(data["active"]),
            origin=str(data.get("origin", "")),
            scim_managed=bool(data.get("scim_managed")),
            created_at=aware(datetime.fromisoformat(data["created_at"])),
            last_login_at=aware(datetime.fromisoformat(last)) if last else None,
            deactivated_reason=data.get("deactivated_reason"),
            emails=tuple(e for e in data.get("emails") or () if isinstance(e, str)),
            subjects=tuple(data.get("subjects") or ()),
        )
