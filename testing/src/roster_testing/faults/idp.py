"""An IdP-like SCIM client: creates users (and deactivates some), retries like Entra does,
and records what it was told about every operation.

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
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
Outcome = Literal["acknowledged", "failed", "indeterminate"]


@dataclass
class Op:
    """One SCIM operation as the IdP saw it."""

    kind: Literal["create", "deactivate"]
    tenant: str
    user_name: str
    started: float
    ended: float = 0.0
    outcome: Outcome = "failed"
    attempts: int = 0
    user_id: str | None = None
    statuses: list[str] = field(default_factory=list)


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
        deactivate_share: float = 0.3,
        attempt_timeout: float = 30.0,
        give_up_after: float = 60.0,
    ) -> None:
        self.bases = bases
        self.tenants = tenants
        self.workers = workers
        self.deactivate_share = deactivate_share
        self.attempt_timeout = attempt_timeout
        self.give_up_after = give_up_after
        self.ops: list[Op] = []
        self.t0 = time.monotonic()
        self._rotation = itertools.count()
        self._random = random.Random(12)  # noqa: S311 - which users to deactivate, not a secret

    def now(self) -> float:
        """Seconds since the run started (the time axis of every record)."""
        return time.monotonic() - self.t0

    async def run(self, seconds: float) -> None:
        """Drive load for ``seconds``; every operation started is finished (or given up)."""
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        timeout = aiohttp.ClientTimeout(total=self.attempt_timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            end = self.now() + seconds
            await asyncio.gather(*(self._worker(http, n, end) for n in range(self.workers)))

    async def _worker(self, http: aiohttp.ClientSession, n: int, end: float) -> None:
        tenant = self.tenants[n % len(self.tenants)]
        while self.now() < end:
            name = f"f{uuid.uuid4().hex[:14]}@example.com"
            created = await self._op(http, tenant, "create", name, None)
            if (
                created.outcome == "acknowledged"
                and created.user_id
                and self._random.random() < self.deactivate_share
            ):
                await self._op(http, tenant, "deactivate", name, created.user_id)

    async def _op(
        self,
        http: aiohttp.ClientSession,
        tenant: Tenant,
        kind: Literal["create", "deactivate"],
        name: str,
        user_id: str | None,
    ) -> Op:
        op = Op(kind=kind, tenant=tenant.slug, user_name=name, started=self.now(), user_id=user_id)
        self.ops.append(op)
        maybe = False
        backoff = 0.5
        base = next(self._rotation)
        while True:
            op.attempts += 1
            url = self.bases[base % len(self.bases)] + f"/scim/v2/{tenant.slug}/Users"
            attempt = await self._send(http, url, tenant.token, kind, name, user_id)
            op.statuses.append(str(attempt.status or ("?" if attempt.maybe_happened else "x")))
            maybe = maybe or attempt.maybe_happened
            status = attempt.status
            if status in (200, 201):
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

    async def _send(
        self,
        http: aiohttp.ClientSession,
        url: str,
        token: str,
        kind: str,
        name: str,
        user_id: str | None,
    ) -> _Attempt:
        headers = {"Authorization": f"Bearer {token}"}
        if kind == "create":
            request = http.post(url, json={"schemas": [USER], "userName": name}, headers=headers)
        else:
            body = {
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            }
            request = http.patch(f"{url}/{user_id}", json=body, headers=headers)
        try:
            async with request as response:
                raw = await response.read()
                payload: Any = None
                with contextlib.suppress(ValueError):
                    payload = await response.json(content_type=None)
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
