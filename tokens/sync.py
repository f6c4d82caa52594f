"""Following the change log so every process's cached state agrees within a second.

One daemon thread per process. On PostgreSQL it LISTENs on `core.changes.NOTIFY_CHANNEL` over its
own connection and reads new `StateChange` rows whenever notifications arrive (draining a burst
into one read), and at least every `RESYNC_SECONDS`, so a lost notification or a dropped
connection costs seconds, not correctness. On SQLite, which has no notifications, it polls every
`SQLITE_POLL_SECONDS`. Each successful read is reported to the state (`confirm_fresh`), which stops
answering from its caches once no read has succeeded for `STALENESS_BOUND_SECONDS` (see
`tokens.state.AuthzState`), whatever the follower is stuck on. Every minute it replaces all
caches with a fresh read (full resync) and prunes expired revocations; every ten minutes it
deletes change-log rows older than an hour.

Reading by id: ids are assigned at insert but become visible at commit, so a transaction that
commits late can leave a hole below ids already read. The follower remembers such holes and asks
for them explicitly (`id > high OR id IN (holes)`) until they fill or `GAP_SECONDS` pass (a
rolled-back insert never fills). Each read returns only rows not seen before, however busy the
log is, and no comparison of clocks between hosts is involved.

A dead or frozen connection: the LISTEN connection has TCP keepalives and `tcp_user_timeout` (a
peer that vanished is noticed within ~10 s, even while idle), `connect_timeout`, and a server-side
`statement_timeout` of the staleness bound. A connection frozen in the middle (a hung proxy) still
acknowledges at the TCP level, so none of these fire; a watchdog thread therefore shuts down the
socket of any read that has taken longer than the bound, the read fails and the follower
reconnects.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, timedelta
from typing import Any

from django.conf import settings
from django.db import connection as django_connection
from django.utils import timezone

from core import changes
from core.changes import NOTIFY_CHANNEL
from core.conf import heimdall_settings

logger = logging.getLogger("heimdall.sync")

GAP_SECONDS = 30.0
MAX_GAPS = 10_000
FULL_RESYNC_SECONDS = 60.0
PRUNE_LOG_SECONDS = 600.0

# libpq options of the LISTEN connection (DATABASES OPTIONS override them).
FOLLOWER_CONNECTION: dict[str, Any] = {
    "application_name": "heimdall-follower",
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # ms: unacknowledged data for this long drops the connection
}

# Django's own connection options, not libpq's.
_DJANGO_OPTIONS = {"isolation_level", "server_side_binding", "pool", "assume_role", "cursor_factory"}


class Follower(threading.Thread):
    def __init__(self, state: Any) -> None:
        super().__init__(name="heimdall-state-follower", daemon=True)
        self.state = state
        self.high: int | None = None  # highest id read
        self.gaps: dict[int, float] = {}  # missing id -> monotonic time first noticed
        self.last_full = time.monotonic()
        self.last_prune = 0.0
        self.stop_event = threading.Event()
        self.bound = heimdall_settings.STALENESS_BOUND_SECONDS
        state.follow(self.bound)
        # The read in flight on the LISTEN connection: (monotonic start, socket fd), for the watchdog.
        self._read: tuple[float, int] | None = None
        self._read_lock = threading.Lock()

    # ---- shared logic -------------------------------------------------------------------

    def poll_once(self, execute: Any) -> int:
        """Apply every change not seen yet; returns how many were applied."""
        started = self.state.clock()
        if self.high is None:
            # Caches start empty, so old history is irrelevant; re-reading the last few hundred
            # changes (harmless invalidations) catches transactions that were still committing.
            rows = execute("SELECT COALESCE(MAX(id), 0) FROM core_statechange", [])
            self.high = max(0, int(rows[0][0]) - 500)
        now = time.monotonic()
        self.gaps = {gap: seen for gap, seen in self.gaps.items() if now - seen < GAP_SECONDS}
        sql = "SELECT id, kind, app_id, key, data FROM core_statechange WHERE id > %s"
        args: list[Any] = [self.high]
        if self.gaps:
            sql += " OR id IN (" + ", ".join(["%s"] * len(self.gaps)) + ")"
            args.extend(self.gaps)
        rows = execute(sql + " ORDER BY id", args)
        for row_id, kind, app_id, key, data in rows:
            self.gaps.pop(row_id, None)
            if row_id > self.high:
                for missing in range(self.high + 1, row_id):
                    if len(self.gaps) < MAX_GAPS:
                        self.gaps[missing] = now
                self.high = row_id
            if isinstance(data, str):
                data = json.loads(data)
            change = changes.from_row(kind, app_id, key, data)
            if change is not None:
                self.state.on_change(change)
        # Every change committed before this read began is now applied.
        self.state.confirm_fresh(started)
        self.housekeeping(execute)
        return len(rows)

    def housekeeping(self, execute: Any) -> None:
        now = time.monotonic()
        if now - self.last_full > heimdall_settings.FULL_RESYNC_SECONDS:
            self.last_full = now
            self.full_resync()
        self.state.prune()
        if now - self.last_prune > PRUNE_LOG_SECONDS:
            self.last_prune = now
            execute(
                "DELETE FROM core_statechange WHERE created_at < %s",
                [_db_datetime(timezone.now() - timedelta(hours=1))],
            )

    def full_resync(self) -> None:
        """Replace every cache with the database's view without a cold start
        (`AuthzState.resync`: the revocations are read here, in the follower's thread, so requests
        do not queue behind that read). If it fails, fall back to dropping the caches: every
        entry then reloads on use, or the request fails closed when the database is unreachable."""
        try:
            if not django_connection.in_atomic_block:  # replace this thread's connection if it broke
                django_connection.close_if_unusable_or_obsolete()
            self.state.resync()
        except Exception:
            logger.exception("full resync could not read the database; dropping the caches instead")
            self.state.reset()

    def restart(self) -> None:
        """(Re)starting to follow: whatever changed while this process was not following is in
        the full resync; the next read starts the change log shortly before now (high = None)."""
        self.high = None
        self.gaps.clear()
        self.full_resync()

    # ---- loops --------------------------------------------------------------------------

    def run(self) -> None:
        threading.Thread(target=self.watch, name="heimdall-state-follower-watchdog", daemon=True).start()
        while not self.stop_event.is_set():
            try:
                if django_connection.vendor == "postgresql":
                    self.run_postgresql()
                else:
                    self.run_polling()
            except Exception:  # the follower must survive and retry
                # No cache drop here: until a read succeeds again, `fresh_as_of` does not move, so
                # the caches serve for at most the staleness bound (then every check reads the
                # database, or fails closed); the restart below begins with a full resync, which
                # covers whatever was missed meanwhile. Dropping them here would make every
                # request of every thread reload at once (at 10,000 Apps: p99 200 ms).
                logger.exception("state follower failed; reconnecting in 1s (full resync on restart)")
                time.sleep(1.0)

    @contextmanager
    def reading(self, fd: int) -> Iterator[None]:
        """Mark a read on socket `fd` in flight, for `watch`."""
        with self._read_lock:
            self._read = (time.monotonic(), fd)
        try:
            yield
        finally:
            with self._read_lock:  # the watchdog never touches a socket after this
                self._read = None

    def watch(self) -> None:
        """Shut down the socket of a read that has taken longer than the bound: it then fails
        at once (a frozen path would otherwise hold it until the kernel gives up, ~15 min)."""
        while not self.stop_event.wait(min(1.0, self.bound / 4)):
            with self._read_lock:
                read = self._read
                if read is None or time.monotonic() - read[0] <= self.bound:
                    continue
                self._read = None
                logger.warning("state follower read stalled for over %.1f s; dropping its connection", self.bound)
                try:
                    with socket.socket(fileno=os.dup(read[1])) as sock:  # closes only the duplicate
                        sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    logger.exception("could not shut down the stalled follower connection")

    def run_postgresql(self) -> None:
        import psycopg

        db = settings.DATABASES["default"]
        params: dict[str, Any] = {
            "dbname": db.get("NAME"),
            "user": db.get("USER"),
            "password": db.get("PASSWORD"),
            "host": db.get("HOST"),
            "port": db.get("PORT"),
        }
        params.update(FOLLOWER_CONNECTION)
        params.update({k: v for k, v in db.get("OPTIONS", {}).items() if k not in _DJANGO_OPTIONS})
        params = {k: v for k, v in params.items() if v not in (None, "")}
        timeout_ms = max(1000, int(self.bound * 1000))
        params["options"] = f"{params.get('options', '')} -c statement_timeout={timeout_ms}".strip()
        interval = heimdall_settings.RESYNC_SECONDS
        self.check_bound(interval)
        with psycopg.connect(**params, autocommit=True) as conn:

            def execute(sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
                with self.reading(conn.fileno()):
                    cur = conn.execute(sql, args)
                    return cur.fetchall() if cur.description else []

            execute(f"LISTEN {NOTIFY_CHANNEL}", [])

            # Listening first, then the restart's resync, then the change log from shortly
            # before now and from then on; only that read confirms the caches fresh.
            self.restart()
            self.poll_once(execute)
            while not self.stop_event.is_set():
                for _ in conn.notifies(timeout=interval, stop_after=1):
                    pass
                # A burst of commits sends a burst of notifications: one read covers them all.
                for _ in conn.notifies(timeout=0.0):
                    pass
                self.poll_once(execute)

    def run_polling(self) -> None:
        interval = heimdall_settings.SQLITE_POLL_SECONDS
        self.check_bound(interval)

        def execute(sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
            with django_connection.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else []

        self.restart()
        while not self.stop_event.is_set():
            self.poll_once(execute)
            self.stop_event.wait(interval)


    def check_bound(self, interval: float) -> None:
        if self.bound <= interval:
            logger.warning(
                "HEIMDALL_STALENESS_BOUND_SECONDS (%.1f) is not above the change-log read interval "
                "(%.1f s): authorization will often answer from the database instead of memory",
                self.bound,
                interval,
            )


def _db_datetime(moment: Any) -> Any:
    """SQLite keeps Django datetimes as naive UTC text; PostgreSQL takes them as they are."""
    if django_connection.vendor == "postgresql":
        return moment
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


_follower: Follower | None = None


def start_follower(state: Any) -> Follower:
    global _follower
    _follower = Follower(state)
    _follower.start()
    return _follower
