"""Okta Users API: ``GET /api/v1/users`` paged by the ``Link: <...>; rel="next"`` header.

The list leaves out DEPROVISIONED users unless asked, so they are read with a second listing
(``filter=status eq "DEPROVISIONED"``). SUSPENDED and DEPROVISIONED people have lost access;
every other status (STAGED, PROVISIONED, ACTIVE, RECOVERY, LOCKED_OUT, PASSWORD_EXPIRED) is a
person still employed. API tokens are sent as ``Authorization: SSWS <token>``; rate limits come
back as ``X-Rate-Limit-Limit/-Remaining/-Reset`` and a 429 when spent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconciler.directory.base import (
    Connector,
    DirectoryError,
    DirectoryUser,
    Snapshot,
    Status,
    names,
    parse_time,
)

NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
GONE = {"SUSPENDED": Status.DISABLED, "DEPROVISIONED": Status.DELETED}


def next_link(headers: Mapping[str, str] | Any) -> str | None:
    """The ``rel="next"`` URL among the response's ``Link`` headers (RFC 8288)."""
    values = headers.getall("Link", []) if hasattr(headers, "getall") else [headers.get("Link")]
    for value in values:
        for match in NEXT.finditer(value or ""):
            return match.group(1)
    return None


class OktaConnector(Connector):
    """Okta users; ``url`` is the org, e.g. ``https://example.okta.com``."""

    kind = "okta"

    @property
    def headers(self) -> dict[str, str]:
        """Okta API tokens use the SSWS scheme; an OAuth access token is a Bearer."""
        scheme = "Bearer" if self.token.count(".") == 2 else "SSWS"
        return {"Authorization": f"{scheme} {self.token}", "Accept": "application/json"}

    def _base(self) -> str:
        return self.url if self.url.endswith("/api/v1") else f"{self.url}/api/v1"

    async def snapshot(self) -> Snapshot:
        """Every user including the deprovisioned."""
        snapshot = Snapshot()
        for params in ({"limit": "200"}, {"limit": "200", "filter": 'status eq "DEPROVISIONED"'}):
            url: str | None = f"{self._base()}/users"
            query: dict[str, str] | None = params
            while url:
                body, headers = await self.http.get(url, params=query, headers=self.headers)
                query = None
                if not isinstance(body, list):
                    raise DirectoryError(f"{url}: not a list of Okta users")
                snapshot.pages += 1
                snapshot.users.extend(self._user(item) for item in body)
                url = next_link(headers)
        return self._finish(snapshot)

    @staticmethod
    def _user(item: dict[str, Any]) -> DirectoryUser:
        profile = item.get("profile") or {}
        status = str(item.get("status", ""))
        return DirectoryUser(
            id=str(item["id"]),
            names=names(profile.get("login"), profile.get("email"), profile.get("secondEmail")),
            status=GONE.get(status, Status.ACTIVE),
            detail=f"status {status}",
            changed_at=parse_time(item.get("statusChanged")),
        )
