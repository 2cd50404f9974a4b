"""What every connector shares: the user it reports, the snapshot, and HTTP with retries.

A snapshot is complete or it is not made: any page that still fails after the retries raises
:class:`DirectoryError`, and the run that asked for it aborts without changing anything.
Retries back off exponentially and honour ``Retry-After`` (seconds or an HTTP date, RFC 9110
§10.2.3) on 429 and 503, and Okta's ``X-Rate-Limit-Reset`` when it is the only hint.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import aiohttp


class DirectoryError(Exception):
    """The directory could not be read completely; nothing may be concluded from it."""


class Status(StrEnum):
    """A person's standing in the directory."""

    ACTIVE = "active"
    DISABLED = "disabled"  # accountEnabled false, SUSPENDED, suspended, active false
    DELETED = "deleted"  # deleted (Graph deletedItems, Google showDeleted) or DEPROVISIONED


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """One person as the directory lists them."""

    id: str
    names: tuple[str, ...]  # sign-in names and e-mail addresses, as the directory spells them
    status: Status
    detail: str = ""  # the vendor's words: "accountEnabled=false", "status SUSPENDED"
    changed_at: datetime | None = None  # when the status last changed, when the vendor says


@dataclass
class Snapshot:
    """Every user of the directory, read completely."""

    users: list[DirectoryUser] = field(default_factory=list)
    pages: int = 0
    requests: int = 0
    retries: int = 0
    delta_link: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0  # a longer Retry-After fails the run instead of stalling it
    timeout: float = 30.0


Sleep = Callable[[float], Awaitable[None]]


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` or, failing that, Okta's ``X-Rate-Limit-Reset``."""
    now = time.time() if now is None else now
    value = headers.get("Retry-After")
    if value is not None:
        value = value.strip()
        if value.isdigit():
            return float(value)
        with contextlib.suppress(TypeError, ValueError):
            moment = email.utils.parsedate_to_datetime(value)
            return max(0.0, moment.timestamp() - now)
    reset = headers.get("X-Rate-Limit-Reset")
    if reset is not None and reset.strip().isdigit():
        return max(0.0, float(reset) - now)
    return None


class HttpClient:
    """GETs JSON with retries; counts requests and retries for the run record."""

    RETRIABLE = frozenset({429, 500, 502, 503, 504})

    def __init__(
        self,
        session: aiohttp.ClientSession,
        policy: RetryPolicy | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.session = session
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.requests = 0
        self.retries = 0

    async def get(
        self, url: str, *, params: Mapping[str, str] | None = None, headers: Mapping[str, str]
    ) -> tuple[Any, Mapping[str, str]]:
        """The decoded JSON body and the response headers of a successful GET."""
        policy = self.policy
        problem = ""
        for attempt in range(policy.attempts):
            if attempt:
                self.retries += 1
            self.requests += 1
            wait: float | None = None
            try:
                async with self.session.get(
                    url,
                    params=params,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=policy.timeout),
                ) as response:
                    if response.status == 200:
                        try:
                            body = await response.json(content_type=None)
                        except ValueError as exc:
                            raise DirectoryError(f"{url}: the answer is not JSON") from exc
                        await self._pace(response.headers)
                        return body, response.headers
                    text = (await response.text())[:200]
                    problem = f"{url}: HTTP {response.status} {text}"
                    if response.status not in self.RETRIABLE:
                        raise DirectoryError(problem)
                    wait = retry_after(response.headers)
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"{url}: {type(exc).__name__}: {exc}"
            if attempt + 1 == policy.attempts:
                break
            if wait is None:
                wait = min(policy.max_delay, policy.base_delay * 2**attempt)
                wait *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not a secret
            elif wait > policy.max_delay:
                raise DirectoryError(f"{problem} (asked to wait {wait:.0f}s: giving up)")
            await self.sleep(wait)
        raise DirectoryError(f"{problem} (after {policy.attempts} attempts)")

    async def _pace(self, headers: Mapping[str, str]) -> None:
        # Okta tells how many calls are left in the window: wait for the reset rather than
        # spend the last ones and be answered 429.
        remaining = headers.get("X-Rate-Limit-Remaining")
        if remaining is not None and remaining.strip() == "0":
            wait = retry_after({"X-Rate-Limit-Reset": headers.get("X-Rate-Limit-Reset", "")})
            if wait:
                await self.sleep(min(wait, self.policy.max_delay))


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time from a vendor, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def names(*values: Any) -> tuple[str, ...]:
    """The non-empty strings among ``values`` (lists flattened), without repeats."""
    out: list[str] = []
    for value in values:
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, str) and item and item not in out:
                out.append(item)
    return tuple(out)


class Connector(abc.ABC):
    """Lists a directory's users; ``url`` is the API base, ``token`` the credential."""

    kind: str

    def __init__(self, url: str, token: str, http: HttpClient) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.http = http

    @property
    def headers(self) -> dict[str, str]:
        """Authorization and Accept for every request."""
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    @abc.abstractmethod
    async def snapshot(self) -> Snapshot:
        """Every user, with their status; raises :class:`DirectoryError` unless complete."""

    def _finish(self, snapshot: Snapshot) -> Snapshot:
        snapshot.requests = self.http.requests
        snapshot.retries = self.http.retries
        return snapshot
