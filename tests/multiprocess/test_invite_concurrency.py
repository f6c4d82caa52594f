"""Invite `maxUses` across two server processes on one PostgreSQL database: 20 parallel accepts
of an invite with maxUses=3, split between servers A and B, give exactly 3 memberships and 17
clean 410 `invite_exhausted` answers."""

from __future__ import annotations

import threading

from tests.multiprocess.test_propagation import cluster, expect, http, new_app, pytestmark  # noqa: F401


def test_twenty_parallel_accepts_on_two_servers_give_exactly_max_uses(cluster):  # noqa: F811
    tenant = new_app(cluster, "invites")
    invite = expect(
        http(cluster.a.base, "POST", "/v1/invites", {"role": "viewer", "maxUses": 3}, token=tenant.token), 201
    )
    barrier = threading.Barrier(20)
    answers: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        server = cluster.a if n % 2 else cluster.b
        body = {"token": invite["token"], "email": f"p{n}@example.com", "password": "a joining passphrase"}
        barrier.wait()
        reply = http(server.base, "POST", "/v1/invites/accept", body)
        with lock:
            answers.append((reply.status, (reply.body or {}).get("code")))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(answers, key=str) == sorted([(201, None)] * 3 + [(410, "invite_exhausted")] * 17, key=str), answers
    seen = expect(http(cluster.b.base, "GET", f"/v1/invites/{invite['id']}", token=tenant.token), 200)
    assert (seen["uses"], seen["status"]) == (3, "exhausted")
    members = expect(http(cluster.a.base, "GET", "/v1/users", token=tenant.token), 200)["data"]
    assert len(members) == 3
