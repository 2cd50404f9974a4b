"""The deployment files parse, and every ROSTER_* variable they set is a setting that exists."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from console.settings import ConsoleSettings
from reconciler.settings import ReconcilerSettings
from scim_api.settings import ScimApiSettings
from sso_login.settings import SsoLoginSettings
from user_store.settings import UserStoreSettings
from webhooks.settings import WebhooksSettings

DEPLOY = Path(__file__).parents[2] / "deploy"
KNOWN = {
    f"ROSTER_{name.upper()}"
    for settings in (
        UserStoreSettings,
        ScimApiSettings,
        SsoLoginSettings,
        ReconcilerSettings,
        ConsoleSettings,
        WebhooksSettings,
    )
    for name in settings.model_fields
}


def _variables(text: str) -> set[str]:
    return set(re.findall(r"\b(ROSTER_[A-Z_]+)\s*:", text)) | set(
        re.findall(r"name: (ROSTER_[A-Z_]+)", text)
    )


def test_compose_file_parses_and_names_real_settings() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    compose = yaml.safe_load(text)
    assert {
        "kafka",
        "postgres",
        "user-store",
        "scim-api",
        "sso-login",
        "reconciler",
        "console",
    } <= set(compose["services"])
    assert len(_variables(text)) >= 8
    assert _variables(text) - KNOWN == set()


def test_kubernetes_manifests_parse_and_name_real_settings() -> None:
    text = (DEPLOY / "kubernetes" / "roster.yaml").read_text()
    kinds = [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(text)]
    assert ("Deployment", "roster-user-store") in kinds
    assert ("Deployment", "roster-console") in kinds
    assert ("Deployment", "roster-webhooks") in kinds
    assert len([k for k, _ in kinds if k == "Service"]) == 6
    assert len(_variables(text)) >= 8
    assert _variables(text) - KNOWN == set()


def test_dockerfile_installs_from_the_lock_file() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "uv sync --locked --no-dev" in text
    assert "USER roster" in text


def test_only_the_user_store_is_given_the_database() -> None:
    # The user-store is the only writer: no other service's settings name a database, and no
    # deployment file hands one its credentials.
    assert "database_url" in UserStoreSettings.model_fields
    for settings in (
        ScimApiSettings,
        SsoLoginSettings,
        ReconcilerSettings,
        ConsoleSettings,
        WebhooksSettings,
    ):
        assert "database_url" not in settings.model_fields
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    given = {
        name for name, s in compose.items() if "ROSTER_DATABASE_URL" in s.get("environment", {})
    }
    assert given == {"user-store"}
    documents = yaml.safe_load_all((DEPLOY / "kubernetes" / "roster.yaml").read_text())
    given = set()
    for document in documents:
        if document["kind"] == "ConfigMap":
            assert "ROSTER_DATABASE_URL" not in document["data"]
        if document["kind"] == "Deployment":
            for container in document["spec"]["template"]["spec"]["containers"]:
                if any(v["name"] == "ROSTER_DATABASE_URL" for v in container.get("env", [])):
                    given.add(container["name"])
    assert given == {"user-store"}
