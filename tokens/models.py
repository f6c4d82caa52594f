"""Signing keys, machine-to-machine clients and revoked access tokens."""

from __future__ import annotations

from datetime import datetime

from django.db import models

from core.ids import id_factory
from core.tenancy import TenantModel
from rbac.holders import role_holders_register
from tenants.models import SIGNING_ALGORITHMS


class SigningKey(TenantModel):
    """One key pair of an App, for one JWS algorithm (tokens.algorithms: RS256, ES256 or EdDSA,
    fixed at generation). The private half is stored encrypted (core.crypto).

    Lifecycle: `next` (published, not yet signing) -> `current` (signing; exactly one per App)
    -> `retired` (published until `retire_until`, when every token it signed has expired).
    """

    class Status(models.TextChoices):
        NEXT = "next"
        CURRENT = "current"
        RETIRED = "retired"

    kid = models.CharField(primary_key=True, max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices)
    # The one `alg` this key signs and verifies. Keys made before algorithms were selectable are
    # RS256 (the database default, also for rows inserted in bulk without it).
    algorithm = models.CharField(
        max_length=8, choices=[(a, a) for a in SIGNING_ALGORITHMS], default="RS256", db_default="RS256"
    )
    public_pem = models.TextField()
    private_key_encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True)
    retire_until = models.DateTimeField(null=True)

    class Meta:
        ordering = ["created_at"]

    @classmethod
    def published_q(cls, now: datetime) -> models.Q:
        """The keys in the JWKS at `now`, and the only ones that verify anything: current, next,
        and retired keys until their `retire_until`."""
        return models.Q(status__in=[cls.Status.CURRENT, cls.Status.NEXT]) | models.Q(
            status=cls.Status.RETIRED, retire_until__gt=now
        )


class Client(TenantModel):
    """A machine-to-machine client. Its secret is stored only as a keyed digest."""

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("m2m"), editable=False)
    name = models.CharField(max_length=200)
    roles = models.JSONField(default=list)
    permissions = models.JSONField(default=list)
    access_token_ttl_seconds = models.PositiveIntegerField(null=True)
    secret_digest = models.CharField(max_length=64)
    previous_secret_digest = models.CharField(max_length=64, null=True)
    previous_secret_expires_at = models.DateTimeField(null=True)
    acts_for_users = models.BooleanField(default=False)
    delegable_permissions = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]


class RevokedToken(TenantModel):
    """An access token revoked before its expiry, kept until it would have expired."""

    jti = models.CharField(primary_key=True, max_length=64)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(auto_now_add=True)


def _clients_holding_role(role: str, limit: int) -> list[str]:
    """Ids of M2M clients of the App in context holding `role` (for rbac's role deletion)."""
    return [c.id for c in Client.objects.only("id", "roles") if role in c.roles][:limit]


role_holders_register("client", _clients_holding_role)


class AuthorizationCode(TenantModel):
    """A one-time Heimdall authorization code (social sign-in): bound to a member, the client's
    redirect URI and its PKCE S256 challenge; lives 60 s; only its keyed digest is stored.

    `session` is the sign-in session its one redemption started: a second redemption ends it."""

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("acd"), editable=False)
    digest = models.CharField(max_length=64, unique=True)
    membership = models.ForeignKey("accounts.Membership", on_delete=models.CASCADE, related_name="+")
    redirect_uri = models.TextField()
    code_challenge = models.CharField(max_length=128)
    via = models.CharField(max_length=64)  # how the member signed in, e.g. the provider's idp_ id
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)
    session = models.CharField(max_length=40, null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
