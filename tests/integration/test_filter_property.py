"""Property: the user-store's SQL filter evaluation agrees with an in-memory reference evaluator.

Hypothesis generates small populations of users (with the awkward values: ``%`` and ``_``,
mixed case, characters whose case folding or NFKC form differs, missing attributes, several
e-mails) and filter trees over every kind of attribute the user-store compiles (case-exact,
case-insensitive, identity keys, booleans, multi-valued ``emails``, values kept in the ``extra``
JSON). Each filter runs as SQL through ``queries.list_users`` on SQLite and on PostgreSQL and
must select exactly the users the reference evaluator (RFC 7644 §3.4.2.2 semantics, written
independently of the compiler) selects.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from roster_shared.filters import And, Compare, Expr, Has, ListQuery, Not, Or, Present
from roster_shared.tenants import ProvisioningMode
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store import queries, tenants
from user_store.cursors import Cursors
from user_store.db import create_engine, migrate, session_factory
from user_store.identity import name_key
from user_store.tables import UserEmailRow, UserRow

# 300 populations and filters through the database per run: out of the fast loop.
pytestmark = pytest.mark.slow

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CURSORS = Cursors(b"filter property tests' key")

# Characters chosen to hit the edges: LIKE wildcards, case, NFKC (fullwidth A), case folding
# (sharp s folds to "ss"), and plain letters so that comparisons often match.
KEY_TEXT = st.text(alphabet="aAbsS%_ßＡ.", max_size=4)
# Case-insensitive columns are lowered by the database, whose lower() is ASCII-only on SQLite:
# they get ASCII (the case-folding of other scripts is the identity keys' job, above).
ASCII_TEXT = st.text(alphabet="aAbB%_ .", max_size=4)
EXACT_TEXT = st.text(alphabet="aA%_", max_size=3)

# attribute -> (kind, where the reference finds the value, strategy for compared values)
Getter = Callable[[dict[str, Any]], Any]
SINGLE: dict[str, tuple[str, Getter, st.SearchStrategy[Any]]] = {
    "userName": ("key", lambda u: u["user_name"], KEY_TEXT),
    "externalId": ("ce", lambda u: u["external_id"], EXACT_TEXT),
    "displayName": ("ci", lambda u: u["display_name"], ASCII_TEXT),
    "name.givenName": ("ci", lambda u: u["given_name"], ASCII_TEXT),
    "title": ("ci", lambda u: u["extra"].get("title"), ASCII_TEXT),
    f"{ENTERPRISE}:department": (
        "ci",
        lambda u: u["extra"].get(ENTERPRISE, {}).get("department"),
        ASCII_TEXT,
    ),
    "active": ("bool", lambda u: u["active"], st.booleans()),
}
EMAIL: dict[str, tuple[str, st.SearchStrategy[Any]]] = {
    "value": ("key", KEY_TEXT),
    "type": ("ci", ASCII_TEXT),
    "primary": ("bool", st.booleans()),
}
STRING_OPS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")


def _norm(kind: str, value: str) -> str:
    if kind == "key":
        return name_key(value)
    if kind == "ci":
        return value.lower()
    return value


def compare(kind: str, actual: Any, op: str, expected: Any) -> bool:
    """One attribute comparison, as RFC 7644 §3.4.2.2 describes it."""
    if kind == "bool":
        if op == "eq":
            return actual is not None and actual == expected
        return actual is None or actual != expected  # ne
    if expected is None:
        return (actual is None) if op == "eq" else (actual is not None)
    if actual is None:
        return op == "ne"  # "not equal" holds for an absent value
    a, e = _norm(kind, actual), _norm(kind, expected)
    return {
        "eq": a == e,
        "ne": a != e,
        "co": e in a,
        "sw": a.startswith(e),
        "ew": a.endswith(e),
        "gt": a > e,
        "ge": a >= e,
        "lt": a < e,
        "le": a <= e,
    }[op]


def present(kind: str, actual: Any) -> bool:
    return actual is not None and (kind == "bool" or actual != "")


def evaluate(expr: Expr, user: dict[str, Any]) -> bool:
    match expr:
        case And(items=items):
            return all(evaluate(i, user) for i in items)
        case Or(items=items):
            return any(evaluate(i, user) for i in items)
        case Not(item=item):
            return not evaluate(item, user)
        case Has(where=where):
            return any(_element(where, e) for e in user["emails"])
        case Present(attr="emails"):
            return bool(user["emails"])
        case Present(attr=attr) if attr.startswith("emails."):
            sub = attr.split(".", 1)[1]
            return any(present(EMAIL[sub][0], e.get(sub)) for e in user["emails"])
        case Present(attr=attr):
            kind, get, _ = SINGLE[attr]
            return present(kind, get(user))
        case Compare(attr=attr, op=op, value=value) if attr.startswith("emails."):
            sub = attr.split(".", 1)[1]
            return any(compare(EMAIL[sub][0], e.get(sub), op, value) for e in user["emails"])
        case Compare(attr=attr, op=op, value=value):
            kind, get, _ = SINGLE[attr]
            return compare(kind, get(user), op, value)
    raise AssertionError(expr)


def _element(expr: Expr, email: dict[str, Any]) -> bool:
    match expr:
        case And(items=items):
            return all(_element(i, email) for i in items)
        case Or(items=items):
            return any(_element(i, email) for i in items)
        case Not(item=item):
            return not _element(item, email)
        case Present(attr=attr):
            return present(EMAIL[attr][0], email.get(attr))
        case Compare(attr=attr, op=op, value=value):
            return compare(EMAIL[attr][0], email.get(attr), op, value)
    raise AssertionError(expr)


@st.composite
def _leaf(draw: st.DrawFn, attrs: dict[str, Any], prefix: str = "") -> Expr:
    name = draw(st.sampled_from(sorted(attrs)))
    spec = attrs[name]
    kind, values = (spec[0], spec[2]) if len(spec) == 3 else spec
    if draw(st.integers(0, 6)) == 0:
        return Present(attr=prefix + name)
    if kind == "bool":
        return Compare(
            attr=prefix + name, op=draw(st.sampled_from(("eq", "ne"))), value=draw(values)
        )
    op = draw(st.sampled_from(STRING_OPS))
    value = draw(values)
    if op in ("eq", "ne") and draw(st.integers(0, 8)) == 0:
        value = None
    return Compare(attr=prefix + name, op=op, value=value)


def _tree(leaves: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: And(items=tuple(xs))),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: Or(items=tuple(xs))),
            inner.map(lambda x: Not(item=x)),
        ),
        max_leaves=4,
    )


FILTERS = _tree(
    st.one_of(
        _leaf(SINGLE),
        _leaf(EMAIL, "emails."),
        _tree(_leaf(EMAIL)).map(lambda where: Has(attr="emails", where=where)),
        st.just(Present(attr="emails")),
    )
)

EMAILS = st.lists(
    st.fixed_dictionaries(
        {"value": KEY_TEXT.filter(bool), "type": st.none() | ASCII_TEXT, "primary": st.booleans()}
    ),
    max_size=2,
)
USERS = st.lists(
    st.fixed_dictionaries(
        {
            "user_name": KEY_TEXT,
            "external_id": st.none() | EXACT_TEXT,
            "display_name": st.none() | ASCII_TEXT,
            "given_name": st.none() | ASCII_TEXT,
            "active": st.booleans(),
            "emails": EMAILS,
            "title": st.none() | ASCII_TEXT,
            "department": st.none() | ASCII_TEXT,
        }
    ),
    max_size=6,
)


async def _load(
    engine: AsyncEngine, users: list[dict[str, Any]]
) -> tuple[str, list[dict[str, Any]]]:
    """A new tenant holding ``users`` (unique userName keys and externalIds, as the store keeps)."""
    now = datetime.now(UTC)
    kept: list[dict[str, Any]] = []
    names: set[str] = set()
    external: set[str] = set()
    async with session_factory(engine)() as session, session.begin():
        tenant = await tenants.create_tenant(
            session, f"p{uuid.uuid4().hex[:12]}", ProvisioningMode.SCIM
        )
        for raw in users:
            key = name_key(raw["user_name"])
            if not raw["user_name"] or key in names or raw["external_id"] in external:
                continue
            names.add(key)
            if raw["external_id"] is not None:
                external.add(raw["external_id"])
            extra: dict[str, Any] = {}
            if raw["title"] is not None:
                extra["title"] = raw["title"]
            if raw["department"] is not None:
                extra[ENTERPRISE] = {"department": raw["department"]}
            user = {**raw, "id": str(uuid.uuid4()), "extra": extra}
            session.add(
                UserRow(
                    id=user["id"],
                    tenant_id=tenant.id,
                    user_name=raw["user_name"],
                    user_name_key=key,
                    external_id=raw["external_id"],
                    active=raw["active"],
                    display_name=raw["display_name"],
                    given_name=raw["given_name"],
                    emails=raw["emails"],
                    extra=extra,
                    origin="scim",
                    scim_managed=True,
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
            for position, email in enumerate(raw["emails"]):
                session.add(
                    UserEmailRow(
                        user_id=user["id"],
                        position=position,
                        tenant_id=tenant.id,
                        value=email["value"],
                        value_key=name_key(email["value"]),
                        type=email["type"],
                        primary=email["primary"],
                    )
                )
            kept.append(user)
    return tenant.id, kept


def _user(user_name: str, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "user_name": user_name,
        "external_id": None,
        "display_name": None,
        "given_name": None,
        "active": True,
        "emails": [],
        "title": None,
        "department": None,
    }
    return {**base, **values}


class FilterProperty:
    db_kind: str

    @pytest.fixture
    async def engine(
        self, request: pytest.FixtureRequest, tmp_path: Any
    ) -> AsyncIterator[AsyncEngine]:
        if self.db_kind == "postgres":
            url = request.getfixturevalue("fresh_database_url")
        else:
            url = f"sqlite+aiosqlite:///{tmp_path / 'filters.db'}"
        engine = create_engine(url)
        await migrate(engine)
        yield engine
        await engine.dispose()

    @settings(
        max_examples=300,
        deadline=None,
        # Two subclasses (SQLite, PostgreSQL) run the same method: differing executors.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(users=USERS, filters=st.lists(FILTERS, min_size=1, max_size=4))
    # Found by this test: NOT over an absent attribute (SQL NULL), LIKE ignoring case on SQLite.
    @example(users=[_user("a")], filters=[Not(item=Compare(attr="title", op="co", value=""))])
    @example(
        users=[_user("b", external_id="A")],
        filters=[Compare(attr="externalId", op="co", value="a")],
    )
    async def test_sql_agrees_with_the_reference(
        self, engine: AsyncEngine, users: list[dict[str, Any]], filters: list[Expr]
    ) -> None:
        tenant_id, kept = await _load(engine, users)
        for expr in filters:
            async with session_factory(engine)() as session:
                _, found, _ = await queries.list_users(
                    session, tenant_id, ListQuery(filter=expr, count=1000), cursors=CURSORS
                )
            expected = {u["id"] for u in kept if evaluate(expr, u)}
            assert {u.id for u in found} == expected, (expr, kept)


class TestSqlite(FilterProperty):
    db_kind = "sqlite"


class TestPostgres(FilterProperty):
    db_kind = "postgres"
