"""Finding a Roster user's entry in a directory snapshot, and reading the user-store's scan."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.directory import DirectoryUser, Status
from reconciler.matching import DirectoryIndex
from reconciler.records import Member


def member(**data: object) -> Member:
    return Member.of(
        {
            "id": "u1",
            "user_name": "ada@example.com",
            "active": True,
            "created_at": "2026-01-01T00:00:00",
            **data,
        }
    )


def test_the_scan_json_becomes_a_member_with_utc_times() -> None:
    user = member(
        external_id="e1",
        origin="jit",
        scim_managed=True,
        last_login_at="2026-02-01T10:00:00+00:00",
        emails=["ada@example.com", None],
        subjects=["00u1"],
    )
    assert user.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert user.last_login_at == datetime(2026, 2, 1, 10, tzinfo=UTC)
    assert user.emails == ("ada@example.com",)
    assert user.subjects == ("00u1",)
    assert user.scim_managed and user.origin == "jit"
    bare = member()
    assert bare.last_login_at is None and bare.external_id is None
    assert bare.origin == "" and not bare.scim_managed


def test_found_by_external_id_then_subject_then_user_name_then_email() -> None:
    by_id = DirectoryUser(id="e1", names=("someone@example.com",), status=Status.ACTIVE)
    by_subject = DirectoryUser(id="00u1", names=(), status=Status.ACTIVE)
    by_name = DirectoryUser(id="x", names=("ADA@example.com ",), status=Status.ACTIVE)
    by_email = DirectoryUser(id="y", names=("lovelace@example.com",), status=Status.ACTIVE)
    index = DirectoryIndex([by_id, by_subject, by_name, by_email])
    assert index.find(member(external_id="e1", subjects=["00u1"])) is by_id
    assert index.find(member(subjects=["00u1"])) is by_subject
    assert index.find(member()) is by_name  # userName, case and spaces aside
    assert index.find(member(user_name="al", emails=["Lovelace@example.com"])) is by_email
    assert index.find(member(user_name="nobody@example.com")) is None
    assert index.matched == 4


def test_a_subject_may_be_a_directory_name() -> None:
    listed = DirectoryUser(id="1", names=("ada",), status=Status.ACTIVE)
    assert DirectoryIndex([listed]).find(member(user_name="x", subjects=["ADA"])) is listed


def test_an_active_entry_wins_over_a_deleted_one_with_the_same_address() -> None:
    gone = DirectoryUser(id="old", names=("ada@example.com",), status=Status.DELETED)
    rehired = DirectoryUser(id="new", names=("ada@example.com",), status=Status.ACTIVE)
    for users in ([gone, rehired], [rehired, gone]):
        assert DirectoryIndex(users).find(member()) is rehired
