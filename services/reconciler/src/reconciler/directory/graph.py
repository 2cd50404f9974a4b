"""Microsoft Graph (Entra ID): ``GET /users`` and
``GET /directory/deletedItems/microsoft.graph.user`` paged by ``@odata.nextLink``;
``GET /users/delta`` for changes since the last ``@odata.deltaLink``.

Documented shapes: a collection is ``{"value": [...], "@odata.nextLink": url}``; a user has
``id``, ``userPrincipalName``, ``mail``, ``otherMails``, ``accountEnabled``; a deleted user keeps
``mail`` and ``deletedDateTime`` while its ``userPrincipalName`` gets the object id (without
dashes) put in front; a delta item that left has ``"@removed": {"reason": "changed"|"deleted"}``.
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

SELECT = "id,userPrincipalName,mail,otherMails,accountEnabled"


class GraphConnector(Connector):
    """Entra ID users through Microsoft Graph v1.0."""

    kind = "graph"

    async def _pages(self, url: str, params: dict[str, str] | None) -> Any:
        snapshot_params: dict[str, str] | None = params
        while url:
            body, _ = await self.http.get(url, params=snapshot_params, headers=self.headers)
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise DirectoryError(f"{url}: not a Graph collection")
            yield body
            url = body.get("@odata.nextLink") or ""
            snapshot_params = None  # the next link carries every parameter

    async def snapshot(self) -> Snapshot:
        """Every user, then the deleted ones (Entra keeps them 30 days)."""
        snapshot = Snapshot()
        async for page in self._pages(f"{self.url}/users", {"$select": SELECT, "$top": "999"}):
            snapshot.pages += 1
            snapshot.users.extend(self._user(item) for item in page["value"])
        deleted = f"{self.url}/directory/deletedItems/microsoft.graph.user"
        params = {"$select": SELECT + ",deletedDateTime", "$top": "999"}
        async for page in self._pages(deleted, params):
            snapshot.pages += 1
            snapshot.users.extend(self._deleted(item) for item in page["value"])
        return self._finish(snapshot)

    async def delta(self, link: str | None) -> Snapshot:
        """Changes since ``link`` (None: every user, as the first round of a delta query);
        ``delta_link`` is where the next round starts. Removed users come back DELETED."""
        snapshot = Snapshot()
        url = link or f"{self.url}/users/delta"
        params = None if link else {"$select": SELECT}
        while url:
            body, _ = await self.http.get(url, params=params, headers=self.headers)
            params = None
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise DirectoryError(f"{url}: not a Graph delta page")
            snapshot.pages += 1
            for item in body["value"]:
                if "@removed" in item:
                    reason = str((item.get("@removed") or {}).get("reason", "deleted"))
                    snapshot.users.append(
                        DirectoryUser(
                            str(item["id"]), (), Status.DELETED, f"@removed reason={reason}"
                        )
                    )
                else:
                    snapshot.users.append(self._user(item))
            url = body.get("@odata.nextLink") or ""
            snapshot.delta_link = body.get("@odata.deltaLink")
        if snapshot.delta_link is None:
            raise DirectoryError("the delta round ended without an @odata.deltaLink")
        return self._finish(snapshot)

    @staticmethod
    def _user(item: dict[str, Any]) -> DirectoryUser:
        enabled = item.get("accountEnabled")
        return DirectoryUser(
            id=str(item["id"]),
            names=names(item.get("userPrincipalName"), item.get("mail"), item.get("otherMails")),
            status=Status.DISABLED if enabled is False else Status.ACTIVE,
            detail="accountEnabled=false" if enabled is False else "",
        )

    @staticmethod
    def _deleted(item: dict[str, Any]) -> DirectoryUser:
        object_id = str(item["id"])
        upn = item.get("userPrincipalName")
        prefix = object_id.replace("-", "")
        if isinstance(upn, str) and upn.startswith(prefix):
            upn = upn[len(prefix) :]
        return DirectoryUser(
            id=object_id,
            names=names(upn, item.get("mail"), item.get("otherMails")),
            status=Status.DELETED,
            detail="deleted in Entra ID",
            changed_at=parse_time(item.get("deletedDateTime")),
        )
