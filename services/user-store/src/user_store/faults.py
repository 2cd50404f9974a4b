"""Whose fault an exception from applying one ingestion event is, decided by its type.

The consumer must tell three things apart, and a message's text is no way to do it (it changes
with the driver, the server's version and its language):

* :attr:`Fault.RECORD` — the event itself cannot be stored or applied, and never will be: a
  data exception (SQLSTATE class 22: a string too long, an invalid byte sequence, a NUL), an
  integrity violation that is not a conflict (class 23 but 23505), a program limit (class 54:
  an index row too large), or a bug in the code that applies it. Retrying changes nothing, so
  the event goes to the dead-letter topic and its partition moves on.
* :attr:`Fault.CONFLICT` — a unique violation (23505) or a serialisation failure or deadlock
  (class 40): another writer got there first. Trying again sees its row and decides anew.
* :attr:`Fault.INFRASTRUCTURE` — the database cannot be reached or is not itself: a lost
  connection (class 08, a driver's connection or interface error, a pool timeout), a server
  shutting down or out of resources (classes 53, 57, 58, XX), missing tables or privileges
  (class 42: a deployment problem, not a record's), or a timeout. These hold up the whole
  partition until the database is back: no event is blamed for them.

SQLite (the embedded mode) reports the same classes through its extended result codes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from enum import Enum

from sqlalchemy import exc as sa_exc


class Fault(Enum):
    """Who is to blame for an exception, and so what the consumer does about it."""

    RECORD = "record"
    CONFLICT = "conflict"
    INFRASTRUCTURE = "infrastructure"


_RECORD_CLASSES = {"22", "23", "54"}
_CONFLICT_STATES = {"23505", "23P01"}
_CONFLICT_CLASSES = {"40"}

# SQLite extended result codes (sqlite3.Error.sqlite_errorname, Python 3.11+).
_SQLITE_CONFLICT = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
_SQLITE_RECORD_PREFIXES = ("SQLITE_CONSTRAINT", "SQLITE_TOOBIG", "SQLITE_MISMATCH", "SQLITE_RANGE")


def sqlstate(error: BaseException) -> str | None:
    """The five-character SQLSTATE of a PostgreSQL error, wrapped or not, else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str) and len(state) == 5:
            return state
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return None


def _sqlite(error: BaseException) -> sqlite3.Error | None:
    current: BaseException | None = error
    for _ in range(4):
        if current is None:
            return None
        if isinstance(current, sqlite3.Error):
            return current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return None


def classify(error: BaseException) -> Fault:
    """Whose fault ``error`` is (see the module's documentation)."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return Fault.INFRASTRUCTURE
    if isinstance(
        error,
        TimeoutError
        | asyncio.TimeoutError
        | ConnectionError
        | OSError
        | sa_exc.TimeoutError
        | sa_exc.DisconnectionError
        | sa_exc.InterfaceError,
    ):
        return Fault.INFRASTRUCTURE
    state = sqlstate(error)
    if state is not None:
        if state in _CONFLICT_STATES or state[:2] in _CONFLICT_CLASSES:
            return Fault.CONFLICT
        if state[:2] in _RECORD_CLASSES:
            return Fault.RECORD
        return Fault.INFRASTRUCTURE
    lite = _sqlite(error)
    if lite is not None:
        name = getattr(lite, "sqlite_errorname", "") or ""
        if name in _SQLITE_CONFLICT:
            return Fault.CONFLICT
        if name.startswith(_SQLITE_RECORD_PREFIXES) or isinstance(
            lite, sqlite3.DataError | sqlite3.IntegrityError
        ):
            return Fault.RECORD
        return Fault.INFRASTRUCTURE
    if isinstance(error, sa_exc.OperationalError):
        # A driver-level operational error with no SQLSTATE: the connection, not the record.
        return Fault.INFRASTRUCTURE
    # Anything else came from this record's data on its way through our code (a value the
    # driver cannot encode, a bug an input triggers): retrying the same input fails the same way.
    return Fault.RECORD
