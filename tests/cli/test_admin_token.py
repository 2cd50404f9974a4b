"""The admin token `roster dev` makes and prints is one a person can pass as typed:
``--admin-token <token>``, with a space, on every command that takes it."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from roster_cli import data
from roster_cli.parser import build_parser

# URL-safe base64 maps the top six bits 111110 of the first byte to "-": bytes 0xf8-0xfb.
DASH_FIRST = b"\xf8"


@pytest.fixture
def dash_first_random(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every random draw is the one (1 in 64) whose URL-safe encoding starts with "-"."""
    monkeypatch.setattr(secrets, "token_bytes", lambda n=32: DASH_FIRST * (n or 32))
    assert secrets.token_urlsafe(32).startswith("-")  # the draw a bare token_urlsafe fails on


@pytest.mark.usefixtures("dash_first_random")
def test_an_admin_token_made_from_the_worst_draw_is_still_an_option_value(tmp_path: Path) -> None:
    token, made = data.admin_token(tmp_path)
    assert made
    assert not token.startswith("-")
    assert (tmp_path / data.ADMIN_TOKEN_FILE).read_text(encoding="utf-8") == token + "\n"
    for command in (["tenant", "list"], ["dlq", "list"], ["webhook", "list", "acme"]):
        argv = [*command, "--url", "http://127.0.0.1:8000", "--admin-token", token]
        assert build_parser().parse_args(argv).admin_token == token, argv


def test_admin_tokens_say_what_they_are_and_carry_256_random_bits() -> None:
    token = data.new_admin_token()
    assert re.fullmatch(r"rat_[A-Za-z0-9_-]{43}", token), token
    assert token != data.new_admin_token()


def test_an_admin_token_already_kept_is_read_back_not_made_again(tmp_path: Path) -> None:
    first, made = data.admin_token(tmp_path)
    again, made_again = data.admin_token(tmp_path)
    assert (again, made, made_again) == (first, True, False)
