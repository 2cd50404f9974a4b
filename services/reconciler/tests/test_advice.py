"""The provisioning-mode advice: what a careful identity engineer would tell each customer."""

from __future__ import annotations

from reconciler.advice import Requirements, advise, duration, idp_facts
from reconciler.policy import ReconcilerPolicy, session_max_age


def test_soc2_on_entra_gets_scim_with_the_provisioning_cycle_as_delay() -> None:
    advice = advise(Requirements(idp="entra", soc2=True, immediate_deprovisioning=True))
    assert advice.mode == "scim+jit"
    assert advice.meets_requirements
    assert "40 minutes" in advice.worst_case_delay
    assert advice.worst_case_delay_seconds == 2400
    assert any("SCIM" in reason for reason in advice.reasons)
    # the audit-friendly setting: JIT users SCIM never confirms do not keep access
    assert any("deactivate_unconfirmed=true" in step for step in advice.next_steps)
    assert any("mode scim" in reason for reason in advice.reasons)


def test_small_google_startup_without_scim_gets_jit_with_the_inactivity_delay() -> None:
    advice = advise(Requirements(idp="google", scim_available=False, users=20))
    assert advice.mode == "jit"
    assert advice.worst_case_delay.startswith("Up to 90 days")
    assert advice.worst_case_delay_seconds == 90 * 86_400 + 3600
    assert "8 hours" in advice.worst_case_delay  # sessions end anyway (sso-login default)
    assert advice.meets_requirements  # they asked for nothing we cannot give
    # and we tell them how to do better: Google's Directory API
    assert any("--directory-api" in warning for warning in advice.warnings)


def test_google_custom_app_has_no_scim_even_without_saying_so() -> None:
    assert advise(Requirements(idp="Google Workspace")).mode == "jit"


def test_plan_without_scim_but_with_a_directory_api_gets_the_interval_as_delay() -> None:
    policy = ReconcilerPolicy(interval_minutes=15)
    advice = advise(
        Requirements(idp="okta", scim_available=False, directory_api=True, users=5000), policy
    )
    assert advice.mode == "jit"
    assert advice.worst_case_delay.startswith("Up to 15 minutes")
    assert advice.worst_case_delay_seconds == 900
    assert advice.signals[0].startswith("directory cross-check every 15 minutes (okta)")
    assert any("--kind okta" in step for step in advice.next_steps)
    assert any("25 page(s)" in reason for reason in advice.reasons)


def test_consecutive_misses_lengthen_the_delay_for_vanished_users() -> None:
    policy = ReconcilerPolicy(interval_minutes=60, consecutive_misses=3)
    advice = advise(Requirements(idp="entra", scim_available=False, directory_api=True), policy)
    assert advice.worst_case_delay_seconds == 3 * 3600
    assert "3 checks in a row" in advice.worst_case_delay


def test_immediate_deprovisioning_without_scim_is_said_to_be_unmet() -> None:
    advice = advise(
        Requirements(
            idp="okta", scim_available=False, directory_api=True, immediate_deprovisioning=True
        )
    )
    assert advice.mode == "jit"
    assert not advice.meets_requirements
    assert "Immediate deprovisioning needs" in advice.warnings[0]


def test_soc2_without_scim_or_directory_is_unmet() -> None:
    advice = advise(Requirements(idp="keycloak", soc2=True))
    assert advice.mode == "jit"
    assert not advice.meets_requirements
    assert any("SOC 2" in warning for warning in advice.warnings)


def test_adfs_has_no_scim_and_no_connector() -> None:
    advice = advise(Requirements(idp="ADFS"))
    assert advice.mode == "jit"
    assert any("Entra Connect" in reason for reason in advice.reasons)
    assert not any("--directory-api" in warning for warning in advice.warnings)


def test_no_inactivity_limit_and_no_directory_means_no_bound() -> None:
    advice = advise(Requirements(idp="keycloak"), ReconcilerPolicy(inactivity_days=None))
    assert advice.worst_case_delay_seconds is None
    assert advice.worst_case_delay.startswith("No bound")


def test_google_with_scim_from_the_catalogue_is_not_immediate() -> None:
    advice = advise(Requirements(idp="google", scim_available=True, immediate_deprovisioning=True))
    assert advice.mode == "scim+jit"
    assert not advice.meets_requirements
    assert "24 hours" in advice.worst_case_delay


def test_okta_pushes_in_minutes() -> None:
    advice = advise(Requirements(idp="okta", immediate_deprovisioning=True))
    assert advice.mode == "scim+jit"
    assert advice.meets_requirements
    assert advice.worst_case_delay_seconds == 300


def test_aliases_and_unknown_idps() -> None:
    assert idp_facts("Azure AD").name == "Microsoft Entra ID"
    assert idp_facts("entra_id").name == "Microsoft Entra ID"
    unknown = idp_facts("AcmeIdP")
    assert unknown.scim and unknown.connector is None


def test_durations_read_naturally() -> None:
    assert duration(90 * 86_400) == "90 days"
    assert duration(3600) == "1 hour"
    assert duration(2400) == "40 minutes"
    assert duration(5400) == "90 minutes"


def test_the_tenants_session_max_age_bounds_open_sessions() -> None:
    advice = advise(Requirements(idp="google"), session_max_age=3600)
    assert advice.session_max_age_seconds == 3600
    assert "session ends after at most 1 hour" in advice.worst_case_delay
    assert session_max_age({"sso": {"session_max_age": 1800}}) == 1800
    assert session_max_age({}) == 8 * 3600
