"""Social sign-in end to end, over HTTP: Heimdall -> the fake provider on 127.0.0.1 -> back to
Heimdall's callback -> the client's redirect URI with a one-time code -> the token endpoint."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from tests.accounts.support import audit_events, authorize, claims_of, create_user, refresh
from tests.helpers import problem
from tests.social.conftest import REDIRECT_URI, VERIFIER, app_settings, challenge_of, create_provider
from tests.tokens.support import new_role


def oauth_problem(response, status: int, code: str) -> dict:
    body = problem(response, status, code)
    assert body["error"] == code
    return body


# ---- happy paths ----------------------------------------------------------------------------------


def test_existing_member_is_linked_by_verified_email_and_signed_in(api, social):
    user = create_user(api, social.app, "alice@example.com", roles=["viewer"])

    result = social.run()
    assert result["state"] == "client-state-xyz"
    assert result["code"].startswith("hmd_ac_")
    response = social.redeem(result["code"])
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert tokens["refresh_token"].startswith("hmd_rt_")
    claims = claims_of(tokens["access_token"])
    assert claims["sub"] == user["id"] and claims["app"] == social.app.id and claims["sid"]
    assert authorize(api, tokens["access_token"], "heimdall:users.read")["allowed"] is False

    identities = api.get("/v1/me/identities", token=tokens["access_token"]).json()["data"]
    assert [(i["provider"], i["email"]) for i in identities] == [(social.provider_id, "alice@example.com")]
    assert identities[0]["id"].startswith("lnk_") and identities[0]["linkedAt"].endswith("Z")

    # Next time the provider subject alone finds the member, whatever email the provider reports.
    social.idp.claims = {"sub": "subject-1", "email": "renamed@example.com", "email_verified": False}
    again = social.sign_in()
    assert claims_of(again["access_token"])["sub"] == user["id"]
    assert refresh(api, again["refresh_token"]).status_code == 200

    actions = [e["action"] for e in audit_events(api, social.app)]
    assert "social.identity_linked" in actions and "social.login_succeeded" in actions
    assert "authorization_code.issued" in actions


def test_open_signup_creates_a_member_with_signup_roles(api, social):
    new_role(api, social.app, "member", ["*.read"])
    app_settings(api, social.app, socialSignup="open", signupRoles=["member"])
    social.idp.claims = {"sub": "new-sub", "email": "New.Person@Example.com", "email_verified": True, "name": "New"}

    tokens = social.sign_in()
    user_id = claims_of(tokens["access_token"])["sub"]
    user = api.get(f"/v1/users/{user_id}", token=social.app.token).json()
    assert (user["email"], user["roles"], user["displayName"]) == ("new.person@example.com", ["member"], "New")
    assert user["lastLoginAt"] is not None
    assert "social.signup" in [e["action"] for e in audit_events(api, social.app)]


def test_open_signup_still_needs_a_verified_email(api, social):
    app_settings(api, social.app, socialSignup="open")
    social.idp.claims = {"sub": "s2", "email": "unverified@example.com", "email_verified": False}
    assert social.run()["error"] == "access_denied"
    assert api.get("/v1/users?email=unverified@example.com", token=social.app.token).json()["data"] == []


def test_open_signup_with_an_unknown_signup_role_is_refused_not_half_done(api, social):
    app_settings(api, social.app, socialSignup="open", signupRoles=["ghost"])
    social.idp.claims = {"sub": "s3", "email": "ghost@example.com", "email_verified": True}
    assert social.run()["error"] == "access_denied"
    assert api.get("/v1/users?email=ghost@example.com", token=social.app.token).json()["data"] == []
    failed = audit_events(api, social.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "signup_unknown_role"


# ---- members_only and invites -------------------------------------------------------------------------


def test_members_only_refuses_a_stranger_with_access_denied(api, social):
    social.idp.claims = {"sub": "stranger", "email": "stranger@example.com", "email_verified": True}
    result = social.run()
    assert (result["error"], result["state"]) == ("access_denied", "client-state-xyz")
    assert "code" not in result
    failed = audit_events(api, social.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "not_a_member"
    assert api.get("/v1/users?email=stranger@example.com", token=social.app.token).json()["data"] == []


def _invite(api, app, **body):
    response = api.post("/v1/invites", {"role": "viewer", **body}, token=app.token)
    assert response.status_code == 201, response.content
    return response.json()


def test_members_only_admits_a_stranger_who_brings_an_invite(api, social):
    invite = _invite(api, social.app, email="stranger@example.com")
    social.idp.claims = {"sub": "stranger", "email": "stranger@example.com", "email_verified": True}

    tokens = social.sign_in(invite=invite["token"])
    user = api.get(f"/v1/users/{claims_of(tokens['access_token'])['sub']}", token=social.app.token).json()
    assert (user["email"], user["roles"]) == ("stranger@example.com", ["viewer"])
    assert api.get(f"/v1/invites/{invite['id']}", token=social.app.token).json()["uses"] == 1
    # used up: the next stranger with it is refused, and refused before the provider is visited
    social.idp.claims = {"sub": "other", "email": "other@example.com", "email_verified": True}
    refused = social.authorize(invite=invite["token"])
    assert refused.status_code == 302 and "error=access_denied" in refused["Location"]


def test_an_invite_bound_to_another_email_admits_nobody(api, social):
    invite = _invite(api, social.app, email="someone.else@example.com")
    social.idp.claims = {"sub": "stranger", "email": "stranger@example.com", "email_verified": True}
    assert social.run(invite=invite["token"])["error"] == "access_denied"
    assert api.get(f"/v1/invites/{invite['id']}", token=social.app.token).json()["uses"] == 0
    refused = audit_events(api, social.app, action="invite.accept_refused")
    assert refused[0]["changes"]["reason"] == "invite_email_mismatch"
    # the sign-in's own failure event names the same reason (it read `invite_invite_email_mismatch`)
    failed = audit_events(api, social.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "invite_email_mismatch"


def test_another_apps_invite_is_refused(api, social, globex):
    invite = _invite(api, globex)
    response = social.authorize(invite=invite["token"])
    assert response.status_code == 302 and "error=access_denied" in response["Location"]


# ---- refusals before the redirect URI is trusted: problem+json ---------------------------------------


def test_unregistered_redirect_uri_is_a_problem_not_a_redirect(api, social):
    response = social.authorize(redirect_uri="https://evil.example.com/callback")
    body = oauth_problem(response, 400, "invalid_request")
    assert body["errors"][0]["field"] == "redirect_uri"
    assert "Location" not in response
    assert oauth_problem(social.authorize(redirect_uri=REDIRECT_URI + "/"), 400, "invalid_request")
    events = audit_events(api, social.app, action="social.authorize_refused")
    assert events[0]["changes"]["reason"] == "redirect_uri_not_registered"


def test_unknown_app_is_a_problem(api, social):
    oauth_problem(social.authorize(app="no-such-app"), 400, "invalid_request")


@pytest.mark.parametrize(
    ("overrides", "error", "reason"),
    [
        ({"state": None}, "invalid_request", "state_invalid"),
        ({"state": "s" * 1001}, "invalid_request", "state_invalid"),
        ({"code_challenge": None}, "invalid_request", "pkce_challenge"),
        ({"code_challenge_method": None}, "invalid_request", "pkce_method"),
        ({"code_challenge_method": "plain"}, "invalid_request", "pkce_method"),
        ({"code_challenge": "short"}, "invalid_request", "pkce_challenge"),
        ({"provider": "idp_nope"}, "invalid_request", "unknown_provider"),
        ({"provider": None}, "invalid_request", "unknown_provider"),
        ({"invite": "hmd_inv_nope"}, "access_denied", "invite_not_found"),
    ],
)
def test_bad_authorize_requests_go_back_to_the_trusted_redirect_uri(api, social, overrides, error, reason):
    response = social.authorize(**overrides)
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT_URI + "?")
    assert f"error={error}" in response["Location"]
    events = audit_events(api, social.app, action="social.authorize_refused")
    assert events[0]["changes"]["reason"] == reason


def test_repeated_authorize_parameters_are_a_problem(api, social):
    response = api.get(f"/v1/oauth/authorize?app={social.app.slug}&app={social.app.slug}")
    oauth_problem(response, 400, "invalid_request")


def test_state_mismatch_at_the_callback_is_a_problem(api, social):
    create_user(api, social.app, "alice@example.com")
    back = social.through_provider(social.authorize())
    tampered = back.replace("state=", "state=x")
    oauth_problem(social.callback(tampered), 400, "invalid_request")
    oauth_problem(api.get("/v1/oauth/callback?code=abc"), 400, "invalid_request")
    # the genuine state works once, and only once
    assert "code" in landed_query(social.callback(back))
    oauth_problem(social.callback(back), 400, "invalid_request")
    failed = audit_events(api, social.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "state_reused"


def test_an_expired_state_is_a_problem_and_audited(api, social):
    from datetime import timedelta

    from django.utils import timezone

    from core.context import system_scope
    from social.models import AuthorizationFlow

    create_user(api, social.app, "alice@example.com")
    back = social.through_provider(social.authorize())
    with system_scope(reason="the test inspects or edits rows directly"):
        AuthorizationFlow.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    oauth_problem(social.callback(back), 400, "invalid_request")
    failed = audit_events(api, social.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "state_expired"


def test_a_code_the_provider_refuses_is_access_denied_and_audited(api, social):
    create_user(api, social.app, "alice@example.com")
    back = social.through_provider(social.authorize())
    result = landed_query(social.callback(back.replace("code=pcode-", "code=forged-")))
    assert (result["error"], result["state"]) == ("access_denied", "client-state-xyz")
    failed = audit_events(api, social.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "token_refused_http_400"


def landed_query(response):
    from tests.social.conftest import landed

    return landed(response)


def test_provider_error_travels_to_the_client(api, social):
    back = social.through_provider(social.authorize())
    state = back.split("state=")[1]
    result = landed_query(api.get(f"/v1/oauth/callback?error=access_denied&state={state}"))
    assert (result["error"], result["state"]) == ("access_denied", "client-state-xyz")
    failed = audit_events(api, social.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "provider_error:access_denied"


# ---- the ID token -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"aud": "someone-else"}, "id_token_audience"),
        ({"iss": "https://impostor.example.com"}, "id_token_issuer"),
        ({"nonce": "not-the-nonce"}, "id_token_nonce"),
        ({"exp": 1000}, "id_token_expired"),
        ("rogue", "id_token_signature"),
    ],
)
def test_an_unacceptable_id_token_is_access_denied(api, social, change, reason):
    create_user(api, social.app, "alice@example.com")
    if change == "rogue":
        social.idp.sign_with_rogue_key = True
    else:
        social.idp.claims.update(change)
    result = social.run()
    assert (result["error"], result["state"]) == ("access_denied", "client-state-xyz")
    failed = audit_events(api, social.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == reason
    assert api.get("/v1/users?email=alice@example.com", token=social.app.token).json()["data"][0]["lastLoginAt"] is None


def test_an_unverified_email_never_links_to_an_existing_member(api, social):
    create_user(api, social.app, "alice@example.com")
    for verified in (False, None, "true"):
        social.idp.claims = {"sub": "attacker", "email": "alice@example.com", "email_verified": verified}
        assert social.run()["error"] == "access_denied"
    failed = audit_events(api, social.app, action="social.login_failed")
    assert {e["changes"]["reason"] for e in failed} == {"email_unverified"}


def test_a_suspended_member_is_refused(api, social):
    user = create_user(api, social.app, "alice@example.com")
    assert api.post(f"/v1/users/{user['id']}/suspend", token=social.app.token).status_code == 200
    assert social.run()["error"] == "access_denied"


# ---- the provider down or slow ------------------------------------------------------------------------


def _heimdall(**values):
    return override_settings(HEIMDALL={**settings.HEIMDALL, **values})


def test_a_provider_that_is_down_is_temporarily_unavailable(api, social, idp):
    closed = create_provider(api, social.app, "http://127.0.0.1:9")  # nothing listens on the discard port
    response = social.authorize(provider=closed["id"])
    assert response.status_code == 302 and "error=temporarily_unavailable" in response["Location"]
    assert "state=client-state-xyz" in response["Location"]
    refused = audit_events(api, social.app, action="social.authorize_refused")
    assert refused[0]["changes"]["reason"] == "provider_unavailable:unreachable"


def test_a_provider_answering_5xx_is_temporarily_unavailable(api, social):
    create_user(api, social.app, "alice@example.com")
    social.idp.token_status = 503
    assert social.run()["error"] == "temporarily_unavailable"
    failed = audit_events(api, social.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "provider_unavailable:http_503"


def test_a_token_endpoint_that_is_down_at_the_callback_is_temporarily_unavailable(api, social, monkeypatch):
    create_user(api, social.app, "alice@example.com")
    document = {**social.idp.discovery(), "token_endpoint": "http://127.0.0.1:9/token"}  # nothing listens
    monkeypatch.setattr(social.idp, "discovery", lambda: document)
    result = social.run()
    assert (result["error"], result["state"]) == ("temporarily_unavailable", "client-state-xyz")
    failed = audit_events(api, social.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "provider_unavailable:unreachable"


def test_a_slow_provider_is_given_up_on_within_the_bound(api, social):
    create_user(api, social.app, "alice@example.com")
    back = social.through_provider(social.authorize())
    social.idp.delay = 3.0
    # Each call may take 5 s, but the step as a whole only 1 s: the step's bound governs.
    with _heimdall(IDP_HTTP_TIMEOUT_SECONDS=5.0, IDP_TOTAL_TIMEOUT_SECONDS=1.0):
        result = landed_query(social.callback(back))
    # The provider would have answered (successfully) after 3 s, within the per-call timeout: a
    # timeout means Heimdall gave up first, at the step's bound (no wall-clock assertion: the
    # outcome and its reason prove it).
    assert result["error"] == "temporarily_unavailable"
    failed = audit_events(api, social.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "provider_unavailable:timeout"


def test_the_total_bound_is_never_above_ten_seconds():
    from social import oidc

    with _heimdall(IDP_TOTAL_TIMEOUT_SECONDS=60.0):
        assert oidc.total_timeout() == 10.0


# ---- the token endpoint ---------------------------------------------------------------------------------


def test_code_verifier_missing_or_wrong(api, social):
    create_user(api, social.app, "alice@example.com")
    code = social.run()["code"]
    oauth_problem(social.redeem(code, verifier=None), 400, "invalid_request")
    failed = audit_events(api, social.app, action="authorization_code.redeem_failed")
    assert failed[0]["changes"]["reason"] == "code_verifier_missing"
    oauth_problem(social.redeem(code), 400, "invalid_grant")  # a refused redemption burns the code

    code = social.run()["code"]
    oauth_problem(social.redeem(code, verifier="w" * 50), 400, "invalid_grant")
    failed = audit_events(api, social.app, action="authorization_code.redeem_failed")
    assert failed[0]["changes"]["reason"] == "code_verifier_mismatch"
    oauth_problem(social.redeem(code), 400, "invalid_grant")
    for malformed in ("short", "w" * 129, "not allowed chars!" * 4):
        code = social.run()["code"]
        oauth_problem(social.redeem(code, verifier=malformed), 400, "invalid_grant")
    reasons = [e["changes"]["reason"] for e in audit_events(api, social.app, action="authorization_code.redeem_failed")]
    assert reasons[:3] == ["code_verifier_mismatch"] * 3
    assert len(audit_events(api, social.app, action="authorization_code.reuse_detected")) == 2


def test_redirect_uri_must_match_at_the_token_endpoint(api, social):
    create_user(api, social.app, "alice@example.com")
    code = social.run()["code"]
    oauth_problem(social.redeem(code, redirect_uri="https://client.example.com/other"), 400, "invalid_grant")


def test_form_encoded_redemption_works(api, social):
    create_user(api, social.app, "alice@example.com")
    code = social.run()["code"]
    response = api.post(
        "/v1/oauth/token",
        form={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": VERIFIER},
    )
    assert response.status_code == 200, response.content


def test_a_replayed_code_is_invalid_grant_and_kills_the_first_session(api, social):
    create_user(api, social.app, "alice@example.com", roles=["viewer"])
    code = social.run()["code"]
    first = social.redeem(code).json()
    assert authorize(api, first["access_token"], "docs.read")["reason"] != "token_revoked"

    oauth_problem(social.redeem(code), 400, "invalid_grant")

    assert authorize(api, first["access_token"], "docs.read")["reason"] == "token_revoked"
    oauth_problem(refresh(api, first["refresh_token"]), 400, "invalid_grant")
    reuse = audit_events(api, social.app, action="authorization_code.reuse_detected")
    assert reuse[0]["changes"]["revoked"] == 1


def test_an_expired_code_is_refused(api, social):
    from datetime import timedelta

    from django.utils import timezone

    from core.context import system_scope
    from tokens.models import AuthorizationCode

    create_user(api, social.app, "alice@example.com")
    code = social.run()["code"]
    with system_scope(reason="test: inspects rows across Apps"):
        AuthorizationCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    oauth_problem(social.redeem(code), 400, "invalid_grant")


def test_codes_and_secrets_never_reach_the_audit_log(api, social):
    create_user(api, social.app, "alice@example.com")
    code = social.run()["code"]
    tokens = social.redeem(code).json()
    log = str(audit_events(api, social.app))
    for secret in (code, tokens["refresh_token"], tokens["access_token"], VERIFIER, "provider-client-secret"):
        assert secret not in log


# ---- Apps stay apart --------------------------------------------------------------------------------------


def test_a_provider_of_another_app_cannot_sign_into_this_app(api, social, globex):
    app_settings(api, globex, redirectUris=[REDIRECT_URI])
    foreign = create_provider(api, globex, social.idp.issuer)
    create_user(api, social.app, "alice@example.com")
    response = social.authorize(provider=foreign["id"])
    assert response.status_code == 302 and "error=invalid_request" in response["Location"]
    # the foreign provider signs into its own App only (where alice is no member)
    result = social.run(app=globex.slug, provider=foreign["id"])
    assert result["error"] == "access_denied"


def test_a_code_is_bound_to_its_own_pkce_challenge(api, social):
    create_user(api, social.app, "alice@example.com")
    other = "o" * 60
    code = social.run(code_challenge=challenge_of(other))["code"]
    oauth_problem(social.redeem(code), 400, "invalid_grant")


def test_discovery_names_the_authorization_endpoint(api, acme):
    body = api.get(f"/v1/apps/{acme.slug}/.well-known/openid-configuration").json()
    assert body["authorization_endpoint"] == "http://testserver/v1/oauth/authorize"
    assert body["response_types_supported"] == ["code"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert "authorization_code" in body["grant_types_supported"]
