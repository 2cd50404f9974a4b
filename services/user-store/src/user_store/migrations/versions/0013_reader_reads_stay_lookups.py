"""reader functions: a user read stays a lookup of its index entry whatever the statistics

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 08:20:00

A plpgsql function's query is prepared once per session; from its sixth call it may run on a
generic plan, kept until the table it reads is next analyzed. Made while the users table was
small — a fresh install, a tenant's first import — the plans of migration 0009's
``roster_token_user`` and ``roster_token_user_name`` stayed as the table grew: the read by id
found its user by walking the whole partial userName index and filtering on the id, or by
scanning the table; the lookup's searched that index by the key without the tenant, a walk of the tenant's
every user (auto_explain under ``bench/compare.py``: 0.94-1.03 ms of database CPU per GET at
11,000 users, against 0.12 ms). Costed on statistics of a handful of rows, a walk of everything
and a lookup cost the same.

Here both functions run with ``enable_seqscan = off`` (a plan made at one page no longer prefers
reading the table to an index), and the lookup reads its user in a ``LATERAL`` subquery planned
apart (``OFFSET 0`` keeps PostgreSQL from merging it back into the join), with the tenant's id
as the outer value: the ``(tenant_id, user_name_key)`` index is searched by both. Measured in
index and table blocks per read after 20,000 users arrived behind plans cached at two
(``tests/integration/test_reader_role.py``): 0009's functions ~370-410 per lookup; the setting
alone still ~365 when the table had never been analyzed, the subquery alone ~410 when it had
been analyzed at two rows; both together 3-4 in either case. Tenant, token, identity links and
groups are read as before. Same signatures, columns, rows and grants (``CREATE OR REPLACE``
keeps them).

Written out here, not imported: a migration is frozen when it ships. PostgreSQL only.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_OUT = """t_id text, t_slug text, t_display_name text, t_mode text, t_settings text,
    t_created_at timestamptz, t_updated_at timestamptz,
    u_id text, u_tenant_id text, u_user_name text, u_external_id text,
    u_active boolean, u_display_name text, u_given_name text, u_family_name text,
    u_emails text, u_extra text, u_origin text, u_scim_managed boolean, u_version integer,
    u_created_at timestamptz, u_updated_at timestamptz, u_last_login_at timestamptz,
    u_deactivated_reason text, links text, groups text"""
_SELECT = """SELECT t.id::text, t.slug::text, t.display_name::text, t.mode::text,
           t.settings::text, t.created_at, t.updated_at,
           u.id::text, u.tenant_id::text, u.user_name::text, u.external_id::text,
           u.active, u.display_name::text, u.given_name::text, u.family_name::text,
           u.emails::text, u.extra::text, u.origin::text, u.scim_managed, u.version,
           u.created_at, u.updated_at, u.last_login_at, u.deactivated_reason::text,
           (SELECT json_agg(json_build_array(l.issuer, l.subject, l.subject_format)
                            ORDER BY l.created_at, l.issuer)
              FROM identity_links l WHERE l.user_id = u.id)::text,
           (SELECT json_agg(json_build_array(g.id, g.display_name, g.display_name_key,
                                             g.origin)
                            ORDER BY g.display_name_key, g.id)
              FROM memberships m JOIN groups g ON g.id = m.group_id
             WHERE m.user_id = u.id)::text
      FROM tenants t
      JOIN scim_tokens k ON k.tenant_id = t.id AND k.id = p_token_id
             AND k.revoked_at IS NULL
             AND sha256(convert_to(k.secret_sha256, 'UTF8'))
                 = sha256(convert_to(p_secret_sha256, 'UTF8'))"""
_WHERE = "WHERE (t.id = p_ref OR t.slug = p_ref)"

_BY_ID = "roster_token_user(p_ref text, p_token_id text, p_secret_sha256 text, p_user_id text)"
_BY_NAME = (
    "roster_token_user_name(p_ref text, p_token_id text, p_secret_sha256 text, "
    "p_user_name_key text)"
)
# Migration 0009's reads of the user, for the downgrade (and the read by id's, kept).
_JOINS = {
    _BY_ID: """LEFT JOIN users u ON u.tenant_id = t.id AND u.id = p_user_id
                       AND u.deleted_at IS NULL""",
    _BY_NAME: """LEFT JOIN users u ON u.tenant_id = t.id AND u.user_name_key = p_user_name_key
                       AND u.deleted_at IS NULL""",
}
# This migration's: the lookup's user in a subquery of its own.
_LOOKUPS = {
    _BY_ID: _JOINS[_BY_ID],
    _BY_NAME: """LEFT JOIN LATERAL (
            SELECT * FROM users x
             WHERE x.tenant_id = t.id AND x.user_name_key = p_user_name_key
               AND x.deleted_at IS NULL
            OFFSET 0) u ON true""",
}


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _replace(user_reads: dict[str, str], settings: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.exec_driver_sql("SELECT current_schema()").scalar_one()
    for signature, user_read in user_reads.items():
        op.execute(
            f"""CREATE OR REPLACE FUNCTION {signature}
RETURNS TABLE ({_OUT})
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = {_quoted(schema)}, pg_temp{settings}
AS $fn$
BEGIN
    RETURN QUERY
    {_SELECT}
      {user_read}
     {_WHERE};
END
$fn$"""
        )


def upgrade() -> None:
    _replace(_LOOKUPS, "\nSET enable_seqscan = off")


def downgrade() -> None:
    _replace(_JOINS, "")
