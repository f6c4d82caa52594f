"""The tamper-evident audit log: per-App hash chains, sealing, verification, retention, export."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from datetime import timedelta
from io import StringIO
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

import audit.services as audit_services
from audit.actions import Action
from audit.chain import GENESIS_HASH
from audit.models import AuditChainHead, AuditEvent, AuditEventImmutable
from audit.services import audit_chain_seal, audit_chain_seal_all, audit_prune, audit_record
from core.context import Actor, system_scope
from tests.helpers import Api, AppHandle, problem

# ---- helpers -------------------------------------------------------------------------------------


def rows(app: AppHandle) -> list[AuditEvent]:
    """The App's events in chain order (sealed ones first), straight from the database."""
    with system_scope(reason="test: inspects rows across Apps"):
        found = list(AuditEvent.objects.filter(app_id=app.id))
    return sorted(found, key=lambda e: (e.seq is None, e.seq or 0, e.id))


def verify(api: Api, app: AppHandle, **params: str) -> dict[str, Any]:
    response = api.get(f"/v1/audit-events/verify?{urlencode(params)}", token=app.token)
    assert response.status_code == 200, response.content
    return response.json()


def export(api: Api, app: AppHandle, **params: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/audit-events/export?{urlencode(params)}", token=app.token)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-ndjson"
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def busy(api: Api, app: AppHandle, tokens: int) -> None:
    """`tokens` token.issued events in `app`'s log."""
    for _ in range(tokens):
        api.client_token(app.client_id, app.client_secret)


def raw_sql(sql: str, params: list[Any]) -> None:
    # Tampering as someone who reaches every App's rows (on PostgreSQL, RLS stops anyone else).
    with system_scope(reason="test: tampers with rows as the tables' owner could"), connection.cursor() as cursor:
        cursor.execute(sql, params)


def json_param() -> str:
    """A placeholder for a JSON value in raw SQL (jsonb on PostgreSQL, text on SQLite)."""
    return "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"


def documented_hash(line: dict[str, Any], *, app_id: str, prev_hash: str) -> str:
    """The hash of an exported event, computed from the documentation alone (audit/chain.py)."""
    content = {
        "id": line["id"],
        "app": app_id,
        "seq": line["seq"],
        "prevHash": prev_hash,
        "occurredAt": line["occurredAt"],
        "action": line["action"],
        "actor": line["actor"],
        "target": line["target"],
        "context": line["context"],
        "changes": line.get("changes"),
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def run_command(name: str, *args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command(name, *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


# ---- sealing and the chains ----------------------------------------------------------------------


def test_events_are_recorded_unsealed_and_sealed_on_demand(api, acme):
    assert {(e.seq, e.hash) for e in rows(acme)} == {(None, None)}
    listed = api.get("/v1/audit-events", token=acme.token).json()["data"]
    assert all(e["seq"] is None and e["hash"] is None for e in listed)

    sealed = audit_chain_seal(app_id=acme.id)

    assert sealed == len(rows(acme)) > 0
    assert audit_chain_seal(app_id=acme.id) == 0
    listed = api.get("/v1/audit-events", token=acme.token).json()["data"]
    assert sorted(e["seq"] for e in listed) == list(range(1, len(listed) + 1))
    assert all(len(e["hash"]) == 64 for e in listed)


def test_chain_is_valid_after_many_events_in_two_apps_each_its_own(api, acme, globex):
    for _ in range(15):
        busy(api, acme, 2)
        busy(api, globex, 1)
        audit_chain_seal(app_id=acme.id if _ % 2 else globex.id)  # seal midway, App by App

    for app in (acme, globex):
        body = verify(api, app)
        events = rows(app)
        assert body["valid"] is True, body
        assert body["checkedEvents"] == len(events) >= 15
        assert (body["fromSeq"], body["lastSeq"], body["lastHash"]) == (1, len(events), events[-1].hash)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[0].prev_hash == GENESIS_HASH
        assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
        assert "firstInvalidEventId" not in body and "reason" not in body
    assert {e.app_id for e in rows(acme)} == {acme.id}


def test_seal_all_seals_every_app_with_pending_events(api, acme, globex):
    busy(api, acme, 2)
    audit_chain_seal(app_id=globex.id)
    busy(api, globex, 1)

    sealed = audit_chain_seal_all()

    assert sealed[acme.id] == len(rows(acme))
    assert sealed[globex.id] == 1
    assert all(e.seq is not None for e in rows(acme) + rows(globex))
    assert audit_chain_seal_all() == {}


def test_sealed_events_stay_immutable_through_the_model(api, acme):
    audit_chain_seal(app_id=acme.id)
    event = rows(acme)[0]

    with pytest.raises(AuditEventImmutable):
        event.delete()
    event.action = "user.deleted"
    with pytest.raises(AuditEventImmutable):
        event.save()


# ---- tampering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column, value",
    [("action", "user.deleted"), ("changes", '{"displayName": {"from": "x", "to": "y"}}'), ("actor_id", "evil")],
)
def test_a_row_edited_with_raw_sql_is_reported(api, acme, column, value):
    busy(api, acme, 3)
    assert verify(api, acme)["valid"] is True
    victim = rows(acme)[2]

    placeholder = json_param() if column == "changes" else "%s"
    raw_sql(f"UPDATE audit_auditevent SET {column} = {placeholder} WHERE id = %s", [value, victim.id])
    body = verify(api, acme)

    assert body["valid"] is False
    assert body["firstInvalidEventId"] == victim.id
    assert body["reason"] == "hash_mismatch"
    assert body["checkedEvents"] == 2


def test_a_rewritten_hash_breaks_the_next_link(api, acme):
    busy(api, acme, 3)
    audit_chain_seal(app_id=acme.id)
    victim, follower = rows(acme)[1:3]

    raw_sql("UPDATE audit_auditevent SET action = %s, hash = %s WHERE id = %s", ["x", "f" * 64, victim.id])
    body = verify(api, acme)

    assert body["valid"] is False
    assert body["firstInvalidEventId"] == victim.id  # its hash no longer matches its content
    # Even with a consistent hash for the forged content, the next event no longer follows it.
    forged = rows(acme)[1]
    raw_sql(
        "UPDATE audit_auditevent SET hash = %s WHERE id = %s",
        [audit_services.event_hash(forged, seq=forged.seq, prev_hash=forged.prev_hash), victim.id],
    )
    body = verify(api, acme)
    assert (body["valid"], body["firstInvalidEventId"], body["reason"]) == (False, follower.id, "chain_broken")


def test_a_deleted_middle_row_is_reported(api, acme):
    busy(api, acme, 3)
    audit_chain_seal(app_id=acme.id)
    events = rows(acme)
    middle, after = events[len(events) // 2], events[len(events) // 2 + 1]

    raw_sql("DELETE FROM audit_auditevent WHERE id = %s", [middle.id])
    body = verify(api, acme)

    assert body["valid"] is False
    assert body["firstInvalidEventId"] == after.id
    assert body["reason"] == "chain_broken"
    assert body["checkedEvents"] == len(events) // 2


def test_deleted_last_rows_are_reported(api, acme):
    busy(api, acme, 2)
    audit_chain_seal(app_id=acme.id)
    events = rows(acme)

    raw_sql("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].id])
    body = verify(api, acme)

    assert body["valid"] is False
    assert body["reason"] == "head_mismatch"
    assert "firstInvalidEventId" not in body
    assert body["lastSeq"] == len(events) - 1


def test_a_deleted_chain_head_is_reported_not_restarted(api, acme):
    busy(api, acme, 1)
    audit_chain_seal(app_id=acme.id)
    busy(api, acme, 1)

    raw_sql("DELETE FROM audit_auditchainhead WHERE app_id = %s", [acme.id])
    body = verify(api, acme)

    assert (body["valid"], body["reason"]) == (False, "head_missing")
    assert rows(acme)[-1].seq is None  # nothing was sealed onto a fresh chain


def test_verify_from_seq(api, acme):
    busy(api, acme, 4)
    total = verify(api, acme)["checkedEvents"]

    body = verify(api, acme, fromSeq="3")

    assert (body["valid"], body["checkedEvents"], body["fromSeq"]) == (True, total - 2, 3)
    raw_sql("UPDATE audit_auditevent SET action = %s WHERE id = %s", ["x", rows(acme)[0].id])
    assert verify(api, acme, fromSeq="2")["valid"] is True  # seq 1 is before the walk
    assert verify(api, acme)["valid"] is False


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "9" * 30])
def test_verify_refuses_a_bad_from_seq(api, acme, value):
    body = problem(api.get(f"/v1/audit-events/verify?fromSeq={value}", token=acme.token), 400, "validation_error")
    assert [e["field"] for e in body["errors"]] == ["fromSeq"]


# ---- concurrency (PostgreSQL) --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_sealing_from_two_threads_does_not_fork_the_chain(api, acme):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite serializes writers with IMMEDIATE transactions)")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(60):
                with transaction.atomic():
                    audit_record(
                        app_id=acme.id, action=Action.TOKEN_ISSUED, actor=Actor("client", f"w{n}-{i}")
                    )
        except Exception as exc:  # noqa: BLE001 - asserted empty below
            errors.append(exc)
        finally:
            connection.close()

    def seal() -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(40):
                audit_chain_seal(app_id=acme.id, batch_size=7)
        except Exception as exc:  # noqa: BLE001 - asserted empty below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    threads += [threading.Thread(target=seal) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    body = verify(api, acme)
    events = rows(acme)
    assert body["valid"] is True, body
    assert body["checkedEvents"] == len(events) >= 120
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len({e.prev_hash for e in events}) == len(events)  # no two events follow the same one


# ---- retention -----------------------------------------------------------------------------------


def set_retention(api: Api, app: AppHandle, days: Any) -> Any:
    return api.patch("/v1/app", {"settings": {"auditRetentionDays": days}}, token=app.token)


def backdate(events: list[AuditEvent], days: int) -> None:
    for event in events:
        raw_sql(
            "UPDATE audit_auditevent SET occurred_at = %s WHERE id = %s",
            [timezone.now() - timedelta(days=days), event.id],
        )


def test_retention_setting_is_validated(api, acme):
    assert api.get("/v1/app", token=acme.token).json()["settings"]["auditRetentionDays"] is None
    for bad in (0, 3651, "30", True, 1.5):
        body = problem(set_retention(api, acme, bad), 400, "validation_error")
        assert [e["field"] for e in body["errors"]] == ["settings.auditRetentionDays"], body
    assert set_retention(api, acme, 30).json()["settings"]["auditRetentionDays"] == 30
    assert set_retention(api, acme, None).json()["settings"]["auditRetentionDays"] is None


def test_prune_removes_only_old_events_and_verify_stays_valid(api, acme, globex):
    assert set_retention(api, acme, 30).status_code == 200
    busy(api, acme, 6)
    busy(api, globex, 2)
    events = rows(acme)  # all unsealed: backdating now is not tampering
    old, young = events[:4], events[4:]
    backdate(old, 40)
    backdate([young[1]], 40)  # old, but after a young one: kept, so the chain stays one piece
    backdate(rows(globex), 400)  # globex keeps everything (no retention)

    code, out = run_command("audit_prune")

    assert code == 0, out
    assert f"{acme.slug}: pruned 4 events older than 30 days" in out
    assert f"{globex.slug}: keeps every event" in out
    remaining = rows(acme)
    assert {e.id for e in old}.isdisjoint(e.id for e in remaining)
    assert {e.id for e in young} <= {e.id for e in remaining}
    pruned = [e for e in remaining if e.action == "audit.pruned"]
    assert len(pruned) == 1 and pruned[0].changes["count"] == 4
    assert (pruned[0].actor_type, pruned[0].changes["fromSeq"], pruned[0].changes["toSeq"]) == ("operator", 1, 4)
    with system_scope(reason="test: inspects rows across Apps"):
        head = AuditChainHead.objects.get(app_id=acme.id)
    assert (head.checkpoint_seq, head.pruned_count) == (4, 4)
    assert head.checkpoint_hash == remaining[0].prev_hash and remaining[0].seq == 5
    body = verify(api, acme)
    assert (body["valid"], body["fromSeq"], body["checkedEvents"]) == (True, 5, len(remaining))
    assert verify(api, acme, fromSeq="1")["fromSeq"] == 5
    assert len(rows(globex)) >= 2 and verify(api, globex)["valid"] is True

    code, out = run_command("audit_prune", "--app", acme.slug)  # nothing more is old enough
    assert (code, f"{acme.slug}: pruned 0 events" in out) == (0, True)


def test_prune_in_batches_moves_the_checkpoint_each_time(api, acme):
    busy(api, acme, 5)
    backdate(rows(acme), 10)

    count = audit_prune(
        app_id=acme.id, older_than=timezone.now() - timedelta(days=1), actor=Actor.system(), batch_size=2
    )

    assert count >= 6
    assert [e.action for e in rows(acme)] == ["audit.pruned"] * ((count + 1) // 2)
    body = verify(api, acme)
    assert (body["valid"], body["fromSeq"]) == (True, count + 1)


def test_prune_refuses_to_erase_a_tampered_chain(api, acme):
    assert set_retention(api, acme, 1).status_code == 200
    busy(api, acme, 2)
    backdate(rows(acme), 5)
    audit_chain_seal(app_id=acme.id)
    victim = rows(acme)[1]
    raw_sql("UPDATE audit_auditevent SET action = %s WHERE id = %s", ["x", victim.id])
    before = len(rows(acme))

    code, out = run_command("audit_prune", "--app", acme.slug)

    assert code == 1
    assert f"{acme.slug}: NOT pruned" in out and victim.id in out
    assert len(rows(acme)) == before
    assert verify(api, acme)["firstInvalidEventId"] == victim.id


def test_prune_unknown_app_is_an_error(api, acme):
    code, out = run_command("audit_prune", "--app", "nope")
    assert code == 1 and "No App with slug 'nope'" in out


# ---- export --------------------------------------------------------------------------------------


def test_export_streams_ndjson_oldest_first_in_chunks(api, acme, monkeypatch):
    monkeypatch.setattr(audit_services, "EXPORT_CHUNK", 3)
    busy(api, acme, 5)

    lines = export(api, acme)

    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert len(lines) == len(rows(acme)) >= 8
    listed = {e["id"]: e for e in api.get("/v1/audit-events?limit=200", token=acme.token).json()["data"]}
    assert lines == [listed[line["id"]] for line in lines]  # the list's shape, now sealed
    prev = GENESIS_HASH
    for line in lines:  # verifiable offline from the documented canonical form
        assert documented_hash(line, app_id=acme.id, prev_hash=prev) == line["hash"]
        prev = line["hash"]


def test_export_accepts_ndjson_in_accept(api, acme):
    response = api.get("/v1/audit-events/export", token=acme.token, headers={"Accept": "application/x-ndjson"})
    assert response.status_code == 200
    assert b"".join(response.streaming_content).count(b"\n") >= 2


def test_export_puts_events_sealed_later_after_the_chain(api, acme, monkeypatch):
    audit_chain_seal(app_id=acme.id)
    busy(api, acme, 2)
    monkeypatch.setattr("audit.api.audit_chain_seal", lambda **kw: 0)  # the window, held open

    lines = export(api, acme)

    assert [line["seq"] is None for line in lines][-2:] == [True, True]
    assert all(line["seq"] is not None for line in lines[:-2])


def test_export_filters_since_and_until(api, acme):
    busy(api, acme, 2)
    events = rows(acme)
    backdate(events[:2], 3)
    backdate(events[2:4], 2)

    def ago(days: float) -> str:
        return (timezone.now() - timedelta(days=days)).isoformat()

    assert [e["id"] for e in export(api, acme, until=ago(2.5))] == [e.id for e in events[:2]]
    assert [e["id"] for e in export(api, acme, since=ago(2.5), until=ago(1))] == [e.id for e in events[2:4]]
    assert {e["id"] for e in export(api, acme, since=ago(1))} == {e.id for e in events[4:]}
    problem(api.get("/v1/audit-events/export?since=yesterday", token=acme.token), 400, "validation_error")


# ---- permissions and isolation -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/audit-events/verify", "/v1/audit-events/export"])
def test_verify_and_export_need_audit_read(api, acme, path):
    client = api.post("/v1/clients", {"name": "p", "permissions": ["heimdall:app.read"]}, token=acme.token)
    assert client.status_code == 201, client.content
    token = api.client_token(client.json()["clientId"], client.json()["clientSecret"])

    body = problem(api.get(path, token=token), 403, "permission_denied")

    assert "heimdall:audit.read" in body["detail"]
    problem(api.get(path), 401, "invalid_token")


@pytest.mark.parametrize("path", ["/v1/audit-events/verify", "/v1/audit-events/export"])
def test_verify_and_export_refuse_writes(api, acme, path):
    problem(api.post(path, {}, token=acme.token), 405, "method_not_allowed")


def test_each_app_sees_only_its_own_chain(api, acme, globex):
    busy(api, acme, 3)
    busy(api, globex, 1)
    acme_ids = {e.id for e in rows(acme)}

    lines = export(api, globex)
    body = verify(api, globex)

    assert acme_ids.isdisjoint(line["id"] for line in lines)
    assert acme.id not in json.dumps(lines)
    assert body["checkedEvents"] == len(lines) == len(rows(globex))
    audit_chain_seal(app_id=acme.id)
    raw_sql("UPDATE audit_auditevent SET action = %s WHERE id = %s", ["x", sorted(acme_ids)[0]])
    assert verify(api, globex)["valid"] is True
    assert verify(api, acme)["valid"] is False


def test_operator_acting_in_an_app_verifies_that_app(api, operator, acme):
    busy(api, acme, 1)
    response = api.get("/v1/audit-events/verify", token=operator.token, headers={"Heimdall-App": acme.slug})
    assert response.status_code == 200, response.content
    assert response.json()["checkedEvents"] == len(rows(acme))


# ---- audit_verify command ------------------------------------------------------------------------


def test_audit_verify_command_output_and_exit_code(api, operator, acme, globex):
    busy(api, acme, 2)

    code, out = run_command("audit_verify")

    assert code == 0, out
    assert f"{acme.slug}: valid, {len(rows(acme))} events checked" in out
    assert f"{globex.slug}: valid" in out and "heimdall: valid" in out

    victim = rows(acme)[1]
    raw_sql("UPDATE audit_auditevent SET action = %s WHERE id = %s", ["x", victim.id])
    code, out = run_command("audit_verify")
    assert code == 1
    assert f"{acme.slug}: INVALID at {victim.id}: hash_mismatch" in out
    assert f"{globex.slug}: valid" in out

    code, out = run_command("audit_verify", "--app", globex.slug)
    assert code == 0 and acme.slug not in out
    code, out = run_command("audit_verify", "--app", "nope")
    assert code == 1 and "No App with slug 'nope'" in out
