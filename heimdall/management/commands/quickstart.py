"""`manage.py quickstart`: migrate, bootstrap, print operator credentials, serve on :8000.

For a first run on a laptop (DEBUG=true, SQLite by default). Each run gives the `quickstart`
operator client a fresh secret, so the printed credentials always work.
"""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from core.context import Actor, tenant_scope
from heimdall.provisioning import operator_bootstrap, operator_client_create
from tokens.clients import client_secret_rotate
from tokens.models import Client


class Command(BaseCommand):
    help = "Migrate, bootstrap the operator App, print operator credentials, and run a dev server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true", help="stop after printing credentials")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", verbosity=0, interactive=False)
        app, _ = operator_bootstrap()
        with tenant_scope(app):
            existing = Client.objects.filter(name="quickstart").order_by("id").first()
        if existing is None:
            client, secret = operator_client_create(name="quickstart")
        else:
            client, secret = client_secret_rotate(app=app, actor=Actor.system(), client_id=existing.id)
        base = f"http://{options['addrport']}"
        self.stdout.write(
            "\nHeimdall is ready. Operator credentials (shown once; rotated on every quickstart):\n"
            f"  clientId:     {client.id}\n"
            f"  clientSecret: {secret}\n\n"
            "Get an operator token:\n"
            f"  curl -s {base}/v1/oauth/token -H 'content-type: application/json' \\\n"
            f'    -d \'{{"clientId": "{client.id}", "clientSecret": "{secret}"}}\'\n\n'
            f"API docs: {base}/docs\n"
        )
        if not options["no_serve"]:
            call_command("runserver", options["addrport"], use_reloader=False)
