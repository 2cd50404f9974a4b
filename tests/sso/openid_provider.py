"""A real OpenID Provider for tests: panva's oidc-provider on Node, started per test.

Its npm dependencies are pinned by ``tests/sso/op/package-lock.json`` and installed with
``npm ci`` into the ignored ``.cache/oidc-op`` folder the first time (CI has Node 20 and reaches
the npm registry). :meth:`OpenIdProvider.login` drives its development login form the way a
browser would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from joserfc.jwk import RSAKey

from tests.cli.devserver import free_port

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(__file__).parent / "op"
CACHE = ROOT / ".cache" / "oidc-op"


def install() -> Path:
    """``npm ci`` the provider into the cache once per lock file; returns the folder."""
    lock = (SOURCE / "package-lock.json").read_bytes()
    stamp = hashlib.sha256(lock).hexdigest()
    marker = CACHE / ".installed"
    if not (marker.exists() and marker.read_text() == stamp):
        CACHE.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(SOURCE / name, CACHE / name)
        subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=CACHE,
            check=True,
            capture_output=True,
            timeout=300,
        )
        marker.write_text(stamp)
    shutil.copy(SOURCE / "server.mjs", CACHE / "server.mjs")
    return CACHE


class OpenIdProvider:
    """oidc-provider in a subprocess, with clients, signing keys and accounts from the test."""

    def __init__(self, workdir: Path, clients: list[dict[str, Any]]) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "op-key-1", "use": "sig"})
        self.accounts_file = workdir / "accounts.json"
        self.accounts: dict[str, dict[str, Any]] = {}
        self._write_accounts()
        config = {
            "port": self.port,
            "clients": clients,
            "jwks": {"keys": [self.key.as_dict(private=True)]},
            "accounts": str(self.accounts_file),
        }
        self.config_file = workdir / "op.json"
        self.config_file.write_text(json.dumps(config))
        self.process: subprocess.Popen[bytes] | None = None

    def _write_accounts(self) -> None:
        self.accounts_file.write_text(json.dumps(self.accounts))

    def account(self, account_id: str, **claims: Any) -> None:
        self.accounts[account_id] = claims
        self._write_accounts()

    def start(self, timeout: float = 30) -> None:
        folder = install()
        self.log = (self.workdir / "op.log").open("wb")
        self.process = subprocess.Popen(
            ["node", str(folder / "server.mjs"), str(self.config_file)],
            cwd=folder,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError((self.workdir / "op.log").read_text())
            with contextlib.suppress(OSError):
                url = self.issuer + "/.well-known/openid-configuration"
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            time.sleep(0.1)
        raise AssertionError(
            "oidc-provider did not start:\n" + (self.workdir / "op.log").read_text()
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
            self.log.close()


async def follow_to_callback(browser: Any, location: str, login: str) -> str:
    """Walk the provider's pages from the authorization URL to our callback URL."""
    for _ in range(12):
        if not location.startswith("http"):
            raise AssertionError(f"unexpected location {location!r}")
        if "/oidc/callback" in location:
            return location
        page = await browser.get(location)
        if page.status in (302, 303):
            location = urljoin(location, page.headers["Location"])
            continue
        assert page.status == 200, await page.text()
        # The development login form posts to /interaction/{uid}.
        uid = urlsplit(location).path.rsplit("/", 1)[-1]
        base = f"{urlsplit(location).scheme}://{urlsplit(location).netloc}"
        answer = await browser.post(
            f"{base}/interaction/{uid}",
            data={"prompt": "login", "login": login, "password": "any"},
        )
        assert answer.status in (302, 303), await answer.text()
        location = urljoin(location, answer.headers["Location"])
    raise AssertionError("too many redirects at the provider")


def callback_params(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
