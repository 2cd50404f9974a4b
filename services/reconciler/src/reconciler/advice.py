"""Which provisioning mode a customer should use, and how long a leaver keeps access under it.

Pure logic: the customer's requirements and the tenant's reconciler policy in, a recommendation
out, with reasons and the worst-case delay between someone leaving and losing access, worded so
that a customer can hand it to an auditor. What each IdP can do is from its vendor's published
documentation (kept in :data:`IDPS`); where a plan decides it, the customer says so
(``scim_available``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from reconciler.policy import DEFAULT_SESSION_MAX_AGE, ReconcilerPolicy


@dataclass(frozen=True)
class IdpFacts:
    """What one IdP offers an app like ours."""

    name: str
    scim: bool  # pushes SCIM to a custom app on the plans that offer provisioning
    scim_note: str
    push_delay: str  # how soon a change reaches us once SCIM is set up
    push_delay_seconds: int
    connector: str | None  # our read-only directory connector for it, if any


IDPS: dict[str, IdpFacts] = {
    "okta": IdpFacts(
        "Okta",
        True,
        "Okta pushes SCIM to custom app integrations on plans with Lifecycle Management",
        "within seconds to a few minutes (Okta pushes each change as it happens)",
        300,
        "okta",
    ),
    "entra": IdpFacts(
        "Microsoft Entra ID",
        True,
        "Entra ID's provisioning service pushes SCIM to enterprise applications",
        "within about 40 minutes: Entra ID pushes changes in incremental provisioning cycles "
        "of about 40 minutes (an urgent termination can be pushed at once with "
        "'Provision on demand')",
        2400,
        "graph",
    ),
    "google": IdpFacts(
        "Google Workspace",
        False,
        "Google Workspace pushes users only to the apps in its own auto-provisioning catalogue; "
        "a custom SAML app such as this one gets no SCIM",
        "on Google's auto-provisioning schedule, which is not immediate (plan for up to 24 hours)",
        86_400,
        "google",
    ),
    "onelogin": IdpFacts(
        "OneLogin",
        True,
        "OneLogin pushes SCIM to custom connectors",
        "within a few minutes (OneLogin pushes changes as they happen)",
        300,
        None,
    ),
    "jumpcloud": IdpFacts(
        "JumpCloud",
        True,
        "JumpCloud pushes SCIM to custom applications",
        "within a few minutes (JumpCloud pushes changes as they happen)",
        300,
        None,
    ),
    "ping": IdpFacts(
        "Ping Identity",
        True,
        "PingOne and PingFederate push SCIM through their outbound provisioning",
        "within a few minutes (Ping pushes changes as they happen)",
        300,
        None,
    ),
    "adfs": IdpFacts(
        "AD FS",
        False,
        "AD FS only federates sign-in; it has no provisioning and pushes no SCIM (syncing the "
        "directory to Entra ID with Entra Connect and using Entra ID would add it)",
        "",
        0,
        None,
    ),
    "keycloak": IdpFacts(
        "Keycloak",
        False,
        "Keycloak has no built-in SCIM push (community extensions exist)",
        "",
        0,
        None,
    ),
}

ALIASES = {
    "azure": "entra",
    "azuread": "entra",
    "azure-ad": "entra",
    "aad": "entra",
    "entra-id": "entra",
    "entraid": "entra",
    "microsoft": "entra",
    "google-workspace": "google",
    "gsuite": "google",
    "workspace": "google",
    "pingone": "ping",
    "pingfederate": "ping",
    "ad-fs": "adfs",
}


def idp_facts(name: str) -> IdpFacts:
    """What we know of the IdP ``name`` (an unknown one is assumed to push SCIM)."""
    key = name.strip().lower().replace(" ", "-").replace("_", "-")
    key = ALIASES.get(key, key)
    found = IDPS.get(key)
    if found is not None:
        return found
    return IdpFacts(
        name,
        True,
        f"we have no record of {name}; most IdPs push SCIM on their provisioning plans",
        "as soon as the IdP pushes the change (ask the vendor how often it does)",
        3600,
        None,
    )


class Requirements(BaseModel):
    """What the customer told us."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    idp: str = Field(min_length=1, max_length=64, description="okta, entra, google, ...")
    soc2: bool = Field(default=False, description="SOC 2 (or a similar audit) applies.")
    immediate_deprovisioning: bool = Field(
        default=False, description="Leavers must lose access immediately (security policy)."
    )
    scim_available: bool | None = Field(
        default=None,
        description="False: their IdP plan cannot push SCIM. None: what the IdP usually offers.",
    )
    directory_api: bool = Field(
        default=False,
        description="They can grant read-only access to their directory's API (Graph, Okta, "
        "Google Directory, or a SCIM endpoint).",
    )
    users: int | None = Field(default=None, ge=0, description="Expected number of users.")


class Advice(BaseModel):
    """The recommendation, ready for a customer (``--json`` prints this)."""

    mode: str
    reasons: list[str]
    worst_case_delay: str = Field(description="Plain words, for the customer and their auditor.")
    worst_case_delay_seconds: int | None = Field(
        description="The same as a number; None when nothing bounds it."
    )
    session_max_age_seconds: int = Field(
        description="The maximum login session age the delay assumes (sso-login enforces it)."
    )
    signals: list[str] = Field(description="What removes access under this mode.")
    meets_requirements: bool
    warnings: list[str] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)


def duration(seconds: int) -> str:
    """``90 days``, ``1 hour``, ``40 minutes``: the largest whole unit that fits."""
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    if seconds >= 60:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"


# A run of the directory cross-check reads every user: pages per run, per vendor.
PAGE_SIZE = {"graph": 999, "okta": 200, "google": 500, "scim": 100}


def advise(
    requirements: Requirements,
    policy: ReconcilerPolicy | None = None,
    *,
    session_max_age: int = DEFAULT_SESSION_MAX_AGE,
) -> Advice:
    """The recommended mode, why, and the worst-case access-removal delay under ``policy`` and
    the tenant's maximum session age (seconds)."""
    policy = policy or ReconcilerPolicy()
    facts = idp_facts(requirements.idp)
    scim = facts.scim if requirements.scim_available is None else requirements.scim_available
    session = session_max_age
    if scim:
        return _with_scim(requirements, policy, facts, session)
    return _without_scim(requirements, policy, facts, session)


def _with_scim(
    req: Requirements, policy: ReconcilerPolicy, facts: IdpFacts, session: int
) -> Advice:
    strict = req.soc2 or req.immediate_deprovisioning
    reasons = [
        f"{facts.scim_note}: SCIM tells Roster when someone leaves, whether or not they ever "
        "log in again, so deprovisioning does not depend on the reconciler.",
        "scim+jit keeps SCIM in charge of the lifecycle (a login never reactivates or recreates "
        "an account SCIM deactivated or deleted) and lets someone assigned in the IdP log in "
        "before SCIM has provisioned them; SCIM then adopts the same account.",
    ]
    warnings: list[str] = []
    steps = [
        "roster tenant create SLUG --mode scim+jit",
        "roster tenant token create SLUG --label IDP  (put the token in the IdP's SCIM settings)",
    ]
    grace = policy.grace_days
    if strict:
        reasons.append(
            "For the audit, JIT-created users that SCIM has not confirmed are deactivated after "
            f"the grace period ({duration(max(grace, 1) * 86_400)}), so nobody keeps access "
            "outside the IdP's assignment; mode scim (no JIT at all) is the stricter alternative "
            "if a login before provisioning is never wanted."
        )
        steps.append(
            "set the tenant's reconciler policy: deactivate_unconfirmed=true, "
            f"grace_days={max(grace, 1)}"
        )
    if facts.push_delay_seconds > 3600 and req.immediate_deprovisioning:
        warnings.append(
            f"{facts.name} pushes changes {facts.push_delay}: that is not immediate; "
            "a termination needs the person disabled at the IdP *and* the push to arrive."
        )
    delay = (
        f"{facts.push_delay}. Once the IdP's deactivation reaches Roster, the account is "
        "deactivated at once and a user.deactivated event ends the person's sessions; "
        "a person disabled at the IdP also cannot start a new SSO login in the meantime."
    )
    met = not (req.immediate_deprovisioning and facts.push_delay_seconds > 3600)
    return Advice(
        mode="scim+jit",
        reasons=reasons,
        worst_case_delay=delay[0].upper() + delay[1:],
        worst_case_delay_seconds=facts.push_delay_seconds,
        session_max_age_seconds=session,
        signals=["scim push (immediate on receipt)", "scim+jit grace period for JIT-only users"],
        meets_requirements=met,
        warnings=warnings,
        next_steps=steps,
    )


def _without_scim(
    req: Requirements, policy: ReconcilerPolicy, facts: IdpFacts, session: int
) -> Advice:
    reasons = [
        f"{facts.scim_note}, so users are created at their first SSO login (JIT) and nothing "
        "tells Roster when someone leaves.",
        "A person disabled at the IdP can no longer start an SSO login, but a session they "
        f"already have lasts up to the maximum session age ({duration(session)}), and the "
        "account itself (API access, seat counts, downstream apps) stays active until the "
        "reconciler deactivates it.",
    ]
    warnings: list[str] = []
    steps = ["roster tenant create SLUG --mode jit"]
    signals = [f"session expiry ({duration(session)})"]
    interval = policy.interval_minutes * 60
    if req.directory_api:
        connector = facts.connector or "scim"
        absent = interval * policy.consecutive_misses
        signals.insert(0, f"directory cross-check every {duration(interval)} ({connector})")
        reasons.append(
            f"With read-only access to the directory ({_connector_name(connector)}), the "
            f"reconciler checks every {duration(interval)} and deactivates anyone the directory "
            "reports disabled, suspended or deleted in the next run."
        )
        delay_seconds = absent
        delay = (
            f"Up to {duration(interval)} (the directory check interval) between a person being "
            "disabled or deleted in the directory and their account being deactivated here"
        )
        if policy.consecutive_misses > 1:
            delay += (
                f"; someone who simply vanishes from the directory is deactivated after "
                f"{policy.consecutive_misses} checks in a row, up to {duration(absent)}"
            )
        else:
            delay_seconds = interval
        delay += (
            f". Deactivation ends their sessions at once; sessions end anyway after "
            f"{duration(session)}, and the IdP refuses them a new login as soon as they are "
            "disabled there."
        )
        steps.append(
            f"roster directory connect SLUG --kind {connector} --url BASE_URL --token TOKEN"
        )
        if req.users and connector in PAGE_SIZE:
            pages = -(-req.users // PAGE_SIZE[connector])
            reasons.append(
                f"For about {req.users} users a check reads about {pages} page(s) of the "
                "directory API, well within its rate limits at this interval."
            )
    else:
        delay_seconds = None
        if policy.inactivity_days is not None:
            inactive = policy.inactivity_days * 86_400
            delay_seconds = inactive + interval
            signals.insert(0, f"inactivity ({duration(inactive)} without a login)")
            delay = (
                f"Up to {duration(inactive)}: without a directory to ask, the reconciler "
                f"deactivates an account after {duration(inactive)} without a successful login "
                f"(checked every {duration(interval)}). A leaver cannot start a new SSO login "
                "once the IdP disables them, and their current session ends after at most "
                f"{duration(session)}, but the account stays active until then"
            )
            delay += "."
        else:
            delay = (
                "No bound: with neither a directory to ask nor an inactivity limit, an account "
                "stays active until an admin deactivates it. Sessions still end after "
                f"{duration(session)} and the IdP refuses new logins of disabled people."
            )
        if facts.connector is not None:
            api = _connector_name(facts.connector)
            warnings.append(
                f"{facts.name} has a directory API Roster can read ({api}): "
                "granting read-only access would cut the delay to the check interval "
                f"({duration(interval)}). Run the advice again with --directory-api."
            )
    met = True
    if req.immediate_deprovisioning:
        met = False
        warnings.insert(
            0,
            "Immediate deprovisioning needs the IdP to push SCIM; without it the best Roster can "
            "do is the delay above. Upgrading the IdP plan (or moving to an IdP that provisions "
            "by SCIM) is the way to meet that requirement.",
        )
    if req.soc2 and not req.directory_api:
        met = False
        warnings.append(
            "SOC 2 auditors expect access to be removed within a documented, short time of "
            "termination (commonly 24 hours); inactivity alone does not give that. Connect a "
            "directory or provide SCIM."
        )
    elif req.soc2 and interval > 86_400:
        met = False
        warnings.append("For SOC 2, check the directory at least once a day.")
    if req.users is not None and req.users > 1000 and not req.directory_api:
        warnings.append(
            f"With {req.users} users and no SCIM, leavers will be common: a directory "
            "cross-check is strongly advised."
        )
    return Advice(
        mode="jit",
        reasons=reasons,
        worst_case_delay=delay,
        worst_case_delay_seconds=delay_seconds,
        session_max_age_seconds=session,
        signals=signals,
        meets_requirements=met,
        warnings=warnings,
        next_steps=steps,
    )


def _connector_name(kind: str) -> str:
    return {
        "graph": "Microsoft Graph",
        "okta": "the Okta Users API",
        "google": "the Google Workspace Directory API",
        "scim": "a SCIM 2.0 endpoint",
    }[kind]
