"""The seams the layering introduced, each failing closed: role holders, audit actions, settings,
and the grant table that discovery advertises."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import override_settings

from audit.services import audit_record
from core.conf import heimdall_settings
from core.context import Actor
from rbac import holders
from tests.helpers import problem
from tests.tokens.support import new_role
from tokens.grants import GRANTS


def test_role_deletion_refused_when_a_holder_kind_cannot_be_asked(api, acme, monkeypatch):
    """If users' holder query were missing, deleting a role must not go ahead on half an answer."""
    new_role(api, acme, "ops", ["*"])
    monkeypatch.setattr(holders, "_queries", {k: v for k, v in holders._queries.items() if k != "user"})
    problem(api.delete("/v1/roles/ops", token=acme.token), 503, "role_check_unavailable")
    assert api.get("/v1/roles/ops", token=acme.token).status_code == 200
    monkeypatch.undo()
    assert api.delete("/v1/roles/ops", token=acme.token).status_code == 204


def test_role_held_only_by_a_user_is_in_use(api, acme):
    new_role(api, acme, "ops", ["*"])
    response = api.post("/v1/users", {"email": "ops@example.com", "roles": ["ops"]}, token=acme.token)
    assert response.status_code == 201, response.content
    body = problem(api.delete("/v1/roles/ops", token=acme.token), 409, "role_in_use")
    assert response.json()["id"] in body["detail"]


def test_audit_record_takes_only_declared_actions(api, acme):
    with transaction.atomic(), pytest.raises(TypeError):
        audit_record(app_id=acme.id, action="user.made_up", actor=Actor.system())  # type: ignore[arg-type]


def test_settings_refuse_undeclared_keys_and_wrong_types():
    with override_settings(HEIMDALL={"NOT_A_SETTING": 1}), pytest.raises(ImproperlyConfigured):
        _ = heimdall_settings.RESYNC_SECONDS
    with override_settings(HEIMDALL={"MAX_TOKEN_BYTES": "8192"}), pytest.raises(ImproperlyConfigured):
        _ = heimdall_settings.MAX_TOKEN_BYTES
    with override_settings(HEIMDALL={"MAX_TOKEN_BYTES": 100}):
        assert heimdall_settings.MAX_TOKEN_BYTES == 100
    assert heimdall_settings.MAX_TOKEN_BYTES == 8192


def test_discovery_advertises_exactly_the_grant_table(api, acme):
    body = api.get(f"/v1/apps/{acme.slug}/.well-known/openid-configuration").json()
    assert body["grant_types_supported"] == sorted(GRANTS)
