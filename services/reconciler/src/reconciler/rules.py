"""The reconciler's decision rules, pure: what one run decides about one user, and whether the
run's deactivations trip the mass-deactivation brake. Nothing here reads or writes anything.

Per user the rules are asked in this order; the first that speaks decides:

* an inactive user is only ever *reactivated*: mode ``jit``, the policy allows it, the
  reconciler deactivated them for a directory reason, and the directory lists them active again;
* *absent* (a complete snapshot does not list them): deactivated once they were missing from
  ``consecutive_misses`` complete snapshots in a row, reported before that;
* *directory*: the directory lists them disabled or deleted — deactivated at once;
* *inactivity*: no successful login (or never one since creation) for ``inactivity_days``;
* *unconfirmed* (``scim+jit``): created by a login, never confirmed by SCIM within
  ``grace_days`` — deactivated when ``deactivate_unconfirmed``, else reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from roster_shared.tenants import ProvisioningMode

from reconciler.directory import DirectoryUser, Status
from reconciler.policy import ReconcilerPolicy
from reconciler.records import Action, Member, Signal, Verb, aware


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules know about one user in one run."""

    user: Member
    mode: ProvisioningMode
    policy: ReconcilerPolicy
    now: datetime
    directory: str | None = None
    """The connector's kind when this run read a complete snapshot; ``None`` without one."""
    entry: DirectoryUser | None = None
    """The user's entry in that snapshot, if it lists them."""
    misses: int = 0
    """Complete snapshots in a row that did not list the user, before this run's."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What a run decides about one user, and the miss count to remember for the next run."""

    action: Action | None
    misses: int = 0


def looked_after(mode: ProvisioningMode, user: Member) -> bool:
    """Whether the reconciler looks after this user: every user in ``jit``; in ``scim+jit``
    only those SCIM does not manage (SCIM owns the others' lifecycle)."""
    return mode is ProvisioningMode.JIT or not user.scim_managed


def misses_after(facts: Facts) -> int:
    """The user's consecutive misses including this run: one more when a complete snapshot
    leaves an active user out, back to 0 when it lists them (or when there is none)."""
    if facts.user.active and facts.directory is not None and facts.entry is None:
        return facts.misses + 1
    return 0


def _action(
    facts: Facts, verb: Verb, signal: Signal, reason: str, entry: DirectoryUser | None = None
) -> Action:
    changed = aware(entry.changed_at) if entry and entry.changed_at else None
    return Action(
        user_id=facts.user.id,
        user_name=facts.user.user_name,
        action=verb,
        signal=signal,
        reason=reason,
        changed_at=changed,
        delay_seconds=(facts.now - changed).total_seconds() if changed else None,
    )


def reactivation(facts: Facts) -> Action | None:
    """``jit``: the directory says a user the reconciler deactivated is active again."""
    user, entry = facts.user, facts.entry
    if (
        not user.active
        and facts.mode is ProvisioningMode.JIT
        and facts.policy.reactivate
        and entry is not None
        and entry.status is Status.ACTIVE
        and (user.deactivated_reason or "").startswith("directory")
    ):
        return _action(
            facts, "reactivate", "directory", f"directory ({facts.directory}): active again", entry
        )
    return None


def absence(facts: Facts) -> Action | None:
    """A complete snapshot does not list the user: deactivate after ``consecutive_misses``
    snapshots in a row, report before."""
    if facts.directory is None or facts.entry is not None:
        return None
    count = misses_after(facts)
    needed = facts.policy.consecutive_misses
    if count >= needed:
        return _action(
            facts,
            "deactivate",
            "absent",
            f"directory ({facts.directory}): not listed in {count} complete "
            f"snapshot{'s' if count > 1 else ''} in a row",
        )
    return _action(
        facts,
        "report",
        "absent",
        f"directory ({facts.directory}): not listed (miss {count} of {needed} before deactivation)",
    )


def directory_status(facts: Facts) -> Action | None:
    """The directory lists the user disabled or deleted: deactivate at once."""
    entry = facts.entry
    if entry is None or entry.status is Status.ACTIVE:
        return None
    return _action(
        facts,
        "deactivate",
        "directory",
        f"directory ({facts.directory}): {entry.detail or entry.status.value}",
        entry,
    )


def inactivity(facts: Facts) -> Action | None:
    """No successful login for ``inactivity_days`` (counted from creation if never seen)."""
    days, user = facts.policy.inactivity_days, facts.user
    if days is None:
        return None
    last = user.last_login_at or user.created_at
    if facts.now - last < timedelta(days=days):
        return None
    seen = (
        f"last login {user.last_login_at:%Y-%m-%d}"
        if user.last_login_at
        else f"never logged in since {user.created_at:%Y-%m-%d}"
    )
    return _action(
        facts,
        "deactivate",
        "inactivity",
        f"inactivity: no successful login for {days} days ({seen})",
    )


def unconfirmed(facts: Facts) -> Action | None:
    """``scim+jit``: a JIT user SCIM has not confirmed within ``grace_days``."""
    user, policy = facts.user, facts.policy
    if not (
        facts.mode is ProvisioningMode.SCIM_JIT
        and user.origin == "jit"
        and not user.scim_managed
        and facts.now - user.created_at >= timedelta(days=policy.grace_days)
    ):
        return None
    reason = (
        f"scim+jit: created by a login on {user.created_at:%Y-%m-%d} and not confirmed "
        f"by SCIM within {policy.grace_days} days"
    )
    return _action(
        facts, "deactivate" if policy.deactivate_unconfirmed else "report", "unconfirmed", reason
    )


ACTIVE_USER_RULES: tuple[Callable[[Facts], Action | None], ...] = (
    absence,
    directory_status,
    inactivity,
    unconfirmed,
)
"""The rules for an active user, in the order they are asked."""


def decide(facts: Facts) -> Decision:
    """What this run decides about one user: the first rule that speaks, or nothing."""
    if not facts.user.active:
        return Decision(reactivation(facts))
    misses = misses_after(facts)
    for rule in ACTIVE_USER_RULES:
        action = rule(facts)
        if action is not None:
            return Decision(action, misses)
    return Decision(None, misses)


@dataclass(frozen=True, slots=True)
class Brake:
    """The mass-deactivation brake, applied to one run's deactivations."""

    deactivations: int
    active: int
    share: float
    tripped: bool
    limit_share: float
    limit_count: int

    def as_record(self) -> dict[str, Any]:
        """The run record's ``brake``."""
        return {
            "tripped": self.tripped,
            "deactivations": self.deactivations,
            "share": round(self.share, 4),
            "limit_share": self.limit_share,
            "limit_count": self.limit_count,
        }

    def note(self) -> str:
        """Why the run is held, for the record's notes."""
        return (
            f"mass-deactivation brake: {self.deactivations} of {self.active} active users "
            f"({self.share:.0%}) exceeds the limit ({self.limit_share:.0%} or "
            f"{self.limit_count}); nothing was changed until an admin approves this run"
        )


def brake(deactivations: int, active: int, policy: ReconcilerPolicy) -> Brake:
    """Trips when the run would deactivate more than ``brake_count`` users or more than
    ``brake_share`` of the active users the reconciler looks after."""
    share = deactivations / active if active else 0.0
    return Brake(
        deactivations=deactivations,
        active=active,
        share=share,
        tripped=deactivations > policy.brake_count or share > policy.brake_share,
        limit_share=policy.brake_share,
        limit_count=policy.brake_count,
    )
