"""Every audit action Heimdall records, in one enum. `audit_record` takes nothing else."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    APP_CREATED = "app.created"
    APP_UPDATED = "app.updated"
    APP_SUSPENDED = "app.suspended"
    APP_REACTIVATED = "app.reactivated"
    APP_DELETED = "app.deleted"

    PERMISSION_CREATED = "permission.created"
    PERMISSION_DELETED = "permission.deleted"
    ROLE_CREATED = "role.created"
    ROLE_UPDATED = "role.updated"
    ROLE_DELETED = "role.deleted"

    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_DELETED = "user.deleted"
    USER_SUSPENDED = "user.suspended"
    USER_REACTIVATED = "user.reactivated"
    USER_ROLES_CHANGED = "user.roles_changed"
    USER_PASSWORD_CHANGED = "user.password_changed"
    USER_PASSWORD_CHANGE_FAILED = "user.password_change_failed"
    USER_PASSWORD_RESET = "user.password_reset"
    USER_LOGIN_SUCCEEDED = "user.login_succeeded"
    USER_LOGIN_FAILED = "user.login_failed"

    CLIENT_CREATED = "client.created"
    CLIENT_UPDATED = "client.updated"
    CLIENT_DELETED = "client.deleted"
    CLIENT_SECRET_ROTATED = "client.secret_rotated"
    CLIENT_AUTHENTICATION_FAILED = "client.authentication_failed"

    TOKEN_ISSUED = "token.issued"
    TOKEN_REVOKED = "token.revoked"
    TOKEN_REFRESH_FAILED = "token.refresh_failed"
    REFRESH_TOKEN_REVOKED = "refresh_token.revoked"
    REFRESH_TOKEN_REUSE_DETECTED = "refresh_token.reuse_detected"

    INVITE_CREATED = "invite.created"
    INVITE_ACCEPTED = "invite.accepted"
    INVITE_REVOKED = "invite.revoked"
    INVITE_ACCEPT_REFUSED = "invite.accept_refused"

    IDENTITY_PROVIDER_CREATED = "identity_provider.created"
    IDENTITY_PROVIDER_UPDATED = "identity_provider.updated"
    IDENTITY_PROVIDER_DELETED = "identity_provider.deleted"
    SOCIAL_AUTHORIZE_REFUSED = "social.authorize_refused"
    SOCIAL_AUTHORIZE_STARTED = "social.authorize_started"
    SOCIAL_LOGIN_SUCCEEDED = "social.login_succeeded"
    SOCIAL_LOGIN_FAILED = "social.login_failed"
    SOCIAL_IDENTITY_LINKED = "social.identity_linked"
    SOCIAL_IDENTITY_UNLINKED = "social.identity_unlinked"
    SOCIAL_SIGNUP = "social.signup"
    AUTHORIZATION_CODE_ISSUED = "authorization_code.issued"
    AUTHORIZATION_CODE_REDEEM_FAILED = "authorization_code.redeem_failed"
    AUTHORIZATION_CODE_REUSE_DETECTED = "authorization_code.reuse_detected"

    SIGNING_KEY_ROTATED = "signing_key.rotated"
    SIGNING_KEY_REVOKED = "signing_key.revoked"

    AUDIT_PRUNED = "audit.pruned"
