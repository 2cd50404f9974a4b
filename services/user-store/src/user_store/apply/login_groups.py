"""What a login's group claims do to the account's memberships (docs/design.md, "What a login
does"): one pure decision, made by the write path (``Groups._sync_login_groups``) and by the
returning-login read (:mod:`user_store.login_reads`), which answers without a write only when
the plan is empty. Memberships of login-made (``jit``) groups follow the assertion; SCIM's
groups are SCIM's: a login neither joins nor leaves them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from user_store.identity import name_key


@dataclass(frozen=True)
class LoginGroupPlan:
    """Groups to create (their names as the login spelled them), and the keys of the login-made
    groups to join and to leave."""

    create: tuple[str, ...] = ()
    join: tuple[str, ...] = ()
    leave: tuple[str, ...] = ()

    @property
    def settled(self) -> bool:
        """Whether the login changes no group and no membership."""
        return not (self.create or self.join or self.leave)


def wanted_groups(names: Iterable[str]) -> dict[str, str]:
    """The login's group names by their key (blank names are no group); the last spelling of
    a key is the one a created group gets."""
    return {name_key(name): name for name in names if name.strip()}


def login_group_plan(
    names: Iterable[str], existing: Mapping[str, str], member_of: Mapping[str, str]
) -> LoginGroupPlan:
    """The plan for a login naming ``names``, given ``existing`` (key → origin of the tenant's
    groups with the wanted keys) and ``member_of`` (key → origin of the account's groups)."""
    wanted = wanted_groups(names)
    create = tuple(name for key, name in wanted.items() if key not in existing)
    # A group the login creates is login-made, so the account joins it too.
    join = tuple(
        key for key in wanted if existing.get(key, "jit") == "jit" and key not in member_of
    )
    leave = tuple(key for key, origin in member_of.items() if origin == "jit" and key not in wanted)
    return LoginGroupPlan(create=create, join=join, leave=leave)
