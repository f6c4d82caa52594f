"""Test settings: the real settings, with test-only defaults for what production must set."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("PUBLIC_URL", "http://testserver")
os.environ.setdefault("HEIMDALL_KEY_ENCRYPTION_KEY", "test-only-key-encryption-key-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

from heimdall.settings import *  # noqa: F403
from heimdall.settings import HEIMDALL

# Tests run in one process; changes reach its caches directly, with no follower thread.
HEIMDALL["SYNC_THREAD"] = False
# The social sign-in tests run a fake OpenID provider on 127.0.0.1 (plain http).
HEIMDALL["IDP_ALLOW_PRIVATE_NETWORKS"] = True

# SQLite (no DATABASE_URL): a test database in a file, as the server uses, not Django's default
# shared-cache in-memory one, whose table locks fail at once ("database table is locked") instead
# of waiting out the busy timeout as a file database does; the concurrency tests need the wait.
# pytest-django adds a suffix per xdist worker.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and not DATABASES["default"]["TEST"]["NAME"]:  # noqa: F405
    DATABASES["default"]["TEST"]["NAME"] = str(BASE_DIR / "var" / "test-heimdall.sqlite3")  # noqa: F405
