from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Heimdall core plumbing"

    def ready(self) -> None:
        from core.openapi import register_extensions

        register_extensions()
