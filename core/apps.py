from django.apps import AppConfig
from django.db.models.signals import post_migrate

from core.openapi import register_extensions


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Heimdall core plumbing"

    def ready(self) -> None:
        register_extensions()
        # Imported here, not at the top: core.rls defines models (core.tenancy), which Django
        # allows only once the app registry is populated (the documented place is ready()).
        from core import rls

        # Once per `migrate` (sender: this app), after every app's migrations: row-level security
        # on every tenant-owned table, grants for the server's role.
        post_migrate.connect(rls.after_migrate, sender=self, dispatch_uid="heimdall-rls")
