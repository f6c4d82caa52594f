"""`manage.py rotate_signing_keys [--app SLUG] [--revoke]`: rotate one App's signing keys, or every
App's; with `--revoke` (after a key compromise) the old key is dropped at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.context import Actor
from tenants.models import App
from tokens.keys import signing_keys_rotate


class Command(BaseCommand):
    help = (
        "Make each App's pre-published next key sign new tokens, publish a fresh next key, and "
        "keep the retired public key in the JWKS until its tokens have expired. With --revoke, "
        "drop the retired key at once instead: every token it signed stops verifying everywhere."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--app", metavar="SLUG", help="only this App")
        parser.add_argument(
            "--revoke",
            action="store_true",
            help="the signing key is compromised: drop it now, and with it every token it signed",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        apps = App.objects.all()
        if options.get("app"):
            apps = apps.filter(slug=options["app"])
            if not apps.exists():
                raise CommandError(f"No App with slug '{options['app']}'.")
        revoke = bool(options.get("revoke"))
        for app in apps.order_by("slug"):
            key = signing_keys_rotate(app=app, actor=Actor.system(), revoke=revoke)
            suffix = "; the previous key is revoked" if revoke else ""
            self.stdout.write(f"{app.slug}: now signing with {key.kid}{suffix}")
