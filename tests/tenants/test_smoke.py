from tests.helpers import problem


def test_operator_creates_app_and_admin_token_works(api, acme):
    response = api.get("/v1/app", token=acme.token)
    assert response.status_code == 200
    assert response.json()["slug"] == "acme-corp"


def test_unknown_path_is_problem(api):
    problem(api.get("/v1/nope"), 404, "not_found")
