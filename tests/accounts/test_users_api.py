"""POST /v1/users (shape, email rules, password rules, roles, metadata) and GET /v1/users
(filters, pagination)."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

import pytest

from tests.accounts.support import (
    OTHER_PASSWORD,
    PASSWORD,
    audit_events,
    create_user,
    error_fields,
    list_users,
    sign_in,
)
from tests.helpers import problem

USER_ID = re.compile(r"^usr_[0-9A-Za-z]{26}$")
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_create_user_returns_the_membership_with_normalized_email(api, acme):
    response = api.post(
        "/v1/users",
        {
            "email": "  Alice.Smith@Example.COM ",
            "password": PASSWORD,
            "displayName": "Alice",
            "roles": ["editor"],
            "metadata": {"plan": "pro", "seats": 3},
        },
        token=acme.token,
    )
    assert response.status_code == 201, response.content
    user = response.json()
    assert USER_ID.match(user["id"]), user
    assert user["email"] == "alice.smith@example.com"
    assert user["displayName"] == "Alice"
    assert user["status"] == "active"
    assert user["roles"] == ["editor"]
    assert user["metadata"] == {"plan": "pro", "seats": 3}
    assert RFC3339_UTC.match(user["createdAt"]), user
    assert user["lastLoginAt"] is None
    assert "password" not in response.content.decode()
    assert "passwordHash" not in user
    # GET returns the same representation.
    fetched = api.get(f"/v1/users/{user['id']}", token=acme.token).json()
    assert {k: fetched[k] for k in user} == user


def test_create_user_defaults_without_optional_fields(api, acme):
    user = create_user(api, acme, "bare@example.com")
    assert user["displayName"] == ""
    assert user["roles"] == []
    assert user["metadata"] == {}
    assert user["status"] == "active"


@pytest.mark.parametrize("second", ["dup@example.com", "DUP@Example.com", "  Dup@EXAMPLE.com"])
def test_same_email_twice_in_one_app_is_409_user_exists(api, acme, second):
    create_user(api, acme, "dup@example.com")
    problem(api.post("/v1/users", {"email": second}, token=acme.token), 409, "user_exists")
    assert [u["email"] for u in list_users(api, acme)] == ["dup@example.com"]


MALFORMED_EMAILS = {
    "no-at": "no-at",
    "no-domain": "a@",
    "no-local-part": "@example.com",
    "space-in-local": "a b@c.com",
    "space-in-domain": "a@b c.com",
    "empty": "",
    "double-dot-local": "a..b@example.com",
    "leading-dot-local": ".a@example.com",
    "double-dot-domain": "a@example..com",
    "hyphen-label": "a@-example.com",
    "65-char-local-part": "x" * 65 + "@example.com",
    "300-chars": "x" * 288 + "@example.com",
    "400-chars": "x" * 388 + "@example.com",
    "nul-char": "a\u0000@b.com",
    "bell-char": "a\u0007@b.com",
    "newline": "a\n@b.com",
    "zero-width-space": "a@b.com\u200b",
    "int": 42,
    "bool": True,
    "null": None,
    "list": ["a@b.com"],
    "object": {"email": "a@b.com"},
}


def test_malformed_email_is_400_validation_error_on_field_email(api, acme):
    for case, email in MALFORMED_EMAILS.items():
        response = api.post("/v1/users", {"email": email}, token=acme.token)
        assert response.status_code == 400, (case, response.content)
        body = problem(response, 400, "validation_error")
        assert error_fields(body) == {"email"}, (case, body)
    assert list_users(api, acme) == []


def test_missing_email_is_400(api, acme):
    body = problem(api.post("/v1/users", {"displayName": "x"}, token=acme.token), 400, "validation_error")
    assert "email" in error_fields(body)


def test_unicode_email_nfc_and_nfd_forms_are_the_same_user(api, acme):
    composed = unicodedata.normalize("NFC", "Zoë@Exämple.com")
    decomposed = unicodedata.normalize("NFD", "Zoë@Exämple.com")
    assert composed != decomposed
    user = create_user(api, acme, composed)
    assert user["email"] == unicodedata.normalize("NFC", "zoë@exämple.com")
    problem(api.post("/v1/users", {"email": decomposed}, token=acme.token), 409, "user_exists")
    # The list filter normalizes the same way.
    assert [u["id"] for u in list_users(api, acme, "email=" + decomposed)] == [user["id"]]


def test_unicode_domain_nfc_and_nfd_forms_are_the_same_user(api, acme):
    composed = unicodedata.normalize("NFC", "Zoe@Exämple.com")
    decomposed = unicodedata.normalize("NFD", "ZOE@EXÄMPLE.COM")
    user = create_user(api, acme, decomposed, password=PASSWORD)
    assert user["email"] == unicodedata.normalize("NFC", "zoe@exämple.com")
    problem(api.post("/v1/users", {"email": composed}, token=acme.token), 409, "user_exists")
    # Sign-in normalizes the username the same way.
    assert sign_in(api, composed, PASSWORD, acme.slug).status_code == 200


WEAK_PASSWORDS = {
    "under-10": "short",
    "digits": "1234567890",
    "common": "password1234",
    "common-any-case": "PASSWORD1234",
    "ten-identical": "aaaaaaaaaa",
    "same-as-email": "weak@example.com",
}


def test_weak_password_is_422_weak_password_and_nothing_created(api, acme):
    for case, password in WEAK_PASSWORDS.items():
        response = api.post(
            "/v1/users", {"email": "weak@example.com", "password": password}, token=acme.token
        )
        assert response.status_code == 422, (case, response.content)
        body = problem(response, 422, "weak_password")
        assert error_fields(body) == {"password"}, (case, body)
        assert password not in response.content.decode(), case
    assert list_users(api, acme) == []


def test_128_char_password_is_accepted_and_never_truncated(api, acme):
    password = ("Long-Pass-Phrase-" * 8)[:127] + "!"
    assert len(password) == 128
    create_user(api, acme, "long@example.com", password=password)
    assert sign_in(api, "long@example.com", password, acme.slug).status_code == 200
    problem(sign_in(api, "long@example.com", password[:-1], acme.slug), 400, "invalid_grant")
    problem(sign_in(api, "long@example.com", password[:-1] + "?", acme.slug), 400, "invalid_grant")


def test_129_char_password_is_400_and_nothing_created(api, acme):
    password = ("Long-Pass-Phrase-" * 8)[:128] + "!"
    assert len(password) == 129
    response = api.post("/v1/users", {"email": "toolong@example.com", "password": password}, token=acme.token)
    body = problem(response, 400, "validation_error")
    assert error_fields(body) == {"password"}
    assert list_users(api, acme) == []
    assert "user.created" not in [e["action"] for e in audit_events(api, acme)]


def test_unknown_role_is_422_and_no_identity_is_created(api, acme, globex):
    response = api.post(
        "/v1/users",
        {"email": "rolecheck@example.com", "password": PASSWORD, "roles": ["editor", "no-such-role"]},
        token=acme.token,
    )
    body = problem(response, 422, "unknown_role")
    assert error_fields(body) == {"roles"}
    assert list_users(api, acme) == []
    # No identity was left behind either: another App creating the email sets its password.
    create_user(api, globex, "rolecheck@example.com", password=OTHER_PASSWORD)
    assert sign_in(api, "rolecheck@example.com", OTHER_PASSWORD, globex.slug).status_code == 200


def test_metadata_that_is_not_an_object_is_400(api, acme):
    for metadata in ([1, 2], "text", 5, None, True, {"blob": "x" * 17_000}):
        response = api.post(
            "/v1/users", {"email": "meta@example.com", "metadata": metadata}, token=acme.token
        )
        assert response.status_code == 400, (metadata, response.content)
        assert error_fields(problem(response, 400, "validation_error")) == {"metadata"}, metadata
    assert list_users(api, acme) == []


def test_patch_metadata_that_is_not_an_object_is_400_and_changes_nothing(api, acme):
    user = create_user(api, acme, "meta@example.com", metadata={"a": 1})
    response = api.patch(f"/v1/users/{user['id']}", {"metadata": ["a"]}, token=acme.token)
    assert error_fields(problem(response, 400, "validation_error")) == {"metadata"}
    assert api.get(f"/v1/users/{user['id']}", token=acme.token).json()["metadata"] == {"a": 1}


def test_patch_updates_display_name_and_replaces_metadata(api, acme):
    user = create_user(api, acme, "patch@example.com", displayName="Old", metadata={"a": 1})
    response = api.patch(
        f"/v1/users/{user['id']}", {"displayName": "New", "metadata": {"b": 2}}, token=acme.token
    )
    assert response.status_code == 200, response.content
    assert response.json()["displayName"] == "New"
    assert response.json()["metadata"] == {"b": 2}
    assert response.json()["email"] == "patch@example.com"


def test_unknown_fields_are_refused(api, acme):
    response = api.post("/v1/users", {"email": "x@example.com", "status": "suspended"}, token=acme.token)
    problem(response, 400, "validation_error")
    assert list_users(api, acme) == []


# ---- GET /v1/users ----------------------------------------------------------------------------


def _cast(api, app):
    """a: editor, active; b: viewer, suspended; c: editor+viewer, active (created in that order)."""
    a = create_user(api, app, "a@example.com", roles=["editor"])
    b = create_user(api, app, "b@example.com", roles=["viewer"])
    c = create_user(api, app, "c@example.com", roles=["editor", "viewer"])
    assert api.post(f"/v1/users/{b['id']}/suspend", token=app.token).status_code == 200
    return a, b, c


def ids(users):
    return [user["id"] for user in users]


def test_list_is_newest_first(api, acme):
    a, b, c = _cast(api, acme)
    assert ids(list_users(api, acme)) == [c["id"], b["id"], a["id"]]


def test_list_filters_by_email_case_insensitively(api, acme):
    _a, b, _c = _cast(api, acme)
    for email in ("b@example.com", "B@EXAMPLE.COM", " b@Example.com "):
        assert ids(list_users(api, acme, "email=" + quote(email))) == [b["id"]], email
    assert list_users(api, acme, "email=nobody@example.com") == []


def test_list_filters_by_status(api, acme):
    a, b, c = _cast(api, acme)
    assert ids(list_users(api, acme, "status=suspended")) == [b["id"]]
    assert ids(list_users(api, acme, "status=active")) == [c["id"], a["id"]]


def test_list_filters_by_role(api, acme):
    a, b, c = _cast(api, acme)
    assert ids(list_users(api, acme, "role=editor")) == [c["id"], a["id"]]
    assert ids(list_users(api, acme, "role=viewer")) == [c["id"], b["id"]]
    assert list_users(api, acme, "role=admin") == []
    assert list_users(api, acme, "role=edit") == []  # a prefix of a role name matches nothing


def test_list_filters_combine(api, acme):
    _a, b, c = _cast(api, acme)
    assert ids(list_users(api, acme, "role=viewer&status=active")) == [c["id"]]
    assert ids(list_users(api, acme, "role=viewer&status=suspended")) == [b["id"]]


def test_list_with_bad_status_is_400(api, acme):
    for status in ("deleted", "ACTIVE", "active,suspended"):
        response = api.get(f"/v1/users?status={status}", token=acme.token)
        assert error_fields(problem(response, 400, "validation_error")) == {"status"}, status


def test_list_paginates_with_limit_and_cursor(api, acme):
    created = [create_user(api, acme, f"page{i}@example.com")["id"] for i in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        query = "/v1/users?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = api.get(query, token=acme.token)
        assert response.status_code == 200, response.content
        page = response.json()
        assert len(page["data"]) <= 2
        seen += ids(page["data"])
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))


def test_list_with_bad_limit_or_cursor_is_400(api, acme):
    for query, field in (
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=abc", "limit"),
        ("cursor=%25%25", "cursor"),
    ):
        response = api.get(f"/v1/users?{query}", token=acme.token)
        assert error_fields(problem(response, 400, "validation_error")) == {field}, query
