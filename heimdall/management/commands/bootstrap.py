"""`manage.py bootstrap [--create-client NAME] [--json]`: the operator App, idempotently."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from heimdall.provisioning import operator_bootstrap, operator_client_create


class Command(BaseCommand):
    help = "Create the operator App 'heimdall' if missing; optionally print a new operator client."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--create-client", metavar="NAME", help="create an operator M2M client")
        parser.add_argument("--json", action="store_true", help="print the client as JSON only")

    def handle(self, *args: Any, **options: Any) -> None:
        app, created = operator_bootstrap()
        if not options["json"]:
            self.stderr.write(f"operator App '{app.slug}' {'created' if created else 'already exists'}")
        name = options.get("create_client")
        if not name:
            return
        client, secret = operator_client_create(name=name)
        if options["json"]:
            self.stdout.write(json.dumps({"clientId": client.id, "clientSecret": secret}))
        else:
            self.stdout.write(
                f"operator client '{name}'\n  clientId:     {client.id}\n  clientSecret: {secret}"
            )
            self.stdout.write("The secret is shown once; store it now.")
