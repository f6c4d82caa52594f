"""The token endpoint's grants: one static table, `grant_type` -> handler.

A handler takes a parsed `GrantRequest` (no HttpRequest) and returns the token response body.
Adding a grant: one module here, one line in `GRANTS`. Discovery advertises exactly this table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tokens.grants.authorization_code import authorization_code_grant
from tokens.grants.base import GrantRequest
from tokens.grants.client_credentials import client_credentials_grant
from tokens.grants.password import password_grant
from tokens.grants.refresh_token import refresh_token_grant
from tokens.grants.token_exchange import GRANT_TYPE as TOKEN_EXCHANGE
from tokens.grants.token_exchange import token_exchange_grant

GrantHandler = Callable[[GrantRequest], dict[str, Any]]

GRANTS: dict[str, GrantHandler] = {
    "authorization_code": authorization_code_grant,
    "client_credentials": client_credentials_grant,
    "password": password_grant,
    "refresh_token": refresh_token_grant,
    TOKEN_EXCHANGE: token_exchange_grant,
}

__all__ = ["GRANTS", "GrantHandler", "GrantRequest"]
