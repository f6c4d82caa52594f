"""What every grant handler takes and shares: typed parameters, scope rules, client checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import ApiError, oauth_error
from tokens.clients import client_authenticate, client_authentication_failed
from tokens.state import ClientCredentials, get_state


@dataclass(frozen=True)
class GrantRequest:
    """A token request, parsed: RFC 6749 parameter names, and client credentials if sent."""

    grant_type: str
    params: dict[str, str]
    client_id: str | None = None
    client_secret: str | None = None

    @property
    def has_client(self) -> bool:
        return self.client_id is not None and self.client_secret is not None

    def get(self, name: str) -> str | None:
        return self.params.get(name)


def invalid_client(detail: str = "Client authentication failed: check clientId and clientSecret.") -> ApiError:
    return oauth_error("invalid_client", detail, status=401, headers={"WWW-Authenticate": 'Basic realm="heimdall"'})


def invalid_scope(detail: str) -> ApiError:
    return oauth_error("invalid_scope", detail)


def requested_scope(raw: Any, granted: frozenset[str]) -> tuple[frozenset[str], bool]:
    """(scope to grant, narrowed?) for an optional space-separated `scope` request.

    Any explicit scope caps the token for life, even one naming everything the subject holds
    now: otherwise the token would silently gain whatever is granted later."""
    if raw is None or raw == "":
        return granted, False
    if not isinstance(raw, str) or len(raw) > 8192:
        raise invalid_scope("scope must be a space-separated string of permission names.")
    asked = frozenset(raw.split())
    beyond = sorted(asked - granted)
    if beyond:
        raise invalid_scope(f"The client does not hold: {', '.join(beyond[:10])}. Ask only for permissions it holds.")
    return asked, True


def authenticated_client(request: GrantRequest) -> ClientCredentials:
    """The request's client, authenticated, of an existing App; 401 `invalid_client` otherwise
    (and a failed authentication of a real client is recorded in its App)."""
    if not request.has_client:
        raise invalid_client("This grant needs clientId and clientSecret (body or HTTP Basic).")
    assert request.client_id is not None and request.client_secret is not None
    client = client_authenticate(client_id=request.client_id, client_secret=request.client_secret)
    if client is None or get_state().app(client.app_id) is None:  # unknown, wrong, or App deleted
        client_authentication_failed(client_id=request.client_id)
        raise invalid_client()
    return client


def optional_client(request: GrantRequest, *, app_id: str | None) -> str | None:
    """A confidential client sent with a user grant must authenticate and belong to the App
    (when the App is known). Checked before any user credential, so a bogus client learns
    nothing about a password."""
    if not request.has_client:
        return None
    client = authenticated_client(request)
    if app_id is not None and client.app_id != app_id:
        raise invalid_client("Client authentication failed.")
    return client.id
