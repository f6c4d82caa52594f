"""`manage.py flush`, as the tables' owner when DATABASE_MIGRATE_URL is set: it TRUNCATEs, which
the server's role is not granted (TRUNCATE is not filtered by row-level security)."""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush

from core import rls


class Command(flush.Command):
    def handle(self, *args: Any, **options: Any) -> Any:
        with rls.as_owner(options["database"]):
            return super().handle(*args, **options)
