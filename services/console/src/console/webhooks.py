"""A tenant's webhook endpoints in the console (mounted under ``/console/tenants/{slug}/webhooks``).

Everything goes through the webhooks service's admin API (``/webhooks/admin/tenants/...``), the
one ``roster webhook`` uses, with the admin credential: the console never reads the delivery
tables. A signing secret appears once, on the page the POST that made it (registering an
endpoint, rotating its secret) redirects to (:func:`console.guard.show_once`), never in a URL and
never again; every change redirects (POST-redirect-GET), so a reload repeats none. Bad input is
shown beside the form (status 400) and nothing is changed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, get_args

from aiohttp import web
from roster_shared.events.lifecycle import LifecycleEvent

from console import guard
from console.backend import Backend, BackendError, _seg
from console.errors import FormError, NotFound, Unavailable
from console.keys import BACKEND, SEALER
from console.pages import render
from console.views import tenant_of

routes = web.RouteTableDef()

BASE = "/tenants/{slug}/webhooks"
ONE = BASE + "/{endpoint}"
ATTEMPTS_SHOWN = 50
EVENT_TYPES: tuple[str, ...] = tuple(
    str(model.model_fields["type"].default) for model in get_args(get_args(LifecycleEvent)[0])
)
"""What an endpoint may subscribe to: the lifecycle events' types (none chosen: all of them)."""

DONE = {
    "paused": "The endpoint was paused: deliveries wait until you resume it.",
    "resumed": "The endpoint was resumed: what waited is being delivered, in order.",
    "tested": "A webhook.test event was queued: its attempt appears below once it is sent.",
    "deleted": "The endpoint was deleted: nothing more is sent to it.",
}
"""Messages a redirect may ask for by key (never text from the URL)."""

_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$")


class WebhooksApi:
    """The webhooks service's admin API for one tenant."""

    def __init__(self, backend: Backend, tenant: str) -> None:
        self._backend = backend
        self._tenant = tenant

    def _path(self, *rest: str) -> str:
        return _seg("webhooks", "admin", "tenants", self._tenant, "endpoints", *rest)

    async def _call(self, method: str, *rest: str, json: Any = None) -> Any:
        base = self._backend.urls.webhooks
        return await self._backend.call(method, base, self._path(*rest), admin=True, json=json)

    async def endpoints(self) -> list[dict[str, Any]]:
        return list((await self._call("GET"))["endpoints"])

    async def endpoint(self, endpoint: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._call("GET", endpoint)
        return found

    async def add(self, url: str, description: str | None, types: list[str]) -> dict[str, Any]:
        body = {"url": url, "description": description, "event_types": types or None}
        made: dict[str, Any] = await self._call("POST", json=body)
        return made

    async def rotate(self, endpoint: str) -> dict[str, Any]:
        made: dict[str, Any] = await self._call("POST", endpoint, "rotate")
        return made

    async def pause(self, endpoint: str, reason: str) -> None:
        await self._call("POST", endpoint, "pause", json={"reason": reason})

    async def resume(self, endpoint: str) -> None:
        await self._call("POST", endpoint, "resume")

    async def delete(self, endpoint: str) -> None:
        await self._call("DELETE", endpoint)

    async def test(self, endpoint: str) -> None:
        await self._call("POST", endpoint, "test")

    async def replay(self, endpoint: str, since: datetime, until: datetime) -> int:
        body = {"since": since.isoformat(), "until": until.isoformat()}
        return int((await self._call("POST", endpoint, "replay", json=body))["replayed"])

    async def attempts(self, endpoint: str, limit: int) -> list[dict[str, Any]]:
        path = self._path(endpoint, "attempts") + f"?limit={limit}"
        data = await self._backend.call("GET", self._backend.urls.webhooks, path, admin=True)
        return list(data["attempts"])


def _api(request: web.Request) -> WebhooksApi:
    return WebhooksApi(request.app[BACKEND], request.match_info["slug"])


def _unavailable(error: BackendError) -> Unavailable:
    return Unavailable(
        "The webhooks service did not answer; nothing was changed. Try again.", reason=str(error)
    )


def _refusal(error: BackendError) -> FormError:
    """The API's refusal for the form, or the page's own error when it is down."""
    if error.client_mistake:
        return FormError(error.detail)
    raise _unavailable(error) from error


async def _form(request: web.Request) -> dict[str, Any]:
    form = await request.post()
    return {
        "url": str(form.get("url", "")).strip(),
        "description": str(form.get("description", "")).strip(),
        "event_types": [str(t) for t in form.getall("event_types", [])],
        "reason": str(form.get("reason", "")).strip(),
        "since": str(form.get("since", "")).strip(),
        "until": str(form.get("until", "")).strip(),
    }


async def list_page(
    request: web.Request, *, error: str | None = None, form: dict[str, Any] | None = None
) -> web.Response:
    tenant = await tenant_of(request)
    try:
        endpoints = await _api(request).endpoints()
    except BackendError as exc:
        raise _unavailable(exc) from exc
    context = {
        "tenant": tenant,
        "endpoints": endpoints,
        "event_types": EVENT_TYPES,
        "error": error,
        "form": form or {},
        "done": DONE.get(request.query.get("done", "")) if not error else None,
    }
    return render("webhooks.html", request, context, status=400 if error else 200)


async def endpoint_page(
    request: web.Request,
    *,
    error: str | None = None,
    shown: dict[str, Any] | None = None,
    form: dict[str, Any] | None = None,
    status: int | None = None,
    endpoint_id: str | None = None,
) -> web.Response:
    """One endpoint; ``shown`` is a secret made by this very request (shown once)."""
    tenant = await tenant_of(request)
    api, endpoint_id = _api(request), endpoint_id or request.match_info["endpoint"]
    try:
        endpoint = await api.endpoint(endpoint_id)
        attempts = await api.attempts(endpoint_id, ATTEMPTS_SHOWN)
    except BackendError as exc:
        if exc.status == 404:
            raise NotFound("There is no such webhook endpoint in this tenant.") from exc
        raise _unavailable(exc) from exc
    replayed = request.query.get("replayed", "")
    context = {
        "tenant": tenant,
        "endpoint": endpoint,
        "attempts": attempts,
        "shown": shown or {},
        "error": error,
        "form": form or {},
        "done": DONE.get(request.query.get("done", "")),
        "replayed": replayed if replayed.isdigit() and not error else "",
    }
    return render("webhook.html", request, context, status=status or (400 if error else 200))


def _checked_add(form: dict[str, Any]) -> None:
    url = form["url"]
    if not url:
        raise FormError("Enter the URL the events are POSTed to, e.g. https://app.example/hooks.")
    if len(url) > 2048:
        raise FormError("The URL is too long (2048 characters at most).")
    if not url.lower().startswith(("https://", "http://")):
        raise FormError("The URL must start with https:// (plain http only to a local receiver).")
    if len(form["description"]) > 512:
        raise FormError("The description is too long (512 characters at most).")
    unknown = sorted(set(form["event_types"]) - set(EVENT_TYPES))
    if unknown:
        raise FormError(f"Unknown event types: {', '.join(unknown)}.")


@routes.get(BASE)
async def endpoints_list(request: web.Request) -> web.Response:
    return await list_page(request)


@routes.post(BASE)
async def endpoint_add(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    try:
        _checked_add(form)
        try:
            made = await _api(request).add(
                form["url"], form["description"] or None, form["event_types"]
            )
        except BackendError as exc:
            raise _refusal(exc) from exc
    except FormError as exc:
        return await list_page(request, error=exc.message, form=form)
    page = f"/console/tenants/{request.match_info['slug']}/webhooks/{made['endpoint']['id']}"
    raise _show_once(request, page, {"secret": made["secret"], "why": "registered"})


def _show_once(request: web.Request, page: str, shown: dict[str, Any]) -> web.HTTPSeeOther:
    """To ``page``, which shows ``shown`` (a secret this POST made) once."""
    response = web.HTTPSeeOther(page)
    guard.show_once(request.app[SEALER], response, page, shown)
    return response


@routes.get(ONE)
async def endpoint_show(request: web.Request) -> web.Response:
    shown = guard.take_shown(request.app[SEALER], request)
    response = await endpoint_page(request, shown=shown)
    guard.forget_shown(request, response)
    return response


def _back(request: web.Request, done: str, **extra: str) -> web.HTTPSeeOther:
    slug, endpoint = request.match_info["slug"], request.match_info["endpoint"]
    path = f"/console/tenants/{slug}/webhooks/{endpoint}"
    query = "&".join(f"{k}={v}" for k, v in {"done": done, **extra}.items() if v)
    return web.HTTPSeeOther(f"{path}?{query}")


def _endpoint(request: web.Request) -> str:
    return request.match_info["endpoint"]


async def _then_back(request: web.Request, change: Awaitable[Any], done: str) -> web.StreamResponse:
    """Make one change from the endpoint's page, then back to it (POST-redirect-GET) saying what
    was ``done``; the API's refusal is shown on the page instead."""
    try:
        await change
    except BackendError as exc:
        return await endpoint_page(request, error=_refusal(exc).message)
    raise _back(request, done)


@routes.post(ONE + "/rotate")
async def endpoint_rotate(request: web.Request) -> web.StreamResponse:
    try:
        made = await _api(request).rotate(request.match_info["endpoint"])
    except BackendError as exc:
        return await endpoint_page(request, error=_refusal(exc).message)
    shown = {
        "secret": made["secret"],
        "why": "rotated",
        "previous_expires_at": made.get("previous_expires_at"),
    }
    slug, endpoint = request.match_info["slug"], request.match_info["endpoint"]
    raise _show_once(request, f"/console/tenants/{slug}/webhooks/{endpoint}", shown)


@routes.post(ONE + "/delete")
async def endpoint_delete(request: web.Request) -> web.StreamResponse:
    try:
        await _api(request).delete(_endpoint(request))
    except BackendError as exc:
        return await endpoint_page(request, error=_refusal(exc).message)
    raise web.HTTPSeeOther(f"/console/tenants/{request.match_info['slug']}/webhooks?done=deleted")


@routes.post(ONE + "/pause")
async def endpoint_pause(request: web.Request) -> web.StreamResponse:
    reason = (await _form(request))["reason"] or "paused from the console"
    if len(reason) > 1024:
        return await endpoint_page(request, error="The reason is too long (1024 characters).")
    return await _then_back(request, _api(request).pause(_endpoint(request), reason), "paused")


@routes.post(ONE + "/resume")
async def endpoint_resume(request: web.Request) -> web.StreamResponse:
    return await _then_back(request, _api(request).resume(_endpoint(request)), "resumed")


@routes.post(ONE + "/test")
async def endpoint_test(request: web.Request) -> web.StreamResponse:
    return await _then_back(request, _api(request).test(_endpoint(request)), "tested")


def parse_moment(text: str, name: str, *, default: datetime | None = None) -> datetime:
    """A time from the form: ``YYYY-MM-DD HH:MM`` (or the browser's ``T`` form) in UTC, or an
    ISO 8601 time with its own zone."""
    if not text and default is not None:
        return default
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or (moment.tzinfo is None and not _LOCAL_TIME.match(text)):
        raise FormError(f"{name}: enter a time as YYYY-MM-DD HH:MM (UTC), e.g. 2026-12-01 09:00.")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@routes.post(ONE + "/replay")
async def endpoint_replay(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    try:
        since = parse_moment(form["since"], "From")
        until = parse_moment(form["until"], "Until", default=datetime.now(UTC))
        if until <= since:
            raise FormError("Until must be after From.")
        try:
            count = await _api(request).replay(request.match_info["endpoint"], since, until)
        except BackendError as exc:
            raise _refusal(exc) from exc
    except FormError as exc:
        return await endpoint_page(request, error=exc.message, form=form)
    raise _back(request, "", replayed=str(count))
