"""`manage.py audit_verify [--app SLUG]`: verify each App's audit hash chain (exit code 1 if any
is invalid)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import audit_chain_verify
from tenants.models import App


def apps_named(slug: str | None) -> Any:
    apps = App.objects.all()
    if slug:
        apps = apps.filter(slug=slug)
        if not apps.exists():
            raise CommandError(f"No App with slug '{slug}'.")
    return apps.order_by("slug")


class Command(BaseCommand):
    help = (
        "Seal pending audit events, then walk each App's hash chain from its last prune checkpoint: "
        "every hash recomputed, every link checked. Exit code 1 when a chain is invalid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--app", metavar="SLUG", help="only this App")

    def handle(self, *args: Any, **options: Any) -> None:
        invalid: list[str] = []
        for app in apps_named(options.get("app")):
            result = audit_chain_verify(app_id=app.pk)
            if result.valid:
                self.stdout.write(
                    f"{app.slug}: valid, {result.checked_events} events checked "
                    f"(seq {result.from_seq}..{result.last_seq}, last hash {result.last_hash})"
                )
            else:
                invalid.append(app.slug)
                where = result.first_invalid_event_id or f"the end (after seq {result.last_seq})"
                self.stdout.write(
                    f"{app.slug}: INVALID at {where}: {result.reason} "
                    f"({result.checked_events} events checked before it)"
                )
        if invalid:
            raise CommandError(f"audit chain invalid for: {', '.join(invalid)}", returncode=1)
