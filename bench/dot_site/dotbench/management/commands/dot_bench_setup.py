"""`manage.py dot_bench_setup`: create the benchmark's client-credentials applications.

Prints JSON on stdout: {"hashed": {"clientId", "clientSecret"}, "plain": {...}}.
`hashed` is DOT's default (the secret is stored with Django's password hasher and checked with it
on every client authentication); `plain` sets hash_client_secret=False, to show what that costs.
"""

import json
import secrets
from typing import Any

from django.core.management.base import BaseCommand
from oauth2_provider.models import get_application_model


class Command(BaseCommand):
    help = "Create the DOT applications used by bench/run.sh and print their credentials as JSON."

    def handle(self, *args: Any, **options: Any) -> None:
        application = get_application_model()
        out = {}
        for label, hashed in (("hashed", True), ("plain", False)):
            secret = secrets.token_urlsafe(32)
            app = application.objects.create(
                name=f"bench-{label}",
                client_type=application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=application.GRANT_CLIENT_CREDENTIALS,
                client_secret=secret,
                hash_client_secret=hashed,
            )
            out[label] = {"clientId": app.client_id, "clientSecret": secret}
        self.stdout.write(json.dumps(out))
