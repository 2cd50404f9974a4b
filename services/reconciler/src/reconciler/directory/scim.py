"""A generic SCIM 2.0 pull: ``GET /Users`` paged by ``startIndex``/``count`` (RFC 7644 §3.4.2.4).

The ListResponse's ``totalResults`` must be reached, or the snapshot is not complete.
"""

from __future__ import annotations

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

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


class ScimConnector(Connector):
    """Any directory that serves SCIM 2.0 Users."""

    kind = "scim"
    page_size = 100

    @property
    def headers(self) -> dict[str, str]:
        """SCIM's media type (RFC 7644 §3.1)."""
        return {**super().headers, "Accept": "application/scim+json, application/json"}

    async def snapshot(self) -> Snapshot:
        """Every user, page by page until ``totalResults``."""
        snapshot = Snapshot()
        start = 1
        while True:
            params = {"startIndex": str(start), "count": str(self.page_size)}
            body, _ = await self.http.get(f"{self.url}/Users", params=params, headers=self.headers)
            if not isinstance(body, dict) or LIST_RESPONSE not in body.get("schemas", []):
                raise DirectoryError("not a SCIM ListResponse")
            total = int(body.get("totalResults", 0))
            resources = body.get("Resources") or []
            snapshot.pages += 1
            snapshot.users.extend(self._user(item) for item in resources)
            start += len(resources)
            if start > total:
                break
            if not resources:
                raise DirectoryError(
                    f"the directory stopped at {start - 1} of {total} users: incomplete"
                )
        return self._finish(snapshot)

    @staticmethod
    def _user(item: dict[str, Any]) -> DirectoryUser:
        emails = [e.get("value") for e in item.get("emails") or [] if isinstance(e, dict)]
        active = item.get("active")
        return DirectoryUser(
            id=str(item.get("externalId") or item["id"]),
            names=names(item.get("userName"), emails),
            status=Status.DISABLED if active is False else Status.ACTIVE,
            detail="active=false" if active is False else "",
            changed_at=parse_time((item.get("meta") or {}).get("lastModified"))
            if active is False
            else None,
        )
