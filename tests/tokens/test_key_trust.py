"""Which keys verify tokens, and for how long: only keys the JWKS publishes, never a retired key
past `retire_until`, never a revoked key, and never a token living longer than Heimdall issues.

Forged tokens are signed with the App's real private keys (loaded through tokens.state), as an
attacker holding a leaked key would."""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import jwt
from django.core.management import call_command
from django.utils import timezone

from core.context import system_scope
from tests.tokens.support import (
    audit_events,
    authorize,
    claims_of,
    clock_at,
    declare,
    header_of,
    jwks,
    new_client,
    token_for,
)
from tokens.models import SigningKey
from tokens.state import get_state

DAY = 86_400
TEN_YEARS = 10 * 365 * DAY


def _kids(api, slug: str) -> list[str]:
    return [k["kid"] for k in jwks(api, slug)["keys"]]


def _forge(template: str, kid: str, *, iat: int, exp: int, override: dict[str, Any] | None = None) -> str:
    """A token like `template` (same subject, App, issuer), with these times, signed with `kid`."""
    claims = {**claims_of(template), "iat": iat, "nbf": iat, "exp": exp, "jti": secrets.token_urlsafe(16)}
    claims.update(override or {})
    return jwt.encode(claims, get_state().private_key(kid), algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"})


def _set_retire_until(kid: str, moment) -> None:
    with system_scope(reason="test: inspects rows across Apps"):
        assert SigningKey.objects.filter(pk=kid).update(retire_until=moment) == 1


def _reason(api, token: str, permission: str = "heimdall:clients.read") -> str | None:
    answer = authorize(api, token, permission)
    return None if answer["allowed"] else answer["reason"]


# ---- retired keys ---------------------------------------------------------------------------------


def test_retired_key_past_retire_until_verifies_nothing(api, acme):
    """A retired key whose `retire_until` has passed is out of the JWKS; a token it signs, even a
    fresh one with a modest lifetime, is refused by /v1/authorize and by the management API."""
    old_kid = header_of(acme.token)["kid"]
    call_command("rotate_signing_keys", app="acme-corp")
    _set_retire_until(old_kid, timezone.now() - timedelta(hours=1))
    assert old_kid not in _kids(api, "acme-corp")

    now = int(time.time())
    forged = _forge(acme.token, old_kid, iat=now, exp=now + 3600)
    assert _reason(api, forged) == "token_invalid"
    assert api.get("/v1/clients", token=forged).status_code == 401
    far_future = _forge(acme.token, old_kid, iat=now, exp=now + TEN_YEARS)
    assert _reason(api, far_future) == "token_invalid"
    # The App's current key is untouched.
    assert _reason(api, api.client_token(acme.client_id, acme.client_secret)) is None


def test_cached_retired_key_stops_verifying_at_retire_until(api, acme):
    """The key, and a token it verified, were cached in this process while the key was still
    published; once `retire_until` passes they verify nothing, with no change published."""
    old_kid = header_of(acme.token)["kid"]
    call_command("rotate_signing_keys", app="acme-corp")
    retire_until = timezone.now() + timedelta(seconds=120)
    _set_retire_until(old_kid, retire_until)
    now = int(time.time())
    short = _forge(acme.token, old_kid, iat=now, exp=now + 60)
    outliving = _forge(acme.token, old_kid, iat=now, exp=now + 3600)  # outlives its key
    assert _reason(api, short) is None  # key cached, token cached
    _reason(api, outliving)  # cached too, if it verified

    with clock_at(retire_until.timestamp() + 1):
        assert _reason(api, outliving) == "token_invalid"
        assert api.get("/v1/clients", token=outliving).status_code == 401
        assert _reason(api, _forge(acme.token, old_kid, iat=now, exp=now + 7200)) == "token_invalid"


def test_token_outliving_its_retired_key_is_refused(api, acme):
    """Every token a key signed while current expires before the key's `retire_until`; a token
    signed by a retired key that claims to outlive it was signed after retirement."""
    old_kid = header_of(acme.token)["kid"]
    call_command("rotate_signing_keys", app="acme-corp")
    _set_retire_until(old_kid, timezone.now() + timedelta(seconds=600))
    now = int(time.time())
    assert _reason(api, _forge(acme.token, old_kid, iat=now, exp=now + 300)) is None
    assert _reason(api, _forge(acme.token, old_kid, iat=now, exp=now + 3600)) == "token_invalid"


# ---- lifetimes ------------------------------------------------------------------------------------


def test_token_living_longer_than_heimdall_issues_is_refused(api, acme):
    """exp - iat above MAX_TOKEN_LIFETIME_SECONDS (a day): refused even with the current key."""
    kid = header_of(acme.token)["kid"]
    now = int(time.time())
    longest = _forge(acme.token, kid, iat=now, exp=now + DAY)
    assert _reason(api, longest) is None
    assert api.get("/v1/clients", token=longest).status_code == 200

    for lifetime in (DAY + 1, DAY + 60, TEN_YEARS):
        token = _forge(acme.token, kid, iat=now, exp=now + lifetime)
        assert _reason(api, token) == "token_invalid", lifetime
        assert api.get("/v1/clients", token=token).status_code == 401, lifetime
    # An old `iat` cannot stretch it either: a token issued two days ago, valid for another hour.
    backdated = _forge(acme.token, kid, iat=now - 2 * DAY, exp=now + 3600)
    assert _reason(api, backdated) == "token_invalid"


def test_token_issued_in_the_future_is_refused(api, acme):
    """iat more than a few seconds (5) ahead of this server's clock: refused. (PyJWT 2.x already
    refuses it; the check is Heimdall's own so that it does not hang on a library default.)"""
    kid = header_of(acme.token)["kid"]
    now = int(time.time())
    assert _reason(api, _forge(acme.token, kid, iat=now + 2, exp=now + 3600)) is None  # skew
    for ahead in (60, 3600, TEN_YEARS):
        token = _forge(acme.token, kid, iat=now + ahead, exp=now + ahead + 3600)
        assert _reason(api, token) == "token_invalid", ahead


def test_token_times_must_be_integers(api, acme):
    """A stolen key must not be able to crash verification with odd claim types."""
    kid = header_of(acme.token)["kid"]
    now = int(time.time())
    for claims in ({"exp": str(now + 3600)}, {"iat": str(now)}, {"iat": float(now)}, {"nbf": str(now)}):
        token = _forge(acme.token, kid, iat=now, exp=now + 3600, override=claims)
        assert _reason(api, token) == "token_invalid", claims
        assert api.get("/v1/clients", token=token).status_code == 401, claims


# ---- revocation after a compromise -----------------------------------------------------------------


def test_rotate_with_revoke_drops_the_old_key_at_once(api, acme):
    declare(api, acme, "docs.read")
    client = new_client(api, acme, roles=["viewer"])
    before = token_for(api, client)
    old_kid = header_of(before)["kid"]
    assert header_of(acme.token)["kid"] == old_kid
    # Warm every cache: the key, the verified tokens.
    assert _reason(api, before, "docs.read") is None
    assert api.get("/v1/clients", token=acme.token).status_code == 200
    (next_kid,) = [k for k in _kids(api, "acme-corp") if k != old_kid]

    call_command("rotate_signing_keys", app="acme-corp", revoke=True)

    assert _reason(api, before, "docs.read") == "token_invalid"
    assert api.get("/v1/clients", token=acme.token).status_code == 401
    kids = _kids(api, "acme-corp")
    assert old_kid not in kids and next_kid in kids and len(kids) == 2
    with system_scope(reason="test: inspects rows across Apps"):
        assert not SigningKey.objects.filter(pk=old_kid).exists()
    # Whoever holds the dropped key cannot sign anything that verifies, however short-lived.
    now = int(time.time())
    assert _reason(api, _forge(acme.token, old_kid, iat=now, exp=now + 60)) == "token_invalid"

    after = token_for(api, client)
    assert header_of(after)["kid"] == next_kid
    assert _reason(api, after, "docs.read") is None
    admin = api.client_token(acme.client_id, acme.client_secret)
    assert api.get("/v1/clients", token=admin).status_code == 200

    events = audit_events(api, replace(acme, token=admin), action="signing_key.revoked")
    assert len(events) == 1
    assert events[0]["target"]["id"] == old_kid
    text = str(events[0])
    assert "BEGIN" not in text and "private" not in text.lower() and len(text) < 2000


def test_rotate_with_revoke_keeps_earlier_retired_keys_and_other_apps(api, acme, globex):
    """Only the key that was signing is dropped: a key retired by an earlier, ordinary rotation
    keeps verifying its live tokens, and other Apps are untouched by `--app`."""
    first_kid = header_of(acme.token)["kid"]
    call_command("rotate_signing_keys", app="acme-corp")
    second = api.client_token(acme.client_id, acme.client_secret)
    second_kid = header_of(second)["kid"]
    assert _reason(api, globex.token) is None

    call_command("rotate_signing_keys", app="acme-corp", revoke=True)

    kids = _kids(api, "acme-corp")
    assert first_kid in kids and second_kid not in kids
    assert _reason(api, acme.token) is None  # signed by the first key, retired normally
    assert _reason(api, second) == "token_invalid"
    assert _reason(api, globex.token) is None


def test_plain_rotation_keeps_old_tokens_valid(api, acme):
    old_kid = header_of(acme.token)["kid"]
    assert _reason(api, acme.token) is None
    call_command("rotate_signing_keys", app="acme-corp")
    assert old_kid in _kids(api, "acme-corp")
    assert _reason(api, acme.token) is None
    assert api.get("/v1/clients", token=acme.token).status_code == 200
    assert audit_events(api, acme, action="signing_key.revoked") == []
