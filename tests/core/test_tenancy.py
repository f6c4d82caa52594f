"""Tenant isolation in the data layer: TenantManager, tenant_scope() and system_scope()."""

from __future__ import annotations

import pytest

from core.context import current_app, system_scope, tenant_scope
from core.tenancy import TenantContextMissing
from rbac.models import Role
from tenants.models import App


@pytest.fixture
def two_apps(acme, globex):
    return App.objects.get(pk=acme.id), App.objects.get(pk=globex.id)


def test_query_without_app_in_context_raises(two_apps):
    assert current_app() is None

    with pytest.raises(TenantContextMissing):
        list(Role.objects.all())


def test_count_without_app_in_context_raises(two_apps):
    with pytest.raises(TenantContextMissing):
        Role.objects.count()


def test_create_without_app_in_context_raises(two_apps):
    with pytest.raises(TenantContextMissing):
        Role.objects.create(name="orphan", permissions=[])


def test_tenant_scope_sees_only_that_apps_rows(two_apps):
    acme, globex = two_apps

    with tenant_scope(acme):
        acme_roles = list(Role.objects.all())
        assert Role.objects.count() == 3
    with tenant_scope(globex):
        globex_roles = list(Role.objects.all())
        assert Role.objects.count() == 3

    assert {role.app_id for role in acme_roles} == {acme.pk}
    assert {role.app_id for role in globex_roles} == {globex.pk}
    assert sorted(role.name for role in acme_roles) == ["admin", "editor", "viewer"]


def test_tenant_scope_does_not_find_another_apps_row_by_id(two_apps):
    acme, globex = two_apps
    with tenant_scope(globex):
        globex_admin_id = Role.objects.get(name="admin").pk

    with tenant_scope(acme):
        assert not Role.objects.filter(pk=globex_admin_id).exists()
        with pytest.raises(Role.DoesNotExist):
            Role.objects.get(pk=globex_admin_id)


def test_create_inside_tenant_scope_takes_that_app(two_apps):
    acme, globex = two_apps

    with tenant_scope(acme):
        role = Role.objects.create(name="auditor", permissions=[])

    assert role.app_id == acme.pk
    with tenant_scope(globex):
        assert not Role.objects.filter(name="auditor").exists()


def test_system_scope_sees_every_apps_rows(two_apps):
    acme, globex = two_apps

    with system_scope(reason="test: inspects rows across Apps"):
        app_ids = set(Role.objects.values_list("app_id", flat=True))
        total = Role.objects.count()

    assert {acme.pk, globex.pk} <= app_ids
    assert total == 3 * App.objects.count()


def test_context_is_restored_after_scopes(two_apps):
    acme, globex = two_apps

    with tenant_scope(acme):
        with tenant_scope(globex):
            assert Role.objects.filter(app_id=acme.pk).count() == 0
        assert Role.objects.count() == 3
        assert current_app() is acme

    assert current_app() is None
    with system_scope(reason="test: inspects rows across Apps"):
        pass
    with pytest.raises(TenantContextMissing):
        Role.objects.count()


def test_scope_is_restored_after_an_exception(two_apps):
    acme, _ = two_apps

    with pytest.raises(ValueError), tenant_scope(acme):
        raise ValueError("boom")

    with pytest.raises(TenantContextMissing):
        Role.objects.count()


def test_http_request_leaves_no_tenant_in_context(api, acme):
    assert api.get("/v1/app", token=acme.token).status_code == 200

    assert current_app() is None
    with pytest.raises(TenantContextMissing):
        Role.objects.count()
