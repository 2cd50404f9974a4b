"""Google Workspace Admin SDK Directory API: ``GET /users?customer=my_customer`` paged by
``pageToken``/``nextPageToken``; ``showDeleted=true`` lists the users deleted in the last 20 days.

A user has ``id``, ``primaryEmail``, ``emails[].address``, ``aliases`` and ``suspended``
(``archived`` users have lost access too). The token is an OAuth access token with the
``admin.directory.user.readonly`` scope.
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


class GoogleConnector(Connector):
    """Google Workspace users."""

    kind = "google"

    async def snapshot(self) -> Snapshot:
        """Every user, then the recently deleted."""
        snapshot = Snapshot()
        for deleted in (False, True):
            token: str | None = None
            while True:
                params = {"customer": "my_customer", "maxResults": "500", "projection": "basic"}
                if deleted:
                    params["showDeleted"] = "true"
                if token:
                    params["pageToken"] = token
                body, _ = await self.http.get(
                    f"{self.url}/users", params=params, headers=self.headers
                )
                if not isinstance(body, dict):
                    raise DirectoryError("not a Directory API users list")
                snapshot.pages += 1
                snapshot.users.extend(self._user(item, deleted) for item in body.get("users", []))
                token = body.get("nextPageToken")
                if not token:
                    break
        return self._finish(snapshot)

    @staticmethod
    def _user(item: dict[str, Any], deleted: bool) -> DirectoryUser:
        emails = [e.get("address") for e in item.get("emails") or [] if isinstance(e, dict)]
        if deleted:
            status, detail = Status.DELETED, "deleted in Google Workspace"
        elif item.get("suspended") or item.get("archived"):
            status = Status.DISABLED
            detail = "suspended" if item.get("suspended") else "archived"
            if item.get("suspensionReason"):
                detail += f" ({item['suspensionReason']})"
        else:
            status, detail = Status.ACTIVE, ""
        return DirectoryUser(
            id=str(item["id"]),
            names=names(item.get("primaryEmail"), emails, item.get("aliases")),
            status=status,
            detail=detail,
            changed_at=parse_time(item.get("deletionTime")) if deleted else None,
        )
