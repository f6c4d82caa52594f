"""Audit events of user management and password sign-in, with no secret in any event."""

from __future__ import annotations

import json

from tests.accounts.support import (
    PASSWORD,
    actions_of,
    audit_events,
    create_user,
    sign_in,
    signed_in,
)

WRONG_PASSWORD = "Wr0ng-Guess-Audit-Canary"


def test_user_management_is_audited_with_actor_target_and_changes(api, acme):
    user = create_user(api, acme, "ed@example.com", password=PASSWORD, roles=["viewer"])
    uid = user["id"]
    assert api.patch(f"/v1/users/{uid}", {"displayName": "Ed"}, token=acme.token).status_code == 200
    assert api.post(f"/v1/users/{uid}/suspend", token=acme.token).status_code == 200
    assert api.post(f"/v1/users/{uid}/reactivate", token=acme.token).status_code == 200
    assert api.put(f"/v1/users/{uid}/roles", {"roles": ["editor"]}, token=acme.token).status_code == 200
    assert api.delete(f"/v1/users/{uid}", token=acme.token).status_code == 204

    events = audit_events(api, acme, targetId=uid)
    assert actions_of(events) == [
        "user.deleted",
        "user.roles_changed",
        "user.reactivated",
        "user.suspended",
        "user.updated",
        "user.created",
    ]
    for event in events:
        assert event["actor"] == {"type": "client", "id": acme.client_id}, event
        assert event["target"] == {"type": "user", "id": uid}, event
        assert event["context"]["requestId"].startswith("req_"), event
    by_action = {event["action"]: event for event in events}
    assert by_action["user.created"]["changes"]["email"] == "ed@example.com"
    assert by_action["user.updated"]["changes"]["displayName"] == {"from": "", "to": "Ed"}
    assert by_action["user.roles_changed"]["changes"]["roles"] == {"from": ["viewer"], "to": ["editor"]}
    assert PASSWORD not in json.dumps(events)


def test_no_event_is_written_when_nothing_changes(api, acme):
    user = create_user(api, acme, "ed@example.com", roles=["viewer"])
    api.put(f"/v1/users/{user['id']}/roles", {"roles": ["viewer"]}, token=acme.token)
    api.patch(f"/v1/users/{user['id']}", {}, token=acme.token)
    assert actions_of(audit_events(api, acme, targetId=user["id"])) == ["user.created"]


def test_sign_in_success_and_failures_are_audited_without_passwords(api, acme):
    user = create_user(api, acme, "ed@example.com", password=PASSWORD, roles=["viewer"])
    failed_response = sign_in(api, "ed@example.com", WRONG_PASSWORD, acme.slug, ip="10.1.2.3")
    assert failed_response.status_code == 400
    assert sign_in(api, "nobody@example.com", WRONG_PASSWORD, acme.slug).status_code == 400
    tokens = signed_in(api, "ed@example.com", PASSWORD, acme.slug)

    events = audit_events(api, acme)
    failed = [e for e in events if e["action"] == "user.login_failed"]
    assert len(failed) == 2
    unknown, wrong = failed  # newest first
    assert wrong["changes"]["reason"] == "wrong_password"
    assert wrong["target"] == {"type": "user", "id": user["id"]}
    assert wrong["actor"]["type"] == "anonymous"
    assert wrong["context"]["ip"] == "10.1.2.3"
    assert unknown["changes"]["reason"]
    assert unknown["target"] == {"type": "user", "id": None}

    (succeeded,) = [e for e in events if e["action"] == "user.login_succeeded"]
    assert succeeded["actor"] == {"type": "user", "id": user["id"]}
    assert succeeded["target"] == {"type": "user", "id": user["id"]}

    (issued,) = [e for e in events if e["action"] == "token.issued" and e["actor"]["id"] == user["id"]]
    assert issued["changes"]["grantType"] == "password"
    assert issued["changes"]["scope"] == ""

    dumped = json.dumps(events)
    for secret in (PASSWORD, WRONG_PASSWORD, tokens["access_token"], tokens["refresh_token"]):
        assert secret not in dumped


def test_refresh_grant_and_suspended_sign_in_are_audited(api, acme):
    user = create_user(api, acme, "ed@example.com", password=PASSWORD)
    tokens = signed_in(api, "ed@example.com", PASSWORD, acme.slug)
    response = api.post(
        "/v1/oauth/token", {"grantType": "refresh_token", "refreshToken": tokens["refresh_token"]}
    )
    assert response.status_code == 200
    issued = [e for e in audit_events(api, acme, action="token.issued") if e["actor"]["id"] == user["id"]]
    assert [e["changes"]["grantType"] for e in issued] == ["refresh_token", "password"]

    assert api.post(f"/v1/users/{user['id']}/suspend", token=acme.token).status_code == 200
    assert sign_in(api, "ed@example.com", PASSWORD, acme.slug).status_code == 400
    (refused,) = audit_events(api, acme, action="user.login_failed")
    assert refused["changes"]["reason"] == "user_suspended"
    assert PASSWORD not in json.dumps(refused)
