"""The periodic sealer thread: events become tamper-evident without anyone asking to verify."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from django.db import connection

import audit.sealer as sealer
from audit.models import AuditEvent
from core.context import system_scope
from tests.helpers import Api, AppHandle


def unsealed(app: AppHandle) -> int:
    with system_scope(reason="the test inspects or edits rows directly"):
        return AuditEvent.objects.filter(app_id=app.id, seq__isnull=True).count()


def wait_until(condition: Any, timeout: float = 20.0) -> bool:
    """Poll `condition` until it holds or `timeout` passes (a wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.django_db(transaction=True)
def test_the_sealer_thread_seals_new_events_and_survives_a_failed_round(api: Api, acme: AppHandle, monkeypatch):
    calls = {"n": 0}
    real = sealer.audit_chain_seal_all

    def flaky() -> dict[str, int]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database went away")
        return real()

    monkeypatch.setattr(sealer, "audit_chain_seal_all", flaky)
    api.client_token(acme.client_id, acme.client_secret)
    assert unsealed(acme) > 0

    thread = sealer.Sealer(interval=0.05)
    thread.start()
    try:
        assert wait_until(lambda: unsealed(acme) == 0), "the sealer never sealed the App's events"
        assert calls["n"] >= 2  # the first round failed, a later one sealed
        api.client_token(acme.client_id, acme.client_secret)
        assert wait_until(lambda: unsealed(acme) == 0)
    finally:
        thread.stop_event.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    body = api.get("/v1/audit-events/verify", token=acme.token).json()
    assert body["valid"] is True and body["checkedEvents"] >= 3


@pytest.mark.django_db(transaction=True)
def test_one_process_seals_per_round(api: Api, acme: AppHandle):
    if connection.vendor != "postgresql":
        pytest.skip("the cross-process round lock is a PostgreSQL advisory lock")
    api.client_token(acme.client_id, acme.client_secret)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:  # another process's sealer, mid-round
        other.execute("SELECT pg_advisory_lock(%s)", [sealer.ADVISORY_LOCK_KEY])
        assert sealer.seal_round() is None
        assert unsealed(acme) > 0
        other.execute("SELECT pg_advisory_unlock(%s)", [sealer.ADVISORY_LOCK_KEY])
    sealed = sealer.seal_round()
    assert sealed is not None and sealed[acme.id] > 0
    assert unsealed(acme) == 0
    # The round released its lock: another session can take it at once.
    with psycopg.connect(**params, autocommit=True) as other:
        assert other.execute("SELECT pg_try_advisory_lock(%s)", [sealer.ADVISORY_LOCK_KEY]).fetchone() == (True,)


def test_the_sealer_is_off_when_the_interval_is_zero(settings):
    settings.HEIMDALL = {**settings.HEIMDALL, "AUDIT_SEAL_SECONDS": 0.0}
    assert sealer.start_sealer() is None
    assert not any(t.name == "heimdall-audit-sealer" for t in threading.enumerate())
