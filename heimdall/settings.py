"""Heimdall settings: read from the environment only (django-environ).

Every variable is documented in README.md ("Configuration"). Parsing is strict: a malformed value
stops the process at start-up with a message naming the variable.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def _env(name: str, cast: Any, default: Any) -> Any:
    """Read one variable, failing with a message that names it."""
    try:
        return env(name, cast=cast, default=default)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"Environment variable {name} is malformed: {exc}") from exc


DEBUG: bool = _env("DEBUG", bool, False)

_DEV_SECRET_KEY = "heimdall-development-only-secret-key-never-use-in-production"
SECRET_KEY: str = _env("SECRET_KEY", str, "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=true for local development."
        )
    SECRET_KEY = _DEV_SECRET_KEY
elif len(SECRET_KEY) < 32 and not DEBUG:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long.")

PUBLIC_URL: str = _env("PUBLIC_URL", str, "http://localhost:8000").rstrip("/")
if not PUBLIC_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured("PUBLIC_URL must start with http:// or https://")

ALLOWED_HOSTS: list[str] = _env("ALLOWED_HOSTS", list, ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not ALLOWED_HOSTS:
    from urllib.parse import urlsplit

    ALLOWED_HOSTS = [urlsplit(PUBLIC_URL).hostname or "localhost"]

# The key that encrypts private signing keys at rest. Derived from SECRET_KEY when unset.
HEIMDALL_KEY_ENCRYPTION_KEY: str = _env("HEIMDALL_KEY_ENCRYPTION_KEY", str, "")
if not HEIMDALL_KEY_ENCRYPTION_KEY and not DEBUG:
    warnings.warn(
        "HEIMDALL_KEY_ENCRYPTION_KEY is not set: private signing keys are encrypted with a key "
        "derived from SECRET_KEY. Set a dedicated key in production.",
        stacklevel=1,
    )

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "tenants",
    "accounts",
    "rbac",
    "tokens",
    "invites",
    "social",
    "audit",
    "heimdall",  # provisioning and the bootstrap/quickstart commands (the top layer)
]

MIDDLEWARE = [
    "core.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "tokens.authn.TenantMiddleware",
]

ROOT_URLCONF = "heimdall.urls"
WSGI_APPLICATION = "heimdall.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]

_DEFAULT_SQLITE = f"sqlite:///{BASE_DIR / 'var' / 'heimdall.sqlite3'}"
DATABASE_URL: str = _env("DATABASE_URL", str, "") or _DEFAULT_SQLITE
try:
    DATABASES = {"default": environ.Env.db_url_config(DATABASE_URL)}
except Exception as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
else:
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend plus the row-level-security settings kept equal to the code's context.
        DATABASES["default"]["ENGINE"] = "core.pgbackend"
    DATABASES["default"]["CONN_MAX_AGE"] = _env("DATABASE_CONN_MAX_AGE", int, 60)
    # Off by default: a health check is one more round trip on every request that touches the
    # database; a connection that died is replaced after the request it failed.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = _env("DATABASE_CONN_HEALTH_CHECKS", bool, False)
DATABASES["default"]["TEST"] = {"NAME": _env("TEST_DATABASE_NAME", str, None)}

# `manage.py migrate` connects with these credentials (the tables' owner) instead of
# DATABASE_URL's, which then names a role that owns nothing and cannot bypass row-level security.
# The same database: only the user, password, host and port are taken from it.
DATABASE_MIGRATE_URL: str = _env("DATABASE_MIGRATE_URL", str, "")
DATABASE_MIGRATE: dict[str, Any] | None = None
if DATABASE_MIGRATE_URL:
    try:
        DATABASE_MIGRATE = environ.Env.db_url_config(DATABASE_MIGRATE_URL)
    except Exception as exc:
        raise ImproperlyConfigured(f"DATABASE_MIGRATE_URL is malformed: {exc}") from exc
    if DATABASES["default"]["ENGINE"] != "core.pgbackend" or DATABASE_MIGRATE["ENGINE"] != (
        "django.db.backends.postgresql"
    ):
        raise ImproperlyConfigured("DATABASE_MIGRATE_URL is for PostgreSQL: both URLs must be postgres://.")
    if DATABASE_MIGRATE["NAME"] != DATABASES["default"]["NAME"]:
        raise ImproperlyConfigured("DATABASE_MIGRATE_URL must name the same database as DATABASE_URL.")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Only the API docs' assets (Swagger UI, ReDoc from drf-spectacular-sidecar) are static files;
# heimdall.urls serves them itself so /docs works offline with no web server in front.
STATIC_URL = "/static/"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
if PUBLIC_URL.startswith("https://"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tokens.authn.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["core.auth.RequiresPermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # No `?format=` override: the representation is chosen by the endpoint (and `Accept`) only.
    # With it, the audit export (JSON + NDJSON renderers) took `?format=` (empty too) as a
    # parameter the document could not describe exactly; the fuzz step found it.
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "core.errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
    "COERCE_DECIMAL_TO_STRING": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Heimdall API",
    "DESCRIPTION": (
        "Multi-tenant authentication and authorization. Every error is "
        "`application/problem+json` (RFC 9457) with a stable `code`."
    ),
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["core.openapi.add_problem_responses"],
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}

# Heimdall's own knobs. core/conf.py declares each key's type and default and is the only reader
# (`heimdall_settings.NAME`); README.md documents the variables.
HEIMDALL: dict[str, object] = {
    "RESYNC_SECONDS": _env("HEIMDALL_RESYNC_SECONDS", float, 5.0),
    "SQLITE_POLL_SECONDS": _env("HEIMDALL_SQLITE_POLL_SECONDS", float, 0.5),
    "STALENESS_BOUND_SECONDS": _env("HEIMDALL_STALENESS_BOUND_SECONDS", float, 10.0),
    "VERIFIED_TOKEN_CACHE_SIZE": _env("HEIMDALL_VERIFIED_TOKEN_CACHE_SIZE", int, 50_000),
    "MAX_TOKEN_BYTES": _env("HEIMDALL_MAX_TOKEN_BYTES", int, 8192),
    "TRUSTED_PROXY_COUNT": _env("HEIMDALL_TRUSTED_PROXY_COUNT", int, 0),
    "LOGIN_MAX_FAILURES_PER_IDENTITY": _env("HEIMDALL_LOGIN_MAX_FAILURES_PER_IDENTITY", int, 10),
    "LOGIN_MAX_FAILURES_PER_IP": _env("HEIMDALL_LOGIN_MAX_FAILURES_PER_IP", int, 100),
    "LOGIN_FAILURE_WINDOW_SECONDS": _env("HEIMDALL_LOGIN_FAILURE_WINDOW_SECONDS", int, 900),
    "SIGNING_KEY_BITS": _env("HEIMDALL_SIGNING_KEY_BITS", int, 2048),
    "IDP_ALLOW_PRIVATE_NETWORKS": _env("HEIMDALL_IDP_ALLOW_PRIVATE_NETWORKS", bool, False),
    "IDP_HTTP_TIMEOUT_SECONDS": _env("HEIMDALL_IDP_HTTP_TIMEOUT_SECONDS", float, 5.0),
    "IDP_TOTAL_TIMEOUT_SECONDS": _env("HEIMDALL_IDP_TOTAL_TIMEOUT_SECONDS", float, 10.0),
    "IDP_METADATA_CACHE_SECONDS": _env("HEIMDALL_IDP_METADATA_CACHE_SECONDS", float, 300.0),
    "AUDIT_SEAL_SECONDS": _env("HEIMDALL_AUDIT_SEAL_SECONDS", float, 5.0),
    "SOCIAL_MAX_REQUESTS_PER_IP": _env("HEIMDALL_SOCIAL_MAX_REQUESTS_PER_IP", int, 300),
}
if int(str(HEIMDALL["SIGNING_KEY_BITS"])) < 2048:
    raise ImproperlyConfigured("HEIMDALL_SIGNING_KEY_BITS must be at least 2048.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": _env("LOG_LEVEL", str, "INFO")},
    "loggers": {
        # Django logs every 4xx with the request path; our own middleware logs what matters.
        "django.request": {"level": "ERROR"},
    },
}
logging.captureWarnings(True)

# --------------------------------------------------------------------------------------------------
# Password policy: Django's password validation, applied by accounts.passwords.password_validate
# (a failure is our 422 `weak_password`). The user attribute compared against is the email.
# Our own rule, at most 128 characters (accounts.passwords.MAX_LENGTH), is checked before these.
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ["email"]},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
