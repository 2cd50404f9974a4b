"""reader functions: token-checked reads for a scim-api that reads PostgreSQL directly

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 00:45:00

Three ``SECURITY DEFINER`` functions, the only thing a reader role is granted (``roster db
reader-role``): the token check before a SCIM write, a user by id and a user by userName key.
Each takes the token as the user-store stores it (the token id and the SHA-256 of the secret,
hex), checks inside the function that it is a live token of the tenant named (id or slug), and
only then returns anything; a token that is not live gets no row at all. Their rows have the
columns of the user-store's own hot reads (``roster_shared.hot_rows``).

Written out here, not imported: a migration is frozen when it ships. PostgreSQL only (SQLite has
no roles; ``roster dev`` reads through the user-store as before).
"""

# ruff: noqa: S608, S105 - every statement is composed of this file's constants; no secret here

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TENANT_OUT = """t_id text, t_slug text, t_display_name text, t_mode text, t_settings text,
    t_created_at timestamptz, t_updated_at timestamptz"""
_USER_OUT = """u_id text, u_tenant_id text, u_user_name text, u_external_id text,
    u_active boolean, u_display_name text, u_given_name text, u_family_name text,
    u_emails text, u_extra text, u_origin text, u_scim_managed boolean, u_version integer,
    u_created_at timestamptz, u_updated_at timestamptz, u_last_login_at timestamptz,
    u_deactivated_reason text, links text, groups text"""
_TENANT_SELECT = """t.id::text, t.slug::text, t.display_name::text, t.mode::text,
           t.settings::text, t.created_at, t.updated_at"""
_USER_SELECT = """u.id::text, u.tenant_id::text, u.user_name::text, u.external_id::text,
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
             WHERE m.user_id = u.id)::text"""
# The live token of the tenant: its id, not revoked, and its stored digest equal to the one
# presented. The digests are compared as digests of themselves, so how long the comparison
# takes says nothing about how much of the stored one matched (the user-store compares them
# with hmac.compare_digest for the same reason).
_LIVE_TOKEN = """JOIN scim_tokens k ON k.tenant_id = t.id AND k.id = p_token_id
             AND k.revoked_at IS NULL
             AND sha256(convert_to(k.secret_sha256, 'UTF8'))
                 = sha256(convert_to(p_secret_sha256, 'UTF8'))"""
_TENANT_REF = "(t.id = p_ref OR t.slug = p_ref)"

# plpgsql, not sql: its plans are cached per session (a SQL function with SET is planned on
# every call), and asyncpg prepares the call itself.
_FUNCTIONS = {
    "roster_token_tenant(p_ref text, p_token_id text, p_secret_sha256 text)": (
        _TENANT_OUT,
        f"""SELECT {_TENANT_SELECT}
      FROM tenants t
      {_LIVE_TOKEN}
     WHERE {_TENANT_REF}""",
    ),
    "roster_token_user(p_ref text, p_token_id text, p_secret_sha256 text, p_user_id text)": (
        f"{_TENANT_OUT},\n    {_USER_OUT}",
        f"""SELECT {_TENANT_SELECT},
           {_USER_SELECT}
      FROM tenants t
      {_LIVE_TOKEN}
      LEFT JOIN users u ON u.tenant_id = t.id AND u.id = p_user_id AND u.deleted_at IS NULL
     WHERE {_TENANT_REF}""",
    ),
    "roster_token_user_name(p_ref text, p_token_id text, p_secret_sha256 text, "
    "p_user_name_key text)": (
        f"{_TENANT_OUT},\n    {_USER_OUT}",
        f"""SELECT {_TENANT_SELECT},
           {_USER_SELECT}
      FROM tenants t
      {_LIVE_TOKEN}
      LEFT JOIN users u ON u.tenant_id = t.id AND u.user_name_key = p_user_name_key
                       AND u.deleted_at IS NULL
     WHERE {_TENANT_REF}""",
    ),
}


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # The schema the tables are in, pinned: a caller's search_path cannot put a table or an
    # operator of its own in front of ours (pg_temp last, as PostgreSQL's docs advise).
    schema = bind.exec_driver_sql("SELECT current_schema()").scalar_one()
    for signature, (out, query) in _FUNCTIONS.items():
        op.execute(
            f"""CREATE OR REPLACE FUNCTION {signature}
RETURNS TABLE ({out})
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = {_quoted(schema)}, pg_temp
AS $fn$
BEGIN
    RETURN QUERY
    {query};
END
$fn$"""
        )
        # Functions are executable by PUBLIC by default; only a role granted them may call.
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for signature in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
