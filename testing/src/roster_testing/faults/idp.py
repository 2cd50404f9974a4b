"""An IdP-like SCIM client: creates users and then, like an IdP syncing changes, renames some
(PATCH of ``displayName``), replaces some whole (PUT), adds some to their tenant's group and
removes some of those again (PATCH of the group's members), deactivates some and deletes some;
retries like Entra does, and records what it was told about every operation.

An operation is **acknowledged** when the service said it happened (201/200, or a 409 on a
create retried after an attempt whose fate is unknown: the first attempt did it), **failed**
when every attempt was definitely refused (a 4xx other than that 409, 429, a connection that
was never made), and **indeterminate** when at least one attempt may have happened and none
confirmed it (timeout, connection lost mid-request, 5xx) before the IdP gave up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
Outcome = Literal["acknowledged", "failed", "indeterminate"]
Kind = Literal["create", "rename", "replace", "join", "leave", "deactivate", "delete"]

SHARES: dict[str, float] = {
    # Of the acknowledged creates, the share that then gets each change (in this order).
    "rename": 0.3,  # PATCH replace displayName
    "replace": 0.2,  # PUT: the whole user again, a new displayName
    "join": 0.25,  # PATCH the tenant's group: add the user
    "leave": 0.4,  # of those that joined: PATCH the group: remove the user
    "deactivate": 0.3,  # PATCH active false
    "delete": 0.15,  # DELETE
}


@dataclass
class Op:
    """One SCIM operation as the IdP saw it. ``value``: the ``displayName`` a rename or
    replace set; ``group_id``: the group a join or leave changed."""

    kind: Kind
    tenant: str
    user_name: str
    started: float
    ended: float = 0.0
    outcome: Outcome = "failed"
    attempts: int = 0
    user_id: str | None = None
    statuses: list[str] = field(default_factory=list)
    value: str | None = None
    group_id: str | None = None


@dataclass(frozen=True)
class Tenant:
    slug: str
    id: str
    token: str


class _Attempt:
    """What one HTTP attempt said."""

    def __init__(self, status: int | None, body: Any, retry_after: float | None, maybe: bool):
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.maybe_happened = maybe


class Idp:
    """``workers`` closed-loop clients spread over ``tenants``, sending to any of ``bases``
    (scim-api instances), moving to the next one when an instance does not answer."""

    def __init__(
        self,
        bases: list[str],
        tenants: list[Tenant],
        *,
        workers: int = 8,
        shares: dict[str, float] | None = None,
        attempt_timeout: float = 30.0,
        give_up_after: float = 60.0,
    ) -> None:
        self.bases = bases
        self.tenants = tenants
        self.workers = workers
        self.shares = {**SHARES, **(shares or {})}
        self.attempt_timeout = attempt_timeout
        self.give_up_after = give_up_after
        self.ops: list[Op] = []
        self.groups: dict[str, str] = {}  # tenant slug -> the group its users join
        self.t0 = time.monotonic()
        self._rotation = itertools.count()
        self._random = random.Random(12)  # noqa: S311 - which users change, not a secret

    def now(self) -> float:
        """Seconds since the run started (the time axis of every record)."""
        return time.monotonic() - self.t0

    async def run(self, seconds: float) -> None:
        """Drive load for ``seconds``; every operation started is finished (or given up)."""
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        timeout = aiohttp.ClientTimeout(total=self.attempt_timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            # aiohttp sends an idempotent request (PUT, DELETE) again by itself, once, when its
            # kept-alive connection drops — on a new connection, whose refusal it then raises
            # as "never connected". The first transmission may have been applied: a DELETE to
            # a scim-api killed after it had sent the event was recorded as failed (that
            # instance refused the retry's connection, the other answered 404) and its user as
            # lost. Every attempt is the IdP's own here, so each is classified by what it saw
            # (aiohttp's own test client turns the retry off the same way).
            assert hasattr(http, "_retry_connection"), "aiohttp's retry switch moved"
            http._retry_connection = False
            for tenant in self.tenants:
                self.groups[tenant.slug] = await self._group(http, tenant)
            end = self.now() + seconds
            await asyncio.gather(*(self._worker(http, n, end) for n in range(self.workers)))

    async def _group(self, http: aiohttp.ClientSession, tenant: Tenant) -> str:
        """The tenant's group (made before the load and before any fault)."""
        url = self.bases[0] + f"/scim/v2/{tenant.slug}/Groups"
        body = {"schemas": [GROUP], "displayName": f"fault-run {uuid.uuid4().hex[:8]}"}
        headers = {"Authorization": f"Bearer {tenant.token}"}
        async with http.post(url, json=body, headers=headers) as response:
            answer = await response.json(content_type=None)
            if response.status != 201:
                raise RuntimeError(f"group not created: {response.status} {answer}")
            return str(answer["id"])

    async def _worker(self, http: aiohttp.ClientSession, n: int, end: float) -> None:
        tenant = self.tenants[n % len(self.tenants)]
        chance = self._random.random
        while self.now() < end:
            name = f"f{uuid.uuid4().hex[:14]}@example.com"
            created = await self._op(http, tenant, "create", name, None)
            user = created.user_id
            if created.outcome != "acknowledged" or not user:
                continue
            for kind in ("rename", "replace"):
                if chance() < self.shares[kind]:
                    value = f"{kind} {uuid.uuid4().hex[:10]}"
                    await self._op(http, tenant, kind, name, user, value=value)
            if chance() < self.shares["join"]:
                joined = await self._op(http, tenant, "join", name, user)
                if joined.outcome == "acknowledged" and chance() < self.shares["leave"]:
                    await self._op(http, tenant, "leave", name, user)
            if chance() < self.shares["deactivate"]:
                await self._op(http, tenant, "deactivate", name, user)
            if chance() < self.shares["delete"]:
                await self._op(http, tenant, "delete", name, user)

    async def _op(
        self,
        http: aiohttp.ClientSession,
        tenant: Tenant,
        kind: Kind,
        name: str,
        user_id: str | None,
        *,
        value: str | None = None,
    ) -> Op:
        group = self.groups.get(tenant.slug) if kind in ("join", "leave") else None
        op = Op(
            kind=kind,
            tenant=tenant.slug,
            user_name=name,
            started=self.now(),
            user_id=user_id,
            value=value,
            group_id=group,
        )
        self.ops.append(op)
        maybe = False
        backoff = 0.5
        base = next(self._rotation)
        while True:
            op.attempts += 1
            url = self.bases[base % len(self.bases)] + f"/scim/v2/{tenant.slug}/Users"
            attempt = await self._send(http, url, tenant.token, op)
            op.statuses.append(str(attempt.status or ("?" if attempt.maybe_happened else "x")))
            maybe = maybe or attempt.maybe_happened
            status = attempt.status
            if status in (200, 201, 204) or (status == 404 and kind == "delete" and maybe):
                # (A 404 on a delete retried after an attempt of unknown fate: that one did it.)
                op.outcome = "acknowledged"
                if kind == "create" and isinstance(attempt.body, dict):
                    op.user_id = attempt.body.get("id")
                break
            if status == 409 and kind == "create" and maybe:
                # An earlier attempt whose fate was unknown did it: find the account.
                op.user_id = await self._lookup(http, url, tenant.token, name)
                op.outcome = "acknowledged" if op.user_id else "indeterminate"
                break
            if status is not None and 400 <= status < 500 and status != 429:
                op.outcome = "indeterminate" if maybe else "failed"
                break
            if self.now() - op.started + backoff > self.give_up_after:
                op.outcome = "indeterminate" if maybe else "failed"
                break
            if status is None or status >= 500:
                base += 1  # try another instance, as a load balancer would
            await asyncio.sleep(attempt.retry_after or backoff)
            backoff = min(backoff * 2, 4.0)
        op.ended = self.now()
        return op

    def _request(
        self, http: aiohttp.ClientSession, url: str, token: str, op: Op
    ) -> aiohttp.client._RequestContextManager:
        headers = {"Authorization": f"Bearer {token}"}
        user = f"{url}/{op.user_id}"
        if op.kind == "create":
            return http.post(
                url, json={"schemas": [USER], "userName": op.user_name}, headers=headers
            )
        if op.kind == "delete":
            return http.delete(user, headers=headers)
        if op.kind == "replace":
            body: dict[str, Any] = {
                "schemas": [USER],
                "userName": op.user_name,
                "displayName": op.value,
                "active": True,
            }
            return http.put(user, json=body, headers=headers)
        if op.kind in ("join", "leave"):
            group = url.rpartition("/Users")[0] + f"/Groups/{op.group_id}"
            change = (
                {"op": "add", "path": "members", "value": [{"value": op.user_id}]}
                if op.kind == "join"
                else {"op": "remove", "path": f'members[value eq "{op.user_id}"]'}
            )
            return http.patch(
                group, json={"schemas": [PATCH], "Operations": [change]}, headers=headers
            )
        path, value = ("displayName", op.value) if op.kind == "rename" else ("active", False)
        body = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": path, "value": value}]}
        return http.patch(user, json=body, headers=headers)

    async def _send(self, http: aiohttp.ClientSession, url: str, token: str, op: Op) -> _Attempt:
        request = self._request(http, url, token, op)
        try:
            async with request as response:
                raw = await response.read()
                payload: Any = None
                with contextlib.suppress(ValueError):
                    payload = await response.json(content_type=None) if raw else None
                del raw
                retry = response.headers.get("Retry-After")
                status = response.status
                # A 5xx other than a refusal before publishing may have been applied.
                return _Attempt(
                    status,
                    payload,
                    float(retry) if retry and retry.isdigit() else None,
                    maybe=status >= 500,
                )
        except aiohttp.ClientConnectorError:
            return _Attempt(None, None, None, maybe=False)  # never reached a server
        except (aiohttp.ClientError, TimeoutError):
            return _Attempt(None, None, None, maybe=True)  # sent; its fate is unknown

    async def _lookup(
        self, http: aiohttp.ClientSession, url: str, token: str, name: str
    ) -> str | None:
        params = {"filter": f'userName eq "{name}"'}
        for _ in range(10):
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(
                    url, params=params, headers={"Authorization": f"Bearer {token}"}
                ) as response:
                    if response.status == 200:
                        found = (await response.json()).get("Resources") or []
                        return str(found[0]["id"]) if found else None
            await asyncio.sleep(1)
        return None
