"""The follower's full resync: fresh caches without a cold start, and the safe answer when the
database cannot be read (issue 12, scale: a resync at 10,000 Apps must not stall requests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from core.context import system_scope
from tests.tokens.support import authorize, role_changed_behind_its_back
from tokens import state as state_module
from tokens.models import RevokedToken, SigningKey
from tokens.state import get_state
from tokens.sync import Follower


@pytest.fixture
def follower() -> Iterator[Follower]:
    """A follower attached to this process's state, as the serving process has, that has just
    read the change log (so the state is fresh and answers from memory)."""
    state = get_state()
    follower = Follower(state)
    state.confirm_fresh(state.clock())
    yield follower
    state.staleness_bound = None
    state.fresh_as_of = None


def _reads_every_kid(sql: str) -> bool:
    """A read of the signing-key table restricted neither to one App nor to one kid."""
    table = f'"{SigningKey._meta.db_table}"'
    return table in sql and f'{table}."app_id" =' not in sql and f'{table}."kid" =' not in sql


def _authorize_counting_key_reads(api: Any, token: str, permission: str) -> tuple[str, int, int]:
    """(reason, queries, reads of the whole kid table)."""
    with CaptureQueriesContext(connection) as queries:
        reason = authorize(api, token, permission)["reason"]
    return reason, len(queries), sum(_reads_every_kid(q["sql"]) for q in queries.captured_queries)


def test_full_resync_applies_missed_changes_without_rereading_the_kid_table(
    api: Any, acme: Any, globex: Any, reader_token: str, follower: Follower
) -> None:
    assert authorize(api, reader_token, "docs.read")["reason"] == "granted"  # warm
    role_changed_behind_its_back(acme, "reader", [])
    assert authorize(api, reader_token, "docs.read")["reason"] == "granted"  # missed: still cached

    follower.full_resync()

    reason, queries, key_reads = _authorize_counting_key_reads(api, reader_token, "docs.read")
    assert reason == "permission_not_granted"  # the missed change is applied
    # The request reloads its own App, key and subject, but not the table of every App's kids.
    assert queries > 0
    assert key_reads == 0
    assert _authorize_counting_key_reads(api, reader_token, "docs.read")[1] == 0  # warm again


def test_plain_reset_makes_the_next_request_read_the_kid_table_too(
    api: Any, acme: Any, reader_token: str
) -> None:
    """The comparison the test above relies on: after a cold start, a request reads the table."""
    authorize(api, reader_token, "docs.read")
    get_state().reset()
    assert _authorize_counting_key_reads(api, reader_token, "docs.read")[2] == 1


def test_full_resync_keeps_revocations(api: Any, acme: Any, reader_token: str, follower: Follower) -> None:
    assert api.post("/v1/oauth/revoke", {"token": reader_token}, token=acme.token).status_code == 200
    follower.full_resync()
    assert authorize(api, reader_token, "docs.read")["reason"] == "token_revoked"


def test_a_revocation_applied_while_the_resync_reads_is_not_lost(
    api: Any, acme: Any, reader_token: str, follower: Follower, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The follower reads the revocations; before it swaps them in, a revocation reaches this
    process (its own request, or a notification). The swapped-in set must still hold it."""
    assert authorize(api, reader_token, "docs.read")["reason"] == "granted"
    real_load_revoked = state_module._load_revoked

    def load_then_revoke() -> dict[str, float]:
        loaded = real_load_revoked()  # read before the revocation commits
        response = api.post("/v1/oauth/revoke", {"token": reader_token}, token=acme.token)
        assert response.status_code == 200
        return loaded

    monkeypatch.setattr(state_module, "_load_revoked", load_then_revoke)
    follower.full_resync()
    with system_scope(reason="test: the revocation row exists"):
        assert RevokedToken.objects.exists()
    assert authorize(api, reader_token, "docs.read")["reason"] == "token_revoked"


def test_a_resync_that_cannot_read_drops_the_caches_instead(
    api: Any, acme: Any, reader_token: str, follower: Follower, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail closed: when the resync's reads fail, nothing stale is kept; every entry reloads on
    use (and a request fails if the database is really gone)."""
    assert authorize(api, reader_token, "docs.read")["reason"] == "granted"
    role_changed_behind_its_back(acme, "reader", [])

    def unreachable() -> dict[str, Any]:
        raise OperationalError("the database went away")

    monkeypatch.setattr(state_module, "_load_revoked", unreachable)
    follower.full_resync()
    monkeypatch.undo()

    reason, queries, _ = _authorize_counting_key_reads(api, reader_token, "docs.read")
    assert (reason, queries > 0) == ("permission_not_granted", True)


def test_a_failed_follower_keeps_serving_within_the_bound_and_resyncs_on_restart(
    api: Any, acme: Any, reader_token: str, follower: Follower, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lost LISTEN connection no longer empties the caches (every thread would reload at once):
    within the staleness bound they keep answering, and the restart replaces them with a full
    resync before it confirms them fresh."""
    assert authorize(api, reader_token, "docs.read")["reason"] == "granted"  # warm
    role_changed_behind_its_back(acme, "reader", [])

    def connection_lost() -> None:
        follower.stop_event.set()  # one failure, then the loop ends
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(follower, "run_postgresql", connection_lost)
    monkeypatch.setattr(follower, "run_polling", connection_lost)
    monkeypatch.setattr("tokens.sync.time.sleep", lambda seconds: None)
    follower.run()
    # Within the bound: answered from memory, without a query (the change is still unseen).
    assert _authorize_counting_key_reads(api, reader_token, "docs.read")[:2] == ("granted", 0)

    monkeypatch.undo()
    follower.stop_event.set()  # the restart's first step only, then the loop ends
    follower.run_polling()
    assert authorize(api, reader_token, "docs.read")["reason"] == "permission_not_granted"


def test_a_key_removed_behind_the_caches_back_verifies_nothing_after_a_resync(
    api: Any, acme: Any, reader_token: str, follower: Follower
) -> None:
    """The kid table survives a resync, but it cannot make a key verify: a kid it still lists is
    loaded from the database (published keys only) before any token signed by it is accepted."""
    assert authorize(api, reader_token, "docs.read")["reason"] == "granted"
    with system_scope(reason="test: a key revoked where this process does not hear of it"):
        assert SigningKey.objects.filter(app_id=acme.id).delete()[0] >= 1
    assert authorize(api, reader_token, "docs.read")["reason"] == "granted"  # missed: cached

    follower.full_resync()
    assert authorize(api, reader_token, "docs.read")["reason"] != "granted"
    assert authorize(api, reader_token, "docs.read")["reason"] == "token_invalid"
