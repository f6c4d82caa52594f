"""Talking to identity providers: bounded HTTP, cached discovery and JWKS, ID-token checks.

- Every call has a short timeout, and one sign-in step (authorize, or callback) shares a
  `Deadline` (at most `IDP_TOTAL_TIMEOUT_SECONDS`, never more than 10 s): when it runs out the
  step gives up with `ProviderUnavailable` (the client gets `temporarily_unavailable`).
- Redirects are never followed (a provider answering 3xx is refused), proxies from the
  environment are ignored, and bodies are capped at 1 MiB.
- Only https URLs are called; a host on a loopback, private, link-local or reserved address is
  refused unless `IDP_ALLOW_PRIVATE_NETWORKS` (development and tests), which also allows plain
  http on loopback.
- Discovery documents and JWKS are cached per process for `IDP_METADATA_CACHE_SECONDS` (at most
  an hour); an ID token signed by a key the cached JWKS lacks triggers one fresh fetch.
"""

from __future__ import annotations

import hmac
import http.client
import ipaddress
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt

from core.conf import heimdall_settings

MAX_BODY_BYTES = 1 << 20
_HARD_TOTAL_SECONDS = 10.0
_MAX_CACHE_SECONDS = 3600.0
_CACHE_ENTRIES = 512
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
_LOOPBACK_NAMES = frozenset({"localhost"})

GOOGLE_ISSUER = "https://accounts.google.com"
MICROSOFT_ISSUER = "https://login.microsoftonline.com/common/v2.0"
_MICROSOFT_PREFIX = "https://login.microsoftonline.com/"
_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_GUID_RE = re.compile(f"^{_GUID}$")
# A Microsoft issuer names one tenant by its id, or one of the multi-tenant endpoints.
MICROSOFT_ISSUER_RE = re.compile(rf"^https://login\.microsoftonline\.com/(common|organizations|consumers|{_GUID})/v2\.0$")
# Microsoft's multi-tenant endpoints publish `{tenantid}` in their issuer; each token names its own.
_MICROSOFT_TEMPLATE = _MICROSOFT_PREFIX + "{tenantid}/v2.0"
# The tenant of personal Microsoft accounts (the `consumers` endpoint signs in only these).
MICROSOFT_CONSUMERS_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
GITHUB_ENDPOINTS = {
    "authorization_endpoint": "https://github.com/login/oauth/authorize",
    "token_endpoint": "https://github.com/login/oauth/access_token",
    "userinfo_endpoint": "https://api.github.com/user",
    "emails_endpoint": "https://api.github.com/user/emails",
}


class ProviderUnavailable(Exception):
    """The provider is down, slow, or answered 5xx: `temporarily_unavailable`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderRefused(Exception):
    """The provider answered, but not acceptably (refused code, bad token, wrong metadata)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Deadline:
    """The time one sign-in step may still spend on the provider."""

    at: float = field(default_factory=lambda: time.monotonic() + total_timeout())

    def remaining(self) -> float:
        return self.at - time.monotonic()


def total_timeout() -> float:
    return max(0.1, min(float(heimdall_settings.IDP_TOTAL_TIMEOUT_SECONDS), _HARD_TOTAL_SECONDS))


# ---- URLs -----------------------------------------------------------------------------------------


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def _is_loopback_host(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: Any, *, resolve: bool = False) -> str | None:
    """Why Heimdall will not call `url`, or None. With `resolve`, a DNS name is resolved and every
    address it has must be public (unless private networks are allowed)."""
    if not isinstance(url, str) or not 1 <= len(url) <= 2000:
        return "must be a URL of at most 2000 characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None or parts.fragment or not host:
        return "must be an absolute URL with a host and no userinfo or fragment"
    allow_private = heimdall_settings.IDP_ALLOW_PRIVATE_NETWORKS
    if parts.scheme != "https" and not (parts.scheme == "http" and allow_private and _is_loopback_host(host)):
        return "must use https"
    if allow_private:
        return None
    lowered = host.lower().rstrip(".")
    if lowered in _LOOPBACK_NAMES or lowered.endswith((".localhost", ".local", ".internal", ".localdomain")):
        return "is on a private network (set HEIMDALL_IDP_ALLOW_PRIVATE_NETWORKS=true for development)"
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        if not _address_is_public(host):
            return "is on a loopback or private address (set HEIMDALL_IDP_ALLOW_PRIVATE_NETWORKS=true for development)"
        return None
    if resolve:
        try:
            infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return "could not be resolved"
        if not infos or not all(_address_is_public(str(info[4][0])) for info in infos):
            return "resolves to a loopback or private address"
    return None


# ---- HTTP -----------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError: never followed, to any host


_OPENER = urllib.request.build_opener(_NoRedirect(), urllib.request.ProxyHandler({}))


def _read(response: Any, deadline: Deadline) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if deadline.remaining() <= 0:
            raise ProviderUnavailable("timeout")
        chunk = response.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ProviderRefused("response_too_large")
        chunks.append(chunk)


def http_json(
    url: str,
    *,
    deadline: Deadline,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """(status, parsed JSON body) of a GET, or a form POST when `form` is given. 5xx, 429,
    timeouts and network errors raise ProviderUnavailable; a redirect, an unusable URL or a
    non-JSON body raise ProviderRefused. 4xx answers are returned for the caller to judge."""
    problem = url_problem(url, resolve=True)
    if problem is not None:
        raise ProviderRefused(f"url_refused: {problem}")
    timeout = min(float(heimdall_settings.IDP_HTTP_TIMEOUT_SECONDS), deadline.remaining())
    if timeout <= 0:
        raise ProviderUnavailable("timeout")
    data = None
    all_headers = {"Accept": "application/json", "User-Agent": "Heimdall"}
    if form is not None:
        data = urlencode(form).encode()
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    all_headers.update(headers or {})
    # url_problem above allowed only https (or http on loopback when permitted): no file: etc.
    request = urllib.request.Request(url, data=data, headers=all_headers, method="POST" if data else "GET")  # noqa: S310
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, body = response.status, _read(response, deadline)
    except urllib.error.HTTPError as error:
        status = error.code
        if 300 <= status < 400:
            raise ProviderRefused("redirect_refused") from None
        if status >= 500 or status == 429:
            raise ProviderUnavailable(f"http_{status}") from None
        try:
            body = _read(error, deadline)
        except (OSError, http.client.HTTPException):
            body = b""
    except TimeoutError:
        raise ProviderUnavailable("timeout") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError):
        raise ProviderUnavailable("unreachable") from None
    try:
        return status, json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ProviderRefused("not_json") from None


# ---- bounded caches -------------------------------------------------------------------------------

_cache: dict[str, tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def _cache_seconds() -> float:
    return max(0.0, min(float(heimdall_settings.IDP_METADATA_CACHE_SECONDS), _MAX_CACHE_SECONDS))


def _cached(key: str) -> Any:
    with _cache_lock:
        hit = _cache.get(key)
        if hit is None or hit[0] <= time.monotonic():
            return None
        return hit[1]


def _store(key: str, value: Any) -> None:
    with _cache_lock:
        if len(_cache) >= _CACHE_ENTRIES:
            for stale in sorted(_cache, key=lambda k: _cache[k][0])[: _CACHE_ENTRIES // 4]:
                del _cache[stale]
        _cache[key] = (time.monotonic() + _cache_seconds(), value)


def cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


# ---- provider metadata ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderConfig:
    """What the flow needs of a provider: its kind, issuer, client and scopes."""

    kind: str
    issuer: str | None
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]


def _microsoft_segment(issuer: str) -> str:
    match = MICROSOFT_ISSUER_RE.fullmatch(issuer)
    return match.group(1) if match else ""


def _microsoft_tenant_allowed(segment: str, tenant: Any) -> bool:
    """Whether a token of tenant `tenant` may sign in through the configured `segment`: one
    tenant's own id; `common` any tenant; `organizations` any but personal accounts;
    `consumers` personal accounts only."""
    if not isinstance(tenant, str) or not _GUID_RE.fullmatch(tenant):
        return False
    if segment == "common":
        return True
    if segment == "organizations":
        return tenant != MICROSOFT_CONSUMERS_TENANT
    if segment == "consumers":
        return tenant == MICROSOFT_CONSUMERS_TENANT
    return tenant == segment


def _issuer_matches(expected: str, actual: Any, *, kind: str) -> bool:
    """The discovery document's issuer against the configured one."""
    if not isinstance(actual, str):
        return False
    if kind == "microsoft":
        segment = _microsoft_segment(expected)
        if segment in ("common", "organizations"):  # these publish the template
            return actual == _MICROSOFT_TEMPLATE
        if segment == "consumers":  # the personal-accounts tenant, or the template
            return actual in (_MICROSOFT_TEMPLATE, f"{_MICROSOFT_PREFIX}{MICROSOFT_CONSUMERS_TENANT}/v2.0")
    return hmac.compare_digest(expected.encode(), actual.encode())


def _token_issuer_matches(expected: str, claims: dict[str, Any], *, kind: str) -> bool:
    """An ID token's `iss` against the configured issuer. Microsoft: the token must name its
    tenant (`tid`, a GUID the configured endpoint admits) and `iss` must be exactly that
    tenant's issuer, never the `{tenantid}` template itself."""
    actual = claims.get("iss")
    if not isinstance(actual, str):
        return False
    if kind == "microsoft":
        tenant = claims.get("tid")
        return _microsoft_tenant_allowed(_microsoft_segment(expected), tenant) and hmac.compare_digest(
            actual.encode(), f"{_MICROSOFT_PREFIX}{tenant}/v2.0".encode()
        )
    if kind == "google" and actual == "accounts.google.com":  # Google's ID tokens use either form
        actual = GOOGLE_ISSUER
    return hmac.compare_digest(expected.encode(), actual.encode())


def metadata(config: ProviderConfig, deadline: Deadline) -> dict[str, Any]:
    """The provider's endpoints: fixed for GitHub; OIDC discovery (cached) for the others."""
    if config.kind == "github":
        return dict(GITHUB_ENDPOINTS)
    assert config.issuer is not None
    url = config.issuer.rstrip("/") + "/.well-known/openid-configuration"
    document = _cached("discovery:" + url)
    if document is not None:
        return document
    status, body = http_json(url, deadline=deadline)
    if status != 200 or not isinstance(body, dict):
        raise ProviderRefused(f"discovery_http_{status}")
    if not _issuer_matches(config.issuer, body.get("issuer"), kind=config.kind):
        raise ProviderRefused("discovery_issuer_mismatch")
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if url_problem(body.get(name)) is not None:
            raise ProviderRefused(f"discovery_{name}_invalid")
    _store("discovery:" + url, body)
    return body


def _jwks(uri: str, deadline: Deadline, *, fresh: bool) -> list[dict[str, Any]]:
    if not fresh:
        keys = _cached("jwks:" + uri)
        if keys is not None:
            return keys
    status, body = http_json(uri, deadline=deadline)
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        raise ProviderRefused(f"jwks_http_{status}")
    keys = [key for key in body["keys"] if isinstance(key, dict)]
    _store("jwks:" + uri, keys)
    return keys


def _signing_key(keys: list[dict[str, Any]], kid: Any, alg: str) -> Any:
    candidates = [k for k in keys if k.get("use", "sig") == "sig" and (kid is None or k.get("kid") == kid)]
    if kid is None and len(candidates) != 1:
        return None
    for candidate in candidates:
        try:
            return jwt.PyJWK(candidate, algorithm=alg).key
        except jwt.PyJWTError:
            continue
    return None


# ---- the code exchange and the identity it yields ---------------------------------------------------


@dataclass(frozen=True)
class ProviderIdentity:
    subject: str
    email: str | None
    email_verified: bool
    name: str


def code_exchange(
    config: ProviderConfig, meta: dict[str, Any], *, code: str, redirect_uri: str, verifier: str, deadline: Deadline
) -> dict[str, Any]:
    status, body = http_json(
        meta["token_endpoint"],
        deadline=deadline,
        form={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "code_verifier": verifier,
        },
    )
    if status != 200 or not isinstance(body, dict) or "error" in body:
        raise ProviderRefused(f"token_refused_http_{status}")
    return body


def id_token_verify(
    config: ProviderConfig, meta: dict[str, Any], token: Any, *, nonce: str, deadline: Deadline
) -> dict[str, Any]:
    """The ID token's claims after checking signature (provider JWKS), iss, aud (and azp), exp,
    iat and nonce; ProviderRefused with the reason otherwise."""
    if not isinstance(token, str) or len(token) > 16384:
        raise ProviderRefused("id_token_missing")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise ProviderRefused("id_token_malformed") from None
    alg = header.get("alg")
    if alg not in ID_TOKEN_ALGORITHMS:
        raise ProviderRefused("id_token_algorithm")
    kid = header.get("kid")
    key = _signing_key(_jwks(meta["jwks_uri"], deadline, fresh=False), kid, alg)
    if key is None:  # perhaps the provider rotated: one fresh look
        key = _signing_key(_jwks(meta["jwks_uri"], deadline, fresh=True), kid, alg)
    if key is None:
        raise ProviderRefused("id_token_unknown_key")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=config.client_id,
            leeway=60,
            options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_iss": False},
        )
    except jwt.InvalidSignatureError:
        raise ProviderRefused("id_token_signature") from None
    except jwt.InvalidAudienceError:
        raise ProviderRefused("id_token_audience") from None
    except jwt.ExpiredSignatureError:
        raise ProviderRefused("id_token_expired") from None
    except jwt.PyJWTError:
        raise ProviderRefused("id_token_invalid") from None
    assert config.issuer is not None
    if not _token_issuer_matches(config.issuer, claims, kind=config.kind):
        raise ProviderRefused("id_token_issuer")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != config.client_id:
        raise ProviderRefused("id_token_audience")
    claimed = claims.get("nonce")
    if not isinstance(claimed, str) or not hmac.compare_digest(claimed.encode(), nonce.encode()):
        raise ProviderRefused("id_token_nonce")
    if not isinstance(claims.get("sub"), str) or not 1 <= len(claims["sub"]) <= 255:
        raise ProviderRefused("id_token_subject")
    return claims


def _identity_from_claims(claims: dict[str, Any], kind: str) -> ProviderIdentity:
    """Who signed in. Microsoft: the subject is qualified by the tenant (`tid:sub`, as Microsoft
    advises), and since Entra ID lets a tenant's admin set any email on a user ("nOAuth"), its
    email counts as verified only with `email_verified: true` or `xms_edov: true` (the tenant
    owns the email's domain), optional claims the App registration must ask for."""
    email = claims.get("email")
    name = claims.get("name")
    subject = claims["sub"]
    verified = claims.get("email_verified") is True
    if kind == "microsoft":
        subject = f"{claims['tid']}:{subject}"
        verified = verified or claims.get("xms_edov") is True
        if len(subject) > 255:
            raise ProviderRefused("id_token_subject")
    return ProviderIdentity(
        subject=subject,
        email=email if isinstance(email, str) and email else None,
        email_verified=verified,
        name=name[:200] if isinstance(name, str) else "",
    )


def _github_identity(tokens: dict[str, Any], deadline: Deadline, meta: dict[str, Any]) -> ProviderIdentity:
    access = tokens.get("access_token")
    if not isinstance(access, str) or not access:
        raise ProviderRefused("token_missing")
    headers = {"Authorization": f"Bearer {access}", "Accept": "application/vnd.github+json"}
    status, user = http_json(meta["userinfo_endpoint"], deadline=deadline, headers=headers)
    if status != 200:
        raise ProviderRefused(f"userinfo_http_{status}")
    if not isinstance(user, dict) or not isinstance(user.get("id"), int) or isinstance(user.get("id"), bool):
        raise ProviderRefused("userinfo_malformed")
    status, emails = http_json(meta["emails_endpoint"], deadline=deadline, headers=headers)
    if status != 200:
        raise ProviderRefused(f"emails_http_{status}")
    if not isinstance(emails, list):
        raise ProviderRefused("emails_malformed")
    primary = next((e for e in emails if isinstance(e, dict) and e.get("primary") is True), None)
    email = primary.get("email") if primary is not None else None
    name = user.get("name") or user.get("login") or ""
    return ProviderIdentity(
        subject=str(user["id"]),
        email=email if isinstance(email, str) and email else None,
        email_verified=primary is not None and primary.get("verified") is True,
        name=str(name)[:200],
    )


def identity_fetch(
    config: ProviderConfig, *, code: str, redirect_uri: str, verifier: str, nonce: str, deadline: Deadline
) -> ProviderIdentity:
    """Exchange the provider's code and establish who signed in."""
    meta = metadata(config, deadline)
    tokens = code_exchange(config, meta, code=code, redirect_uri=redirect_uri, verifier=verifier, deadline=deadline)
    if config.kind == "github":
        return _github_identity(tokens, deadline, meta)
    claims = id_token_verify(config, meta, tokens.get("id_token"), nonce=nonce, deadline=deadline)
    return _identity_from_claims(claims, config.kind)
