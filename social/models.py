"""Social sign-in: an App's identity providers, the links of provider accounts to its members,
and the short-lived state of sign-ins in progress."""

from __future__ import annotations

from django.db import models

from core.ids import id_factory
from core.tenancy import TenantModel


class IdentityProvider(TenantModel):
    """An OpenID Connect (or GitHub OAuth2) provider members of one App may sign in with. The
    client secret is stored encrypted (core.crypto.encrypt_secret), never returned or audited."""

    class Kind(models.TextChoices):
        OIDC = "oidc"
        GOOGLE = "google"
        MICROSOFT = "microsoft"
        GITHUB = "github"

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("idp"), editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    issuer = models.CharField(max_length=2000, null=True)
    client_id = models.CharField(max_length=500)
    client_secret_encrypted = models.TextField()
    scopes = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]


class SocialLink(TenantModel):
    """A provider account (provider, subject) linked to one member of the provider's App."""

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("lnk"), editable=False)
    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="links")
    subject = models.CharField(max_length=255)
    membership = models.ForeignKey("accounts.Membership", on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254, null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["provider", "subject"], name="social_link_subject_unique")]


class AuthorizationFlow(TenantModel):
    """A sign-in between /v1/oauth/authorize and /v1/oauth/callback: found by the digest of
    Heimdall's own `state`; single use; ten minutes at most; bound to the browser that started
    it by the digest of a random value that only that browser holds, in a cookie."""

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("afl"), editable=False)
    state_digest = models.CharField(max_length=64, unique=True)
    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="+")
    redirect_uri = models.TextField()
    client_state = models.TextField()
    code_challenge = models.CharField(max_length=128)  # the client's, for Heimdall's own code
    nonce = models.CharField(max_length=64)
    browser_digest = models.CharField(max_length=64, default="")  # "" (older rows) matches no cookie
    verifier_encrypted = models.TextField()  # Heimdall's PKCE verifier towards the provider
    invite_id = models.CharField(max_length=40, null=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
