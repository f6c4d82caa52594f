"""Tenant isolation in PostgreSQL itself: row-level security behind the tenant manager.

Every tenant-owned table (each model whose default manager is `core.tenancy.TenantManager`) gets
one policy, `heimdall_tenant`, with ROW LEVEL SECURITY enabled and FORCEd, so the table owner is
bound too. A row is visible, and may be written, only when

    current_setting('heimdall.system', true) = 'on'                  -- core.context.system_scope()
    OR app_id = current_setting('heimdall.app_id', true)              -- core.context.tenant_scope()

With neither setting the policy matches nothing: a query outside any scope sees no tenant rows
(fail closed), whatever the code above the database does.

The settings follow the code's context (core.context), not the other way round. The database
backend (core.pgbackend) runs `sync_settings` around every statement: it compares the context
(App id, system flag) with what the session was last given, and only when they differ sends one
`SELECT set_config(...)` first. So a statement always runs with its own context's settings, in an
atomic block or in autocommit, and a connection reused by the next request (CONN_MAX_AGE) cannot
carry the previous request's App into it: the first statement of the next context corrects it.
The settings are session-level (`set_config(..., false)`), so a run of statements in one context
costs one extra round trip, not one per statement or per transaction. A rollback (of a
transaction or to a savepoint) may undo a `set_config`, so it forgets what the session holds
and the next statement sets it again.

`apply_policies` (run after every `migrate`, see core.apps) is idempotent and iterates the
models, so a new tenant-owned table cannot be forgotten. `grant_runtime_role` gives the server's
role (which owns nothing) the privileges it needs, and no more: no TRUNCATE (which RLS does not
filter), no DDL.

SQLite has no row-level security: the tenant manager is its only protection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from core.pgbackend.base import APP_SETTING, SYSTEM_SETTING
from core.tenancy import TenantManager

POLICY = "heimdall_tenant"

# --------------------------------------------------------------------------------------------------
# Policies and grants (run as the tables' owner)


def tenant_tables() -> list[str]:
    """Every tenant-owned table: the models whose default manager is the tenant manager."""
    tables = []
    for model in apps.get_models():
        if (
            model._meta.managed
            and not model._meta.proxy
            and isinstance(model._default_manager, TenantManager)
        ):
            tables.append(model._meta.db_table)
    return sorted(tables)


# Bumped when the policy's text changes, so `apply_policies` recreates it everywhere.
POLICY_VERSION = "heimdall-rls 1"


def policy_statements(table: str, quote: Any) -> list[str]:
    t = quote(table)
    condition = (
        f"current_setting('{SYSTEM_SETTING}', true) = 'on' OR app_id = current_setting('{APP_SETTING}', true)"
    )
    return [
        f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY} ON {t}",
        f"CREATE POLICY {POLICY} ON {t} USING ({condition}) WITH CHECK ({condition})",
        f"COMMENT ON POLICY {POLICY} ON {t} IS '{POLICY_VERSION}'",
    ]


def apply_policies(connection: BaseDatabaseWrapper) -> list[str]:
    """Enable, force and (re)create the policy on every tenant-owned table that lacks any of the
    three (or has an older policy). Idempotent: with nothing to do it sends no DDL, so it also runs
    harmlessly as a role that owns nothing. PostgreSQL only; returns the tables it changed."""
    if connection.vendor != "postgresql":
        return []
    tables = tenant_tables()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c "
            "LEFT JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = %s "
            "WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace "
            "AND c.relname = ANY(%s) AND c.relrowsecurity AND c.relforcerowsecurity "
            "AND obj_description(p.oid, 'pg_policy') = %s",
            [POLICY, tables, POLICY_VERSION],
        )
        done = {row[0] for row in cursor.fetchall()}
        existing = set(connection.introspection.table_names(cursor))
        todo = [table for table in tables if table in existing and table not in done]
        for table in todo:
            for statement in policy_statements(table, connection.ops.quote_name):
                cursor.execute(statement)
    return todo


def grant_runtime_role(connection: BaseDatabaseWrapper, role: str) -> None:
    """Let `role` (the server's, owning nothing) read and write rows of every table in the
    current schema, now and for tables the connected (owner) role creates later."""
    q = connection.ops.quote_name(role)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = connection.ops.quote_name(cursor.fetchone()[0])
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {q}")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {q}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {q}")
        cursor.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {q}"
        )
        cursor.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {q}")


def after_migrate(using: str = "default", **kwargs: Any) -> None:
    """post_migrate: policies on every tenant-owned table; grants for the server's role when
    `migrate` connected as the owner (as_owner)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    apply_policies(connection)
    role = _server_role.get(using)
    if role:
        grant_runtime_role(connection, role)


# alias -> the server's role, while `as_owner` has the connection connected as the owner.
_server_role: dict[str, str | None] = {}


@contextmanager
def as_owner(using: str = "default") -> Iterator[None]:
    """Connect `using` with DATABASE_MIGRATE_URL's credentials for the block (the same database:
    only the role, password, host and port change), then reconnect as the server's role."""
    migrate = getattr(settings, "DATABASE_MIGRATE", None)
    connection = connections[using]
    if not migrate or using != "default" or connection.in_atomic_block:
        yield
        return
    keys = ("USER", "PASSWORD", "HOST", "PORT")
    saved = {key: connection.settings_dict.get(key) for key in keys}
    connection.close()
    connection.settings_dict.update({key: migrate.get(key) for key in keys})
    # The role to grant to after migrating (after_migrate); none when both URLs name one role.
    _server_role[using] = saved["USER"] if saved["USER"] != migrate.get("USER") else None
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)
        _server_role.pop(using, None)


def status(connection: BaseDatabaseWrapper) -> dict[str, Any]:
    """What protects the tenant tables on this connection (for `manage.py rls_check` and tests)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        user, superuser, bypass = cursor.fetchone()
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner), "
            "EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = %s) "
            "FROM pg_class c WHERE c.relkind = 'r' AND c.relname = ANY(%s) "
            "AND c.relnamespace = current_schema()::regnamespace",
            [POLICY, tenant_tables()],
        )
        tables = {
            name: {"rowSecurity": rls, "forced": forced, "owner": owner, "policy": policy}
            for name, rls, forced, owner, policy in cursor.fetchall()
        }
    return {"role": user, "superuser": superuser, "bypassRls": bypass, "tables": tables}
