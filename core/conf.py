"""Heimdall's own settings: one declared table, one accessor (after DRF's `api_settings`).

`heimdall/settings.py` builds `HEIMDALL` from environment variables (strictly parsed, failing at
start-up with the variable's name); every key, its type and its default are declared here, and
code reads them only as `heimdall_settings.NAME`. An undeclared key in `HEIMDALL`, or a value of
the wrong type, is refused on first use. `override_settings(HEIMDALL=...)` in tests is honoured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed


@dataclass(frozen=True)
class Setting:
    type: type
    default: Any
    help: str


DECLARED: dict[str, Setting] = {
    "RESYNC_SECONDS": Setting(float, 5.0, "longest wait between change-log reads with no NOTIFY"),
    "FULL_RESYNC_SECONDS": Setting(float, 60.0, "how often each process drops and reloads its caches"),
    "SQLITE_POLL_SECONDS": Setting(float, 0.5, "change-log polling interval on SQLite"),
    "STALENESS_BOUND_SECONDS": Setting(
        float, 10.0, "oldest cached state /v1/authorize may answer from (beyond it: read-through)"
    ),
    "VERIFIED_TOKEN_CACHE_SIZE": Setting(int, 50_000, "tokens per process whose signature check is remembered"),
    "MAX_TOKEN_BYTES": Setting(int, 8192, "longer tokens are refused unparsed"),
    "TRUSTED_PROXY_COUNT": Setting(int, 0, "reverse proxies in front (X-Forwarded-For hops)"),
    "LOGIN_MAX_FAILURES_PER_IDENTITY": Setting(int, 10, "failed sign-ins per email and App in the window"),
    "LOGIN_MAX_FAILURES_PER_IP": Setting(int, 100, "failed sign-ins per client IP and App in the window"),
    "LOGIN_FAILURE_WINDOW_SECONDS": Setting(int, 900, "the throttling window"),
    "SIGNING_KEY_BITS": Setting(int, 2048, "RSA modulus size for new signing keys (>= 2048)"),
    "SYNC_THREAD": Setting(bool, True, "start the change-log follower thread (tests turn it off)"),
    "IDP_ALLOW_PRIVATE_NETWORKS": Setting(
        bool, False, "allow identity-provider issuers on loopback/private addresses (and http on loopback)"
    ),
    "IDP_HTTP_TIMEOUT_SECONDS": Setting(float, 5.0, "timeout of one identity-provider HTTP call"),
    "IDP_TOTAL_TIMEOUT_SECONDS": Setting(
        float, 10.0, "the most one sign-in step waits on an identity provider in all (at most 10)"
    ),
    "IDP_METADATA_CACHE_SECONDS": Setting(float, 300.0, "how long provider discovery and JWKS are cached"),
    "AUDIT_SEAL_SECONDS": Setting(
        float, 5.0, "how often a serving process seals new audit events into the hash chain (0: never)"
    ),
    "SOCIAL_MAX_REQUESTS_PER_IP": Setting(
        int, 300, "social sign-in requests per client IP and App in the window, each of authorize and callback"
    ),
}


class HeimdallSettings:
    """Attribute access to the declared settings, validated once and cached."""

    def __init__(self) -> None:
        self._values: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        raw: dict[str, Any] = dict(getattr(settings, "HEIMDALL", {}) or {})
        unknown = sorted(set(raw) - set(DECLARED))
        if unknown:
            raise ImproperlyConfigured(f"HEIMDALL has undeclared keys: {', '.join(unknown)} (see core/conf.py)")
        values: dict[str, Any] = {}
        for name, declared in DECLARED.items():
            value = raw.get(name, declared.default)
            if declared.type is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, declared.type) or (declared.type is int and isinstance(value, bool)):
                raise ImproperlyConfigured(f"HEIMDALL[{name!r}] must be {declared.type.__name__}, got {value!r}")
            values[name] = value
        return values

    def __getattr__(self, name: str) -> Any:
        if name not in DECLARED:
            raise AttributeError(f"{name} is not a declared Heimdall setting (core/conf.py)")
        values = self._values
        if values is None:
            values = self._values = self._load()
        return values[name]

    def reload(self) -> None:
        self._values = None


heimdall_settings = HeimdallSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "HEIMDALL":
        heimdall_settings.reload()


setting_changed.connect(_reload)


# The longest lifetime Heimdall gives any token (settings and per-client TTLs are capped at a
# day). Retired keys stay published that long, and ended sessions are remembered that long.
MAX_TOKEN_LIFETIME_SECONDS = 86_400
