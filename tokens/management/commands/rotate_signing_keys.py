"""`manage.py rotate_signing_keys [--app SLUG]`: rotate one App's signing keys, or every App's."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.context import Actor
from tenants.models import App
from tokens.keys import signing_keys_rotate


class Command(BaseCommand):
    help = (
        "Make each App's pre-published next key sign new tokens, publish a fresh next key, and "
        "keep the retired public key in the JWKS until its tokens have expired."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--app", metavar="SLUG", help="only this App")

    def handle(self, *args: Any, **options: Any) -> None:
        apps = App.objects.all()
        if options.get("app"):
            apps = apps.filter(slug=options["app"])
            if not apps.exists():
                raise CommandError(f"No App with slug '{options['app']}'.")
        for app in apps.order_by("slug"):
            key = signing_keys_rotate(app=app, actor=Actor.system())
            self.stdout.write(f"{app.slug}: now signing with {key.kid}")
