"""auth over real HTTP: every happy path and every error code of /register, /login, /refresh, /logout."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from harness.data import new_account
from reference_impl.stack.api import RunningStack
from tests.conftest import Api, unique


def test_register_returns_a_bearer_token_pair(api: Api) -> None:
    response = api.register(new_account())
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"] and body["refresh_token"]


def test_register_without_password_is_400_not_422(api: Api) -> None:
    account = new_account()
    del account["password"]
    response = api.register(account)
    assert (response.status_code, response.json()) == (400, {"detail": "Password is required"})


@pytest.mark.parametrize(
    ("field", "value"), [("email", "not-an-email"), ("second_login", "ab"), ("phone", "call me")]
)
def test_register_validation_errors_are_422(api: Api, field: str, value: str) -> None:
    response = api.register(new_account(**{field: value}))
    assert response.status_code == 422
    assert field in response.text


def test_register_with_unknown_group_names_it(api: Api) -> None:
    response = api.register(new_account(group_names=["nonexistent"]))
    assert (response.status_code, response.json()) == (400, {"detail": "group not found: nonexistent"})


@pytest.mark.parametrize("field", ["second_login", "email", "phone"])
def test_register_duplicate_is_400_already_exists(api: Api, field: str) -> None:
    first, _ = api.registered()
    response = api.register(new_account(**{field: first[field]}))
    assert response.status_code == 400
    assert response.json()["detail"] == f"User with this {field} already exists"


def test_register_keeps_profile(api: Api) -> None:
    _, tokens = api.registered(profile={"city": "Kazan", "tags": ["a"]})
    assert api.me(tokens["access_token"]).json()["profile"] == {"city": "Kazan", "tags": ["a"]}


@pytest.mark.parametrize("login_field", ["second_login", "email", "phone"])
def test_login_by_each_identifier(api: Api, login_field: str) -> None:
    account, _ = api.registered()
    response = api.login(account[login_field], account["password"])
    assert response.status_code == 200
    assert {"access_token", "refresh_token"} <= response.json().keys()


def test_login_email_is_case_insensitive(api: Api) -> None:
    account, _ = api.registered(email=f"{unique('Mixed')}@Example.COM")
    assert api.login(account["email"].upper(), account["password"]).status_code == 200


def test_login_wrong_password_and_unknown_login_look_the_same(api: Api) -> None:
    account, _ = api.registered()
    wrong_password = api.login(account["second_login"], "wrong")
    unknown_login = api.login(unique("nobody"), "whatever")
    for response in (wrong_password, unknown_login):
        assert (response.status_code, response.json()) == (401, {"detail": "Invalid credentials"})


def test_login_without_password_is_400(api: Api) -> None:
    account, _ = api.registered()
    response = api.login(account["second_login"], None)
    assert (response.status_code, response.json()) == (400, {"detail": "Password is required"})


def test_refresh_rotates_the_pair(api: Api) -> None:
    _, tokens = api.registered()
    response = api.refresh(tokens["refresh_token"])
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert api.me(rotated["access_token"]).status_code == 200


def test_refresh_reuse_is_refused_and_revokes_the_family(api: Api) -> None:
    _, tokens = api.registered()
    rotated = api.refresh(tokens["refresh_token"]).json()
    reuse = api.refresh(tokens["refresh_token"])
    assert (reuse.status_code, reuse.json()) == (401, {"detail": "Invalid or expired refresh token"})
    # The legitimate successor dies with its family: whoever replayed the old token gains nothing.
    assert api.refresh(rotated["refresh_token"]).status_code == 401


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", ""])
def test_refresh_malformed_token_is_401(api: Api, token: str) -> None:
    response = api.refresh(token)
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid or expired refresh token"})


def test_refresh_expired_token_is_refused_for_its_expiry(api: Api, stack: RunningStack) -> None:
    _, tokens = api.registered()
    claims = jwt.decode(tokens["refresh_token"], options={"verify_signature": False})
    claims["exp"] = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())
    expired = jwt.encode(claims, stack.jwt_secret, algorithm="HS256")
    response = api.refresh(expired)
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid or expired refresh token"})
    # Only the expiry differed: the genuine token (same jti) still works.
    assert api.refresh(tokens["refresh_token"]).status_code == 200


def test_access_token_is_not_a_refresh_token(api: Api) -> None:
    _, tokens = api.registered()
    assert api.refresh(tokens["access_token"]).status_code == 401
    assert api.me(tokens["refresh_token"]).status_code == 401


def test_logout_ends_the_access_token_and_every_refresh_token(api: Api) -> None:
    account, tokens = api.registered()
    second = api.login(account["second_login"], account["password"]).json()
    response = api.logout(tokens["access_token"])
    assert (response.status_code, response.json()) == (200, {"detail": "Successfully logged out"})
    assert api.me(tokens["access_token"]).status_code == 401
    again = api.logout(tokens["access_token"])
    assert (again.status_code, again.json()) == (401, {"detail": "Invalid or expired token"})
    for refresh_token in (tokens["refresh_token"], second["refresh_token"]):
        assert api.refresh(refresh_token).status_code == 401


def test_logout_without_header_is_401(api: Api) -> None:
    assert api.logout(None).status_code == 401


def test_logout_with_invalid_or_expired_token_is_401(api: Api, stack: RunningStack) -> None:
    _, tokens = api.registered()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    claims["exp"] = int((datetime.now(UTC) - timedelta(seconds=5)).timestamp())
    expired = jwt.encode(claims, stack.jwt_secret, algorithm="HS256")
    forged = jwt.encode(
        {**claims, "exp": claims["exp"] + 3600}, "another-key-entirely-32-bytes-long!", "HS256"
    )
    for token in ("garbage", expired, forged):
        response = api.logout(token)
        assert (response.status_code, response.json()) == (401, {"detail": "Invalid or expired token"})
