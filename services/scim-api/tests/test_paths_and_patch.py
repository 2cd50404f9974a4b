"""Filters, PATCH paths and PATCH operations in memory (no I/O)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from roster_shared.filters import And, Compare, Has, Not, Or, Present
from scim_api.errors import (
    InvalidFilter,
    InvalidPath,
    InvalidValue,
    Mutability,
    NoTarget,
    ScimError,
)
from scim_api.messages import patch
from scim_api.messages.filter import parse_filter, parse_patch_path
from scim_api.messages.projection import project
from scim_api.resources import group_fields, normalise, user_attributes
from scim_api.resources.schemas import (
    ENTERPRISE_SCHEMA,
    GROUP_SCHEMA,
    USER_SCHEMA,
    group_schema,
    user_schema,
)

USERS = user_schema()


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ('userName eq "a"', Compare(attr="userName", op="eq", value="a")),
        ('USERNAME Eq "a"', Compare(attr="userName", op="eq", value="a")),
        ("title pr", Present(attr="title")),
        ("active eq true", Compare(attr="active", op="eq", value=True)),
        ('active eq "False"', Compare(attr="active", op="eq", value=False)),
        ("meta.version eq null", Compare(attr="meta.version", op="eq", value=None)),
        ('name.givenname sw "A\\"b"', Compare(attr="name.givenName", op="sw", value='A"b')),
        (
            "a pr or b pr".replace("a", "title").replace("b", "locale"),
            Or(items=(Present(attr="title"), Present(attr="locale"))),
        ),
        (
            "title pr and locale pr or nickName pr",
            Or(
                items=(
                    And(items=(Present(attr="title"), Present(attr="locale"))),
                    Present(attr="nickName"),
                )
            ),
        ),
        (
            "not (title pr) and (locale pr or nickName pr)",
            And(
                items=(
                    Not(item=Present(attr="title")),
                    Or(items=(Present(attr="locale"), Present(attr="nickName"))),
                )
            ),
        ),
        (
            'emails[type eq "work" and value co "@corp.com"]',
            Has(
                attr="emails",
                where=And(
                    items=(
                        Compare(attr="type", op="eq", value="work"),
                        Compare(attr="value", op="co", value="@corp.com"),
                    )
                ),
            ),
        ),
        (
            f"{ENTERPRISE_SCHEMA.lower()}:EMPLOYEENUMBER gt 5",
            Compare(attr=f"{ENTERPRISE_SCHEMA}:employeeNumber", op="gt", value=5),
        ),
        ("userName ge -1.5e2", Compare(attr="userName", op="ge", value=-150.0)),
    ],
)
def test_filters_parse_to_the_shared_tree(text: str, tree: Any) -> None:
    assert parse_filter(USERS, text) == tree


@pytest.mark.parametrize(
    "text",
    [
        "userName",
        'userName eq "a" and',
        'userName eq "a")',
        "(userName pr",
        'userName eq "unterminated',
        "userName eq 'single'",
        'nosuch eq "a"',
        'emails[nosuch eq "a"]',
        'name[givenName eq "a"]x',
        'title[value eq "a"]',
        "active gt true",
        "userName co 5",
        "userName eq #",
    ],
)
def test_bad_filters_are_invalid_filter(text: str) -> None:
    with pytest.raises(InvalidFilter):
        parse_filter(USERS, text)


def test_filter_limits() -> None:
    with pytest.raises(InvalidFilter, match="longer"):
        parse_filter(USERS, 'userName eq "' + "a" * 5000 + '"')
    # Too deep is a filter this endpoint does not support (invalidFilter), checked before each
    # recursive step: a thousand nots must not reach Python's recursion limit.
    for text in (
        "not (" * 20 + "title pr" + ")" * 20,
        "not " * 1000 + "title pr",
        "(" * 1000 + "title pr" + ")" * 1000,
        "emails[" + "(" * 100 + "type pr" + ")" * 100 + "]",
    ):
        with pytest.raises(InvalidFilter, match="nests deeper than 16"):
            parse_filter(USERS, text)
    assert parse_filter(USERS, "not " * 16 + "title pr") is not None
    with pytest.raises(InvalidFilter, match="more than 100 attribute expressions"):
        parse_filter(USERS, " and ".join(["id pr"] * 101))
    assert parse_filter(USERS, " or ".join(["id pr"] * 100)) is not None
    for number in ("1e999", "-1e999"):
        with pytest.raises(InvalidFilter, match="not a finite number"):
            parse_filter(USERS, f"title eq {number}")
    big = "9" * 400
    assert parse_filter(USERS, f"title eq {big}") == Compare(attr="title", op="eq", value=int(big))


def test_patch_paths() -> None:
    path = parse_patch_path(USERS, 'emails[type eq "work"].value')
    assert path.target.attr.name == "emails" and path.sub is not None and path.sub.name == "value"
    assert path.where == Compare(attr="type", op="eq", value="work")
    assert parse_patch_path(USERS, "name.familyName").target.name == "name.familyName"
    path = parse_patch_path(USERS, f"{ENTERPRISE_SCHEMA}:manager.value")
    assert path.target.name == f"{ENTERPRISE_SCHEMA}:manager.value"
    for bad in ("nosuch", "title[value eq 1]", 'emails[type eq "x"]junk', "emails[type eq"):
        with pytest.raises(InvalidPath):
            parse_patch_path(USERS, bad)


def _apply(resource: dict[str, Any], *ops: dict[str, Any], schema: Any = USERS) -> dict[str, Any]:
    return patch.apply(schema, resource, patch.operations({"Operations": list(ops)}))


def test_add_to_multi_valued_dedupes_and_keeps_one_primary() -> None:
    start = {"emails": [{"value": "a@example.com", "type": "work", "primary": True}]}
    out = _apply(
        start,
        {
            "op": "add",
            "path": "emails",
            "value": [
                {"value": "A@EXAMPLE.COM", "type": "work"},
                {"value": "b@example.com", "type": "home", "primary": "true"},
            ],
        },
    )
    assert out["emails"] == [
        {"value": "A@EXAMPLE.COM", "type": "work", "primary": False},
        {"value": "b@example.com", "type": "home", "primary": True},
    ]
    assert start["emails"][0]["primary"] is True  # the input is left alone


def test_entra_member_removal_removes_only_the_named_members() -> None:
    group = {"displayName": "G", "members": [{"value": "1"}, {"value": "2"}, {"value": "3"}]}
    out = _apply(
        group,
        {"op": "Remove", "path": "members", "value": [{"value": "2"}, {"value": "9"}]},
        schema=group_schema(),
    )
    assert out["members"] == [{"value": "1"}, {"value": "3"}]
    with pytest.raises(InvalidValue):
        _apply(group, {"op": "remove", "path": "members", "value": []}, schema=group_schema())
    out = _apply(group, {"op": "remove", "path": "members"}, schema=group_schema())
    assert "members" not in out


def test_mutability_and_targets() -> None:
    user = {"userName": "a", "active": True}
    with pytest.raises(Mutability):
        _apply(user, {"op": "replace", "path": "groups", "value": []})
    with pytest.raises(Mutability):
        _apply(user, {"op": "remove", "path": "userName"})
    with pytest.raises(NoTarget):
        _apply(user, {"op": "remove"})
    with pytest.raises(NoTarget):
        _apply(user, {"op": "add", "path": 'emails[value co "x"].type', "value": "work"})
    assert _apply(user, {"op": "replace", "value": {"password": "x"}}) == user


def test_normalise_takes_what_idps_send() -> None:
    body = {
        "USERNAME": "a",
        "Active": "False",
        "name.givenName": "G",
        f"{ENTERPRISE_SCHEMA}:manager": "boss",
        ENTERPRISE_SCHEMA.lower(): {"Department": "Ops"},
        "groups": [{"value": "ignored, read-only"}],
        "password": "never kept",
        "unknownAttr": 1,
    }
    assert normalise(USERS, body) == {
        "userName": "a",
        "active": False,
        "name": {"givenName": "G"},
        ENTERPRISE_SCHEMA: {"manager": {"value": "boss"}, "department": "Ops"},
    }


def test_projection_keeps_id_and_schemas() -> None:
    resource = {
        "schemas": ["s"],
        "id": "1",
        "userName": "a",
        "name": {"givenName": "G", "familyName": "F"},
        "emails": [{"value": "a@example.com", "type": "work"}, {"value": "b@example.com"}],
    }
    assert project(USERS, resource, ["name.familyName", "emails.type"], None) == {
        "schemas": ["s"],
        "id": "1",
        "name": {"familyName": "F"},
        "emails": [{"type": "work"}],
    }
    assert project(USERS, resource, None, ["id", "emails", "name.givenName"]) == {
        "schemas": ["s"],
        "id": "1",
        "userName": "a",
        "name": {"familyName": "F"},
    }


# -- never a 500: any PATCH body either applies or is a SCIM error ---------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "x", "True", "False"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["value", "type", "primary", "display", "givenName", "x"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=6,
)
PATHS = st.sampled_from(
    [
        None,
        "",
        "userName",
        "active",
        "title",
        "name",
        "name.givenName",
        "emails",
        'emails[type eq "work"]',
        'emails[type eq "work"].value',
        'emails[value co "x"].primary',
        "emails.value",
        "groups",
        "id",
        "meta.created",
        "password",
        "phoneNumbers",
        'addresses[type eq "home"].locality',
        ENTERPRISE_SCHEMA,
        f"{ENTERPRISE_SCHEMA}:manager",
        f"{ENTERPRISE_SCHEMA}:department",
        "nosuch",
        "emails[",
        "members",
        'members[value eq "1"]',
        "members.value",
        "displayName",
        "externalId",
    ]
)
OPERATION = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "Add", "remove", "Replace", "replace", "move", 3])},
    optional={"path": PATHS, "value": JSON | st.dictionaries(PATHS.filter(bool), JSON, max_size=3)},
)


@settings(max_examples=500, deadline=None)
@given(operations=st.lists(OPERATION, max_size=4))
def test_any_patch_applies_or_is_a_scim_error(operations: list[dict[str, Any]]) -> None:
    user = {
        "schemas": [USER_SCHEMA],
        "id": "1",
        "userName": "a@example.com",
        "active": True,
        "emails": [{"value": "a@example.com", "type": "work", "primary": True}],
        "meta": {"resourceType": "User"},
    }
    try:
        result = patch.apply(USERS, user, patch.operations({"Operations": operations}))
        user_attributes(result)
    except ScimError:
        pass
    group = {"schemas": [GROUP_SCHEMA], "id": "g", "displayName": "G", "members": [{"value": "1"}]}
    try:
        result = patch.apply(group_schema(), group, patch.operations({"Operations": operations}))
        group_fields(result)
    except ScimError:
        pass


@settings(max_examples=500, deadline=None)
@given(body=st.dictionaries(PATHS.filter(bool), JSON, max_size=5))
def test_any_post_body_is_taken_or_is_a_scim_error(body: dict[str, Any]) -> None:
    for schema, check in ((USERS, user_attributes), (group_schema(), group_fields)):
        with contextlib.suppress(ScimError):
            check(normalise(schema, {"userName": "u", "displayName": "d", **body}))


def test_the_tree_is_held_to_the_depth_of_the_text() -> None:
    ladder = "title pr or title pr and (" * 9 + "title pr" + ")" * 9
    with pytest.raises(InvalidFilter, match="levels of operators"):
        parse_filter(USERS, ladder)
    assert parse_filter(USERS, "title pr or title pr and (" * 7 + "title pr" + ")" * 7)
