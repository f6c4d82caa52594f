"""Following the change log so every process's cached state agrees within a second.

One daemon thread per process. On PostgreSQL it LISTENs on `core.changes.NOTIFY_CHANNEL` over its
own connection and reads new `StateChange` rows whenever a notification arrives, and at least
every `RESYNC_SECONDS` (so a lost notification or a dropped connection costs seconds, not
correctness). On SQLite, which has no notifications, it polls every `SQLITE_POLL_SECONDS`.
Every minute it drops all caches (full resync) and prunes expired revocations; every ten minutes
it deletes change-log rows older than an hour.

Rows are read by a sliding time window rather than "id > last": ids are assigned at insert but
become visible at commit, so a later-committing transaction can carry a smaller id. Re-reading
the last `WINDOW` seconds and skipping ids already applied closes that gap.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection as django_connection

from core.changes import NOTIFY_CHANNEL

logger = logging.getLogger("heimdall.sync")

WINDOW = timedelta(seconds=30)
FULL_RESYNC_SECONDS = 60.0
PRUNE_LOG_SECONDS = 600.0

_SQL = (
    "SELECT id, kind, app_id, key, data, created_at FROM core_statechange WHERE created_at > %s ORDER BY id"
)


class Follower(threading.Thread):
    def __init__(self, state: Any) -> None:
        super().__init__(name="heimdall-state-follower", daemon=True)
        self.state = state
        self.applied: dict[int, datetime] = {}
        self.since = _utcnow() - WINDOW
        self.last_full = time.monotonic()
        self.last_prune = 0.0
        self.stop_event = threading.Event()

    # ---- shared logic -------------------------------------------------------------------

    def apply(self, rows: list[tuple[Any, ...]]) -> None:
        for row_id, kind, app_id, key, data, created_at in rows:
            if row_id in self.applied:
                continue
            if isinstance(data, str):
                data = json.loads(data)
            self.applied[row_id] = created_at
            self.state.on_change(kind, app_id, key, data)

    def housekeeping(self, execute: Any) -> None:
        now = time.monotonic()
        horizon = _utcnow() - WINDOW
        self.applied = {i: t for i, t in self.applied.items() if _aware(t) > horizon}
        if now - self.last_full > FULL_RESYNC_SECONDS:
            self.last_full = now
            self.state.reset()
        self.state.prune()
        if now - self.last_prune > PRUNE_LOG_SECONDS:
            self.last_prune = now
            execute(
                "DELETE FROM core_statechange WHERE created_at < %s",
                [_utcnow() - timedelta(hours=1)],
            )

    def poll_once(self, execute: Any) -> None:
        started = _utcnow()
        rows = execute(_SQL, [self.since])
        self.apply(rows)
        self.since = started - WINDOW
        self.housekeeping(execute)

    # ---- loops --------------------------------------------------------------------------

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                if django_connection.vendor == "postgresql":
                    self.run_postgresql()
                else:
                    self.run_polling()
            except Exception:
                logger.exception("state follower failed; resyncing and retrying in 1s")
                self.state.reset()
                time.sleep(1.0)

    def run_postgresql(self) -> None:
        import psycopg

        db = settings.DATABASES["default"]
        params = {
            "dbname": db.get("NAME"),
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
            "host": db.get("HOST") or None,
            "port": db.get("PORT") or None,
        }
        options = db.get("OPTIONS", {})
        if "sslmode" in options:
            params["sslmode"] = options["sslmode"]
        interval = float(settings.HEIMDALL["RESYNC_SECONDS"])
        with psycopg.connect(
            **{k: v for k, v in params.items() if v}, autocommit=True, connect_timeout=5
        ) as conn:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")

            def execute(sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
                cur = conn.execute(sql, args)
                return cur.fetchall() if cur.description else []

            # Anything missed while not listening is in the window; a reset covers the rest.
            self.state.reset()
            self.poll_once(execute)
            while not self.stop_event.is_set():
                for _ in conn.notifies(timeout=interval, stop_after=1):
                    pass
                self.poll_once(execute)

    def run_polling(self) -> None:
        interval = float(settings.HEIMDALL["SQLITE_POLL_SECONDS"])

        def execute(sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
            # SQLite stores Django datetimes as naive UTC text; compare like with like.
            args = [
                a.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(a, datetime) else a
                for a in args
            ]
            with django_connection.cursor() as cur:
                cur.execute(sql, args)
                rows = cur.fetchall() if cur.description else []
            return [_sqlite_row(r) for r in rows] if rows and len(rows[0]) == 6 else rows

        while not self.stop_event.is_set():
            self.poll_once(execute)
            self.stop_event.wait(interval)


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    row_id, kind, app_id, key, data, created_at = row
    if isinstance(created_at, str):
        created_at = datetime.fromisoformat(created_at)
    return row_id, kind, app_id, key, data, created_at


def _utcnow() -> datetime:
    from django.utils import timezone

    return timezone.now()


def _aware(moment: datetime) -> datetime:
    from django.utils import timezone

    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


_follower: Follower | None = None


def start_follower(state: Any) -> Follower:
    global _follower
    _follower = Follower(state)
    _follower.start()
    return _follower
