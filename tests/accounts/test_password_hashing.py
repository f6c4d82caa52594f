"""Password storage: Argon2id with at least OWASP's parameters, upgraded on sign-in."""

from argon2 import PasswordHasher, Type, extract_parameters

from accounts.models import Membership
from core.context import system_scope
from tests.accounts.support import PASSWORD, create_user, sign_in


def _stored_hash(user_id: str) -> str:
    with system_scope(reason="test: inspects rows across Apps"):
        return Membership.objects.get(pk=user_id).password_hash


def test_passwords_are_stored_as_argon2id_with_owasp_parameters(api, acme):
    user = create_user(api, acme, "hash@example.com", password=PASSWORD)
    stored = _stored_hash(user["id"])
    params = extract_parameters(stored)
    assert stored.startswith("$argon2id$")
    assert params.type is Type.ID
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2 and params.parallelism >= 1
    assert PASSWORD not in stored


def test_a_weaker_hash_is_upgraded_at_the_next_sign_in(api, acme):
    user = create_user(api, acme, "legacy@example.com", password=PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID).hash(PASSWORD)
    with system_scope(reason="test: inspects rows across Apps"):
        Membership.objects.filter(pk=user["id"]).update(password_hash=weak)

    response = sign_in(api, "legacy@example.com", PASSWORD, "acme-corp")
    assert response.status_code == 200, response.content

    upgraded = extract_parameters(_stored_hash(user["id"]))
    assert (upgraded.time_cost, upgraded.memory_cost) == (2, 19 * 1024)
    # and the upgraded hash still verifies the same password
    assert sign_in(api, "legacy@example.com", PASSWORD, "acme-corp").status_code == 200
