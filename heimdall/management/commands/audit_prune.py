"""`manage.py audit_prune [--app SLUG]`: remove audit events older than each App's
`auditRetentionDays`, keeping the chain verifiable from a checkpoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.services import AuditChainBroken, audit_prune
from core.context import Actor
from heimdall.management.commands.audit_verify import apps_named


class Command(BaseCommand):
    help = (
        "For each App with the auditRetentionDays setting, delete its sealed audit events older "
        "than that many days (after verifying them) and move its chain checkpoint past them. "
        "Apps without the setting keep every event. Exit code 1 when a chain is invalid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--app", metavar="SLUG", help="only this App")

    def handle(self, *args: Any, **options: Any) -> None:
        failed: list[str] = []
        now = timezone.now()
        for app in apps_named(options.get("app")):
            days = app.setting("auditRetentionDays")
            if days is None:
                self.stdout.write(f"{app.slug}: keeps every event (auditRetentionDays is not set)")
                continue
            try:
                count = audit_prune(app_id=app.pk, older_than=now - timedelta(days=days), actor=Actor.system())
            except AuditChainBroken as exc:
                failed.append(app.slug)
                self.stdout.write(f"{app.slug}: NOT pruned: {exc}")
                continue
            self.stdout.write(f"{app.slug}: pruned {count} events older than {days} days")
        if failed:
            raise CommandError(f"audit chain invalid for: {', '.join(failed)}", returncode=1)
