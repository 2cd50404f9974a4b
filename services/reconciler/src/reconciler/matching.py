"""Which directory entry is a Roster user's: the directory snapshot indexed by id and by every
name it lists, searched the way identities are linked (externalId, login subject, userName,
e-mail)."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.directory import DirectoryUser, Status
from reconciler.records import Member


def _key(value: str) -> str:
    return value.strip().casefold()


class DirectoryIndex:
    """Directory users by id and by every name; an active entry wins over a deleted one with
    the same address (someone rehired under their old e-mail)."""

    def __init__(self, users: Sequence[DirectoryUser]) -> None:
        self.by_id: dict[str, DirectoryUser] = {}
        self.by_name: dict[str, DirectoryUser] = {}
        self.matched = 0
        rank = {Status.ACTIVE: 0, Status.DISABLED: 1, Status.DELETED: 2}
        for user in sorted(users, key=lambda u: rank[u.status], reverse=True):
            self.by_id[user.id] = user
            for name in user.names:
                self.by_name[_key(name)] = user

    def find(self, user: Member) -> DirectoryUser | None:
        """The directory entry of a Roster user: by externalId, login subject, userName, e-mail."""
        found = None
        if user.external_id:
            found = self.by_id.get(user.external_id)
        if found is None:
            for subject in user.subjects:
                found = self.by_id.get(subject) or self.by_name.get(_key(subject))
                if found is not None:
                    break
        if found is None:
            found = self.by_name.get(_key(user.user_name))
        if found is None:
            for email in user.emails:
                found = self.by_name.get(_key(email))
                if found is not None:
                    break
        if found is not None:
            self.matched += 1
        return found
