"""`manage.py bootstrap [--create-client NAME] [--json]`."""

from __future__ import annotations

import json

from django.core.management import call_command

from core.context import system_scope
from tenants.models import App
from tests.helpers import Api
from tokens.models import Client


def test_bootstrap_creates_the_operator_app(db):
    call_command("bootstrap")

    app = App.objects.get(slug="heimdall")
    assert app.is_operator
    assert app.status == "active"


def test_bootstrap_is_idempotent(db):
    call_command("bootstrap")
    first = App.objects.get(slug="heimdall")

    call_command("bootstrap")

    assert App.objects.filter(slug="heimdall").count() == 1
    assert App.objects.filter(is_operator=True).count() == 1
    assert App.objects.get(slug="heimdall").pk == first.pk


def test_bootstrap_without_create_client_creates_no_client(db):
    call_command("bootstrap")
    call_command("bootstrap")

    with system_scope(reason="test: inspects rows across Apps"):
        assert Client.objects.count() == 0


def test_bootstrap_json_prints_exactly_one_client_object(db, capsys):
    capsys.readouterr()

    call_command("bootstrap", create_client="ops", json=True)

    out = capsys.readouterr().out
    assert out.strip().count("\n") == 0, out
    creds = json.loads(out)
    assert set(creds) == {"clientId", "clientSecret"}
    assert creds["clientId"].startswith("m2m_")
    assert creds["clientSecret"]


def test_bootstrap_json_client_gets_a_token_that_lists_apps(db, capsys):
    call_command("bootstrap", create_client="ops", json=True)
    creds = json.loads(capsys.readouterr().out)
    api = Api()

    response = api.post(
        "/v1/oauth/token", {"clientId": creds["clientId"], "clientSecret": creds["clientSecret"]}
    )

    assert response.status_code == 200, response.content
    listing = api.get("/v1/apps", token=response.json()["access_token"])
    assert listing.status_code == 200
    assert [app["slug"] for app in listing.json()["data"]] == ["heimdall"]


def test_bootstrap_twice_with_clients_keeps_one_operator_app(db, capsys):
    call_command("bootstrap", create_client="ops-1", json=True)
    first = json.loads(capsys.readouterr().out)
    call_command("bootstrap", create_client="ops-2", json=True)
    second = json.loads(capsys.readouterr().out)

    assert first["clientId"] != second["clientId"]
    assert App.objects.filter(slug="heimdall").count() == 1
    with system_scope(reason="test: inspects rows across Apps"):
        owners = set(
            Client.objects.filter(pk__in=[first["clientId"], second["clientId"]]).values_list(
                "app__slug", flat=True
            )
        )
    assert owners == {"heimdall"}
