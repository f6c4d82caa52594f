from __future__ import annotations

from typing import Any

import pytest

from tests.tokens.support import declare, new_client, new_role, token_for


@pytest.fixture
def reader_token(api: Any, acme: Any) -> str:
    """A token of an M2M client of `acme` holding role `reader` = [docs.read]."""
    declare(api, acme, "docs.read")
    new_role(api, acme, "reader", ["docs.read"])
    return token_for(api, new_client(api, acme, roles=["reader"]))
