"""The environment of a Heimdall server process that a test (tests/multiprocess) or the fuzz
runner (tests/fuzz/run.py) starts: production settings, this process's variables minus the test
run's own (Django, Heimdall and pytest settings, the test database's name), fresh secrets."""

from __future__ import annotations

import os
import secrets


def server_env(database_url: str, *, public_url: str, allowed_hosts: str, label: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "HEIMDALL_", "PYTEST_")) and k != "TEST_DATABASE_NAME"
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "heimdall.settings",
            "DATABASE_URL": database_url,
            "SECRET_KEY": f"{label}-secret-" + secrets.token_hex(24),
            "HEIMDALL_KEY_ENCRYPTION_KEY": f"{label}-kek-" + secrets.token_hex(24),
            "DEBUG": "false",
            "ALLOWED_HOSTS": allowed_hosts,
            "PUBLIC_URL": public_url,
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env
