"""Where a webhook may go: the guard against server-side request forgery.

An endpoint URL is typed by a tenant's admin, so it may point anywhere, including inside our own
network (a metadata service at 169.254.169.254, a database on 10.0.0.5, the user-store's
internal API on loopback). The rules, checked when an endpoint is registered and again on every
attempt and every redirect hop:

* ``https`` only; plain ``http`` only to loopback, and loopback at all only with the development
  setting ``allow_loopback``;
* no credentials in the URL;
* every address the host resolves to must be a global unicast address: private, loopback,
  link-local, CGNAT, multicast, reserved and unspecified addresses are refused — one bad address
  among good ones refuses the host (DNS rebinding splits answers that way);
* the connection goes to an address that was checked: the aiohttp connector resolves through
  :class:`PinnedResolver`, so there is no second lookup between the check and the connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

Resolve = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses``: the system's DNS, or a stand-in in tests."""


class Refused(Exception):
    """A destination the guard does not let a webhook reach; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system's resolver gives for ``host``."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise Refused(f"{host} does not resolve: {error.strerror}") from error
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class Guard:
    """Applies the rules above."""

    def __init__(self, *, allow_loopback: bool = False, resolve: Resolve = system_resolve):
        self.allow_loopback = allow_loopback
        self._resolve = resolve

    def check_url(self, url: str | URL) -> URL:
        """The URL parsed, if its form is allowed (addresses are checked by :meth:`addresses`)."""
        parsed = URL(url) if isinstance(url, str) else url
        if parsed.scheme not in ("https", "http"):
            raise Refused(f"only https URLs are allowed, not {parsed.scheme or 'none'}")
        if not parsed.host:
            raise Refused("the URL has no host")
        if parsed.user is not None or parsed.password is not None:
            raise Refused("credentials in the URL are not allowed")
        if parsed.scheme == "http" and not self.allow_loopback:
            raise Refused(
                "only https URLs are allowed (plain http only to loopback in development)"
            )
        return parsed

    def check_address(self, address: str, *, scheme: str, host: str) -> None:
        """Refuse an address that is not global unicast (loopback only in development)."""
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback:
            if self.allow_loopback:
                return
            raise Refused(f"{host} is a loopback address ({ip})")
        if scheme == "http":
            raise Refused(f"plain http is allowed only to loopback, and {host} is {ip}")
        if ip.is_link_local:
            raise Refused(f"{host} is a link-local address ({ip})")
        if ip.is_private:
            raise Refused(f"{host} is a private address ({ip})")
        if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
            raise Refused(f"{host} is not a public address ({ip})")

    async def addresses(self, host: str, port: int, *, scheme: str = "https") -> list[str]:
        """The checked addresses of ``host`` (every one must pass)."""
        literal = _literal(host)
        found = [str(literal)] if literal is not None else await self._resolve(host, port)
        if not found:
            raise Refused(f"{host} does not resolve")
        for address in found:
            self.check_address(address, scheme=scheme, host=host)
        return found

    async def check(self, url: str | URL) -> URL:
        """Form and addresses of a URL (registration, and each hop before it is requested)."""
        parsed = self.check_url(url)
        assert parsed.host is not None and parsed.port is not None
        await self.addresses(parsed.host, parsed.port, scheme=parsed.scheme)
        return parsed


class PinnedResolver(AbstractResolver):
    """aiohttp's resolver for webhook connections: only checked addresses are connected to."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        # The scheme is not known here; https rules apply (http is only ever loopback, which
        # check_address lets through in development for either scheme).
        found = await self._guard.addresses(host, port)
        results: list[ResolveResult] = []
        for address in found:
            ip = ipaddress.ip_address(address)
            results.append(
                {
                    "hostname": host,
                    "host": address,
                    "port": port,
                    "family": socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        return results

    async def close(self) -> None:
        """Nothing to release."""
