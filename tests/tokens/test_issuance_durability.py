"""Every token a client sees has a durable audit event, and the lean issuance path keeps that.

The client-credentials and token-exchange grants write their `token.issued` event as one
autocommitted INSERT (`audit.services.audit_record_durable`) instead of BEGIN/INSERT/COMMIT.
These tests run without the per-test transaction (`transaction=True`), as production does, so
"committed" means committed:

- when the token response arrives, another database connection already sees the event (it was
  committed, and so flushed with `synchronous_commit=on`, before the response was written);
- when the audit write fails (the database refuses it, or the connection dies mid-request), the
  client gets an error and never the signed token, and no event half-exists;
- revocation of a token issued this way still works.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.db import DatabaseError, connection
from django.test import Client as DjangoClient

from audit import services as audit_services
from tests.tokens.support import authorize, claims_of, declare, new_client, token_response

pytestmark = pytest.mark.django_db(transaction=True)


def _other_connection() -> psycopg.Connection:
    """A connection of its own to the test database: it sees only committed rows (of every App:
    it sets the system switch the row-level-security policies recognise, as an auditor would)."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)
    other = psycopg.connect(**params, autocommit=True)
    other.execute("SELECT set_config('heimdall.system', 'on', false)")
    return other


def _events_of(jti: str) -> list[tuple[Any, ...]]:
    with _other_connection() as other:
        return other.execute(
            "SELECT action, actor_id, target_type, seq FROM audit_auditevent WHERE target_id = %s", [jti]
        ).fetchall()


@pytest.fixture
def reader(api, acme):
    return new_client(api, acme, name="reader")


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("reads the committed rows over a second PostgreSQL connection")


def test_the_event_is_committed_before_the_token_is_answered(api, reader):
    response = token_response(api, reader["clientId"], reader["clientSecret"])
    assert response.status_code == 200, response.content
    jti = claims_of(response.json()["access_token"])["jti"]
    # Read at once by another connection: the row was committed before the response existed.
    assert _events_of(jti) == [("token.issued", reader["clientId"], "token", None)]


def test_every_token_of_a_burst_has_its_own_committed_event(api, reader):
    jtis = []
    for _ in range(20):
        response = token_response(api, reader["clientId"], reader["clientSecret"])
        assert response.status_code == 200
        jtis.append(claims_of(response.json()["access_token"])["jti"])
    assert len(set(jtis)) == 20
    with _other_connection() as other:
        rows = other.execute(
            "SELECT target_id FROM audit_auditevent WHERE action = 'token.issued' AND target_id = ANY(%s)",
            [jtis],
        ).fetchall()
    assert sorted(row[0] for row in rows) == sorted(jtis)


def _failing_insert(monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    real = audit_services._insert_sql

    def broken() -> str:
        if failure == "refused":  # the database refuses the statement
            return real().replace("audit_auditevent", "audit_auditevent_missing", 1)
        # The connection dies under the request, as in a database crash or failover.
        with _other_connection() as other:
            other.execute(
                "SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid]
            )
        return real()

    monkeypatch.setattr(audit_services, "_insert_sql", broken)


@pytest.mark.parametrize("failure", ["refused", "connection_lost"])
def test_no_token_is_shown_when_its_event_cannot_be_written(api, reader, monkeypatch, failure):
    with _other_connection() as other:
        before = other.execute("SELECT count(*) FROM audit_auditevent WHERE action = 'token.issued'").fetchone()
    _failing_insert(monkeypatch, failure)
    client = DjangoClient(raise_request_exception=False)
    response = client.post(
        "/v1/oauth/token",
        {"clientId": reader["clientId"], "clientSecret": reader["clientSecret"]},
        content_type="application/json",
    )
    # A lost database is the client's to retry (503, RFC 6749's temporarily_unavailable); a
    # statement the database refuses is a bug of ours (logged 500). Neither shows a token.
    expected = (503, "temporarily_unavailable") if failure == "connection_lost" else (500, "internal_error")
    assert (response.status_code, response.json()["code"]) == expected, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    if failure == "connection_lost":
        assert response["Retry-After"] == "1"
    assert b"access_token" not in response.content and b"eyJ" not in response.content
    with _other_connection() as other:
        after = other.execute("SELECT count(*) FROM audit_auditevent WHERE action = 'token.issued'").fetchone()
    assert after == before
    monkeypatch.undo()
    connection.close()  # the terminated connection is replaced on the next request
    # The endpoint recovers at once: the next request gets a token and its event.
    response = token_response(api, reader["clientId"], reader["clientSecret"])
    assert response.status_code == 200
    assert _events_of(claims_of(response.json()["access_token"])["jti"])


def test_the_audit_write_failure_never_leaks_through_a_caught_error(monkeypatch):
    """The durable write raises (it is not swallowed): the grant cannot go on to answer."""
    _failing_insert(monkeypatch, "refused")
    from audit.actions import Action
    from core.context import Actor

    with pytest.raises(DatabaseError):
        audit_services.audit_record_durable(
            app_id="app_x", action=Action.TOKEN_ISSUED, actor=Actor("client", "m2m_x"), target_id="tok_x"
        )


def test_a_token_issued_on_the_lean_path_is_revocable(api, acme):
    declare(api, acme, "docs.read")
    client = new_client(api, acme, name="direct", permissions=["docs.read"])
    token = token_response(api, client["clientId"], client["clientSecret"]).json()["access_token"]
    assert authorize(api, token, "docs.read")["reason"] == "granted"
    response = api.post("/v1/oauth/revoke", {"token": token}, token=acme.token)
    assert response.status_code == 200
    assert authorize(api, token, "docs.read")["reason"] == "token_revoked"
    assert sorted(row[0] for row in _events_of(claims_of(token)["jti"])) == ["token.issued", "token.revoked"]
