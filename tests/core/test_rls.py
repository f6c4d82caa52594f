"""Tenant isolation in PostgreSQL itself (core.rls): row-level security behind the tenant manager.

Every test here runs its queries as a role that owns nothing and cannot bypass row-level security:
the connection's own role when it already is one (CI's RLS step connects as such a role), else a
throwaway role made in the test's transaction and assumed with SET LOCAL ROLE (a superuser, as in
the ordinary suite, bypasses every policy). The tenant manager is then bypassed on purpose, with
raw SQL and with the unfiltered base manager, and the database alone must keep Apps apart.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from core import rls
from core.context import current_app, system_scope, system_scope_reason, tenant_scope
from core.pgbackend import base as pgbackend
from core.tenancy import TenantModel
from rbac.models import Role
from tenants.models import App

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row-level security is PostgreSQL's; SQLite keeps the tenant manager's protection only",
)


def _rows(sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@pytest.fixture
def two_apps(acme: Any, globex: Any) -> tuple[App, App]:
    return App.objects.get(pk=acme.id), App.objects.get(pk=globex.id)


@pytest.fixture
def app_role(db: Any, two_apps: Any) -> str:
    """Run the rest of the test as a role bound by row-level security; returns its name."""
    if connection.vendor != "postgresql":
        pytest.skip("row-level security is PostgreSQL's; SQLite keeps the tenant manager's protection only")
    state = rls.status(connection)
    owns = any(table["owner"] == state["role"] for table in state["tables"].values())
    if not (state["superuser"] or state["bypassRls"] or owns):
        return str(state["role"])  # already the server's role (CI's RLS step)
    role = f"heimdall_rls_test_{os.getpid()}"
    with connection.cursor() as cursor:
        # Made, granted and assumed inside the test's transaction: all undone at its rollback.
        cursor.execute(f"CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS")
        rls.grant_runtime_role(connection, role)
        cursor.execute(f"GRANT {role} TO CURRENT_USER")
        cursor.execute(f"SET LOCAL ROLE {role}")
    state = rls.status(connection)
    assert state["role"] == role and not state["superuser"] and not state["bypassRls"]
    return role


# --------------------------------------------------------------------------------------------------
# Coverage: every tenant-owned table


def test_tenant_tables_are_exactly_the_tenant_models() -> None:
    by_class = sorted(
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, TenantModel) and model._meta.managed and not model._meta.proxy
    )
    assert rls.tenant_tables() == by_class
    assert {"accounts_membership", "rbac_role", "tokens_client", "audit_auditevent"} <= set(by_class)


@postgres_only
def test_every_tenant_table_has_forced_row_level_security_and_the_policy(db: Any) -> None:
    state = rls.status(connection)
    assert sorted(state["tables"]) == rls.tenant_tables()
    for table, flags in state["tables"].items():
        assert flags["rowSecurity"] and flags["forced"] and flags["policy"], table


@postgres_only
def test_applying_the_policies_again_changes_nothing(db: Any) -> None:
    assert rls.apply_policies(connection) == []


@postgres_only
def test_a_table_missing_its_policy_gets_it_back_on_the_next_migrate(db: Any) -> None:
    state = rls.status(connection)
    if not state["superuser"] and state["tables"]["rbac_role"]["owner"] != state["role"]:
        pytest.skip("dropping a policy needs the tables' owner; this run connects as the server's role")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP POLICY {rls.POLICY} ON rbac_role")
        cursor.execute("ALTER TABLE rbac_role NO FORCE ROW LEVEL SECURITY")
    assert not rls.status(connection)["tables"]["rbac_role"]["policy"]

    assert rls.apply_policies(connection) == ["rbac_role"]
    flags = rls.status(connection)["tables"]["rbac_role"]
    assert flags["policy"] and flags["forced"]


# --------------------------------------------------------------------------------------------------
# The manager bypassed: the database still keeps Apps apart


@postgres_only
def test_raw_sql_sees_only_the_context_apps_rows(two_apps: Any, app_role: str) -> None:
    acme, globex = two_apps
    with tenant_scope(acme):
        assert _rows("SELECT DISTINCT app_id FROM rbac_role") == [(acme.pk,)]
        assert _rows("SELECT count(*) FROM rbac_role WHERE app_id = %s", [globex.pk]) == [(0,)]
        assert _rows("SELECT count(*) FROM accounts_membership WHERE app_id = %s", [globex.pk]) == [(0,)]
    with tenant_scope(globex):
        assert _rows("SELECT DISTINCT app_id FROM rbac_role") == [(globex.pk,)]


@postgres_only
def test_the_unfiltered_manager_sees_only_the_context_apps_rows(two_apps: Any, app_role: str) -> None:
    acme, globex = two_apps
    unfiltered = Role._base_manager  # a plain Manager: no tenant filter at all
    with tenant_scope(acme):
        assert set(unfiltered.values_list("app_id", flat=True)) == {acme.pk}
        assert not unfiltered.filter(app_id=globex.pk).exists()
        assert unfiltered.filter(app_id=globex.pk).update(name="stolen") == 0
        assert unfiltered.filter(app_id=globex.pk).delete()[0] == 0
    with tenant_scope(globex):
        assert not Role.objects.filter(name="stolen").exists()
        assert Role.objects.count() == 3


@postgres_only
def test_a_row_cannot_be_written_into_another_app(two_apps: Any, app_role: str) -> None:
    acme, globex = two_apps
    with tenant_scope(acme), pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
        Role._base_manager.create(app_id=globex.pk, name="planted", permissions=[])
    with tenant_scope(acme), pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
        Role._base_manager.filter(app_id=acme.pk).update(app_id=globex.pk)
    with tenant_scope(globex):
        assert not Role.objects.filter(name="planted").exists()


@postgres_only
def test_without_context_tenant_tables_return_nothing(two_apps: Any, app_role: str) -> None:
    assert current_app() is None
    for table in rls.tenant_tables():
        assert _rows(f'SELECT count(*) FROM "{table}"') == [(0,)], table
    assert Role._base_manager.count() == 0
    # Not the tables that are not tenant-owned: the Apps themselves, for one.
    assert App.objects.count() >= 3


@postgres_only
def test_system_scope_sees_every_apps_rows(two_apps: Any, app_role: str) -> None:
    acme, globex = two_apps
    with system_scope(reason="test: the policies recognise the system switch"):
        app_ids = {row[0] for row in _rows("SELECT DISTINCT app_id FROM rbac_role")}
        assert {acme.pk, globex.pk} <= app_ids
        assert Role._base_manager.count() == 3 * App.objects.count()


@postgres_only
def test_the_api_works_as_a_role_that_owns_nothing(api: Any, operator: Any, app_role: str) -> None:
    created = api.post("/v1/apps", {"slug": "initech", "displayName": "Initech"}, token=operator.token)
    assert created.status_code == 201, created.content
    admin = created.json()["adminClient"]
    token = api.client_token(admin["clientId"], admin["clientSecret"])
    roles = api.get("/v1/roles", token=token)
    assert roles.status_code == 200
    names = sorted(role["name"] for role in roles.json()["data"])
    assert names == ["admin", "editor", "viewer"]


# --------------------------------------------------------------------------------------------------
# The session's settings always equal the context


def _session_settings() -> tuple[str, str]:
    (row,) = _rows(
        "SELECT coalesce(current_setting(%s, true), ''), coalesce(current_setting(%s, true), '')",
        [pgbackend.APP_SETTING, pgbackend.SYSTEM_SETTING],
    )
    return row[0], row[1]


@postgres_only
def test_each_statement_runs_with_its_own_contexts_settings(two_apps: Any) -> None:
    acme, globex = two_apps
    with tenant_scope(acme):
        assert _session_settings() == (acme.pk, "")
        with system_scope(reason="test: nested scopes"):
            assert _session_settings() == (acme.pk, "on")
        with tenant_scope(globex):
            assert _session_settings() == (globex.pk, "")
        assert _session_settings() == (acme.pk, "")
    assert _session_settings() == ("", "")


@postgres_only
def test_a_reused_connection_does_not_carry_the_last_requests_app(
    api: Any, acme: Any, two_apps: Any, app_role: str
) -> None:
    # The request runs in acme's context on this thread's connection, which stays open after it.
    assert api.get("/v1/roles", token=acme.token).status_code == 200
    assert current_app() is None
    assert _session_settings() == ("", "")
    assert _rows("SELECT count(*) FROM rbac_role") == [(0,)]


def _remembered_matches_session() -> bool:
    """What the backend remembers is unknown (None) or exactly what the session holds (read on the
    raw connection, around the backend's wrapper)."""
    remembered = connection.rls_settings  # type: ignore[attr-defined]
    with connection.connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(current_setting(%s, true), ''), coalesce(current_setting(%s, true), '')",
            [pgbackend.APP_SETTING, pgbackend.SYSTEM_SETTING],
        )
        actual = tuple(cursor.fetchone())
    return remembered is None or remembered == actual


@postgres_only
@pytest.mark.parametrize("scope_outside_the_savepoint", [True, False])
def test_a_rolled_back_savepoint_cannot_leave_wider_settings_behind(
    two_apps: Any, app_role: str, scope_outside_the_savepoint: bool
) -> None:
    acme, _ = two_apps
    with system_scope(reason="test: the session holds the system switch"):
        assert len(_rows("SELECT DISTINCT app_id FROM rbac_role")) >= 2
    with tenant_scope(acme) if scope_outside_the_savepoint else system_scope(reason="test: outside"):
        with pytest.raises(RuntimeError), transaction.atomic():
            with tenant_scope(acme):
                _rows("SELECT 1 FROM rbac_role LIMIT 1")  # acme's settings, sent inside the savepoint
            raise RuntimeError("roll the savepoint back, and the set_config with it")
        assert _remembered_matches_session()
    with tenant_scope(acme):
        assert _rows("SELECT DISTINCT app_id FROM rbac_role") == [(acme.pk,)]
    assert _remembered_matches_session()


@postgres_only
def test_a_rolled_back_transaction_forgets_the_settings(two_apps: Any) -> None:
    acme, _ = two_apps
    with pytest.raises(RuntimeError), transaction.atomic(), tenant_scope(acme):
        assert _session_settings() == (acme.pk, "")
        raise RuntimeError("roll back, and the set_config with it")
    assert _remembered_matches_session()
    with tenant_scope(acme):
        assert _session_settings() == (acme.pk, "")


@postgres_only
def test_a_warm_authorize_sends_no_extra_round_trip(api: Any, acme: Any, two_apps: Any) -> None:
    payload = {"token": acme.token, "permission": "heimdall:users.read"}
    assert api.post("/v1/authorize", payload).status_code == 200
    before = pgbackend.stats["set_config"]
    for _ in range(5):
        assert api.post("/v1/authorize", payload).status_code == 200
    assert pgbackend.stats["set_config"] == before


# --------------------------------------------------------------------------------------------------
# system_scope() is an explicit switch that says why (every backend)


def test_system_scope_needs_a_reason() -> None:
    for reason in ("", "   "):
        with pytest.raises(ValueError, match="reason"), system_scope(reason=reason):
            pass
    assert system_scope_reason() == ""
    with system_scope(reason="test: outer"):
        with system_scope(reason="test: inner"):
            assert system_scope_reason() == "test: inner"
        assert system_scope_reason() == "test: outer"
    assert system_scope_reason() == ""
