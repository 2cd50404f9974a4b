"""The one exception a ``roster`` command fails with: a code for scripts, a detail for people."""

from __future__ import annotations


class CommandFailed(Exception):
    """A command could not do what was asked; ``code`` names the kind of failure."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
