"""users over real HTTP: creation, lookup, the aggregated user object, authorization."""

import uuid

from harness.data import new_account
from reference_impl.stack.api import RunningStack
from tests.conftest import Api, admin_tokens, bearer


def test_create_user_returns_the_full_object(api: Api, stack: RunningStack) -> None:
    tokens = admin_tokens(api, stack)
    account = new_account(group_names=["customer", "admin"], profile={"note": "x"})
    response = api.users.post("/", json=account, headers=bearer(tokens["access_token"]))
    assert response.status_code == 201
    user = response.json()
    assert user["second_login"] == account["second_login"]
    assert user["groups"] == ["admin", "customer"]
    assert user["contacts"] == {"phone": account["phone"], "email": account["email"]}
    assert user["profile"] == {"note": "x"}
    assert user["is_active"] is True
    assert {"id", "created_at", "updated_at"} <= user.keys()
    assert "password" not in response.text and "password_hash" not in response.text


def test_create_user_requires_authorization(api: Api) -> None:
    assert api.users.post("/", json=new_account()).status_code == 401


def test_create_user_duplicate_second_login_is_400(api: Api) -> None:
    account, tokens = api.registered()
    response = api.users.post(
        "/", json=new_account(second_login=account["second_login"]), headers=bearer(tokens["access_token"])
    )
    assert (response.status_code, response.json()) == (
        400,
        {"detail": "User with this second_login already exists"},
    )


def test_get_user_by_id_has_groups_and_contacts(api: Api) -> None:
    account, tokens = api.registered()
    me = api.me(tokens["access_token"]).json()
    response = api.users.get(f"/{me['id']}", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    user = response.json()
    assert user["id"] == me["id"]
    assert user["groups"] == ["customer"]
    assert user["contacts"] == {"phone": account["phone"], "email": account["email"]}


def test_get_unknown_user_is_404(api: Api) -> None:
    _, tokens = api.registered()
    response = api.users.get(f"/{uuid.uuid4()}", headers=bearer(tokens["access_token"]))
    assert (response.status_code, response.json()) == (404, {"detail": "User not found"})


def test_get_user_requires_authorization(api: Api) -> None:
    assert api.users.get(f"/{uuid.uuid4()}").status_code == 401
    assert api.users.get(f"/{uuid.uuid4()}", headers=bearer("garbage")).status_code == 401


def test_me_returns_the_caller(api: Api) -> None:
    account, tokens = api.registered()
    me = api.me(tokens["access_token"])
    assert me.status_code == 200
    assert me.json()["second_login"] == account["second_login"]
