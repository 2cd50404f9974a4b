"""The connection pool of a service's HTTP client of another service's internal API (the
shared user-store client, and the reconciler's and the webhooks service's stores of their state
in the user-store): opened by
``start``, closed by ``close``, with the bearer credential and one timeout on every call."""

from __future__ import annotations

import aiohttp


class InternalHttpClient:
    """Base of an internal-API client; subclasses add the calls and map the answers."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the connection pool."""
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def session(self) -> aiohttp.ClientSession:
        """The open pool; calling before ``start`` is a programming error."""
        if self._session is None:
            raise RuntimeError(f"{type(self).__name__}.start() was not called")
        return self._session
