"""The authorization state's staleness bound: once the change follower has not read the change log
within STALENESS_BOUND_SECONDS, /v1/authorize stops answering from memory (it reads the database)
until the follower reads again. A process without a follower is never affected."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.context import system_scope
from tenants.models import App
from tests.tokens.support import authorize, new_client, role_changed_behind_its_back, token_response
from tokens.models import Client
from tokens.state import AuthzState, get_state
from tokens.sync import Follower

BOUND = 10.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    state = get_state()
    fake = FakeClock()
    state.clock = fake
    yield fake
    state.clock = time.monotonic
    state.staleness_bound = None
    state.fresh_as_of = None
    state._degraded = False


def _follower_reads(state: AuthzState) -> None:
    """One successful read of the change log by a follower (as on SQLite: Django's connection)."""

    def execute(sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
        with connection.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else []

    Follower(state).poll_once(execute)


def _queries(api: Any, token: str, permission: str) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        reason = authorize(api, token, permission)["reason"]
    return reason, len(queries)


def test_stale_state_answers_from_the_database_and_recovers_when_the_follower_reads(
    api: Any, acme: Any, reader_token: str, clock: FakeClock
) -> None:
    state = get_state()
    state.follow(BOUND)
    state.confirm_fresh(clock.now)
    assert authorize(api, reader_token, "docs.read")["reason"] == "granted"  # warm

    role_changed_behind_its_back(acme, "reader", [])
    clock.now += BOUND - 1  # within the bound: memory answers (the follower would catch up)
    assert _queries(api, reader_token, "docs.read") == ("granted", 0)

    clock.now += 2  # past the bound, the follower silent: no answer from memory
    reason, queries = _queries(api, reader_token, "docs.read")
    assert (reason, queries > 0) == ("permission_not_granted", True)
    for _ in range(2):  # every check while stale reads the database again
        assert _queries(api, reader_token, "docs.read")[1] > 0

    _follower_reads(state)  # the follower reads again: fresh as of now
    assert not state.is_stale()
    assert authorize(api, reader_token, "docs.read")["reason"] == "permission_not_granted"
    assert _queries(api, reader_token, "docs.read") == ("permission_not_granted", 0)

    clock.now += BOUND + 1  # and goes stale again when it stops reading
    role_changed_behind_its_back(acme, "reader", ["docs.read"])
    assert authorize(api, reader_token, "docs.read")["reason"] == "granted"


def test_a_follower_that_has_not_read_yet_leaves_nothing_cached(
    api: Any, reader_token: str, clock: FakeClock
) -> None:
    state = get_state()
    state.follow(BOUND)  # start-up: attached, no read yet
    authorize(api, reader_token, "docs.read")
    assert _queries(api, reader_token, "docs.read")[1] > 0


def test_without_a_follower_the_state_is_never_stale(api: Any, reader_token: str, clock: FakeClock) -> None:
    """SYNC_THREAD=False (these tests): one process, every change reaches the caches directly."""
    state = get_state()
    assert state.staleness_bound is None
    authorize(api, reader_token, "docs.read")
    clock.now += 1e9
    assert not state.is_stale()
    assert _queries(api, reader_token, "docs.read") == ("granted", 0)


def test_watchdog_shuts_down_a_read_stalled_past_the_bound() -> None:
    """A frozen path still acknowledges at the TCP level: the follower's watchdog ends the read."""
    follower = Follower(AuthzState())
    follower.bound = 0.2
    ours, silent_peer = socket.socketpair()
    watchdog = threading.Thread(target=follower.watch, daemon=True)
    watchdog.start()
    try:
        ours.settimeout(10)
        started = time.monotonic()
        with follower.reading(ours.fileno()):
            assert ours.recv(1) == b""  # shut down, not timed out
        assert time.monotonic() - started < 5
    finally:
        follower.stop_event.set()
        watchdog.join(5)
        ours.close()
        silent_peer.close()


def test_stale_state_makes_the_token_endpoint_read_the_database(
    api: Any, acme: Any, clock: FakeClock
) -> None:
    """A client deleted, or an App suspended, by another instance stops getting tokens here
    within the bound even though this process's follower never told it."""
    state = get_state()
    state.follow(BOUND)
    state.confirm_fresh(clock.now)
    client = new_client(api, acme)
    assert token_response(api, client["clientId"], client["clientSecret"]).status_code == 200  # cached

    with system_scope(reason="the test inspects or edits rows directly"):
        assert Client.objects.filter(id=client["clientId"]).delete()[0] == 1  # behind its back
    clock.now += BOUND - 1  # within the bound: the cached credentials still answer
    assert token_response(api, client["clientId"], client["clientSecret"]).status_code == 200
    clock.now += 2  # past it: the database says the client is gone
    response = token_response(api, client["clientId"], client["clientSecret"])
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")

    _follower_reads(state)
    assert token_response(api, acme.client_id, acme.client_secret).status_code == 200  # App cached
    with system_scope(reason="the test inspects or edits rows directly"):
        assert App.objects.filter(id=acme.id).update(status="suspended") == 1
    clock.now += BOUND + 1
    response = token_response(api, acme.client_id, acme.client_secret)
    assert (response.status_code, response.json()["error"]) == (400, "unauthorized_client"), response.content
