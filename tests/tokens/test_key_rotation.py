"""`manage.py rotate_signing_keys` and JWKS: the next key takes over, old tokens keep verifying,
and a stock JWT library can verify every token offline from the published JWKS."""

import jwt
import pytest
from django.core.management import CommandError, call_command

from tests.tokens.support import authorize, claims_of, declare, header_of, jwks, new_client, token_for


def _kids(api, slug):
    return [k["kid"] for k in jwks(api, slug)["keys"]]


def _verify_offline(api, token, slug):
    """What a resource server does: fetch the JWKS, pick the key by kid, verify with PyJWT."""
    keys = jwt.PyJWKSet.from_dict(jwks(api, slug))
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    issuer = f"http://testserver/v1/apps/{slug}"
    return jwt.decode(token, key, algorithms=["RS256"], audience=issuer, issuer=issuer)


def test_jwks_publishes_current_and_next_rsa_keys(api, acme):
    body = jwks(api, "acme-corp")
    assert len(body["keys"]) == 2
    for key in body["keys"]:
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
        assert key["n"] and key["e"] and key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private parts must never be published"
    assert header_of(acme.token)["kid"] in _kids(api, "acme-corp")


def test_jwks_is_public_cacheable_and_per_app(api, acme, globex):
    response = api.get("/v1/apps/acme-corp/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response["Cache-Control"]
    assert not set(_kids(api, "acme-corp")) & set(_kids(api, "globex"))
    assert api.get("/v1/apps/no-such-app/jwks.json").status_code == 404


def test_discovery_document_points_to_jwks(api, acme):
    response = api.get("/v1/apps/acme-corp/.well-known/openid-configuration")
    assert response.status_code == 200
    body = response.json()
    assert body["issuer"] == "http://testserver/v1/apps/acme-corp"
    assert body["jwks_uri"] == "http://testserver/v1/apps/acme-corp/jwks.json"
    assert body["token_endpoint"] == "http://testserver/v1/oauth/token"
    assert body["introspection_endpoint"] == "http://testserver/v1/oauth/introspect"
    assert body["revocation_endpoint"] == "http://testserver/v1/oauth/revoke"


def test_rotation_promotes_next_key_and_keeps_old_tokens_working(api, acme):
    declare(api, acme, "docs.read")
    client = new_client(api, acme, roles=["viewer"])
    before = token_for(api, client)
    old_kid = header_of(before)["kid"]
    kids_before = _kids(api, "acme-corp")
    assert len(kids_before) == 2 and old_kid in kids_before
    (next_kid,) = [k for k in kids_before if k != old_kid]

    call_command("rotate_signing_keys", app="acme-corp")

    after = token_for(api, client)
    assert header_of(after)["kid"] == next_kid
    kids_after = _kids(api, "acme-corp")
    assert len(kids_after) == 3
    assert old_kid in kids_after and next_kid in kids_after
    (fresh_kid,) = set(kids_after) - {old_kid, next_kid}

    assert authorize(api, before, "docs.read")["allowed"] is True
    assert authorize(api, after, "docs.read")["allowed"] is True
    assert api.get("/v1/clients", token=acme.token).status_code == 200  # admin token from before

    # a second rotation: the fresh key signs, both older keys still verify their live tokens
    call_command("rotate_signing_keys", app="acme-corp")
    third = token_for(api, client)
    assert header_of(third)["kid"] == fresh_kid
    assert {old_kid, next_kid, fresh_kid} <= set(_kids(api, "acme-corp"))
    for token in (before, after, third):
        assert authorize(api, token, "docs.read")["allowed"] is True


def test_tokens_verify_offline_with_pyjwt_before_and_after_rotation(api, acme):
    client = new_client(api, acme)
    before = token_for(api, client)
    claims = _verify_offline(api, before, "acme-corp")
    assert claims["sub"] == client["clientId"]

    call_command("rotate_signing_keys", app="acme-corp")
    after = token_for(api, client)
    assert header_of(after)["kid"] != header_of(before)["kid"]
    assert _verify_offline(api, before, "acme-corp")["jti"] == claims_of(before)["jti"]
    assert _verify_offline(api, after, "acme-corp")["sub"] == client["clientId"]


def test_offline_verification_rejects_another_apps_issuer(api, acme, globex):
    with pytest.raises(StopIteration):  # globex's JWKS has no key for acme's kid
        _verify_offline(api, acme.token, "globex")
    keys = jwt.PyJWKSet.from_dict(jwks(api, "acme-corp"))
    key = next(k for k in keys.keys if k.key_id == header_of(acme.token)["kid"])
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(
            acme.token,
            key,
            algorithms=["RS256"],
            audience="http://testserver/v1/apps/acme-corp",
            issuer="http://testserver/v1/apps/globex",
        )


def test_rotation_without_app_rotates_every_app(api, acme, globex, capsys):
    tokens_before = {"acme-corp": acme.token, "globex": globex.token}
    next_kids = {}
    for slug, token in tokens_before.items():
        (next_kids[slug],) = [k for k in _kids(api, slug) if k != header_of(token)["kid"]]

    call_command("rotate_signing_keys")
    out = capsys.readouterr().out
    assert "acme-corp" in out and "globex" in out and "heimdall" in out

    assert header_of(api.client_token(acme.client_id, acme.client_secret))["kid"] == next_kids["acme-corp"]
    assert header_of(api.client_token(globex.client_id, globex.client_secret))["kid"] == next_kids["globex"]
    for slug, token in tokens_before.items():
        assert len(_kids(api, slug)) == 3
        assert authorize(api, token, "heimdall:clients.read")["allowed"] is True


def test_rotation_of_one_app_leaves_others_alone(api, acme, globex):
    globex_kids = _kids(api, "globex")
    call_command("rotate_signing_keys", app="acme-corp")
    assert _kids(api, "globex") == globex_kids
    assert (
        header_of(api.client_token(globex.client_id, globex.client_secret))["kid"]
        == header_of(globex.token)["kid"]
    )


def test_rotation_of_unknown_app_is_command_error(api, acme):
    kids = _kids(api, "acme-corp")
    with pytest.raises(CommandError):
        call_command("rotate_signing_keys", app="no-such-app")
    assert _kids(api, "acme-corp") == kids


def test_rotation_is_audited(api, acme):
    from tests.tokens.support import audit_events

    call_command("rotate_signing_keys", app="acme-corp")
    events = audit_events(api, acme, action="signing_key.rotated")
    assert len(events) == 1
    assert events[0]["target"]["id"] == header_of(api.client_token(acme.client_id, acme.client_secret))["kid"]


def _kids_at(api, slug, moment):
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=moment):
        return _kids(api, slug)


def test_retired_key_is_published_until_its_tokens_have_expired(api, acme):
    from datetime import timedelta

    from django.utils import timezone

    old_kid = header_of(acme.token)["kid"]
    call_command("rotate_signing_keys", app="acme-corp")
    rotated_at = timezone.now()
    # Retired keys stay published for the longest lifetime any token can have (a day, the cap
    # on every TTL), plus a minute of skew: lowering a TTL later cannot strand live tokens.
    assert old_kid in _kids_at(api, "acme-corp", rotated_at + timedelta(seconds=86_400))
    later = _kids_at(api, "acme-corp", rotated_at + timedelta(seconds=86_400 + 120))
    assert old_kid not in later and len(later) == 2


def test_retired_key_outlives_tokens_whose_ttl_was_lowered_after_issue(api, acme):
    from datetime import timedelta

    from django.utils import timezone

    client = new_client(api, acme, accessTokenTtlSeconds=86_400)
    old_kid = header_of(acme.token)["kid"]
    response = api.patch(f"/v1/clients/{client['clientId']}", {"accessTokenTtlSeconds": 60}, token=acme.token)
    assert response.status_code == 200, response.content
    call_command("rotate_signing_keys", app="acme-corp")
    rotated_at = timezone.now()
    assert old_kid in _kids_at(api, "acme-corp", rotated_at + timedelta(seconds=86_000))


def test_retired_key_outlives_the_longest_client_token_ttl(api, acme):
    from datetime import timedelta

    from django.utils import timezone

    new_client(api, acme, accessTokenTtlSeconds=86_400)
    old_kid = header_of(acme.token)["kid"]
    call_command("rotate_signing_keys", app="acme-corp")
    rotated_at = timezone.now()
    assert old_kid in _kids_at(api, "acme-corp", rotated_at + timedelta(seconds=86_400))
    assert old_kid not in _kids_at(api, "acme-corp", rotated_at + timedelta(seconds=86_400 + 120))
