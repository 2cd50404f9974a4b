"""Where the data lives: the embedded data directory, the database URL, the admin token."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url

DATA_ENV = "ROSTER_DATA"
DATABASE_ENV = "ROSTER_DATABASE_URL"
DEFAULT_DATA = ".roster"
DATABASE_FILE = "roster.db"
ADMIN_TOKEN_FILE = "admin-token"  # noqa: S105 - a file name, not a secret


class DataError(Exception):
    """The data directory or the database cannot be used as asked."""


def data_dir(given: str | os.PathLike[str] | None = None) -> Path:
    """``--data``, else ``$ROSTER_DATA``, else ``.roster`` under the current directory."""
    raw = given or os.environ.get(DATA_ENV) or DEFAULT_DATA
    return Path(raw).expanduser().resolve()


def prepare_data_dir(path: Path) -> Path:
    """Create the data directory (private to its owner) if it does not exist."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data directory {path}: {exc.strerror}") from exc
    if not path.is_dir():
        raise DataError(f"{path} is not a directory")
    return path


def sqlite_url(directory: Path) -> str:
    """The embedded database of a data directory."""
    return f"sqlite+aiosqlite:///{directory / DATABASE_FILE}"


def database_url(*, data: str | None = None, url: str | None = None) -> str:
    """The database a command works on.

    In order: ``--database-url``, ``--data``, ``$ROSTER_DATABASE_URL``, ``$ROSTER_DATA``,
    ``./.roster`` — the last three being the embedded SQLite database of that directory.
    """
    if url:
        return url
    if data:
        return sqlite_url(prepare_data_dir(data_dir(data)))
    from_env = os.environ.get(DATABASE_ENV)
    if from_env:
        return from_env
    return sqlite_url(prepare_data_dir(data_dir()))


def describe_url(url: str) -> str:
    """A database URL fit to print: the password hidden, a SQLite file as its path."""
    try:
        parsed = make_url(url)
    except Exception:  # whatever it is, do not echo it back
        return "<unparseable database URL>"
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


ADMIN_TOKEN_PREFIX = "rat_"  # noqa: S105 - a prefix, not a secret


def new_admin_token() -> str:
    """A new admin token: ``rat_`` and 256 random bits, URL-safe base64.

    The prefix is why: a bare ``token_urlsafe`` starts with ``-`` one time in 64, and then
    ``--admin-token <token>`` is an argparse error ("expected one argument") for the person who
    types it. Like SCIM tokens (``rst_``) and setup links (``rsl_``), it also says what it is.
    """
    return ADMIN_TOKEN_PREFIX + secrets.token_urlsafe(32)


def admin_token(directory: Path) -> tuple[str, bool]:
    """The admin API credential kept in ``DIR/admin-token`` (mode 0600), made on first use.

    Returns the token and whether it was just made.
    """
    path = directory / ADMIN_TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = path.read_text(encoding="utf-8").strip()
        if not token:
            raise DataError(f"{path} is empty: delete it to have a new admin token made") from None
        return token, False
    token = new_admin_token()
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(token + "\n")
    return token, True
