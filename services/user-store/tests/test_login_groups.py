"""The one decision of what a login's group claims do (``apply.login_groups``), which the write
path carries out and the returning-login read requires to be empty."""

from __future__ import annotations

from user_store.apply.login_groups import LoginGroupPlan, login_group_plan, wanted_groups


def test_a_login_naming_the_login_made_groups_it_is_in_changes_nothing() -> None:
    plan = login_group_plan(
        ["Engineering", "staff"],
        existing={"engineering": "jit", "staff": "jit"},
        member_of={"engineering": "jit", "staff": "jit"},
    )
    assert plan == LoginGroupPlan()
    assert plan.settled


def test_a_group_that_does_not_exist_is_created_under_the_logins_spelling_and_joined() -> None:
    plan = login_group_plan(["Ops"], existing={}, member_of={})
    assert plan.create == ("Ops",)
    assert plan.join == ("ops",)  # a created group is login-made: the account joins it
    assert not plan.settled


def test_a_login_made_group_the_login_no_longer_names_is_left() -> None:
    plan = login_group_plan(
        ["staff"], existing={"staff": "jit"}, member_of={"staff": "jit", "old": "jit"}
    )
    assert plan == LoginGroupPlan(leave=("old",))


def test_scims_groups_are_neither_joined_nor_left_by_a_login() -> None:
    # "admins" is SCIM's and named by the login: not joined. "payroll" is SCIM's and not named:
    # not left. Only the login-made group follows the claims.
    plan = login_group_plan(
        ["admins"],
        existing={"admins": "scim"},
        member_of={"payroll": "scim"},
    )
    assert plan.settled


def test_group_names_compare_as_keys_and_blank_names_are_no_group() -> None:
    # Case-folded names are the same group; a blank name is ignored, not created.
    assert wanted_groups(["Staff", " ", "STAFF"]) == {"staff": "STAFF"}
    plan = login_group_plan(["STAFF", ""], existing={"staff": "jit"}, member_of={"staff": "jit"})
    assert plan.settled


def test_an_empty_claim_leaves_every_login_made_group_and_no_scim_group() -> None:
    plan = login_group_plan([], existing={}, member_of={"a": "jit", "b": "scim", "c": "jit"})
    assert plan == LoginGroupPlan(leave=("a", "c"))
