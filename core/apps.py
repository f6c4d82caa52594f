from django.apps import AppConfig

from core.openapi import register_extensions


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Heimdall core plumbing"

    def ready(self) -> None:
        register_extensions()
