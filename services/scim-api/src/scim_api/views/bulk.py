"""``/Bulk`` (RFC 7644 §3.7)."""

from __future__ import annotations

from aiohttp import web

from scim_api import bulk
from scim_api.views.base import ScimView, scim_json


class BulkView(ScimView):
    """Many writes, each answered on its own, in one request."""

    async def post(self) -> web.Response:
        """Run a BulkRequest."""
        return scim_json(await bulk.execute(self.service, self.call, await self.json_body()))
