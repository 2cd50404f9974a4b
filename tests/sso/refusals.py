"""Why sso-login refused: the reason it logged with the reference id its error page quotes.

An attack test that only checks "400 and a reference" passes as long as *something* refuses the
message, so a deleted check hides behind any other refusal. Tests read the logged reason of the
very page they got (``sso_login.errors`` logs ``reference`` and ``reason`` on every error page)
and assert a fragment that only the intended check produces.
"""

from __future__ import annotations

import logging
import re

REFERENCE = re.compile(r"Reference: <code>([0-9A-Za-z_-]+)</code>")
LOGGER = "sso_login.errors"


class Refusals(logging.Handler):
    """Collects the reason of every error page, by reference id, while installed."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.reasons: dict[str, str] = {}
        self._level: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        reference = getattr(record, "reference", None)
        if reference is not None:
            self.reasons[str(reference)] = str(getattr(record, "reason", record.getMessage()))

    def install(self) -> None:
        logger = logging.getLogger(LOGGER)
        # The error page is logged at INFO; an unconfigured logger would drop it before any
        # handler saw it.
        self._level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(self)

    def uninstall(self) -> None:
        logger = logging.getLogger(LOGGER)
        logger.removeHandler(self)
        if self._level is not None:
            logger.setLevel(self._level)

    def reason(self, page: str) -> str:
        """The logged reason of the error page ``page`` (its HTML)."""
        match = REFERENCE.search(page)
        assert match is not None, f"no reference on the page: {page[:300]}"
        reference = match.group(1)
        assert reference in self.reasons, f"reference {reference} was not logged"
        return self.reasons[reference]

    def assert_reason(self, page: str, fragment: str) -> str:
        """Assert the page was refused for a reason containing ``fragment``; return it."""
        reason = self.reason(page)
        assert fragment.lower() in reason.lower(), (
            f"refused, but for another reason: {reason!r} (expected {fragment!r})"
        )
        return reason
