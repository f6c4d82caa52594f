"""The sign-in is bound to the browser that started it (a cookie set by /v1/oauth/authorize and
checked at /v1/oauth/callback), and both browser endpoints are throttled per client IP and App."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from tests.accounts.support import audit_events, claims_of, create_user
from tests.helpers import Api, problem
from tests.social.conftest import REDIRECT_URI, Social, app_settings, create_provider, landed


def _cookie(response):
    """The one sign-in cookie a response sets: (name, morsel)."""
    cookies = [(name, morsel) for name, morsel in response.cookies.items() if "heimdall_signin_" in name]
    assert len(cookies) == 1, response.cookies
    return cookies[0]


def _start(social: Social):
    """authorize -> provider -> the callback URL the provider sends the browser to."""
    started = social.authorize()
    name, morsel = _cookie(started)
    return name, morsel.value, social.through_provider(started)


def _binding_refused(response, reason: str) -> None:
    body = problem(response, 400, "invalid_request")
    assert body["error"] == "invalid_request"
    assert body["errors"] == [{"field": "cookie", "code": reason, "message": body["errors"][0]["message"]}]
    assert "Location" not in response
    assert response["Cache-Control"] == "no-store"


# ---- the cookie ------------------------------------------------------------------------------------


def test_authorize_sets_a_short_lived_httponly_lax_cookie_that_the_callback_clears(api, social):
    user = create_user(api, social.app, "alice@example.com")
    started = social.authorize()
    name, morsel = _cookie(started)
    flow = audit_events(api, social.app, action="social.authorize_started")[0]["changes"]["flow"]
    assert name == f"heimdall_signin_{flow}"  # one per sign-in: two tabs do not undo each other
    assert morsel["httponly"] is True and morsel["samesite"] == "Lax" and morsel["path"] == "/"
    assert morsel["max-age"] == 600 and not morsel["secure"]  # PUBLIC_URL is http in the tests
    assert len(morsel.value) >= 43  # 256 random bits
    # the flow keeps only a digest of it
    assert morsel.value not in str(audit_events(api, social.app))

    finished = social.callback(social.through_provider(started))
    result = landed(finished)
    assert finished.cookies[name].value == "" and finished.cookies[name]["max-age"] == 0
    tokens = social.redeem(result["code"]).json()
    assert claims_of(tokens["access_token"])["sub"] == user["id"]


def test_over_https_the_cookie_is_secure_and_host_prefixed(api, social):
    with override_settings(PUBLIC_URL="https://testserver"):
        started = social.authorize()
    name, morsel = _cookie(started)
    assert name.startswith("__Host-heimdall_signin_afl_")
    assert morsel["secure"] is True and morsel["path"] == "/" and not morsel["domain"]
    assert "redirect_uri=https%3A%2F%2Ftestserver%2Fv1%2Foauth%2Fcallback" in started["Location"]


def test_a_refused_authorize_sets_no_cookie(api, social):
    response = social.authorize(code_challenge_method="plain")
    assert response.status_code == 302 and "error=invalid_request" in response["Location"]
    assert not [n for n in response.cookies if "heimdall_signin_" in n]


# ---- the callback checks it --------------------------------------------------------------------------


def test_a_callback_without_the_cookie_is_refused_audited_and_does_not_use_up_the_sign_in(api, social):
    create_user(api, social.app, "alice@example.com")
    name, value, back = _start(social)
    social.api.client.cookies.clear()

    _binding_refused(social.callback(back), "browser_binding_missing")
    failed = audit_events(api, social.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "browser_binding_missing"
    assert "social.login_succeeded" not in [e["action"] for e in audit_events(api, social.app)]

    # the browser that started it still finishes it
    social.api.client.cookies[name] = value
    assert "code" in landed(social.callback(back))


def test_a_callback_with_a_wrong_cookie_is_refused_and_audited(api, social):
    create_user(api, social.app, "alice@example.com")
    name, value, back = _start(social)
    social.api.client.cookies[name] = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")

    _binding_refused(social.callback(back), "browser_binding_mismatch")
    failed = audit_events(api, social.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "browser_binding_mismatch"
    assert value not in str(failed)

    social.api.client.cookies[name] = value  # the right cookie
    assert "code" in landed(social.callback(back))


def test_login_csrf_an_attackers_callback_url_signs_no_victim_in(api, social):
    """The attacker starts a sign-in with their own provider account and makes the victim's
    browser open the callback URL; the victim's browser lacks the attacker's cookie."""
    create_user(api, social.app, "mallory@example.com")
    social.idp.claims = {"sub": "mallory", "email": "mallory@example.com", "email_verified": True}
    attacker_name, _, attacker_back = _start(social)

    victim = Api()
    victim_social = Social(victim, social.app, social.idp, social.provider_id)
    _binding_refused(victim_social.callback(attacker_back), "browser_binding_missing")

    # the victim, mid-way through a sign-in of their own, holds a cookie of their own: no help
    victim_name, victim_value, _ = _start(victim_social)
    assert victim_name != attacker_name
    _binding_refused(victim_social.callback(attacker_back), "browser_binding_missing")
    # nor does the victim's cookie value under the attacker's flow's name
    victim.client.cookies[attacker_name] = victim_value
    _binding_refused(victim_social.callback(attacker_back), "browser_binding_mismatch")

    reasons = [e["changes"]["reason"] for e in audit_events(api, social.app, action="social.login_failed")]
    assert reasons.count("browser_binding_missing") == 2 and reasons.count("browser_binding_mismatch") == 1
    assert "authorization_code.issued" not in [e["action"] for e in audit_events(api, social.app)]


def test_the_cookie_of_one_sign_in_does_not_finish_another(api, social):
    create_user(api, social.app, "alice@example.com")
    first_name, _, first_back = _start(social)
    second_name, _, second_back = _start(social)  # a second tab
    assert first_name != second_name
    # both tabs finish, each with its own cookie
    assert "code" in landed(social.callback(second_back))
    assert "code" in landed(social.callback(first_back))


# ---- throttling ------------------------------------------------------------------------------------


def _limit(n: int):
    return override_settings(HEIMDALL={**settings.HEIMDALL, "SOCIAL_MAX_REQUESTS_PER_IP": n})


def _too_many(response) -> None:
    body = problem(response, 429, "too_many_attempts")
    assert body["error"] == "too_many_attempts"
    assert int(response["Retry-After"]) >= 1
    assert "Location" not in response


def test_authorize_is_throttled_per_client_ip_and_app(api, social, globex):
    app_settings(api, globex, redirectUris=[REDIRECT_URI])
    foreign = create_provider(api, globex, social.idp.issuer)
    with _limit(2):
        assert social.authorize().status_code == 302
        assert social.authorize(state=None).status_code == 302  # refused requests count too
        throttled = social.authorize()
        _too_many(throttled)
        # another App from the same address, and this App from another address, go on
        assert social.authorize(app=globex.slug, provider=foreign["id"]).status_code == 302
        path = throttled.request["PATH_INFO"] + "?" + throttled.request["QUERY_STRING"]
        assert api.client.get(path, REMOTE_ADDR="203.0.113.9").status_code == 302
    assert social.authorize().status_code == 302  # the limit lifted


def test_unknown_apps_are_throttled_too(api, social):
    with _limit(1):
        problem(social.authorize(app="no-such-app"), 400, "invalid_request")
        _too_many(social.authorize(app="no-such-app"))


def test_callback_is_throttled_per_client_ip_and_app(api, social):
    create_user(api, social.app, "alice@example.com")
    with _limit(3):
        _, _, back = _start(social)
        problem(api.get("/v1/oauth/callback?state=unknown&code=x"), 400, "invalid_request")
        problem(api.get("/v1/oauth/callback?state=unknown&code=x"), 400, "invalid_request")
        problem(api.get("/v1/oauth/callback?state=unknown&code=x"), 400, "invalid_request")
        _too_many(api.get("/v1/oauth/callback?state=unknown&code=x"))
        # this App's sign-ins count on their own: three more callbacks of it go through
        assert "code" in landed(social.callback(back))
        problem(social.callback(back), 400, "invalid_request")  # used up
        problem(social.callback(back), 400, "invalid_request")
        _too_many(social.callback(back))


@pytest.mark.parametrize("path", ["/v1/oauth/authorize", "/v1/oauth/callback"])
def test_a_throttled_request_changes_nothing(api, social, path):
    with _limit(0):
        _too_many(api.get(path + "?" + "&".join(f"{k}=v" for k in ("app", "state"))))
    assert audit_events(api, social.app, action="social.authorize_started") == []
