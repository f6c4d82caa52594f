from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # User grants plug into the token endpoint; refresh tokens into revoke and introspect.
        from accounts import signin
        from tokens import api as token_api

        token_api.register_grant("password", signin.password_grant)
        token_api.register_grant("refresh_token", signin.refresh_grant)
        if signin.refresh_token_revoke not in token_api.REVOKERS:
            token_api.REVOKERS.insert(0, signin.refresh_token_revoke)
        if signin.refresh_token_introspect not in token_api.INTROSPECTORS:
            token_api.INTROSPECTORS.insert(0, signin.refresh_token_introspect)
