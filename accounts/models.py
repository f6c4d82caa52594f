"""Identities (one per email, across Apps), their memberships of Apps, and refresh tokens."""

from __future__ import annotations

from django.db import models

from core.ids import id_factory
from core.tenancy import TenantModel
from rbac.holders import role_holders_register


class Identity(models.Model):
    """A person: one normalized email, shared by every App they belong to. No App sees it, or its
    id, except through its own membership. Credentials are not here: each membership has its own
    password, so a password set in one App never opens another."""

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("idn"), editable=False)
    email = models.CharField(max_length=254, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class Membership(TenantModel):
    """An identity's place in one App: status, roles, and the profile this App sees.

    Its id (`usr_…`) is the user's id in this App and the `sub` of their tokens. Each App gets its
    own id for the same person, so Apps cannot correlate users, and a user removed and added again
    gets a new id (their old tokens stay dead).
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("usr"), editable=False)
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="memberships")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    roles = models.JSONField(default=list)
    # ",admin,editor," — lets the role filter run in SQL on every database.
    roles_index = models.TextField(default=",")
    display_name = models.CharField(max_length=200, blank=True, default="")
    metadata = models.JSONField(default=dict)
    # This App's own Argon2id password for the person (None: no password sign-in here).
    password_hash = models.CharField(max_length=255, null=True)
    password_changed_at = models.DateTimeField(null=True)
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
    # The confidential client it was issued through (it must authenticate to refresh), if any.
    client_id = models.CharField(max_length=40, null=True)
    # The narrowed scope it was issued with (space-separated); refreshes never widen it.
    scope = models.TextField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)
    # Set when its session ends; recently ended sessions are loaded by accounts.selectors.
    revoked_at = models.DateTimeField(null=True, db_index=True)


def _members_holding_role(role: str, limit: int) -> list[str]:
    """Ids of members of the App in context holding `role` (for rbac's role deletion)."""
    return list(Membership.objects.filter(roles_index__contains=f",{role},").values_list("id", flat=True)[:limit])


role_holders_register("user", _members_holding_role)
