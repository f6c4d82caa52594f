"""Tenant isolation in one place.

Every tenant-owned model derives from `TenantModel`. Its default manager, `objects`, filters by
the App in the request context; with no App in context it raises `TenantContextMissing` instead of
returning every App's rows. `system_scope(reason=...)` (see core.context) is the one explicit
escape hatch. New rows created through `objects.create()` take the current App automatically.

On PostgreSQL the database enforces the same isolation behind this manager (core.rls): every table
of a TenantModel gets a row-level-security policy, applied after each migrate.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from core import context


class TenantContextMissing(RuntimeError):
    """A tenant-owned model was queried with no App in context and no system scope."""


class TenantManager(models.Manager):
    """Filters every queryset by the App in context; refuses to run without one."""

    def get_queryset(self) -> models.QuerySet:
        qs = super().get_queryset()
        if context.in_system_scope():
            return qs
        app = context.current_app()
        if app is None:
            raise TenantContextMissing(
                f"{self.model.__name__} is tenant-owned but no App is in context. "
                "Run inside core.context.tenant_scope(app), or system_scope(reason=...) for operator code."
            )
        return qs.filter(app_id=app.pk)

    def create(self, **kwargs: Any) -> Any:
        if "app" not in kwargs and "app_id" not in kwargs:
            app = context.current_app()
            if app is None:
                raise TenantContextMissing(f"Creating {self.model.__name__} needs an App in context.")
            kwargs["app"] = app
        return super().create(**kwargs)


class TenantModel(models.Model):
    """Base for every row that belongs to one App."""

    app = models.ForeignKey("tenants.App", on_delete=models.CASCADE, related_name="+")

    objects = TenantManager()

    class Meta:
        abstract = True
        # Related-object access and cascades keep Django's plain base manager: they start from a
        # row that was itself reached through a scoped query.
