"""A tenant's users and groups in the console: SCIM-filter search, a user's identity links,
where each attribute comes from, why the account is in the state it is in, and its lifecycle
history (kept by the user-store with each lifecycle event it publishes)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError
from roster_shared.filters import ListQuery

from console.backend import BackendError
from console.errors import NotFound, Unavailable
from console.keys import BACKEND
from console.pages import render
from console.search import SearchError, parse
from console.views import tenant_of

routes = web.RouteTableDef()
PAGE = 50


def _query(text: str, start: int, words_in: tuple[str, ...]) -> ListQuery:
    return ListQuery(filter=parse(text, words_in=words_in), start_index=start, count=PAGE)


def _start(request: web.Request) -> int:
    text = request.query.get("start", "1")
    return int(text) if text.isdigit() and 1 <= int(text) <= 100_000 else 1


@routes.get("/tenants/{slug}/users")
async def users(request: web.Request) -> web.Response:
    return await _search_page(request, "users", ("userName", "displayName"))


async def _search_page(request: web.Request, kind: str, words_in: tuple[str, ...]) -> web.Response:
    """A page of the tenant's ``users`` or ``groups``, filtered by the search box (plain words
    search ``words_in``). A search that does not parse, or that the user-store refuses, is a 400
    page saying why; a user-store that does not answer is a 503."""
    tenant = await tenant_of(request)
    text = request.query.get("filter", "")
    context: dict[str, Any] = {"tenant": tenant, "filter": text, "page": None, "error": None}
    read = request.app[BACKEND].users if kind == "users" else request.app[BACKEND].groups
    try:
        context["page"] = await read(tenant.id, _query(text, _start(request), words_in))
    except (SearchError, ValidationError) as exc:
        context["error"] = str(exc)
    except BackendError as exc:
        if not exc.client_mistake:
            raise Unavailable("The user-store did not answer.", reason=str(exc)) from exc
        context["error"] = f"The filter was refused: {exc.detail}"
    return render(f"{kind}.html", request, context, status=400 if context["error"] else 200)


def attribute_sources(user: Any) -> list[tuple[str, str, str]]:
    """(attribute, value, where it comes from) — docs/design.md's rule 6: once SCIM manages an
    account it owns the identity attributes; a login only fills in what SCIM left empty."""
    owner = "SCIM (your IdP's provisioning)" if user.scim_managed else "sign-in (JIT)"
    rows = [
        ("userName", user.user_name, owner),
        ("externalId", user.external_id or "—", "SCIM" if user.external_id else "not set"),
        ("displayName", user.display_name or "—", owner),
        ("name.givenName", user.given_name or "—", owner),
        ("name.familyName", user.family_name or "—", owner),
    ]
    rows += [("emails", f"{e.value} ({e.type or 'no type'})", owner) for e in user.emails]
    return rows


@routes.get("/tenants/{slug}/users/{user_id}")
async def user(request: web.Request) -> web.Response:
    tenant = await tenant_of(request)
    try:
        found = await request.app[BACKEND].user(tenant.id, request.match_info["user_id"])
    except BackendError as exc:
        if exc.status == 404:
            raise NotFound("There is no such user in this tenant.") from exc
        raise Unavailable("The user-store did not answer.", reason=str(exc)) from exc
    before_text = request.query.get("before", "")
    before = int(before_text) if before_text.isdigit() else None
    history: dict[str, Any]
    try:
        history = await request.app[BACKEND].history(tenant.id, found.id, before=before)
    except BackendError as exc:
        # The rest of the page stands on its own: show why the history is missing.
        history = {"entries": [], "next": None, "unavailable": str(exc)}
    return render(
        "user.html",
        request,
        {
            "tenant": tenant,
            "user": found,
            "sources": attribute_sources(found),
            "history": history,
            "paged": before is not None,
        },
    )


@routes.get("/tenants/{slug}/groups")
async def groups(request: web.Request) -> web.Response:
    return await _search_page(request, "groups", ("displayName",))
