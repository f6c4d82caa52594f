"""What one request of a hot path costs, measured in-process so that other load on the machine
changes the figures as little as possible: no network, no load generator, no gunicorn.

For each path (client-credentials issuance, password sign-in, authorize) it reports:

- **round trips** to PostgreSQL per request, counted exactly from libpq's protocol trace
  (every simple Query message and every extended-protocol Sync is one round trip), and the SQL
  statements Django sent (CaptureQueriesContext);
- **commits** per request (`COMMIT` messages plus statements run in autocommit, which commit on
  their own) — each one waits for a WAL flush (fsync) with `synchronous_commit=on`;
- **wall ms per request**, the median of several batches (single-threaded; the lower quartile is
  printed too, as the figure least disturbed by other processes);
- for issuance, the **audit INSERT** alone: `EXPLAIN (ANALYZE, BUFFERS, WAL)` of the same row
  in a rolled-back transaction (median execution ms, WAL records and bytes, shared buffers hit),
  which is what an index costs;
- for sign-in, the bare Argon2id `verify` of the same hash in the same process, and the ratio;
  with `--threads N`, sign-ins and bare verifications in N threads of this process, alternated
  (the server's workers x threads, in one process);
- garbage collections per 1,000 requests by generation, and the longest full collection
  (`--gc-freeze` first moves everything loaded so far to the permanent generation).

`--pyinstrument` prints a call tree per path (pyinstrument importable, e.g. from
bench/.venv-tools via PYTHONPATH); `CPROFILE=1` prints cProfile's top functions by own time.

With `--callgrind`, run it under `valgrind --tool=callgrind --instr-atstart=no`: only the
measured loops are counted (collection is switched on and off with callgrind_control), which
gives Python-side instruction counts per request that do not depend on the machine's load
(add `--separate-threads=yes` to leave the change follower's thread out: use the `-01` files).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<empty db> SECRET_KEY=<32+ chars> \\
    PYTHONPATH=.:bench .venv/bin/python bench/tools/hotpath_cost.py -n 600
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from wsgi_call import boot  # bench/tools, the script's own folder

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
os.environ.setdefault("PUBLIC_URL", "http://127.0.0.1:8000")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=600, help="requests per batch for issuance and authorize")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--signins", type=int, default=40, help="password sign-ins per batch")
    parser.add_argument("--only", default="", help="comma-separated subset: issuance,signin,authorize")
    parser.add_argument("--callgrind", action="store_true", help="toggle callgrind collection around loops")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--pyinstrument", action="store_true", help="print a pyinstrument tree per path")
    parser.add_argument("--threads", type=int, default=0,
                        help="also run sign-ins and bare verifies in this many threads (rates, alternated)")
    parser.add_argument("--seconds", type=float, default=8.0, help="per threaded run")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after setup, as heimdall.wsgi does")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))

    call, api, token_for, op = boot("hotpath", multithread=True)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    admin = api("/v1/apps", {"slug": "bench", "displayName": "Bench"}, op)["adminClient"]
    admin_token = token_for(admin["clientId"], admin["clientSecret"])
    api("/v1/permissions", {"name": "docs.read"}, admin_token)
    api("/v1/roles", {"name": "reader", "permissions": ["docs.read"]}, admin_token)
    reader = api("/v1/clients", {"name": "bench-reader", "roles": ["reader"]}, admin_token)
    reader_token = token_for(reader["clientId"], reader["clientSecret"])
    email, password = "bench-user@example.com", "bench-correct-horse-battery"
    api("/v1/users", {"email": email, "password": password, "roles": ["reader"]}, admin_token)

    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    token_body = json.dumps(
        {"grantType": "client_credentials", "clientId": reader["clientId"], "clientSecret": reader["clientSecret"]}
    ).encode()
    signin_body = json.dumps({"grantType": "password", "username": email, "password": password, "app": "bench"}).encode()
    authorize_body = json.dumps({"token": reader_token, "permission": "docs.read"}).encode()

    def collect(on: bool, label: str = "") -> None:
        """Under callgrind: count instructions only inside the measured loops; each loop's count
        is dumped as its own part (callgrind.out.N, "desc: Trigger: Client Request: <label>")."""
        if not args.callgrind:
            return
        commands = [["-i", "on"]] if on else [["-i", "off"], ["--dump=" + label]]
        for command in commands:
            subprocess.run(["callgrind_control", *command, str(os.getpid())], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def round_trips(request: Callable[[], tuple[int, Any]]) -> dict[str, Any]:
        """One warm request: the statements Django sent (each one round trip: Django's psycopg
        cursors bind client-side, and BEGIN/COMMIT are statements of their own) and the commits
        among them (COMMIT, or a write run in autocommit, which commits by itself)."""
        with CaptureQueriesContext(connection) as captured:
            status, _ = request()
        statements = [q["sql"] for q in captured.captured_queries]
        in_tx, commits = False, 0
        for sql in statements:
            word = sql.lstrip().split(" ")[0].upper()
            if word in ("BEGIN", "SAVEPOINT"):
                in_tx = in_tx or word == "BEGIN"
            elif word == "COMMIT":
                in_tx, commits = False, commits + 1
            elif word == "ROLLBACK":
                in_tx = False
            elif not in_tx and word in ("INSERT", "UPDATE", "DELETE", "WITH"):
                commits += 1
        return {"status": status, "round_trips": len(statements), "commits": commits,
                "statements": [sql[:150] for sql in statements]}

    def backend_cpu() -> float:
        """CPU seconds (user + system) of this connection's PostgreSQL backend, from /proc."""
        connection.ensure_connection()
        pid = connection.connection.info.backend_pid
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def timed(request: Callable[[], tuple[int, Any]], n: int, batches: int, label: str) -> dict[str, float]:
        for _ in range(min(n, 50)):
            status, body = request()
            if status != 200:
                sys.exit(f"HTTP {status} {body}")
        wall, cpu, pg = [], [], []
        pauses: list[tuple[int, float]] = []
        started_gc: list[float] = []

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started_gc.append(time.perf_counter())
            elif started_gc:
                pauses.append((info["generation"], (time.perf_counter() - started_gc.pop()) * 1000))

        gc.callbacks.append(on_gc)
        collect(True)
        for _ in range(batches):
            started, cpu0, pg0 = time.perf_counter(), time.process_time(), backend_cpu()
            for _ in range(n):
                request()
            wall.append((time.perf_counter() - started) / n * 1000)
            cpu.append((time.process_time() - cpu0) / n * 1000)
            pg.append((backend_cpu() - pg0) / n * 1000)
        collect(False, f"{label} x{n * batches}")
        gc.callbacks.remove(on_gc)
        wall.sort()
        full = [ms for generation, ms in pauses if generation == 2]
        return {
            "gc_per_1000": {g: 1000 * sum(1 for gen, _ in pauses if gen == g) / (n * batches) for g in (0, 1, 2)},
            "gc_ms_per_request": sum(ms for _, ms in pauses) / (n * batches),
            "gc_full_max_ms": max(full, default=0.0),
            "ms_median": statistics.median(wall),
            "ms_low": wall[len(wall) // 4],
            "cpu_ms": statistics.median(cpu),
            "pg_cpu_ms": statistics.median(pg),
            "calls": n * batches,
        }

    figures: dict[str, Any] = {}

    def report(name: str, request: Callable[[], tuple[int, Any]], n: int) -> None:
        timing = timed(request, n, args.batches, name)
        if os.environ.get("CPROFILE"):
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.enable()
            for _ in range(n):
                request()
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        if args.pyinstrument:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002)
            profiler.start()
            for _ in range(n):
                request()
            profiler.stop()
            print(profiler.output_text(show_all=bool(os.environ.get("SHOW_ALL"))))
        figures[name] = {**round_trips(request), **timing}
        f = figures[name]
        print(f"{name}: wall {f['ms_median']:.3f} ms/request (median of {args.batches} batches, low quartile "
              f"{f['ms_low']:.3f}); CPU {f['cpu_ms']:.3f} ms Python + {f['pg_cpu_ms']:.3f} ms PostgreSQL backend; "
              f"{f['round_trips']} round trips, {f['commits']} commits; GC per 1,000 requests "
              f"{f['gc_per_1000']}, {f['gc_ms_per_request'] * 1000:.1f} us/request, longest full "
              f"collection {f['gc_full_max_ms']:.1f} ms, tracked objects {len(gc.get_objects())}")
        for sql in f["statements"]:
            print(f"    {sql}")

    if not only or "issuance" in only:
        report("issuance", lambda: call("/v1/oauth/token", token_body), args.n)
        figures["audit_insert"] = audit_insert_cost(connection)
        a = figures["audit_insert"]
        print(f"audit INSERT alone (EXPLAIN ANALYZE, median of {a['samples']}): {a['exec_ms']:.3f} ms, "
              f"{a['wal_records']} WAL records, {a['wal_bytes']} WAL bytes, {a['buffers']} shared buffers; "
              f"indexes: {a['indexes']}")
    if not only or "signin" in only:
        report("signin", lambda: call("/v1/oauth/token", signin_body), args.signins)
        from argon2 import PasswordHasher

        from accounts.models import Membership
        from core.context import system_scope

        with system_scope(reason="the benchmark reads rows directly"):
            stored = Membership.objects.filter(identity__email=email).values_list("password_hash", flat=True).first()
        hasher = PasswordHasher()
        hasher.verify(stored, password)
        per_batch = []
        collect(True)
        for _ in range(args.batches):
            started = time.perf_counter()
            for _ in range(args.signins):
                hasher.verify(stored, password)
            per_batch.append((time.perf_counter() - started) / args.signins * 1000)
        collect(False, f"argon2_verify x{args.signins * args.batches}")
        verify_ms = statistics.median(per_batch)
        figures["argon2_verify_ms"] = verify_ms
        print(f"bare Argon2id verify of the same hash: {verify_ms:.3f} ms; sign-in / verify time "
              f"{figures['signin']['ms_median'] / verify_ms:.3f} (rate ratio {verify_ms / figures['signin']['ms_median']:.3f})")
    if args.threads and (not only or "signin" in only):
        import threading

        from django.db import connections

        def rate(work: Callable[[], Any]) -> float:
            done = [0] * args.threads
            stop = time.perf_counter() + args.seconds

            def worker(i: int) -> None:
                try:
                    while time.perf_counter() < stop:
                        work()
                        done[i] += 1
                finally:
                    connections.close_all()

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return sum(done) / (time.perf_counter() - started)

        def signin_ok() -> None:
            status, body = call("/v1/oauth/token", signin_body)
            if status != 200:
                raise SystemExit(f"sign-in: HTTP {status} {body}")

        rates: dict[str, list[float]] = {"signin": [], "verify": []}
        for _ in range(2):
            rates["signin"].append(rate(signin_ok))
            rates["verify"].append(rate(lambda: hasher.verify(stored, password)))
        s_rate, v_rate = statistics.mean(rates["signin"]), statistics.mean(rates["verify"])
        figures["threaded"] = {"threads": args.threads, "signin_per_s": s_rate, "verify_per_s": v_rate}
        print(f"{args.threads} threads, one process, alternated twice x {args.seconds:.0f} s: sign-ins "
              f"{s_rate:.1f}/s {rates['signin']}, bare verifies {v_rate:.1f}/s {rates['verify']}; "
              f"ratio {s_rate / v_rate:.3f}")
    if not only or "authorize" in only:
        report("authorize", lambda: call("/v1/authorize", authorize_body), args.n)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=1)


def audit_insert_cost(connection: Any, samples: int = 300) -> dict[str, Any]:
    """The audit INSERT of an issuance, alone: EXPLAIN (ANALYZE, BUFFERS, WAL), rolled back."""
    from audit.models import AuditEvent
    from core.ids import new_id

    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT app_id, actor_id FROM " + table + " WHERE action = 'token.issued' LIMIT 1")
        app_id, actor_id = cursor.fetchone()
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY indexname", [table])
        indexes = [row[0] for row in cursor.fetchall()]
    exec_ms, wal_records, wal_bytes, buffers = [], [], [], []
    for _ in range(samples):
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(
                "EXPLAIN (ANALYZE, BUFFERS, WAL, FORMAT JSON) INSERT INTO " + table
                + " (id, app_id, occurred_at, action, actor_type, actor_id, target_type, target_id, ip,"
                " user_agent, request_id, changes) VALUES (%s, %s, now(), 'token.issued', 'client', %s,"
                " 'token', %s, '127.0.0.1', 'wrk', %s, %s)",
                [new_id("evt"), app_id, actor_id, new_id("tok"), new_id("req"),
                 json.dumps({"grantType": "client_credentials", "scope": "docs.read", "expiresIn": 600})],
            )
            plan = cursor.fetchone()[0]
            cursor.execute("ROLLBACK")
        plan = plan if isinstance(plan, list) else json.loads(plan)
        top = plan[0]
        node = top["Plan"]
        exec_ms.append(top["Execution Time"])
        wal_records.append(node.get("WAL Records", 0))
        wal_bytes.append(node.get("WAL Bytes", 0))
        buffers.append(node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0))
    return {
        "samples": samples,
        "exec_ms": statistics.median(exec_ms),
        "wal_records": statistics.median(wal_records),
        "wal_bytes": statistics.median(wal_bytes),
        "buffers": statistics.median(buffers),
        "indexes": indexes,
    }


if __name__ == "__main__":
    main()
