"""Tried as a new user would (issue 3): ``roster dev`` running, the printed SCIM token in hand,
plain HTTP requests create, filter, patch and delete a user, and every mistake made on purpose
gets a clear SCIM error."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.cli.devserver import DevServer, roster

# Each test starts `roster dev` in a process of its own: out of the fast loop.
pytestmark = pytest.mark.slow

TOKEN = re.compile(r"\brst_[A-Za-z0-9]{16}_[A-Za-z0-9_-]{43}\b")
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def curl(
    method: str,
    url: str,
    token: str | None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/scim+json")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            raw, status, headers = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            raw, status, headers = error.read(), error.code, dict(error.headers)
    if raw:
        assert headers["Content-Type"].startswith("application/scim+json"), raw
    return status, headers, json.loads(raw) if raw else None


def test_a_new_user_provisions_by_hand_with_the_printed_token(dev: DevServer) -> None:
    banner = dev.start()
    token = TOKEN.findall(banner)[0]
    base = f"{dev.base}/scim/v2/demo"

    status, headers, user = curl(
        "POST",
        f"{base}/Users",
        token,
        json.dumps({"userName": "ada@example.com", "name": {"givenName": "Ada"}}).encode(),
    )
    assert status == 201 and headers["Location"].endswith(user["id"])
    query = urllib.parse.quote('userName eq "ADA@example.com"')
    status, _, found = curl("GET", f"{base}/Users?filter={query}", token)
    assert status == 200 and [u["id"] for u in found["Resources"]] == [user["id"]]
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }
    status, _, patched = curl(
        "PATCH", f"{base}/Users/{user['id']}", token, json.dumps(patch).encode()
    )
    assert status == 200 and patched["active"] is False
    assert curl("DELETE", f"{base}/Users/{user['id']}", token)[0] == 204

    mistakes = [
        ("GET", f"{base}/Users", "wrong-token", None, 401, None),
        (
            "GET",
            f"{base}/Users?filter=" + urllib.parse.quote("userName eq"),
            token,
            None,
            400,
            "invalidFilter",
        ),
        (
            "GET",
            f"{base}/Users?filter=" + urllib.parse.quote('nosuch eq "x"'),
            token,
            None,
            400,
            "invalidFilter",
        ),
        ("POST", f"{base}/Users", token, b"{not json", 400, "invalidSyntax"),
        ("POST", f"{base}/Users", token, b'{"name": {}}', 400, "invalidValue"),
        ("GET", f"{base}/Users/{user['id']}", token, None, 404, None),
        ("GET", f"{base}/Users?count=lots", token, None, 400, "invalidValue"),
        ("GET", f"{base}/Me", token, None, 501, None),
        ("DELETE", f"{base}/Schemas", token, None, 405, None),
    ]
    for method, url, credential, body, expected, scim_type in mistakes:
        status, _, error = curl(method, url, credential, body)
        assert status == expected, (url, error)
        assert error["schemas"] == [ERROR] and error["status"] == str(expected) and error["detail"]
        assert error.get("scimType") == scim_type
    # A huge count is lowered to the advertised maximum (RFC 7644 §3.4.2.4), not refused.
    status, _, page = curl("GET", f"{base}/Users?count=99999999999999999999", token)
    assert status == 200 and page["totalResults"] == 0

    # The Host header is the client's to forge; the URLs Roster hands out are not (issue 8).
    status, headers, forged = curl(
        "POST",
        f"{base}/Users",
        token,
        json.dumps({"userName": "host@example.com"}).encode(),
        headers={"Host": "evil.example"},
    )
    assert status == 201 and headers["Location"] == f"{base}/Users/{forged['id']}"
    assert forged["meta"]["location"] == headers["Location"]
    # The logs never carry the token (it appears only in the banner, on standard output).
    assert token not in dev.errors
    assert dev.output.count(token) == 1


def test_the_outside_reviews_attacks_are_refused_by_roster_dev(dev: DevServer) -> None:
    """Issue 8, as the attack run sent it to ``roster dev``: a path traversal into another
    tenant, a filter of a thousand ``not``, 100,000-deep JSON, a tampered cursor, a huge
    ``startIndex`` — each a SCIM 4xx for its own reason, never a 500 or a 503."""
    banner = dev.start()
    token = TOKEN.findall(banner)[0]
    base = f"{dev.base}/scim/v2/demo"
    assert (
        roster("tenant", "create", "other", "--data", str(dev.data), cwd=dev.data).returncode == 0
    )
    made = roster(
        "tenant", "token", "create", "other", "--data", str(dev.data), "--json", cwd=dev.data
    )
    other_token = json.loads(made.stdout)["token"]
    shown = roster("tenant", "show", "other", "--data", str(dev.data), "--json", cwd=dev.data)
    other_id = json.loads(shown.stdout)["id"]
    status, _, victim = curl(
        "POST",
        f"{dev.base}/scim/v2/other/Users",
        other_token,
        json.dumps({"userName": "victim@example.com"}).encode(),
    )
    assert status == 201

    traversal = urllib.parse.quote(f"../../{other_id}/users/{victim['id']}", safe="")
    for method in ("GET", "DELETE"):
        status, _, error = curl(method, f"{base}/Users/{traversal}", token)
        assert status == 404 and error["schemas"] == [ERROR], error
        assert "not one this endpoint issues" in error["detail"]
        assert "victim" not in json.dumps(error)
    assert curl("GET", f"{dev.base}/scim/v2/other/Users/{victim['id']}", other_token)[0] == 200

    # Compact, as the attack sent it, so that the request line stays under aiohttp's 8 kB.
    nots = urllib.parse.quote("not(" * 1000 + 'userName eq "x"' + ")" * 1000, safe="()")
    status, _, error = curl("GET", f"{base}/Users?filter={nots}", token)
    assert status == 400 and error["scimType"] == "invalidFilter", error
    deep = b'{"userName": "deep@example.com", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, _, error = curl("POST", f"{base}/Users", token, deep)
    assert status == 400 and error["scimType"] == "invalidSyntax", error
    status, _, error = curl("GET", f"{base}/Users?cursor=bm90LWEtY3Vyc29y&count=1", token)
    assert status == 400 and error["scimType"] == "invalidCursor", error
    own = json.dumps({"userName": "own@example.com"}).encode()
    assert curl("POST", f"{base}/Users", token, own)[0] == 201
    status, _, page = curl("GET", f"{base}/Users?startIndex={10**30}", token)
    assert status == 200 and page["totalResults"] == 1 and page.get("Resources", []) == []
