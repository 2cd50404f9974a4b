"""The request log names a SCIM request by its endpoint as RFC 7644 spells it, whatever case or
trailing slash the client sent and however the route matches it (routes.py's any-case patterns)."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from scim_api.request_log import _route
from scim_api.routes import routes


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v2/acme/Users", "POST /Users"),
        ("POST", "/v2/acme/users/", "POST /Users"),
        ("GET", "/v2/acme/USERS/0f8fad5b-d9cb-469f-a165-70867728950e", "GET /Users/{id}"),
        ("POST", "/v2/acme/groups/.SEARCH", "POST /Groups/.search"),
        ("GET", "/v2/acme/serviceproviderconfig", "GET /ServiceProviderConfig"),
        ("POST", "/v2/acme/.search", "POST /.search"),
    ],
)
async def test_the_logged_route_is_the_endpoint_not_its_pattern(
    method: str, path: str, expected: str
) -> None:
    app = web.Application()
    app.add_routes(routes)
    request = make_mocked_request(method, path, app=app)
    match = await app.router.resolve(request)
    request._match_info = match  # what the router does before the middlewares run
    match.add_app(app)
    assert _route(request) == expected
