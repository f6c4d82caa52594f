"""Settings of the DOT comparison site: DOT's defaults, production-like Django, PostgreSQL.

Environment (bench/run.sh sets all of it): DOT_DATABASE_NAME, PGHOST, PGPORT, PGUSER, SECRET_KEY,
ALLOWED_HOSTS. DEBUG is off. Database connections are kept like Heimdall's (CONN_MAX_AGE=60 with
health checks) so the comparison is not about connection set-up. Client secrets are hashed, as
DOT does by default (`hash_client_secret=True`, Django's default password hasher).
"""

import os

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1").split(",")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "oauth2_provider",
    "dotbench",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
]

ROOT_URLCONF = "dotbench.urls"
WSGI_APPLICATION = "dotbench.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["DOT_DATABASE_NAME"],
        "USER": os.environ.get("PGUSER", "postgres"),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

OAUTH2_PROVIDER = {
    "SCOPES": {
        "read": "Read scope",
        "introspection": "Introspect tokens",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
