"""`manage.py migrate`, as the tables' owner when DATABASE_MIGRATE_URL is set.

Django's own migrate command with two differences: it connects with DATABASE_MIGRATE_URL's
credentials (the server's DATABASE_URL role owns nothing), and it runs in system scope, so a data
migration sees every App's rows through the row-level-security policies (core.rls), which bind the
owner too. After it, core.rls.after_migrate applies the policies and the server role's grants.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import migrate

from core import rls
from core.context import system_scope


class Command(migrate.Command):
    def handle(self, *args: Any, **options: Any) -> Any:
        with rls.as_owner(options["database"]), system_scope(reason="migrations rewrite every App's rows"):
            return super().handle(*args, **options)
