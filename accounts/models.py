"""Identities (one per email, across Apps), their memberships of Apps, refresh tokens and
failed sign-in records."""

from __future__ import annotations

from django.db import models

from core.ids import id_factory
from core.tenancy import TenantModel


class Identity(models.Model):
    """A person: one normalized email and one Argon2id password hash, shared by every App they
    belong to. No App sees it except through its own membership."""

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("usr"), editable=False)
    email = models.CharField(max_length=254, unique=True)
    password_hash = models.CharField(max_length=255, null=True)
    password_changed_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class Membership(TenantModel):
    """An identity's place in one App: status, roles, and the profile this App sees."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("mbr"), editable=False)
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="memberships")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    roles = models.JSONField(default=list)
    # ",admin,editor," — lets the role filter run in SQL on every database.
    roles_index = models.CharField(max_length=2000, default=",")
    display_name = models.CharField(max_length=200, blank=True, default="")
    metadata = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_login_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["app", "identity"], name="uniq_membership")]

    def set_roles(self, roles: list[str]) -> None:
        self.roles = roles
        self.roles_index = "," + "".join(f"{r}," for r in roles)


class RefreshToken(TenantModel):
    """One refresh token of a rotation family. Only its digest is stored.

    Rotation marks it `used_at` and issues a successor in the same family; presenting a used
    token again revokes the whole family (reuse detection).
    """

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("rtk"), editable=False)
    family = models.CharField(max_length=40, db_index=True)
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)
    revoked_at = models.DateTimeField(null=True)


class LoginFailure(models.Model):
    """One failed password sign-in, counted per identity+App key and per client IP key.

    Keys are keyed digests, so unknown emails typed at the sign-in form are not stored.
    """

    key = models.CharField(max_length=80)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["key", "created_at"])]
