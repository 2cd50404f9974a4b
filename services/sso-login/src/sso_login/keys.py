"""Typed application keys of sso-login's aiohttp app (the shared ones re-exported)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from roster_shared.service.keys import METRICS, REQUESTER, STATE, USER_STORE, State
from roster_shared.topics import Topics

from sso_login.oidc import OidcProviders
from sso_login.saml import SpKeys
from sso_login.sessions import Sessions
from sso_login.settings import SsoLoginSettings
from sso_login.tokens import Sealer
from sso_login.workers import XmlWorkers

__all__ = ["CONTEXT", "METRICS", "REQUESTER", "STATE", "USER_STORE", "Context", "State"]


@dataclass
class Context:
    """What the handlers need, built once by the app factory."""

    settings: SsoLoginSettings
    topics: Topics
    sealer: Sealer
    sessions: Sessions
    providers: OidcProviders = field(repr=False)
    xml_workers: XmlWorkers = field(repr=False)
    sp_keys: SpKeys | None = field(default=None, repr=False)


CONTEXT = web.AppKey("context", Context)
