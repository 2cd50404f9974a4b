"""``roster tenant advise``: the three customers of issue 5, as scripts would call it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from roster_cli.main import main


def advise(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code = main(["tenant", "advise", *args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def test_soc2_customer_on_entra(capsys: pytest.CaptureFixture[str]) -> None:
    result = advise(capsys, "--idp", "entra", "--soc2", "--immediate-deprovisioning")
    assert result["mode"] in ("scim", "scim+jit")
    assert result["meets_requirements"] is True
    assert "40 minutes" in result["worst_case_delay"]
    assert result["reasons"]


def test_small_startup_on_google_without_scim(capsys: pytest.CaptureFixture[str]) -> None:
    result = advise(capsys, "--idp", "google", "--no-scim", "--users", "20")
    assert result["mode"] == "jit"
    assert result["worst_case_delay"].startswith("Up to 90 days")


def test_plan_without_scim_with_a_directory_api(capsys: pytest.CaptureFixture[str]) -> None:
    result = advise(capsys, "--idp", "okta", "--no-scim", "--directory-api")
    assert result["mode"] == "jit"
    assert result["signals"][0].startswith("directory cross-check every 1 hour")
    assert result["worst_case_delay"].startswith("Up to 1 hour")
    assert result["worst_case_delay_seconds"] == 3600


def test_advice_under_a_tenants_policy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert main(["migrate", "--data", data]) == 0  # tenant commands never migrate
    assert main(["tenant", "create", "acme", "--mode", "jit", "--data", data, "--json"]) == 0
    capsys.readouterr()
    result = advise(capsys, "--idp", "okta", "--no-scim", "--tenant", "acme", "--data", data)
    assert result["worst_case_delay_seconds"] == 90 * 86_400 + 3600


def test_text_output_is_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tenant", "advise", "--idp", "keycloak", "--immediate-deprovisioning"]) == 0
    out = capsys.readouterr().out
    assert "Recommended mode: jit  (does NOT meet every requirement" in out
    assert "Immediate deprovisioning needs" in out
