"""Row writes shared by every rule: attribute assignment, the e-mail index rows, flushes that
turn a lost race on a unique index into a typed error, and the fast path's deferred e-mail rows.
"""

from __future__ import annotations

from typing import Any, TypeVar

from roster_shared.events.people import UserAttributes
from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlmodel import SQLModel, col

from user_store.apply.context import ApplyContext
from user_store.errors import PreconditionFailed, Uniqueness
from user_store.faults import Fault, classify
from user_store.identity import name_key
from user_store.tables import UserEmailRow, UserRow

USER_FIELDS = (
    "user_name",
    "external_id",
    "active",
    "display_name",
    "given_name",
    "family_name",
    "emails",
    "extra",
)
"""The canonical user attributes a create reports as changed."""


Row = TypeVar("Row", bound=SQLModel)
_defaults: dict[type[SQLModel], dict[str, Any]] = {}


def new_row(model: type[Row], **values: Any) -> Row:
    """A new table row as ``model(**values)`` makes it, at a fraction of the cost.

    A SQLModel table model's ``__init__`` costs ~120 µs (every field through pydantic's and
    SQLAlchemy's ``__setattr__``), more than the rest of applying a create (issue 10, the
    ingest profile). This is what SQLAlchemy itself does for a row it loads: an instance with
    its ORM state, its fields put straight into its ``__dict__``. Table models are not
    validated by ``__init__`` either, and a pending row's INSERT reads that dict; later
    assignments go through the ordinary instrumented ``__setattr__``."""
    defaults = _defaults.get(model)
    if defaults is None:
        defaults = _defaults[model] = {
            name: field.default
            for name, field in model.model_fields.items()
            if field.default_factory is None and not field.is_required()
        }
    row: Row = manager_of_class(model).new_instance()
    state = row.__dict__
    state.update(defaults)
    for name, field in model.model_fields.items():
        if field.default_factory is not None and name not in values:
            state[name] = field.default_factory()  # type: ignore[call-arg]
    state.update(values)
    object.__setattr__(row, "__pydantic_fields_set__", set(values))
    return row


def check_version(expected: int | None, actual: int, what: str) -> None:
    """Refuse a write that names a version other than the current one (rule 7, SCIM If-Match)."""
    if expected is not None and expected != actual:
        raise PreconditionFailed(f"{what} is at version {actual}, not {expected}")


def email_values(attributes: UserAttributes) -> list[dict[str, Any]]:
    """The e-mails as stored in the user row's JSON column."""
    return [e.model_dump() for e in attributes.emails]


class RowWrites(ApplyContext):
    """Writes of user rows and their e-mail rows, on the safe path or the fast one."""

    async def _drain_email_sink(self) -> None:
        """Write deferred e-mail rows now, before something reads or replaces them."""
        if self.emails_replaced:
            await self.session.flush()
            await self.session.execute(
                delete(UserEmailRow).where(col(UserEmailRow.user_id).in_(self.emails_replaced))
            )
            self.emails_replaced.clear()
        if self.email_sink:
            await self.session.flush()
            rows = [row for rows in self.email_sink.values() for row in rows]
            if rows:
                await self.session.execute(insert(UserEmailRow), rows)
            self.email_sink.clear()

    async def _write_emails(self, user: UserRow, *, fresh: bool = False) -> None:
        rows = [
            {
                "user_id": user.id,
                "position": position,
                "tenant_id": user.tenant_id,
                "value": email["value"],
                "value_key": name_key(email["value"]),
                "type": email.get("type"),
                "primary": bool(email.get("primary")),
            }
            for position, email in enumerate(user.emails)
        ]
        if self.email_sink is not None:
            # Fast path: deferred to the batch's bulk write, the stored rows deleted first;
            # a user changed twice in the batch keeps its latest rows only.
            if not fresh:
                self.emails_replaced.add(user.id)
            self.email_sink[user.id] = rows
            return
        if not fresh:
            await self.session.execute(
                delete(UserEmailRow).where(col(UserEmailRow.user_id) == user.id)
            )
        self.session.add_all(UserEmailRow(**row) for row in rows)

    def _assign(self, user: UserRow, values: dict[str, Any]) -> list[str]:
        changed = []
        for name, value in values.items():
            if getattr(user, name) != value:
                setattr(user, name, value)
                changed.append(name)
        if "user_name" in changed:
            user.user_name_key = name_key(user.user_name)
        return changed

    async def _flush(self) -> None:
        """Flush, turning a race on a unique index into the typed error it means. Any other
        integrity error (a check or foreign key) is the record's: it propagates, and the
        consumer dead-letters it (``user_store.faults`` decides by SQLSTATE, not by text)."""
        try:
            await self.session.flush()
        except IntegrityError as exc:
            if classify(exc) is not Fault.CONFLICT:
                raise
            raise Uniqueness(f"a unique attribute is already taken ({exc.orig})") from exc
