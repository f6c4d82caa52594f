"""The tenant: an App is an isolated namespace of users, clients, roles and audit events."""

from __future__ import annotations

from typing import Any

from django.db import models

from core.ids import id_factory

OPERATOR_SLUG = "heimdall"

# JWS algorithms of signing keys (tokens.algorithms): the values of the `signingAlgorithm` setting.
SIGNING_ALGORITHMS = ("RS256", "ES256", "EdDSA")

DEFAULT_SETTINGS: dict[str, Any] = {
    "accessTokenTtlSeconds": 900,
    "refreshTokenTtlSeconds": 2_592_000,
    "m2mTokenTtlSeconds": 3600,
    "delegatedTokenTtlSeconds": 300,
    "redirectUris": [],
    "socialSignup": "members_only",
    # Roles of a member created by `open` social sign-up (names checked against the App's roles
    # when used: roles live in a layer above tenants).
    "signupRoles": [],
    # e.g. "https://app.example.com/join?token={token}": invites then carry a ready accept URL.
    "inviteUrlTemplate": None,
    # Days audit events are kept (`manage.py audit_prune`); None keeps them forever.
    "auditRetentionDays": None,
    # Algorithm of the signing keys generated from now on (one of SIGNING_ALGORITHMS). Changing it
    # changes no existing key: the next rotation publishes a key of the new algorithm as the next
    # key, and the rotation after that makes it sign.
    "signingAlgorithm": "RS256",
}


class App(models.Model):
    """One tenant. Its slug is unique and immutable; `settings` holds only known keys."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("app"), editable=False)
    slug = models.CharField(max_length=63, unique=True)
    display_name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    settings = models.JSONField(default=dict)
    is_operator = models.BooleanField(default=False)
    # Set when the App is suspended: tokens issued at or before it stay dead after reactivation.
    tokens_valid_after = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    def effective_settings(self) -> dict[str, Any]:
        """Stored settings over the documented defaults."""
        return {**DEFAULT_SETTINGS, **(self.settings or {})}

    def setting(self, name: str) -> Any:
        return self.effective_settings()[name]
