"""In-process authorization state: what `/v1/authorize` and bearer authentication need, cached.

The state is a set of read-through caches, one per process:

- public keys by `kid` (unknown kids are remembered briefly so garbage cannot hammer the database),
- App snapshots (status, slug, declared permissions, role definitions, the signing kid),
- subjects (an M2M client or a user's membership: status, roles, direct permissions),
- revoked `jti`s, each kept until the token would have expired anyway,
- tokens whose signature was already verified, so a token seen before is not re-verified.

Entries load lazily from the database on first use and then serve every call from memory: in
steady state a check does no query. Every change that could alter an answer is published with
`core.changes.publish` (a typed change) inside its transaction; this process drops the affected entries at
once, other processes when the change log reaches them (tokens.sync: LISTEN/NOTIFY on
PostgreSQL, polling on SQLite, plus a periodic full resync as a safety net). A load that raced an
invalidation is not cached (generation check), so a stale read cannot stick.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_public_key
from django.conf import settings
from django.utils import timezone

from accounts.selectors import ended_sessions, membership_state
from audit.sealer import start_sealer
from core import changes
from core.changes import AppChanged, Change, SubjectChanged, TokenRevoked
from core.conf import MAX_TOKEN_LIFETIME_SECONDS, heimdall_settings
from core.context import system_scope
from core.crypto import decrypt_private_key
from core.ids import looks_like_id
from rbac import permissions as perms
from rbac.models import Permission, Role
from tenants.models import SIGNING_ALGORITHMS, App
from tokens.algorithms import public_key_fits
from tokens.models import Client, RevokedToken, SigningKey
from tokens.sync import start_follower

TOKEN_INVALID = "token_invalid"
TOKEN_EXPIRED = "token_expired"
TOKEN_REVOKED = "token_revoked"
APP_MISMATCH = "app_mismatch"
APP_SUSPENDED = "app_suspended"
SUBJECT_SUSPENDED = "subject_suspended"
PERMISSION_NOT_GRANTED = "permission_not_granted"

logger = logging.getLogger("heimdall.state")

_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "jti", "sub", "iss", "app", "client_id"]

# Clock skew allowed between the instance that signed a token and the one verifying it: on `exp`
# and `nbf` (PyJWT), and on `iat` (not more than this far in the future).
_LEEWAY_SECONDS = 5


def issuer_for(slug: str) -> str:
    return f"{settings.PUBLIC_URL}/v1/apps/{slug}"


@dataclass
class AppSnapshot:
    """What authorization needs to know of one App, as of its last change."""

    id: str
    slug: str
    status: str
    is_operator: bool
    settings: dict[str, Any]
    declared: frozenset[str]
    management: frozenset[str]
    roles: dict[str, tuple[str, ...]]
    signing_kid: str | None
    # Epoch seconds of the App's last suspension: tokens whose (whole-second) iat is at or
    # before it are dead; tokens.keys issues later tokens with a later iat.
    tokens_valid_after: float | None = None
    _role_grants: dict[str, frozenset[str]] = field(default_factory=dict)
    _grants: dict[tuple[tuple[str, ...], frozenset[str]], frozenset[str]] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return issuer_for(self.slug)

    def role_grants(self, role: str) -> frozenset[str]:
        grants = self._role_grants.get(role)
        if grants is None:
            grants = perms.expand(
                self.roles.get(role, ()), declared=self.declared, management=self.management
            )
            self._role_grants[role] = grants
        return grants

    def grants(self, roles: tuple[str, ...], direct: frozenset[str]) -> frozenset[str]:
        """Everything `roles` plus `direct` grants; memoised, as subjects share few combinations."""
        key = (roles, direct)
        cached = self._grants.get(key)
        if cached is None:
            result = set(perms.expand(direct, declared=self.declared, management=self.management))
            for role in roles:
                result |= self.role_grants(role)
            cached = frozenset(result)
            if len(self._grants) < 10_000:
                self._grants[key] = cached
        return cached

    def granting_role(self, roles: tuple[str, ...], permission: str) -> str | None:
        for role in roles:
            if permission in self.role_grants(role):
                return role
        return None


@dataclass(frozen=True)
class Subject:
    """A token's subject as it stands now: an M2M client or a user's membership of the App."""

    id: str
    status: str
    roles: tuple[str, ...]
    permissions: frozenset[str]


@dataclass(frozen=True)
class ClientCredentials:
    """What authenticating an M2M client needs, cached: digests only, never a secret."""

    id: str
    app_id: str
    secret_digest: str
    previous_secret_digest: str | None
    previous_secret_expires_at: float | None  # epoch seconds
    roles: tuple[str, ...]
    permissions: frozenset[str]
    access_token_ttl_seconds: int | None
    acts_for_users: bool = False
    delegable_permissions: frozenset[str] = frozenset()

    @property
    def delegation_fingerprint(self) -> str:
        """Changes whenever the client's secret or delegation rights change: a delegated token
        carries the fingerprint it was issued under and dies when it no longer matches."""
        material = f"{self.secret_digest}|{self.acts_for_users}|{' '.join(sorted(self.delegable_permissions))}"
        return hashlib.sha256(material.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Key:
    app_id: str
    public_key: Any
    # The one JWS `alg` this key verifies (tokens.algorithms); a token whose header names any
    # other is refused before its signature is looked at.
    algorithm: str
    # A retired key's `retire_until` (epoch seconds): from then on it verifies nothing, cached or
    # not. None for the current and next keys.
    valid_until: float | None = None

    def expired(self, now: float) -> bool:
        return self.valid_until is not None and now >= self.valid_until


@dataclass
class Check:
    """The outcome of checking a token: its claims, App and subject, or why it fails."""

    reason: str | None
    claims: dict[str, Any] | None = None
    app: AppSnapshot | None = None
    subject: Subject | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    def granted(self) -> frozenset[str]:
        """The permissions this token grants now: current roles, capped by a narrowed scope."""
        assert self.app is not None and self.subject is not None and self.claims is not None
        grants = self.app.grants(self.subject.roles, self.subject.permissions)
        if self.claims.get("narrowed"):
            grants = grants & frozenset(str(self.claims.get("scope", "")).split())
        return grants

    def decide(self, permission: str) -> tuple[bool, str | None, str | None]:
        """(allowed, granting role or None, reason when denied)."""
        if not self.ok:
            return False, None, self.reason
        assert self.app is not None and self.subject is not None and self.claims is not None
        if permission not in self.granted():
            return False, None, PERMISSION_NOT_GRANTED
        return True, self.app.granting_role(self.subject.roles, permission), None


class AuthzState:
    """This process's caches, and how fresh they are.

    Staleness bound: the caches are only as fresh as the follower's last read of the change log.
    Once a follower is attached (`follow`), it reports each successful read with `confirm_fresh`
    (the monotonic time the read started). When none started within `STALENESS_BOUND_SECONDS`
    (its connection died or froze, the poller is stuck), `check` does not answer from memory: it
    drops every cache first, so each check reloads its key, App, subject and revocations from the
    database: slower, but never more than the bound stale (and failing, closed, if the database
    is unreachable). The next successful read makes the caches serve again. Without a follower
    (`SYNC_THREAD=False`: one process, every change reaches `on_change` directly) there is no
    bound: local notifications keep the caches fresh by construction.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Freshness (see above). `clock` is monotonic; tests replace it.
        self.clock: Callable[[], float] = time.monotonic
        self.staleness_bound: float | None = None  # None: no follower, nothing goes stale
        self.fresh_as_of: float | None = None  # start of the follower's last successful read
        self._degraded = False
        self.generation = 0
        self._apps: dict[str, AppSnapshot | None] = {}
        self._keys: dict[str, _Key] = {}
        # Every published kid -> its App id and, for a retired key, when it stops verifying (small:
        # no key material). An unknown or expired kid is refused from here without a query; the
        # table is re-read when an App's keys change, and at most once a second when tokens with
        # kids it does not know arrive (a new App on another instance).
        self._kid_table: dict[str, tuple[str, float | None]] | None = None
        self._kid_table_at = 0.0
        self._kids_dirty = False
        self._subjects: dict[tuple[str, str], Subject | None] = {}
        self._clients: dict[str, ClientCredentials | None] = {}
        self._revoked: dict[str, float] = {}
        self._revoked_loaded = False
        self._verified: dict[str, dict[str, Any]] = {}
        self._verified_max = heimdall_settings.VERIFIED_TOKEN_CACHE_SIZE
        self._max_token = heimdall_settings.MAX_TOKEN_BYTES
        self._private_keys: dict[str, Any] = {}

    # ---- invalidation -------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        with self._lock:
            self.generation += 1
            if isinstance(change, AppChanged):
                app_id = change.app_id
                self._apps.pop(app_id, None)
                for kid in [k for k, v in self._keys.items() if v.app_id == app_id]:
                    self._keys.pop(kid, None)
                self._kids_dirty = True
                # Its keys may have changed (one revoked): tokens verified with them are checked
                # again against the keys as they are now.
                self._verified = {t: c for t, c in self._verified.items() if c.get("app") != app_id}
                for client_id in [
                    k for k, v in self._clients.items() if v is not None and v.app_id == app_id
                ]:
                    self._clients.pop(client_id, None)
            elif isinstance(change, SubjectChanged):
                self._subjects.pop((change.app_id, change.subject_id), None)
                self._clients.pop(change.subject_id, None)
            elif isinstance(change, TokenRevoked):
                self._revoked[change.token_id] = change.expires_at

    def reset(self) -> None:
        """Drop everything (full resync); entries reload on next use."""
        with self._lock:
            self._drop_entries()
            self._kid_table = None
            self._revoked.clear()
            self._revoked_loaded = False

    def _drop_entries(self) -> None:
        """Under the lock: forget every per-entry cache, and make loads in flight discard what
        they read (the generation moves)."""
        self.generation += 1
        self._apps.clear()
        self._keys.clear()
        self._subjects.clear()
        self._clients.clear()
        self._verified.clear()

    def resync(self) -> None:
        """Full resync without a cold start: drop the per-entry caches (Apps, keys, subjects,
        clients, verified tokens) and replace the revocations with a fresh read, made before the
        lock is taken. Raises when the database cannot be read; the caller then `reset`s.

        The kid table is kept. It only lets a kid that no App publishes be refused without a
        query: a kid it lists is still loaded from the database (published keys only, `_load_key`)
        before it verifies anything, since the key cache is dropped here, and a kid it lacks makes
        it re-read (at once after a resync, then at most once a second). So a missed notification
        cannot make it accept anything, and requests never queue behind re-reading it (20,000
        rows at 10,000 Apps: ~40 ms of CPU holding the GIL, which showed as p99 spikes).

        A revocation applied while the fresh set was being read (the generation moved) may be
        missing from it: the two are merged (a revocation only ever adds)."""
        generation = self.generation
        revoked = _load_revoked()
        with self._lock:
            moved = self.generation != generation
            self._drop_entries()
            self._kids_dirty = True  # the first unknown kid re-reads the table at once
            if moved:
                revoked.update(self._revoked)
            self._revoked = revoked
            self._revoked_loaded = True

    # ---- freshness ----------------------------------------------------------------------

    def follow(self, bound: float) -> None:
        """A follower keeps this state fresh: from now on, answer from memory only while its last
        successful read started less than `bound` seconds ago."""
        self.staleness_bound = bound

    def confirm_fresh(self, as_of: float) -> None:
        """The follower has applied every change committed before `as_of` (`clock()` taken just
        before its read of the change log started)."""
        if self.fresh_as_of is None or as_of > self.fresh_as_of:
            self.fresh_as_of = as_of
        if self._degraded and not self.is_stale():
            self._degraded = False
            logger.warning("authorization state followed again: answering from memory")

    def is_stale(self) -> bool:
        """Whether the caches may have missed a change for longer than the bound."""
        bound = self.staleness_bound
        if bound is None:
            return False
        fresh = self.fresh_as_of
        if fresh is None:
            return True  # the follower has not read yet (start-up): the caches are empty anyway
        if self.clock() - fresh <= bound:
            return False
        if not self._degraded:
            self._degraded = True
            logger.warning(
                "authorization state not confirmed fresh for over %.1f s (change follower stalled): "
                "answering from the database until it catches up",
                bound,
            )
        return True

    def _store(self, generation: int, table: dict, key: Any, value: Any) -> None:
        with self._lock:
            if self.generation == generation:
                table[key] = value

    # ---- loaders (the only database access, on cache misses) ---------------------------

    def _freshen(self) -> None:
        """Past the staleness bound, drop the caches so what follows reads the database."""
        if self.is_stale():
            self.reset()

    def app(self, app_id: str) -> AppSnapshot | None:
        """An App's snapshot (None for an unknown or deleted App). Like `client`, an entry point
        of the token endpoint: past the staleness bound it reads the database, so a suspension or
        setting change another instance made cannot be missed for longer than the bound."""
        self._freshen()
        try:
            return self._apps[app_id]
        except KeyError:
            pass
        generation = self.generation
        snapshot = _load_app(app_id)
        self._store(generation, self._apps, app_id, snapshot)
        return snapshot

    def _key(self, kid: str) -> _Key | None:
        """The public key for `kid` if the App publishes it now (current, next, or retired until
        its `retire_until`); None for any other kid."""
        now = time.time()
        entry = self._keys.get(kid)
        if entry is not None:
            if not entry.expired(now):
                return entry
            with self._lock:
                self._keys.pop(kid, None)
            return None
        if not looks_like_id(kid, "key"):
            return None
        table = self._kid_table
        if table is None or (
            kid not in table and (self._kids_dirty or time.monotonic() - self._kid_table_at > 1.0)
        ):
            table = self._reload_kid_table()
        known = table.get(kid)
        if known is None or (known[1] is not None and now >= known[1]):
            return None
        generation = self.generation
        entry = _load_key(kid)
        if entry is None:
            with self._lock:  # gone since the table was read (revoked): refuse it without a query
                table.pop(kid, None)
            return None
        self._store(generation, self._keys, kid, entry)
        return None if entry.expired(now) else entry

    def _reload_kid_table(self) -> dict[str, tuple[str, float | None]]:
        with self._lock:
            self._kids_dirty = False
            self._kid_table_at = time.monotonic()
        table = _load_kid_table()
        self._kid_table = table
        return table

    def subject(self, app_id: str, subject_id: str) -> Subject | None:
        try:
            return self._subjects[(app_id, subject_id)]
        except KeyError:
            pass
        generation = self.generation
        subject = _load_subject(app_id, subject_id)
        self._store(generation, self._subjects, (app_id, subject_id), subject)
        return subject

    def client(self, client_id: str) -> ClientCredentials | None:
        """An M2M client's credentials by id (None for an unknown id, remembered too). Past the
        staleness bound it reads the database: a deleted client or a rotated secret stops working
        within the bound on every instance, even when this one's follower is stalled."""
        self._freshen()
        try:
            return self._clients[client_id]
        except KeyError:
            pass
        if not looks_like_id(client_id, "m2m"):
            return None
        generation = self.generation
        loaded = _load_client(client_id)
        with self._lock:
            if len(self._clients) >= 100_000:  # unknown ids must not grow memory without bound
                self._clients.clear()
        self._store(generation, self._clients, client_id, loaded)
        return loaded

    def is_revoked(self, jti: str) -> bool:
        if not self._revoked_loaded:
            generation = self.generation
            loaded = _load_revoked()
            with self._lock:
                if self.generation == generation:
                    loaded.update(self._revoked)
                    self._revoked = loaded
                    self._revoked_loaded = True
                else:
                    self._revoked.update(loaded)
        return jti in self._revoked

    def prune(self) -> None:
        now = time.time()
        with self._lock:
            self._revoked = {j: e for j, e in self._revoked.items() if e > now}
            self._verified = {t: c for t, c in self._verified.items() if c["exp"] > now}

    def private_key(self, kid: str) -> Any:
        """The decrypted private key for `kid`, decrypted once per process."""
        key = self._private_keys.get(kid)
        if key is None:
            key = _load_private_key(kid)
            self._private_keys[kid] = key
        return key

    # ---- verification -------------------------------------------------------------------

    def verify(self, token: str) -> tuple[dict[str, Any] | None, str | None]:
        """Check signature, header and claims; (claims, None) or (None, reason)."""
        if not isinstance(token, str) or not token or len(token) > self._max_token:
            return None, TOKEN_INVALID
        claims = self._verified.get(token)
        if claims is None:
            generation = self.generation
            claims, reason = self._verify_signature(token)
            if claims is None:
                return None, reason
            with self._lock:
                # A key revoked while this token was being verified must not leave it cached.
                if self.generation == generation:
                    if len(self._verified) >= self._verified_max:
                        self._verified.pop(next(iter(self._verified)), None)
                    self._verified[token] = claims
        if claims["exp"] <= time.time():
            return None, TOKEN_EXPIRED
        return claims, None

    def _verify_signature(self, token: str) -> tuple[dict[str, Any] | None, str | None]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return None, TOKEN_INVALID
        kid = header.get("kid")
        if (
            header.get("alg") not in SIGNING_ALGORITHMS
            or header.get("typ") != "at+jwt"
            or not isinstance(kid, str)
            or len(kid) > 64
        ):
            return None, TOKEN_INVALID
        key = self._key(kid)
        # The algorithm comes from the key the kid names, never from the token: the header's
        # `alg` must be exactly the key's (no none, no HS256 keyed with a public key, no RS256
        # header against an EC key), and PyJWT is allowed that one algorithm only.
        if key is None or header.get("alg") != key.algorithm:
            return None, TOKEN_INVALID
        app = self.app(key.app_id)
        if app is None:
            return None, TOKEN_INVALID
        try:
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.algorithm],
                issuer=app.issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": _REQUIRED_CLAIMS, "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            return None, TOKEN_EXPIRED
        except jwt.InvalidTokenError:
            return None, TOKEN_INVALID
        if not _lifetime_ok(claims, key, time.time()):
            return None, TOKEN_INVALID
        if (
            claims.get("app") != key.app_id
            or not isinstance(claims.get("sub"), str)
            or not isinstance(claims.get("jti"), str)
            or not isinstance(claims.get("scope", ""), str)
        ):
            return None, TOKEN_INVALID
        return claims, None

    def check(self, token: str, *, app_slug: str | None = None) -> Check:
        """Everything but the permission: validity, App, revocation and subject state."""
        # Past the staleness bound the caches may hold a suspended subject or a revoked token
        # as they were: answer from the database (loads racing this reset are not stored).
        self._freshen()
        claims, reason = self.verify(token)
        if claims is None:
            return Check(reason)
        app = self.app(claims["app"])
        if app is None:
            return Check(TOKEN_INVALID)
        if app_slug is not None and app.slug != app_slug:
            return Check(APP_MISMATCH, claims, app)
        if app.status != "active":
            return Check(APP_SUSPENDED, claims, app)
        if self.is_revoked(claims["jti"]) or (
            app.tokens_valid_after is not None and claims["iat"] <= int(app.tokens_valid_after)
        ):
            # Revoked, or issued before the App was last suspended: reactivation does not
            # bring it back.
            return Check(TOKEN_REVOKED, claims, app)
        subject = self.subject(app.id, claims["sub"])
        if subject is None:
            return Check(TOKEN_REVOKED, claims, app)
        if subject.status != "active":
            # Suspension ends the subject's sessions too (below): once reactivated, these
            # tokens answer token_revoked, never granted again.
            return Check(SUBJECT_SUSPENDED, claims, app, subject)
        if isinstance(claims.get("sid"), str) and self.is_revoked(claims["sid"]):
            return Check(TOKEN_REVOKED, claims, app)
        via = claims["client_id"]
        if via != subject.id and via.startswith("m2m_") and self.subject(app.id, via) is None:
            return Check(TOKEN_REVOKED, claims, app)  # issued through a client since deleted
        actor = claims.get("act")
        if actor is not None:
            # A delegated token (RFC 8693): the acting client must still exist with the secret
            # and delegation rights it had at issuance (rotation or any change of actsForUsers /
            # delegablePermissions kills it, whatever the grace period).
            actor_id = actor.get("sub") if isinstance(actor, dict) else None
            agent = self.client(actor_id) if isinstance(actor_id, str) else None
            if (
                agent is None
                or agent.app_id != app.id
                or not agent.acts_for_users
                or claims.get("agv") != agent.delegation_fingerprint
            ):
                return Check(TOKEN_REVOKED, claims, app)
        return Check(None, claims, app, subject)


def _load_app(app_id: str) -> AppSnapshot | None:
    with system_scope(reason="cache loader: reads one App's rows by its id"):
        app = App.objects.filter(pk=app_id).first()
        if app is None:
            return None
        declared = frozenset(Permission.objects.filter(app_id=app_id).values_list("name", flat=True))
        roles = {
            name: tuple(grants)
            for name, grants in Role.objects.filter(app_id=app_id).values_list("name", "permissions")
        }
        kid = (
            SigningKey.objects.filter(app_id=app_id, status=SigningKey.Status.CURRENT)
            .values_list("kid", flat=True)
            .first()
        )
    return AppSnapshot(
        id=app.id,
        slug=app.slug,
        status=app.status,
        is_operator=app.is_operator,
        settings=app.effective_settings(),
        declared=declared,
        management=perms.management_permissions(operator=app.is_operator),
        roles=roles,
        signing_kid=kid,
        tokens_valid_after=app.tokens_valid_after.timestamp() if app.tokens_valid_after else None,
    )


def _load_client(client_id: str) -> ClientCredentials | None:

    with system_scope(reason="cache loader: a client id is globally unique"):
        client = Client.objects.filter(pk=client_id).first()
    if client is None:
        return None
    expires = client.previous_secret_expires_at
    return ClientCredentials(
        id=client.id,
        app_id=client.app_id,
        secret_digest=client.secret_digest,
        previous_secret_digest=client.previous_secret_digest,
        previous_secret_expires_at=expires.timestamp() if expires else None,
        roles=tuple(client.roles),
        permissions=frozenset(client.permissions),
        access_token_ttl_seconds=client.access_token_ttl_seconds,
        acts_for_users=client.acts_for_users,
        delegable_permissions=frozenset(client.delegable_permissions),
    )


def _lifetime_ok(claims: dict[str, Any], key: _Key, now: float) -> bool:
    """Times a token Heimdall signed can have: whole seconds, issued no later than now (give or
    take the leeway), living no longer than the longest lifetime Heimdall issues, and (for a
    retired key) expiring before the key's `retire_until`, as every token it signed while current
    does: a token that outlives its retired key was signed after the key was retired."""
    iat, nbf, exp = claims["iat"], claims["nbf"], claims["exp"]
    if not (type(iat) is int and type(nbf) is int and type(exp) is int):
        return False
    if iat > now + _LEEWAY_SECONDS or exp - iat > MAX_TOKEN_LIFETIME_SECONDS:
        return False
    return key.valid_until is None or exp <= key.valid_until


def _published_now() -> Any:
    """Which signing keys verify tokens now: exactly those the JWKS publishes (SigningKey)."""
    return SigningKey.published_q(datetime.fromtimestamp(time.time(), tz=UTC))


def _valid_until(status: str, retire_until: datetime | None) -> float | None:
    if status != SigningKey.Status.RETIRED:
        return None
    return retire_until.timestamp() if retire_until is not None else 0.0


def _load_kid_table() -> dict[str, tuple[str, float | None]]:

    with system_scope(reason="cache loader: which App each published kid belongs to, across all Apps"):
        rows = SigningKey.objects.filter(_published_now()).values_list(
            "kid", "app_id", "status", "retire_until"
        )
        return {kid: (app_id, _valid_until(status, until)) for kid, app_id, status, until in rows}


def _load_key(kid: str) -> _Key | None:

    with system_scope(reason="cache loader: a kid is globally unique"):
        row = (
            SigningKey.objects.filter(_published_now(), pk=kid)
            .values_list("app_id", "public_pem", "algorithm", "status", "retire_until")
            .first()
        )
    if row is None:
        return None
    app_id, public_pem, algorithm, status, retire_until = row
    public_key = load_pem_public_key(public_pem.encode())
    if not public_key_fits(algorithm, public_key):
        # A row whose key is not of its algorithm's kind (edited by hand?) verifies nothing.
        logger.error("signing key %s is not a valid %s key: refusing its tokens", kid, algorithm)
        return None
    return _Key(
        app_id=app_id,
        public_key=public_key,
        algorithm=algorithm,
        valid_until=_valid_until(status, retire_until),
    )


def _load_private_key(kid: str) -> Any:
    with system_scope(reason="cache loader: a kid is globally unique"):
        blob = SigningKey.objects.values_list("private_key_encrypted", flat=True).get(pk=kid)
    # The key was generated by us and arrives through authenticated encryption: cryptography's
    # RSA consistency check (~40 ms a key) would prove nothing. EC and Ed25519 keys are PKCS#8
    # DER too; the flag does not concern them.
    return load_der_private_key(
        decrypt_private_key(blob, key_id=kid), password=None, unsafe_skip_rsa_key_validation=True
    )


def _load_subject(app_id: str, subject_id: str) -> Subject | None:

    with system_scope(reason="cache loader: one subject of one App, by id"):
        if subject_id.startswith("m2m_"):
            client = Client.objects.filter(app_id=app_id, pk=subject_id).first()
            if client is None:
                return None
            return Subject(
                id=client.id,
                status="active",
                roles=tuple(client.roles),
                permissions=frozenset(client.permissions),
            )
        if subject_id.startswith("usr_"):
            state = membership_state(app_id=app_id, user_id=subject_id)
            if state is None:
                return None
            status, roles = state
            return Subject(
                id=subject_id,
                status=status,
                roles=tuple(roles),
                permissions=frozenset(),
            )
    return None


def _load_revoked() -> dict[str, float]:
    with system_scope(reason="cache loader: every App's unexpired revocations"):
        rows = RevokedToken.objects.filter(expires_at__gt=timezone.now()).values_list("jti", "expires_at")
        revoked = {jti: exp.timestamp() for jti, exp in rows}
    # Sessions ended by accounts (refresh-token families revoked): their `sid` is refused
    # until any access token issued in them has expired.
    revoked.update(ended_sessions(within_seconds=MAX_TOKEN_LIFETIME_SECONDS + 60))
    return revoked


_state: AuthzState | None = None
_state_lock = threading.Lock()


def get_state() -> AuthzState:
    """This process's state; starts the change-log follower on first use."""
    global _state
    if _state is None:
        with _state_lock:
            if _state is None:
                state = AuthzState()
                changes.add_listener(state.on_change)
                _state = state
                if heimdall_settings.SYNC_THREAD:
                    start_follower(state)
                    start_sealer()
    return _state
