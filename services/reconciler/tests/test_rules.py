"""The reconciler's decision rules, one outcome at a time, without a store, a bus or a directory.

Written from the README's reconciler section ("Deprovisioning: which mode, and how fast a leaver
loses access") and the behaviour the integration suites pin end to end: disabled, suspended or
deleted in the directory, or no longer listed (after ``consecutive_misses`` complete snapshots),
deactivates; inactivity deactivates; in ``scim+jit`` a JIT user SCIM never confirmed is reported
(or deactivated); in ``jit`` someone the reconciler deactivated comes back once the directory
says active; a run deactivating more than 20 % or 100 users is held.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from reconciler.directory import DirectoryUser, Status
from reconciler.policy import ReconcilerPolicy
from reconciler.records import Member
from reconciler.rules import (
    Decision,
    Facts,
    absence,
    brake,
    decide,
    directory_status,
    inactivity,
    looked_after,
    misses_after,
    reactivation,
    unconfirmed,
)
from roster_shared.tenants import ProvisioningMode

JIT = ProvisioningMode.JIT
SCIM_JIT = ProvisioningMode.SCIM_JIT
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def member(**changes: Any) -> Member:
    """An active JIT user created 30 days ago who logged in yesterday."""
    base = Member(
        id="u1",
        user_name="ada@example.com",
        external_id=None,
        active=True,
        origin="jit",
        scim_managed=False,
        created_at=NOW - timedelta(days=30),
        last_login_at=NOW - timedelta(days=1),
        deactivated_reason=None,
        emails=("ada@example.com",),
        subjects=("00u1",),
    )
    return dataclasses.replace(base, **changes)


def entry(status: Status = Status.ACTIVE, **changes: Any) -> DirectoryUser:
    return DirectoryUser(id="00u1", names=("ada@example.com",), status=status, **changes)


def facts(
    user: Member | None = None,
    *,
    mode: ProvisioningMode = JIT,
    policy: ReconcilerPolicy | None = None,
    directory: str | None = "okta",
    listed: DirectoryUser | None = None,
    misses: int = 0,
) -> Facts:
    return Facts(
        user=user or member(),
        mode=mode,
        policy=policy or ReconcilerPolicy(),
        now=NOW,
        directory=directory,
        entry=listed,
        misses=misses,
    )


# -- who is looked after ----------------------------------------------------------------------


def test_jit_looks_after_every_user_scim_jit_only_those_scim_does_not_manage() -> None:
    managed, jit_only = member(scim_managed=True, origin="scim"), member()
    assert looked_after(JIT, managed) and looked_after(JIT, jit_only)
    assert not looked_after(SCIM_JIT, managed)
    assert looked_after(SCIM_JIT, jit_only)


# -- an active user listed active, recently seen: nothing --------------------------------------


def test_an_active_user_the_directory_lists_active_and_who_logged_in_is_left_alone() -> None:
    assert decide(facts(listed=entry())) == Decision(None, 0)


def test_without_a_directory_a_recent_user_is_left_alone_and_no_miss_is_counted() -> None:
    assert decide(facts(directory=None)) == Decision(None, 0)
    assert absence(facts(directory=None)) is None
    assert directory_status(facts(directory=None)) is None


# -- the directory says disabled or deleted ----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "detail", "reason"),
    [
        (Status.DISABLED, "status SUSPENDED", "directory (okta): status SUSPENDED"),
        (Status.DISABLED, "", "directory (okta): disabled"),
        (Status.DELETED, "", "directory (okta): deleted"),
    ],
)
def test_disabled_or_deleted_in_the_directory_deactivates_at_once(
    status: Status, detail: str, reason: str
) -> None:
    decision = decide(facts(listed=entry(status, detail=detail)))
    assert decision.misses == 0
    action = decision.action
    assert action is not None
    assert (action.action, action.signal, action.reason) == ("deactivate", "directory", reason)
    assert (action.user_id, action.user_name) == ("u1", "ada@example.com")
    assert action.outcome == "planned"


def test_a_directory_change_time_gives_the_delay_and_a_naive_time_counts_as_utc() -> None:
    changed = datetime(2026, 12, 1, 11, 0)  # no zone, as SQLite hands it back
    action = directory_status(facts(listed=entry(Status.DISABLED, changed_at=changed)))
    assert action is not None
    assert action.changed_at == changed.replace(tzinfo=UTC)
    assert action.delay_seconds == 3600.0


def test_without_a_change_time_there_is_no_delay() -> None:
    action = directory_status(facts(listed=entry(Status.DELETED)))
    assert action is not None
    assert action.changed_at is None and action.delay_seconds is None


def test_the_directory_status_wins_over_inactivity() -> None:
    stale = member(last_login_at=NOW - timedelta(days=400))
    action = decide(facts(stale, listed=entry(Status.DISABLED))).action
    assert action is not None and action.signal == "directory"


# -- absent from a complete snapshot -----------------------------------------------------------


def test_not_listed_once_deactivates_with_the_default_of_one_miss() -> None:
    decision = decide(facts(listed=None))
    assert decision.misses == 1
    action = decision.action
    assert action is not None
    assert (action.action, action.signal) == ("deactivate", "absent")
    assert action.reason == "directory (okta): not listed in 1 complete snapshot in a row"
    assert action.changed_at is None


def test_with_three_misses_needed_the_first_two_are_reported_and_counted() -> None:
    policy = ReconcilerPolicy(consecutive_misses=3)
    first = decide(facts(policy=policy, misses=0))
    assert first.misses == 1
    assert first.action is not None and first.action.action == "report"
    assert first.action.reason == "directory (okta): not listed (miss 1 of 3 before deactivation)"
    second = decide(facts(policy=policy, misses=1))
    assert second.misses == 2
    assert second.action is not None and second.action.action == "report"
    third = decide(facts(policy=policy, misses=2))
    assert third.misses == 3
    assert third.action is not None and third.action.action == "deactivate"
    assert third.action.reason == "directory (okta): not listed in 3 complete snapshots in a row"


def test_being_listed_again_resets_the_misses() -> None:
    assert misses_after(facts(listed=entry(), misses=2)) == 0
    assert decide(facts(listed=entry(), misses=2)).misses == 0


def test_absence_wins_over_inactivity() -> None:
    stale = member(last_login_at=NOW - timedelta(days=400))
    action = decide(facts(stale)).action
    assert action is not None and action.signal == "absent"


# -- inactivity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "acts"), [(89, False), (90, True), (91, True)])
def test_no_login_for_inactivity_days_deactivates(days: int, acts: bool) -> None:
    user = member(last_login_at=NOW - timedelta(days=days), created_at=NOW - timedelta(days=500))
    action = decide(facts(user, directory=None)).action
    if not acts:
        assert action is None
        return
    assert action is not None
    assert (action.action, action.signal) == ("deactivate", "inactivity")
    seen = (NOW - timedelta(days=days)).strftime("%Y-%m-%d")
    assert action.reason == f"inactivity: no successful login for 90 days (last login {seen})"


def test_someone_who_never_logged_in_counts_from_their_creation() -> None:
    created = NOW - timedelta(days=100)
    action = inactivity(facts(member(last_login_at=None, created_at=created)))
    assert action is not None
    assert action.reason == (
        f"inactivity: no successful login for 90 days (never logged in since {created:%Y-%m-%d})"
    )
    assert (
        inactivity(facts(member(last_login_at=None, created_at=NOW - timedelta(days=10)))) is None
    )


def test_inactivity_off_never_deactivates() -> None:
    policy = ReconcilerPolicy(inactivity_days=None)
    stale = member(last_login_at=NOW - timedelta(days=4000))
    assert inactivity(facts(stale, policy=policy)) is None
    assert decide(facts(stale, policy=policy, directory=None)).action is None


def test_a_listed_active_user_is_still_deactivated_for_inactivity() -> None:
    stale = member(last_login_at=NOW - timedelta(days=120))
    action = decide(facts(stale, listed=entry())).action
    assert action is not None and action.signal == "inactivity"


# -- scim+jit: JIT users SCIM never confirmed ---------------------------------------------------


def test_an_unconfirmed_jit_user_past_the_grace_period_is_reported() -> None:
    created = NOW - timedelta(days=8)
    action = decide(facts(member(created_at=created), mode=SCIM_JIT, directory=None)).action
    assert action is not None
    assert (action.action, action.signal) == ("report", "unconfirmed")
    assert action.reason == (
        f"scim+jit: created by a login on {created:%Y-%m-%d} and not confirmed by SCIM "
        "within 7 days"
    )


def test_an_unconfirmed_jit_user_is_deactivated_when_the_tenant_chose_so() -> None:
    policy = ReconcilerPolicy(deactivate_unconfirmed=True)
    user = member(created_at=NOW - timedelta(days=8))
    action = decide(facts(user, mode=SCIM_JIT, policy=policy, directory=None)).action
    assert action is not None and (action.action, action.signal) == ("deactivate", "unconfirmed")


@pytest.mark.parametrize(
    ("mode", "changes"),
    [
        (SCIM_JIT, {"created_at": NOW - timedelta(days=6)}),  # within the grace period
        (JIT, {"created_at": NOW - timedelta(days=8)}),  # jit has no SCIM to wait for
        (SCIM_JIT, {"created_at": NOW - timedelta(days=8), "origin": "scim"}),
        (SCIM_JIT, {"created_at": NOW - timedelta(days=8), "scim_managed": True}),
    ],
)
def test_unconfirmed_only_applies_to_jit_users_of_scim_jit_past_the_grace(
    mode: ProvisioningMode, changes: dict[str, Any]
) -> None:
    assert unconfirmed(facts(member(**changes), mode=mode, directory=None)) is None


def test_the_grace_period_ends_on_its_last_day() -> None:
    user = member(created_at=NOW - timedelta(days=7))
    assert unconfirmed(facts(user, mode=SCIM_JIT)) is not None


# -- inactive users: only ever reactivated -----------------------------------------------------


def deactivated(reason: str | None = "directory (okta): status SUSPENDED") -> Member:
    return member(active=False, deactivated_reason=reason)


def test_jit_reactivates_someone_the_directory_says_is_active_again() -> None:
    changed = NOW - timedelta(minutes=5)
    decision = decide(facts(deactivated(), listed=entry(changed_at=changed)))
    assert decision.misses == 0
    action = decision.action
    assert action is not None
    assert (action.action, action.signal) == ("reactivate", "directory")
    assert action.reason == "directory (okta): active again"
    assert action.delay_seconds == 300.0


@pytest.mark.parametrize(
    ("user", "mode", "policy", "listed"),
    [
        (deactivated(), SCIM_JIT, ReconcilerPolicy(), entry()),  # SCIM is authoritative
        (deactivated(), JIT, ReconcilerPolicy(reactivate=False), entry()),
        (deactivated("inactivity: no successful login"), JIT, ReconcilerPolicy(), entry()),
        (deactivated(None), JIT, ReconcilerPolicy(), entry()),  # deactivated by SCIM or admin
        (deactivated(), JIT, ReconcilerPolicy(), entry(Status.DISABLED)),
        (deactivated(), JIT, ReconcilerPolicy(), None),
    ],
)
def test_no_reactivation_otherwise(
    user: Member, mode: ProvisioningMode, policy: ReconcilerPolicy, listed: DirectoryUser | None
) -> None:
    assert reactivation(facts(user, mode=mode, policy=policy, listed=listed)) is None
    assert decide(facts(user, mode=mode, policy=policy, listed=listed)) == Decision(None, 0)


def test_an_inactive_user_is_never_deactivated_reported_or_counted_as_missing() -> None:
    stale = deactivated()
    stale = dataclasses.replace(stale, last_login_at=NOW - timedelta(days=400))
    assert decide(facts(stale, mode=SCIM_JIT, listed=None, misses=3)) == Decision(None, 0)
    assert misses_after(facts(stale, listed=None, misses=3)) == 0


# -- the mass-deactivation brake ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("deactivations", "active", "tripped"),
    [
        (0, 0, False),
        (20, 100, False),  # exactly 20 %: not more than the limit
        (21, 100, True),
        (100, 10_000, False),  # exactly 100: not more than the limit
        (101, 10_000, True),
        (1, 1, True),
    ],
)
def test_the_brake_trips_beyond_20_percent_or_100_users(
    deactivations: int, active: int, tripped: bool
) -> None:
    assert brake(deactivations, active, ReconcilerPolicy()).tripped is tripped


def test_the_brake_follows_the_tenant_policy_and_says_why_it_held_the_run() -> None:
    held = brake(6, 10, ReconcilerPolicy(brake_share=0.5, brake_count=50))
    assert held.as_record() == {
        "tripped": True,
        "deactivations": 6,
        "share": 0.6,
        "limit_share": 0.5,
        "limit_count": 50,
    }
    assert held.note() == (
        "mass-deactivation brake: 6 of 10 active users (60%) exceeds the limit (50% or 50); "
        "nothing was changed until an admin approves this run"
    )
    assert brake(1, 3, ReconcilerPolicy()).as_record()["share"] == 0.3333
