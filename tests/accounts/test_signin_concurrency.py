"""Concurrent password sign-ins of one member, as the benchmark drives them: the sign-in
transaction locks the member's throttle rows and membership last (just before COMMIT), and this
must neither deadlock nor lose anything: every sign-in succeeds with its own session, refresh
token and events, and the failure count starts over."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from tests.accounts.support import PASSWORD, create_user, sign_in
from tests.helpers import Api

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 4
EACH = 3


def test_concurrent_sign_ins_of_one_member_all_succeed(api, acme):
    create_user(api, acme, "racer@example.com", password=PASSWORD)
    # A failed attempt first: the successes must clear the member's count.
    assert sign_in(api, "racer@example.com", "not the password", acme.slug).status_code == 400
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker() -> None:
        client = Api()
        try:
            start.wait()
            for _ in range(EACH):
                response = sign_in(client, "racer@example.com", PASSWORD, acme.slug)
                with lock:
                    results.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a sign-in hung (lock wait or deadlock)"
    assert [status for status, _ in results] == [200] * (THREADS * EACH), results
    refresh_tokens = {body["refresh_token"] for _, body in results}
    assert len(refresh_tokens) == THREADS * EACH

    events = api.get("/v1/audit-events?action=user.login_succeeded&limit=200", token=acme.token).json()["data"]
    assert len(events) == THREADS * EACH
    issued = api.get("/v1/audit-events?action=token.issued&limit=200", token=acme.token).json()["data"]
    assert len([e for e in issued if e["changes"]["grantType"] == "password"]) == THREADS * EACH
    # The throttle forgot the earlier failure and kept no hit of these sign-ins: ten more wrong
    # passwords (the limit) are refused as wrong (400), not throttled (429).
    for _ in range(10):
        assert sign_in(api, "racer@example.com", "not the password", acme.slug).status_code == 400
