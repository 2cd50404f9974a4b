"""Rendering a page: the template, plus what every page needs (the form token, who is in)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from console.keys import CSRF, OPERATOR


def render(
    template: str, request: web.Request, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    """``template`` with ``context``; forms get this browser's CSRF token as ``csrf``."""
    full = {"csrf": request.get(CSRF, ""), "operator": request.get(OPERATOR), **context}
    return aiohttp_jinja2.render_template(template, request, full, status=status)
