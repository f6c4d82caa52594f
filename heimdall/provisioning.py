"""Provisioning across layers: an App with its keys, roles and admin client; deleting one.

Creating an App touches four apps' tables (tenants, tokens, rbac, and accounts on deletion), so
the orchestration lives here, at the top of the layers, and calls each owner's services inside
one transaction. The Apps API (`heimdall.apps_api`) and the `bootstrap`/`quickstart` commands
call these functions.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.services import identities_lock_for_app, identities_release
from audit.actions import Action
from audit.services import audit_record
from core.context import Actor, tenant_scope
from rbac.services import roles_provision
from tenants.models import OPERATOR_SLUG, App
from tenants.services import app_changes, app_event_record, app_insert, app_remove, operator_app_find
from tokens.clients import client_create
from tokens.keys import signing_keys_provision


def app_create(
    *,
    actor: Actor,
    slug: str,
    display_name: str,
    settings: dict[str, Any] | None = None,
    operator_app: App | None = None,
) -> tuple[App, Any, str]:
    """Create an App with its signing keys, default roles and an admin client, in one commit.

    Returns (app, admin client, admin client secret); the secret is shown once.
    """
    with transaction.atomic():
        app = app_insert(slug=slug, display_name=display_name, settings=settings)
        signing_keys_provision(app=app)
        roles_provision(app=app)
        with tenant_scope(app):
            client, secret = client_create(app=app, actor=actor, name="admin", roles=["admin"])
        app_event_record(
            app=app, operator_app=operator_app, action=Action.APP_CREATED, actor=actor, changes=app_changes(app)
        )
    return app, client, secret


def app_delete(*, app: App, actor: Actor, operator_app: App) -> None:
    """Delete an App and everything in it; its tokens fail at once. Identities it leaves with no
    membership go too. Recorded in the operator's log (the App's own log goes with it)."""
    with transaction.atomic():
        # Lock its members' identities first, so no App adds a membership to one meanwhile.
        members = identities_lock_for_app(app_id=app.pk)
        with tenant_scope(app):  # the cascade reads and deletes this App's rows (RLS: only those)
            app_remove(app=app)
        identities_deleted = identities_release(identity_ids=members)
        audit_record(
            app=operator_app,
            action=Action.APP_DELETED,
            actor=actor,
            target_type="app",
            target_id=app.id,
            changes={"slug": app.slug, "displayName": app.display_name, "identitiesDeleted": identities_deleted},
        )


def operator_bootstrap() -> tuple[App, bool]:
    """Create the operator App `heimdall` if missing. Idempotent; returns (app, created)."""
    existing = operator_app_find()
    if existing is not None:
        return existing, False
    with transaction.atomic():
        app = app_insert(slug=OPERATOR_SLUG, display_name="Heimdall operator", is_operator=True)
        signing_keys_provision(app=app)
        roles_provision(app=app)
        app_event_record(
            app=app, operator_app=None, action=Action.APP_CREATED, actor=Actor.system(), changes=app_changes(app)
        )
    return app, True


def operator_client_create(*, name: str) -> tuple[Any, str]:
    """An operator M2M client (role admin of the operator App: heimdall:apps.read/write and more)."""
    app, _ = operator_bootstrap()
    with tenant_scope(app):
        return client_create(app=app, actor=Actor.system(), name=name, roles=["admin"])
