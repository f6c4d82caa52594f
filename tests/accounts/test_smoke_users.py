from tests.helpers import problem


def test_password_signin_roundtrip(api, acme):
    r = api.post("/v1/users", {"email": "Alice@Example.com", "password": "correct horse battery", "roles": ["editor"]}, token=acme.token)
    assert r.status_code == 201, r.content
    user = r.json()
    assert user["email"] == "alice@example.com" and user["id"].startswith("usr_")
    r = api.post("/v1/oauth/token", {"grantType": "password", "username": "alice@example.com", "password": "correct horse battery", "app": "acme-corp"})
    assert r.status_code == 200, r.content
    tokens = r.json()
    me = api.get("/v1/me", token=tokens["access_token"])
    assert me.status_code == 200, me.content
    assert me.json()["email"] == "alice@example.com"
    r = api.post("/v1/oauth/token", {"grantType": "refresh_token", "refreshToken": tokens["refresh_token"]})
    assert r.status_code == 200, r.content
    r2 = api.post("/v1/oauth/token", {"grantType": "refresh_token", "refreshToken": tokens["refresh_token"]})
    problem(r2, 400, "invalid_grant")
    wrong = api.post("/v1/oauth/token", {"grantType": "password", "username": "alice@example.com", "password": "nope nope nope", "app": "acme-corp"})
    problem(wrong, 400, "invalid_grant")
