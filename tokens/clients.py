"""Machine-to-machine clients: create, change, rotate secrets, delete, authenticate.

Secrets are shown once and stored as keyed digests; authentication compares digests from the
authorization state's cache in constant time. Nobody manages a client holding more than they do.

The ceiling rule covers a client's delegation fields: its `delegablePermissions` count as held,
and `actsForUsers: true` counts as holding `heimdall:users.write` (ACTS_FOR_USERS_REQUIRES in
`rbac.permissions`: such a client may act for any user, with at most its
`delegablePermissions`). So creating or changing a client with them, or changing, rotating or
deleting a client that has them, needs the caller to hold all of that too.
"""

from __future__ import annotations

import hmac
import time
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.actions import Action
from audit.services import audit_record
from core import crypto, throttle
from core.changes import SubjectChanged, publish
from core.context import Actor, system_scope, tenant_scope
from core.errors import not_found
from rbac.permissions import Ceiling
from rbac.services import acts_for_users_check, holder_check, validate_grants, validate_role_names
from tenants.models import App
from tokens.models import Client
from tokens.state import ClientCredentials, get_state


def client_authenticate(*, client_id: str, client_secret: str) -> ClientCredentials | None:
    """The client whose id and secret (or unexpired previous secret) match, or None.

    Served from the authorization state's cache (digests only), so a token request does not
    query the client row; changes to a client (rotation, deletion) publish a subject change."""
    if len(client_id) > 40 or len(client_secret) > 200:
        return None
    client = get_state().client(client_id)
    digest = crypto.secret_digest(client_secret)  # the same work whether or not the client exists
    if client is None:
        return None
    if hmac.compare_digest(digest, client.secret_digest):
        return client
    if (
        client.previous_secret_digest
        and client.previous_secret_expires_at
        and client.previous_secret_expires_at > time.time()
        and hmac.compare_digest(digest, client.previous_secret_digest)
    ):
        return client
    return None


def client_create(
    *,
    app: App,
    actor: Actor,
    name: str,
    roles: list[str] | None = None,
    permissions: list[str] | None = None,
    access_token_ttl_seconds: int | None = None,
    acts_for_users: bool = False,
    delegable_permissions: list[str] | None = None,
    ceiling: Ceiling | None = None,
) -> tuple[Client, str]:
    """Create an M2M client; returns it with its secret, which is never retrievable again."""
    roles = list(dict.fromkeys(roles or []))
    permissions = list(dict.fromkeys(permissions or []))
    delegable = list(dict.fromkeys(delegable_permissions or []))
    with transaction.atomic(), tenant_scope(app):
        validate_role_names(app=app, roles=roles, field="roles", ceiling=ceiling)
        validate_grants(app=app, grants=permissions, field="permissions", ceiling=ceiling)
        validate_grants(app=app, grants=delegable, field="delegablePermissions", ceiling=ceiling)
        if acts_for_users:
            acts_for_users_check(app=app, ceiling=ceiling)
        secret = crypto.new_secret("client_secret")
        client = Client.objects.create(
            app=app,
            name=name,
            roles=roles,
            permissions=permissions,
            access_token_ttl_seconds=access_token_ttl_seconds,
            secret_digest=crypto.secret_digest(secret),
            acts_for_users=acts_for_users,
            delegable_permissions=delegable,
        )
        audit_record(
            app=app,
            action=Action.CLIENT_CREATED,
            actor=actor,
            target_type="client",
            target_id=client.id,
            changes={
                "name": name,
                "roles": roles,
                "permissions": permissions,
                "accessTokenTtlSeconds": access_token_ttl_seconds,
                "actsForUsers": acts_for_users,
                "delegablePermissions": delegable,
            },
        )
        publish(SubjectChanged(app_id=app.id, subject_id=client.id))
    return client, secret


# Failed authentications of one client recorded in its audit log per window; past that they are
# only counted, so whoever knows a client id cannot flood its App's audit log.
AUDITED_CLIENT_FAILURES = 20


def client_authentication_failed(*, client_id: str) -> None:
    """Record a failed client authentication in the client's App, when the client exists."""
    if not client_id.startswith("m2m_") or len(client_id) > 40:
        return
    with system_scope(reason="the failing client's App, to record the event there"):
        client = Client.objects.select_related("app").filter(pk=client_id).first()
    if client is None:
        return
    with transaction.atomic():
        if throttle.record_and_count(key=f"cl:{client.id}") >= AUDITED_CLIENT_FAILURES:
            return
        audit_record(
            app=client.app,
            action=Action.CLIENT_AUTHENTICATION_FAILED,
            actor=Actor("anonymous", None),
            target_type="client",
            target_id=client.id,
            changes={"reason": "invalid_secret"},
        )


def client_get(*, client_id: str) -> Client:
    """The current App's client with that id, or 404 (same answer for another App's)."""
    client = Client.objects.filter(pk=client_id).first()
    if client is None:
        raise not_found("client")
    return client


def _client_changes_audit(
    app: App, actor: Actor, client: Client, action: Action, changes: dict[str, Any]
) -> None:
    audit_record(
        app=app, action=action, actor=actor, target_type="client", target_id=client.id, changes=changes
    )


def _manager_check(app: App, client: Client, ceiling: Ceiling | None) -> None:
    """403 unless the caller holds everything `client` holds or may delegate."""
    holder_check(
        app=app,
        roles=client.roles,
        permissions=client.permissions,
        delegable=client.delegable_permissions,
        acts_for_users=client.acts_for_users,
        ceiling=ceiling,
    )


def client_update(
    *,
    app: App,
    actor: Actor,
    client_id: str,
    name: str | None = None,
    roles: list[str] | None = None,
    permissions: list[str] | None = None,
    access_token_ttl_seconds: int | object | None = ...,
    delegable_permissions: list[str] | None = None,
    acts_for_users: bool | None = None,
    ceiling: Ceiling | None = None,
) -> Client:
    """Change a client. New roles/permissions apply to its existing tokens at once."""
    with transaction.atomic(), tenant_scope(app):
        client = Client.objects.select_for_update().filter(pk=client_id).first()
        if client is None:
            raise not_found("client")
        _manager_check(app, client, ceiling)
        changes: dict[str, Any] = {}

        def change(attr: str, field: str, value: Any) -> None:
            if value != getattr(client, attr):
                changes[field] = {"from": getattr(client, attr), "to": value}
                setattr(client, attr, value)

        if name is not None:
            change("name", "name", name)
        if roles is not None:
            roles = list(dict.fromkeys(roles))
            validate_role_names(app=app, roles=roles, field="roles", ceiling=ceiling)
            change("roles", "roles", roles)
        for attr, field, grants in (
            ("permissions", "permissions", permissions),
            ("delegable_permissions", "delegablePermissions", delegable_permissions),
        ):
            if grants is not None:
                grants = list(dict.fromkeys(grants))
                validate_grants(app=app, grants=grants, field=field, ceiling=ceiling)
                change(attr, field, grants)
        if acts_for_users is not None and acts_for_users != client.acts_for_users:
            # turning it off was covered by _manager_check; turning it on is granting
            acts_for_users_check(app=app, ceiling=ceiling)
            change("acts_for_users", "actsForUsers", acts_for_users)
        if access_token_ttl_seconds is not ...:
            change("access_token_ttl_seconds", "accessTokenTtlSeconds", access_token_ttl_seconds)
        if changes:
            client.save()
            _client_changes_audit(app, actor, client, Action.CLIENT_UPDATED, changes)
            publish(SubjectChanged(app_id=app.id, subject_id=client.id))
    return client


def client_delete(*, app: App, actor: Actor, client_id: str, ceiling: Ceiling | None = None) -> None:
    """Delete a client; every token it holds stops working at once."""
    with transaction.atomic(), tenant_scope(app):
        client = client_get(client_id=client_id)
        _manager_check(app, client, ceiling)
        Client.objects.filter(pk=client.pk).delete()  # keeps client.id for the event
        _client_changes_audit(app, actor, client, Action.CLIENT_DELETED, {"name": client.name})
        publish(SubjectChanged(app_id=app.id, subject_id=client_id))


def client_secret_rotate(
    *,
    app: App,
    actor: Actor,
    client_id: str,
    grace_period_seconds: int = 0,
    ceiling: Ceiling | None = None,
) -> tuple[Client, str]:
    """Issue a new secret; the old one keeps working for `grace_period_seconds` (0: not at all).
    Only a caller holding everything the client holds may rotate it (else it could become it)."""
    with transaction.atomic(), tenant_scope(app):
        client = Client.objects.select_for_update().filter(pk=client_id).first()
        if client is None:
            raise not_found("client")
        _manager_check(app, client, ceiling)
        secret = crypto.new_secret("client_secret")
        if grace_period_seconds > 0:
            client.previous_secret_digest = client.secret_digest
            client.previous_secret_expires_at = timezone.now() + timedelta(seconds=grace_period_seconds)
        else:
            client.previous_secret_digest = None
            client.previous_secret_expires_at = None
        client.secret_digest = crypto.secret_digest(secret)
        client.save()
        _client_changes_audit(
            app, actor, client, Action.CLIENT_SECRET_ROTATED, {"gracePeriodSeconds": grace_period_seconds}
        )
        publish(SubjectChanged(app_id=app.id, subject_id=client.id))
    return client, secret
