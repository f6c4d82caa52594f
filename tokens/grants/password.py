"""`password`: a member signs in with email, password and the App's slug (RFC 6749 section 4.3).

A client sent with the request is authenticated first, before the password is looked at, so bad
client credentials never learn whether a password is right."""

from __future__ import annotations

from typing import Any

from accounts.models import Membership
from accounts.signin import password_sign_in
from core.errors import oauth_error
from tenants.models import App
from tokens.grants.base import GrantRequest, optional_client
from tokens.sessions import session_tokens_issue


def password_grant(request: GrantRequest) -> dict[str, Any]:
    username, password, app_slug = request.get("username"), request.get("password"), request.get("app")
    if not username or password is None or not app_slug:
        raise oauth_error("invalid_request", "The password grant needs username, password and app (the App slug).")
    app = App.objects.filter(slug=app_slug).first() if len(app_slug) <= 63 else None
    client_id = optional_client(request, app_id=app.id if app is not None else None)
    scope = request.get("scope")

    def issue(app: App, membership: Membership, session: str, client: str | None, ceiling: str | None) -> dict[str, Any]:
        return session_tokens_issue(
            app=app,
            membership=membership,
            session=session,
            client_id=client,
            scope=scope,
            ceiling=ceiling,
            grant_type="password",
        )

    return password_sign_in(
        app_slug=app_slug, username=username, password=password, issue=issue, client_id=client_id, app=app
    )
