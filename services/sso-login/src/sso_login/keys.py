"""Typed application keys of sso-login's aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry
from roster_shared.bus.requests import Requester
from roster_shared.topics import Topics
from roster_shared.userstore_client import UserStoreClient

from sso_login.oidc import OidcProviders
from sso_login.saml import SpKeys
from sso_login.sessions import Sessions
from sso_login.settings import SsoLoginSettings
from sso_login.tokens import Sealer
from sso_login.workers import XmlWorkers


@dataclass
class State:
    """What readiness reports: True once the application's resources are started."""

    running: bool = False


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


USER_STORE = web.AppKey("user_store", UserStoreClient)
REQUESTER = web.AppKey("requester", Requester)
METRICS = web.AppKey("metrics", CollectorRegistry)
STATE = web.AppKey("state", State)
CONTEXT = web.AppKey("context", Context)
