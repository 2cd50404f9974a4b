"""Ids from URLs and internal URLs (``roster_shared.ids``): the forms, the quoting, the refusals."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from roster_shared.events.envelope import new_id
from roster_shared.ids import (
    UnsafeSegment,
    internal_path,
    internal_url,
    is_id,
    is_slug,
    is_tenant_ref,
)
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError


def test_minted_ids_are_ids_and_nothing_else_is() -> None:
    minted = new_id()
    assert is_id(minted)
    assert is_tenant_ref(minted)  # a tenant may be named by its id
    for other in (
        minted.upper(),  # new_id mints lower case; the store compares exactly
        minted + "\n",  # "$" would have let this through
        minted.replace("-", ""),
        "{" + minted + "}",
        f"../{minted}",
        f"..%2F{minted}",
        minted[:-1] + "\x00",
        "",
        "u1",
        None,
        42,
    ):
        assert not is_id(other), other


@pytest.mark.parametrize("slug", ["acme", "a", "acme-corp", "x" * 64, "0day"])
def test_slugs(slug: str) -> None:
    assert is_slug(slug) and is_tenant_ref(slug)


@pytest.mark.parametrize(
    "slug",
    [
        *("", "-acme", "acme-", "Acme", "acme\n", "x" * 65),
        *("..", ".", "a/b", "a%2Fb", "a\\b", "\uff41cme"),  # the last is a fullwidth "a"
    ],
)
def test_not_slugs(slug: str) -> None:
    assert not is_slug(slug) and not is_tenant_ref(slug)


def test_every_segment_is_quoted_whole() -> None:
    assert internal_path("internal", "tenants", "acme") == "/internal/tenants/acme"
    # The reported payload: once quoted it is one segment, which no normalisation can climb.
    assert (
        internal_path("internal", "tenants", "t1", "users", "../../t2/users/u9")
        == "/internal/tenants/t1/users/..%2F..%2Ft2%2Fusers%2Fu9"
    )
    # Already-encoded input stays literal (its "%" is encoded), backslash, query and fragment too.
    assert internal_path("a", "..%2Fb") == "/a/..%252Fb"
    assert internal_path("a", "..\\b") == "/a/..%5Cb"
    assert internal_path("a", "b?c#d") == "/a/b%3Fc%23d"
    assert internal_path("a", "b\x00c") == "/a/b%00c"
    assert internal_path("a", "...") == "/a/..."  # not a dot-segment


@pytest.mark.parametrize("segment", ["", ".", "..", None])
def test_segments_that_would_change_the_path_are_refused(segment: Any) -> None:
    with pytest.raises(UnsafeSegment):
        internal_path("internal", "tenants", segment)


def test_the_url_keeps_the_quoted_path_as_built() -> None:
    url = internal_url("http://store:8100/", "/internal/tenants/t1/users/..%2F..%2Ft2")
    assert url.raw_path == "/internal/tenants/t1/users/..%2F..%2Ft2"
    assert str(url) == "http://store:8100/internal/tenants/t1/users/..%2F..%2Ft2"


async def test_the_client_sends_ids_as_one_segment_and_refuses_dot_segments() -> None:
    """What the user-store receives from the client: the raw path, one segment per id."""
    seen: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response({"error": "not_found", "detail": "no user"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    server = TestServer(app)
    await server.start_server()
    client = UserStoreClient(str(server.make_url("")))
    await client.start()
    try:
        with pytest.raises(UserStoreClientError) as caught:
            await client.user("t1", "../../t2/users/u9")
        assert caught.value.status == 404
        assert seen == ["/internal/tenants/t1/users/..%2F..%2Ft2%2Fusers%2Fu9"]
        seen.clear()
        for segment in ("..", ".", ""):
            with pytest.raises(UserStoreClientError) as caught:
                await client.group("t1", segment)
            assert caught.value.status == 404 and caught.value.code == "not_found"
            assert await client.verify_token(segment, "rst_x") is None
        assert seen == []  # refused before any request
    finally:
        await client.close()
        await server.close()
