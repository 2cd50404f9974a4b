"""Local stand-ins for the directory APIs the reconciler reads, for tests and benchmarks.

Microsoft Graph, Okta and Google cannot be reached from here, so one aiohttp server answers in
each vendor's documented request and response shapes — the only stand-ins the project allows:

* Graph v1.0 (``/graph/v1.0``): ``GET /users`` and ``/directory/deletedItems/microsoft.graph.user``
  (``{"value": [...], "@odata.nextLink": ...}``, ``$top`` up to 999, ``$select``), and
  ``GET /users/delta`` (``@odata.deltaLink`` on the last page, ``@removed`` items).
* Okta (``/okta/api/v1/users``): a JSON array, ``limit`` up to 200, ``after`` cursor in the
  ``Link: <...>; rel="next"`` header, ``filter=status eq "DEPROVISIONED"`` (the default list
  leaves those out), ``X-Rate-Limit-Limit/-Remaining/-Reset`` headers, ``SSWS`` tokens.
* Google Directory (``/google/admin/directory/v1/users``): ``customer=my_customer``,
  ``maxResults`` up to 500, ``pageToken``/``nextPageToken``, ``showDeleted=true``.
* SCIM 2.0 (``/scim/v2/Users``): a ListResponse paged by ``startIndex``/``count``.

Faults a test can arrange: a page that fails (HTTP 500 every time), a 429 with ``Retry-After``
before a page, people hidden from the listing; ``page_size`` caps every vendor's page so that a
handful of users still spans pages.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler

VENDORS = ("graph", "okta", "google", "scim")


@dataclass
class Person:
    """One person in the stand-in directory."""

    id: str
    email: str
    status: str = "active"  # active | disabled | deleted
    changed_at: datetime | None = None
    given_name: str = "Test"
    family_name: str = "Person"


@dataclass
class Faults:
    """What goes wrong, per vendor: ``fail_pages`` (1-based page numbers answered 500) and
    ``throttle_pages`` (pages answered 429 with ``Retry-After`` once before they succeed)."""

    fail_pages: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    throttle_pages: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    retry_after: str = "1"


class DirectoryStandIn:
    """The stand-in server; ``people`` may be changed between runs."""

    def __init__(self, people: list[Person], *, token: str, page_size: int = 1000) -> None:
        self.people = people
        self.token = token
        self.page_size = page_size
        self.hidden: set[str] = set()
        self.faults = Faults()
        self.requests: list[str] = []
        self.okta_remaining = 599  # X-Rate-Limit-Remaining on every Okta answer
        self.throttled: list[str] = []
        self._delta_marks: dict[str, dict[str, str]] = {}
        self._server: TestServer | None = None

    # -- running ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application answering every vendor's paths."""
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/graph/v1.0/users", self._graph_users)
        app.router.add_get(
            "/graph/v1.0/directory/deletedItems/microsoft.graph.user", self._graph_deleted
        )
        app.router.add_get("/graph/v1.0/users/delta", self._graph_delta)
        app.router.add_get("/okta/api/v1/users", self._okta_users)
        app.router.add_get("/google/admin/directory/v1/users", self._google_users)
        app.router.add_get("/scim/v2/Users", self._scim_users)
        return app

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[DirectoryStandIn]:
        """Serve on a free loopback port while the block runs."""
        self._server = TestServer(self.app(), host="127.0.0.1")
        await self._server.start_server()
        try:
            yield self
        finally:
            await self._server.close()
            self._server = None

    def base(self, vendor: str) -> str:
        """The API base URL to connect the reconciler to, per vendor."""
        assert self._server is not None, "not running"
        root = str(self._server.make_url("")).rstrip("/")
        return {
            "graph": f"{root}/graph/v1.0",
            "okta": f"{root}/okta",
            "google": f"{root}/google/admin/directory/v1",
            "scim": f"{root}/scim/v2",
        }[vendor]

    # -- plumbing --------------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        vendor = request.path.split("/")[1]
        expected = "SSWS" if vendor == "okta" else "Bearer"
        if scheme != expected or given != self.token:
            return _error(vendor, 401, "invalid token")
        return await handler(request)

    def _listed(self, *, deleted: bool) -> list[Person]:
        return [
            p for p in self.people if p.id not in self.hidden and (p.status == "deleted") == deleted
        ]

    def _page(self, vendor: str, page: int, request: web.Request) -> web.StreamResponse | None:
        """A fault for this page, if one is arranged."""
        if page in self.faults.fail_pages.get(vendor, set()):
            return _error(vendor, 500, f"page {page} failed")
        key = f"{vendor}:{request.path}:{page}"
        if page in self.faults.throttle_pages.get(vendor, set()) and key not in self.throttled:
            self.throttled.append(key)
            response = _error(vendor, 429, "rate limit exceeded")
            response.headers["Retry-After"] = self.faults.retry_after
            return response
        return None

    def _size(self, asked: str | None, vendor_max: int) -> int:
        try:
            wanted = int(asked) if asked else vendor_max
        except ValueError:
            wanted = vendor_max
        return max(1, min(wanted, vendor_max, self.page_size))

    # -- Microsoft Graph -------------------------------------------------------------------

    def _graph_user(self, person: Person) -> dict[str, Any]:
        upn = person.email
        item: dict[str, Any] = {
            "id": person.id,
            "userPrincipalName": upn,
            "mail": person.email,
            "otherMails": [],
            "accountEnabled": person.status == "active",
        }
        if person.status == "deleted":
            item["userPrincipalName"] = person.id.replace("-", "") + upn
            item["deletedDateTime"] = _iso(person.changed_at)
        return item

    async def _graph_list(self, request: web.Request, people: list[Person]) -> web.Response:
        skip = int(request.query.get("$skiptoken", "0"))
        size = self._size(request.query.get("$top"), 999)
        page = skip // size + 1
        fault = self._page("graph", page, request)
        if fault is not None:
            return fault  # type: ignore[return-value]
        chunk = people[skip : skip + size]
        body: dict[str, Any] = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
            "value": [self._graph_user(p) for p in chunk],
        }
        if skip + size < len(people):
            query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = str(skip + size)
            body["@odata.nextLink"] = str(request.url.with_query(query))
        return web.json_response(body)

    async def _graph_users(self, request: web.Request) -> web.Response:
        return await self._graph_list(request, self._listed(deleted=False))

    async def _graph_deleted(self, request: web.Request) -> web.Response:
        return await self._graph_list(request, self._listed(deleted=True))

    async def _graph_delta(self, request: web.Request) -> web.Response:
        """First round: every user; later rounds (``$deltatoken``): the ones that changed."""
        token = request.query.get("$deltatoken")
        now = {p.id: p.status for p in self.people if p.id not in self.hidden}
        if token is None:
            people = self._listed(deleted=False)
            items = [self._graph_user(p) for p in people]
        else:
            before = self._delta_marks.get(token, {})
            items = []
            for person in self.people:
                if person.id in self.hidden or before.get(person.id) == person.status:
                    continue
                if person.status == "deleted":
                    items.append({"id": person.id, "@removed": {"reason": "deleted"}})
                else:
                    items.append(self._graph_user(person))
            items += [
                {"id": gone, "@removed": {"reason": "deleted"}}
                for gone in before
                if gone not in now
            ]
        mark = str(len(self._delta_marks) + 1)
        self._delta_marks[mark] = now
        skip = int(request.query.get("$skiptoken", "0"))
        size = self._size(None, 999)
        body: dict[str, Any] = {"value": items[skip : skip + size]}
        base = str(request.url.with_query({}))
        if skip + size < len(items):
            query = dict(request.query)
            query["$skiptoken"] = str(skip + size)
            body["@odata.nextLink"] = str(request.url.with_query(query))
        else:
            body["@odata.deltaLink"] = f"{base}?{urlencode({'$deltatoken': mark})}"
        return web.json_response(body)

    # -- Okta ------------------------------------------------------------------------------

    async def _okta_users(self, request: web.Request) -> web.Response:
        query = request.query.get("filter", "")
        if query == 'status eq "DEPROVISIONED"':
            people = self._listed(deleted=True)
        elif query:
            return _error("okta", 400, f"unsupported filter {query!r}")
        else:
            people = self._listed(deleted=False)
        after = int(request.query.get("after", "0"))
        size = self._size(request.query.get("limit"), 200)
        page = after // size + 1
        fault = self._page("okta", page, request)
        if fault is not None:
            return fault  # type: ignore[return-value]
        chunk = people[after : after + size]
        body = [
            {
                "id": p.id,
                "status": {"active": "ACTIVE", "disabled": "SUSPENDED"}.get(
                    p.status, "DEPROVISIONED"
                ),
                "statusChanged": _iso(p.changed_at),
                "profile": {
                    "login": p.email,
                    "email": p.email,
                    "firstName": p.given_name,
                    "lastName": p.family_name,
                },
            }
            for p in chunk
        ]
        response = web.json_response(body)
        self_query = dict(request.query)
        response.headers.add("Link", f'<{request.url.with_query(self_query)}>; rel="self"')
        if after + size < len(people):
            self_query["after"] = str(after + size)
            response.headers.add("Link", f'<{request.url.with_query(self_query)}>; rel="next"')
        response.headers["X-Rate-Limit-Limit"] = "600"
        response.headers["X-Rate-Limit-Remaining"] = str(self.okta_remaining)
        response.headers["X-Rate-Limit-Reset"] = str(int(time.time()) + 60)
        return response

    # -- Google ----------------------------------------------------------------------------

    async def _google_users(self, request: web.Request) -> web.Response:
        if request.query.get("customer") != "my_customer" and not request.query.get("domain"):
            return _error("google", 400, "Bad Request: customer or domain is required")
        deleted = request.query.get("showDeleted") == "true"
        people = self._listed(deleted=deleted)
        start = int(request.query.get("pageToken", "0") or 0)
        size = self._size(request.query.get("maxResults"), 500)
        page = start // size + 1
        fault = self._page("google", page, request)
        if fault is not None:
            return fault  # type: ignore[return-value]
        chunk = people[start : start + size]
        body: dict[str, Any] = {
            "kind": "admin#directory#users",
            "users": [
                {
                    "kind": "admin#directory#user",
                    "id": p.id,
                    "primaryEmail": p.email,
                    "emails": [{"address": p.email, "primary": True}],
                    "suspended": p.status == "disabled",
                    **({"suspensionReason": "ADMIN"} if p.status == "disabled" else {}),
                    **({"deletionTime": _iso(p.changed_at)} if deleted else {}),
                }
                for p in chunk
            ],
        }
        if start + size < len(people):
            body["nextPageToken"] = str(start + size)
        return web.json_response(body)

    # -- SCIM ------------------------------------------------------------------------------

    async def _scim_users(self, request: web.Request) -> web.Response:
        people = [p for p in self.people if p.id not in self.hidden and p.status != "deleted"]
        start = max(1, int(request.query.get("startIndex", "1")))
        size = self._size(request.query.get("count"), 1000)
        page = (start - 1) // size + 1
        fault = self._page("scim", page, request)
        if fault is not None:
            return fault  # type: ignore[return-value]
        chunk = people[start - 1 : start - 1 + size]
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(people),
            "startIndex": start,
            "itemsPerPage": len(chunk),
            "Resources": [
                {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "id": p.id,
                    "userName": p.email,
                    "active": p.status == "active",
                    "emails": [{"value": p.email, "primary": True}],
                    "meta": {"resourceType": "User", "lastModified": _iso(p.changed_at)},
                }
                for p in chunk
            ],
        }
        return web.Response(text=json.dumps(body), content_type="application/scim+json")


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _error(vendor: str, status: int, message: str) -> web.Response:
    """An error in the vendor's own shape."""
    body: Any
    if vendor == "graph":
        body = {
            "error": {"code": "TooManyRequests" if status == 429 else "Error", "message": message}
        }
    elif vendor == "okta":
        body = {"errorCode": "E0000047" if status == 429 else "E0000009", "errorSummary": message}
    elif vendor == "google":
        body = {"error": {"code": status, "message": message, "errors": [{"reason": "error"}]}}
    else:
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": str(status),
            "detail": message,
        }
    return web.json_response(body, status=status)
