"""The periodic sealer: makes new audit events tamper-evident within seconds of their commit.

Writers store events unsealed (see `audit.services`); this thread, started once per serving
process beside the change follower, calls `audit_chain_seal_all()` every
`HEIMDALL_AUDIT_SEAL_SECONDS`. On PostgreSQL a session advisory lock lets one process of the
whole deployment seal per round and the others skip it (sealers of one App would only queue on
the chain head's row lock otherwise). A failed round is logged and retried on the next one: no
event is lost or altered by a failure, only sealed later, and verification, export and pruning
seal first whatever this thread does.
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connection

from audit.services import audit_chain_seal_all
from core.conf import heimdall_settings

logger = logging.getLogger(__name__)

# pg_advisory_lock key: "heimdall audit sealer" folded into a bigint.
ADVISORY_LOCK_KEY = 0x48454D44_41554449


def seal_round() -> dict[str, int] | None:
    """One sealing round; None when another process holds the round's lock."""
    if connection.vendor != "postgresql":
        return audit_chain_seal_all()
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        (locked,) = cur.fetchone()
    if not locked:
        return None
    try:
        return audit_chain_seal_all()
    finally:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


class Sealer(threading.Thread):
    def __init__(self, interval: float) -> None:
        super().__init__(name="heimdall-audit-sealer", daemon=True)
        self.interval = interval
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop_event.wait(self.interval):
                try:
                    sealed = seal_round()
                    if sealed:
                        logger.debug("sealed audit events: %s", sealed)
                except Exception:  # housekeeping survives; the next round retries
                    logger.exception("audit sealing round failed; retrying in %.1f s", self.interval)
                finally:
                    # A broken connection is replaced (and any session lock it held goes with it).
                    close_old_connections()
        finally:
            connection.close()


_sealer: Sealer | None = None
_lock = threading.Lock()


def start_sealer() -> Sealer | None:
    """Start this process's sealer once (no-op when `AUDIT_SEAL_SECONDS` is 0)."""
    global _sealer
    interval = heimdall_settings.AUDIT_SEAL_SECONDS
    if interval <= 0:
        return None
    with _lock:
        if _sealer is None:
            _sealer = Sealer(interval)
            _sealer.start()
    return _sealer
