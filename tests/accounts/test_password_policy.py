"""The password policy is Django's password validation (AUTH_PASSWORD_VALIDATORS: its 20,000
common passwords, similarity to the email, all-numeric, at least 10 characters) behind our 422
`weak_password`, on every endpoint that sets a password."""

from __future__ import annotations

import pytest

from tests.accounts.support import PASSWORD, create_user, error_fields, list_users, sign_in, signed_in
from tests.helpers import problem

EMAIL = "ed.smith@example.com"
GOOD = "violet kettle drums at dawn"

WEAK = {
    "common": "password123",  # in Django's list, not in the old 105-entry one
    "common-any-case": "Password123",
    "numeric": "1234567890",
    "numeric-unlisted": "8302957146",
    "email-like": "ed.smith@example.org",
    "email-part": "EdSmith-Example",
    "short": "Vk9#tq2!",
}


@pytest.mark.parametrize("password", list(WEAK.values()), ids=list(WEAK))
def test_weak_password_on_create_user_is_422(api, acme, password):
    response = api.post("/v1/users", {"email": EMAIL, "password": password}, token=acme.token)
    body = problem(response, 422, "weak_password")
    assert error_fields(body) == {"password"}
    assert password not in response.content.decode()
    assert list_users(api, acme) == []


@pytest.fixture
def ed_session(api, acme):
    create_user(api, acme, EMAIL, password=PASSWORD)
    return signed_in(api, EMAIL, PASSWORD, acme.slug)


def test_weak_password_on_password_change_is_422(api, acme, ed_session):
    for case, password in WEAK.items():
        response = api.post(
            "/v1/me/password",
            {"currentPassword": PASSWORD, "newPassword": password},
            token=ed_session["access_token"],
        )
        body = problem(response, 422, "weak_password")
        assert error_fields(body) == {"newPassword"}, case
        assert password not in response.content.decode(), case
    assert sign_in(api, EMAIL, PASSWORD, acme.slug).status_code == 200


def test_a_good_passphrase_is_accepted_everywhere(api, acme, ed_session):
    create_user(api, acme, "jo@example.com", password=GOOD)
    assert sign_in(api, "jo@example.com", GOOD, acme.slug).status_code == 200
    response = api.post(
        "/v1/me/password",
        {"currentPassword": PASSWORD, "newPassword": GOOD},
        token=ed_session["access_token"],
    )
    assert response.status_code == 204, response.content
    assert sign_in(api, EMAIL, GOOD, acme.slug).status_code == 200


def test_over_long_password_is_still_400_and_checked_first(api, acme):
    password = "1" * 129  # numeric and too long: the length rule answers
    response = api.post("/v1/users", {"email": EMAIL, "password": password}, token=acme.token)
    body = problem(response, 400, "validation_error")
    assert error_fields(body) == {"password"}
    assert list_users(api, acme) == []
