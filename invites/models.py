"""Invite links: a role of one App, optionally bound to an email, with expiry and a use limit."""

from __future__ import annotations

from datetime import datetime

from django.db import models

from core.ids import id_factory
from core.tenancy import TenantModel


class Invite(TenantModel):
    """One invite. Its token is shown once and stored only as a keyed digest. Its status is
    derived when read (revoked, exhausted, expired, else pending): nothing expires it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        EXHAUSTED = "exhausted"
        EXPIRED = "expired"
        REVOKED = "revoked"

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("inv"), editable=False)
    digest = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=64)
    email = models.CharField(max_length=254, null=True)  # normalized like sign-in; None: anyone
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField()
    uses = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True)
    created_by = models.CharField(max_length=64, null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def status_at(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if self.uses >= self.max_uses:
            return self.Status.EXHAUSTED
        if self.expires_at <= now:
            return self.Status.EXPIRED
        return self.Status.PENDING
