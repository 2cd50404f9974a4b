"""Typed application keys of the scim-api's aiohttp app (the shared ones re-exported)."""

from __future__ import annotations

from aiohttp import web
from roster_shared.service.keys import METRICS, REQUESTER, STATE, USER_STORE, State

from scim_api.service import ScimService

__all__ = ["METRICS", "PUBLIC_BASE", "REQUESTER", "SERVICE", "STATE", "USER_STORE", "State"]

SERVICE = web.AppKey("service", ScimService)
PUBLIC_BASE = web.AppKey("public_base", str)
"""``<public_url>/scim``: absolute URLs are built on it, never on the request's Host."""
