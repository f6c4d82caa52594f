"""Per-App permissions and roles."""

from __future__ import annotations

from django.db import models

from core.ids import id_factory
from core.tenancy import TenantModel


class Permission(TenantModel):
    """A permission the App declares, `resource.action`. Names are unique per App."""

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("prm"), editable=False)
    name = models.CharField(max_length=129)
    description = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["app", "name"], name="uniq_permission_per_app")]


class Role(TenantModel):
    """A named set of grants (permission names or patterns), kept as declared."""

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("rol"), editable=False)
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=500, blank=True, default="")
    permissions = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["app", "name"], name="uniq_role_per_app")]
