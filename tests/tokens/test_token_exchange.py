"""Token exchange (RFC 8693): an agent client trades a user's token for a narrower, shorter one."""

from __future__ import annotations

import jwt
import pytest
from jwt import PyJWKClient

from tests.accounts.support import PASSWORD, audit_events, create_user, introspect, revoke, signed_in
from tests.helpers import basic, problem
from tests.tokens.support import declare, new_client, new_role

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture
def setup(api, acme):
    """acme declares docs.read/docs.write/billing.read; alice holds docs.* and billing.read; the
    agent may receive docs.read and docs.write by delegation."""
    declare(api, acme, "docs.read", "docs.write", "billing.read")
    new_role(api, acme, "staff", ["docs.*", "billing.read"])
    user = create_user(api, acme, "alice@example.com", password=PASSWORD, roles=["staff"])
    session = signed_in(api, "alice@example.com", PASSWORD, acme.slug)
    agent = new_client(
        api, acme, name="agent", actsForUsers=True, delegablePermissions=["docs.read", "docs.write"]
    )
    return user, session, agent


def exchange(api, agent, subject_token, **extra):
    form = {"grant_type": EXCHANGE, "subject_token": subject_token, "subject_token_type": ACCESS, **extra}
    return api.post(
        "/v1/oauth/token", form=form, headers={"Authorization": basic(agent["clientId"], agent["clientSecret"])}
    )


def authorize(api, token, permission):
    response = api.post("/v1/authorize", {"token": token, "permission": permission})
    assert response.status_code == 200, response.content
    return response.json()


def test_intersection_of_user_agent_and_scope(api, acme, setup):
    user, session, agent = setup
    response = exchange(api, agent, session["access_token"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    assert body["scope"] == "docs.read docs.write"  # billing.read is the user's, not delegable
    narrow = exchange(api, agent, session["access_token"], scope="docs.read").json()
    assert narrow["scope"] == "docs.read"
    token = narrow["access_token"]
    answer = authorize(api, token, "docs.read")
    assert (answer["allowed"], answer["subject"], answer["actor"]) == (True, user["id"], agent["clientId"])
    assert authorize(api, token, "docs.write")["reason"] == "permission_not_granted"
    assert authorize(api, token, "billing.read")["reason"] == "permission_not_granted"
    seen = introspect(api, acme, token)
    assert seen["active"] is True and seen["act"] == {"sub": agent["clientId"]} and seen["sub"] == user["id"]


def test_asking_beyond_is_invalid_scope(api, setup):
    _, session, agent = setup
    problem(exchange(api, agent, session["access_token"], scope="billing.read"), 400, "invalid_scope")
    problem(exchange(api, agent, session["access_token"], scope="docs.read docs.delete"), 400, "invalid_scope")


def test_lifetime_is_capped_by_the_app_setting_and_the_request(api, acme, setup):
    _, session, agent = setup
    body = exchange(api, agent, session["access_token"]).json()
    assert 295 <= body["expires_in"] <= 300  # delegatedTokenTtlSeconds default
    assert exchange(api, agent, session["access_token"], expires_in="60").json()["expires_in"] == 60
    assert exchange(api, agent, session["access_token"], expires_in="99999").json()["expires_in"] <= 300
    api.patch("/v1/app", {"settings": {"delegatedTokenTtlSeconds": 30}}, token=acme.token)
    assert exchange(api, agent, session["access_token"]).json()["expires_in"] <= 30
    problem(exchange(api, agent, session["access_token"], expires_in="-5"), 400, "invalid_request")


def test_lifetime_never_passes_the_subject_token(api, acme, setup):
    _, _, agent = setup
    api.patch("/v1/app", {"settings": {"delegatedTokenTtlSeconds": 3600, "accessTokenTtlSeconds": 60}}, token=acme.token)
    short = signed_in(api, "alice@example.com", PASSWORD, acme.slug)
    body = exchange(api, agent, short["access_token"]).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    short_exp = jwt.decode(short["access_token"], options={"verify_signature": False})["exp"]
    assert claims["exp"] <= short_exp and body["expires_in"] <= 60


def test_claims_verify_offline_with_a_stock_jwt_library(api, acme, setup, monkeypatch):
    user, session, agent = setup
    token = exchange(api, agent, session["access_token"], scope="docs.read").json()["access_token"]
    jwks = api.get(f"/v1/apps/{acme.slug}/jwks.json").json()
    # PyJWT's stock JWKS client, with its HTTP fetch served from our JWKS endpoint's answer.
    monkeypatch.setattr(PyJWKClient, "fetch_data", lambda self: jwks)
    signing_key = PyJWKClient(f"http://testserver/v1/apps/{acme.slug}/jwks.json").get_signing_key_from_jwt(token)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(
        token, signing_key.key, algorithms=["RS256"], audience=f"http://testserver/v1/apps/{acme.slug}"
    )
    assert claims["sub"] == user["id"] and claims["client_id"] == agent["clientId"]
    assert claims["act"] == {"sub": agent["clientId"]}
    assert claims["scope"] == "docs.read" and header["typ"] == "at+jwt"


def test_dies_at_once_with_the_user_suspension_session_and_agent(api, acme, setup):
    user, session, agent = setup
    token = exchange(api, agent, session["access_token"]).json()["access_token"]
    assert authorize(api, token, "docs.read")["allowed"] is True
    assert api.post(f"/v1/users/{user['id']}/suspend", token=acme.token).status_code == 200
    assert authorize(api, token, "docs.read")["reason"] == "subject_suspended"
    api.post(f"/v1/users/{user['id']}/reactivate", token=acme.token)
    assert authorize(api, token, "docs.read")["reason"] == "token_revoked"  # session ended

    session = signed_in(api, "alice@example.com", PASSWORD, acme.slug)
    token = exchange(api, agent, session["access_token"]).json()["access_token"]
    revoke(api, acme, session["refresh_token"])  # the user signs out
    assert authorize(api, token, "docs.read")["reason"] == "token_revoked"

    session = signed_in(api, "alice@example.com", PASSWORD, acme.slug)
    token = exchange(api, agent, session["access_token"]).json()["access_token"]
    assert api.delete(f"/v1/clients/{agent['clientId']}", token=acme.token).status_code == 204
    assert authorize(api, token, "docs.read")["reason"] == "token_revoked"


@pytest.mark.parametrize(
    "change",
    [
        ("post", "secrets", {"gracePeriodSeconds": 3600}),
        ("patch", "", {"delegablePermissions": ["docs.read"]}),
        ("patch", "", {"actsForUsers": False}),
    ],
    ids=["secret-rotated-with-grace", "delegable-changed", "acts-for-users-off"],
)
def test_dies_when_the_agents_secret_or_delegation_rights_change(api, acme, setup, change):
    _, session, agent = setup
    token = exchange(api, agent, session["access_token"], scope="docs.read").json()["access_token"]
    method, suffix, body = change
    path = f"/v1/clients/{agent['clientId']}" + (f"/{suffix}" if suffix else "")
    response = getattr(api, method)(path, body, token=acme.token)
    assert response.status_code == 200, response.content
    assert authorize(api, token, "docs.read")["reason"] == "token_revoked"


def test_a_non_delegating_client_is_unauthorized_client(api, acme, setup):
    _, session, _ = setup
    plain = new_client(api, acme, permissions=["docs.read"])
    problem(exchange(api, plain, session["access_token"]), 400, "unauthorized_client")


def test_bad_subject_tokens_are_invalid_request(api, acme, globex, setup):
    _, session, agent = setup
    problem(exchange(api, agent, "not-a-token"), 400, "invalid_request")
    problem(exchange(api, agent, acme.token), 400, "invalid_request")  # a client's token
    create_user(api, globex, "g@example.com", password=PASSWORD)
    foreign = signed_in(api, "g@example.com", PASSWORD, globex.slug)
    problem(exchange(api, agent, foreign["access_token"]), 400, "invalid_request")
    revoked = signed_in(api, "alice@example.com", PASSWORD, acme.slug)
    revoke(api, acme, revoked["access_token"])
    problem(exchange(api, agent, revoked["access_token"]), 400, "invalid_request")
    problem(
        exchange(api, agent, session["access_token"], subject_token_type="urn:x"), 400, "invalid_request"
    )
    problem(
        api.post("/v1/oauth/token", form={"grant_type": EXCHANGE, "subject_token": session["access_token"],
                                          "subject_token_type": ACCESS}),
        401,
        "invalid_client",
    )


def test_a_delegated_token_cannot_be_exchanged_again(api, acme, setup):
    _, session, agent = setup
    token = exchange(api, agent, session["access_token"], scope="docs.read").json()["access_token"]
    other = new_client(api, acme, actsForUsers=True, delegablePermissions=["docs.read", "docs.write"])
    problem(exchange(api, other, token), 400, "invalid_request")
    problem(exchange(api, agent, token, scope="docs.write"), 400, "invalid_request")


def test_json_names_and_audit_names_user_and_actor(api, acme, setup):
    user, session, agent = setup
    response = api.post(
        "/v1/oauth/token",
        {
            "grantType": EXCHANGE,
            "clientId": agent["clientId"],
            "clientSecret": agent["clientSecret"],
            "subjectToken": session["access_token"],
            "subjectTokenType": ACCESS,
            "scope": "docs.read",
            "expiresIn": 120,
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["expires_in"] == 120
    events = [e for e in audit_events(api, acme) if e["action"] == "token.issued" and e["changes"]["grantType"] == EXCHANGE]
    (event,) = events
    assert event["actor"] == {"type": "client", "id": agent["clientId"]}
    assert (event["changes"]["subject"], event["changes"]["actor"]) == (user["id"], agent["clientId"])
    assert session["access_token"] not in str(event)


def test_discovery_advertises_token_exchange(api, acme):
    body = api.get(f"/v1/apps/{acme.slug}/.well-known/openid-configuration").json()
    assert EXCHANGE in body["grant_types_supported"]
