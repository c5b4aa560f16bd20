"""Races, token abuse, login throttling and webhook signatures, over real HTTP against the real stack."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import redis
from pwdlib import PasswordHash

from harness.data import new_account
from reference_impl.core.config import Settings
from reference_impl.stack.api import RunningStack
from tests.conftest import Api, admin_tokens, assert_refused, bearer, sql, unique, webhook_payload
from tests.lone_service import lone_service

RACERS = 20


async def _together(requests: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """Send every request at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(requests))
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        return await asyncio.gather(
            *(client.request(method, url, **kwargs) for method, url, kwargs in requests)
        )


# ---- races ----------------------------------------------------------------------------------------------------


def test_concurrent_refresh_with_one_token_lets_exactly_one_through(api: Api, stack: RunningStack) -> None:
    _, tokens = api.registered()
    url = stack.base_urls["auth"] + "/refresh"
    responses = asyncio.run(
        _together([("POST", url, {"json": {"refresh_token": tokens["refresh_token"]}})] * RACERS)
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [401] * (RACERS - 1)
    winner = next(response for response in responses if response.status_code == 200).json()
    assert api.refresh(winner["refresh_token"]).status_code == 401  # the family is revoked


def test_concurrent_registrations_with_one_login_let_exactly_one_through(stack: RunningStack) -> None:
    second_login = unique("race_")
    url = stack.base_urls["auth"] + "/register"
    requests = [("POST", url, {"json": new_account(second_login=second_login)}) for _ in range(RACERS)]
    responses = asyncio.run(_together(requests))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [400] * (RACERS - 1), [
        r.text for r in responses if r.status_code not in (201, 400)
    ]
    for response in responses:
        if response.status_code == 400:
            assert response.json() == {"detail": "User with this second_login already exists"}


def test_concurrent_webhooks_with_one_id_store_one_payment(stack: RunningStack) -> None:
    payload = webhook_payload()
    responses = asyncio.run(_together([("POST", stack.base_urls["webhook"], {"json": payload})] * RACERS))
    assert {response.status_code for response in responses} == {200}
    assert len({response.text for response in responses}) == 1
    rows = sql(stack, "SELECT count(*) AS n FROM to_can.payments WHERE id = $1", payload["Id"])
    assert rows[0]["n"] == 1


def test_no_request_succeeds_with_a_token_after_its_logout_returned(api: Api, stack: RunningStack) -> None:
    _, tokens = api.registered()
    me = stack.base_urls["users"] + "/me"
    headers = bearer(tokens["access_token"])

    async def race() -> tuple[float, list[tuple[float, int]]]:
        seen: list[tuple[float, int]] = []
        async with httpx.AsyncClient(timeout=30) as client:

            async def hammer() -> None:
                for _ in range(40):
                    started = time.monotonic()
                    seen.append((started, (await client.get(me, headers=headers)).status_code))

            async def logout() -> float:
                await asyncio.sleep(0)  # let the hammering start first
                response = await client.post(stack.base_urls["auth"] + "/logout", headers=headers)
                assert response.status_code == 200
                return time.monotonic()

            results = await asyncio.gather(hammer(), hammer(), logout())
        return results[2], seen

    logged_out_at, seen = asyncio.run(race())
    after = [status for started, status in seen if started > logged_out_at]
    assert after and set(after) == {401}


# ---- tokens (OWASP ASVS V9, RFC 9700) ---------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _forged(stack: RunningStack, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, stack.jwt_secret, algorithm="HS256")


def _alg_none(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(uuid.uuid4())
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


@pytest.mark.parametrize(
    "attack",
    [
        "alg none",
        "another key",
        "tampered payload",
        "refresh as access",
        "no exp",
        "no jti",
        "no type",
        "nbf in the future",
    ],
)
def test_forged_or_misused_access_tokens_are_refused(api: Api, stack: RunningStack, attack: str) -> None:
    _, tokens = api.registered()
    claims = _claims(tokens["access_token"])
    future = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
    forgeries: dict[str, Callable[[], str]] = {
        "alg none": lambda: _alg_none(claims),
        "another key": lambda: jwt.encode(
            claims, "not-the-deployment-secret-at-all-0123456789", algorithm="HS256"
        ),
        "tampered payload": lambda: _tampered(tokens["access_token"]),
        "refresh as access": lambda: tokens["refresh_token"],
        "no exp": lambda: _forged(stack, {k: v for k, v in claims.items() if k != "exp"}),
        "no jti": lambda: _forged(stack, {k: v for k, v in claims.items() if k != "jti"}),
        "no type": lambda: _forged(stack, {k: v for k, v in claims.items() if k != "type"}),
        "nbf in the future": lambda: _forged(stack, {**claims, "nbf": future}),
    }
    token = forgeries[attack]()
    for response in (
        api.me(token),
        api.logout(token),
        api.users.get(f"/{claims['sub']}", headers=bearer(token)),
    ):
        assert (response.status_code, response.json()) == (401, {"detail": "Invalid or expired token"}), (
            attack
        )


def test_access_token_is_refused_as_a_refresh_token(api: Api) -> None:
    _, tokens = api.registered()
    response = api.refresh(tokens["access_token"])
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid or expired refresh token"})


def test_token_of_a_deleted_user_is_refused(api: Api, stack: RunningStack) -> None:
    _, tokens = api.registered()
    user_id = api.me(tokens["access_token"]).json()["id"]
    sql(stack, "DELETE FROM users.users WHERE id = $1::uuid", user_id)
    for response in (
        api.me(tokens["access_token"]),
        api.users.get(f"/{user_id}", headers=bearer(tokens["access_token"])),
        api.logout(tokens["access_token"]),
    ):
        assert response.status_code == 401
    assert api.refresh(tokens["refresh_token"]).status_code == 401


# ---- sessions: logout and deactivation, kept in PostgreSQL -------------------------------------------------------


def _flush_redis(stack: RunningStack) -> None:
    """What a restart of Redis without persistence does to the stack's keys (the login counters)."""
    with redis.Redis.from_url(stack.redis_url) as client:
        client.flushdb()


def test_logout_holds_after_redis_loses_its_keys(api: Api, stack: RunningStack) -> None:
    """Logout ends every session of the user (AUTH-LOGOUT-05/06), and Redis losing its keys brings none back."""
    account, tokens = api.registered()
    other = api.login(account["second_login"], account["password"]).json()  # a second session
    user_id = api.me(tokens["access_token"]).json()["id"]
    assert api.logout(tokens["access_token"]).status_code == 200
    _flush_redis(stack)
    for session in (tokens, other):
        access = session["access_token"]
        assert api.me(access).status_code == 401
        assert api.users.get(f"/{user_id}", headers=bearer(access)).status_code == 401
        assert api.users.post("/", json=new_account(), headers=bearer(access)).status_code == 401
        assert api.logout(access).status_code == 401
        assert api.refresh(session["refresh_token"]).status_code == 401
    fresh = api.login(account["second_login"], account["password"]).json()  # a new login is a new session
    assert api.me(fresh["access_token"]).status_code == 200


def test_reused_refresh_token_ends_the_sessions_access_tokens_too(api: Api) -> None:
    _, tokens = api.registered()
    rotated = api.refresh(tokens["refresh_token"]).json()
    assert api.refresh(tokens["refresh_token"]).status_code == 401  # reuse: the session is revoked
    assert api.me(rotated["access_token"]).status_code == 401


def test_a_deactivated_users_tokens_are_refused_at_once(api: Api, stack: RunningStack) -> None:
    account, tokens = api.registered()
    user_id = api.me(tokens["access_token"]).json()["id"]
    sql(stack, "UPDATE users.users SET is_active = false WHERE id = $1::uuid", user_id)
    assert api.me(tokens["access_token"]).status_code == 401
    assert api.users.get(f"/{user_id}", headers=bearer(tokens["access_token"])).status_code == 401
    assert api.logout(tokens["access_token"]).status_code == 401
    assert api.refresh(tokens["refresh_token"]).status_code == 401
    assert api.login(account["second_login"], account["password"]).status_code == 401
    # Deactivation ended the sessions: reactivating does not bring the old tokens back.
    sql(stack, "UPDATE users.users SET is_active = true WHERE id = $1::uuid", user_id)
    assert api.me(tokens["access_token"]).status_code == 401
    assert api.refresh(tokens["refresh_token"]).status_code == 401
    assert api.login(account["second_login"], account["password"]).status_code == 200


# ---- identifiers, roles, passwords, contacts ---------------------------------------------------------------------


def test_a_second_login_cannot_take_another_accounts_email_or_phone(api: Api) -> None:
    victim, _ = api.registered()
    for field in ("email", "phone"):
        response = api.register(new_account(second_login=victim[field], password="attacker-password"))
        assert_refused(response, 422, "second_login")
    for field in ("second_login", "email", "phone"):
        assert api.login(victim[field], victim["password"]).status_code == 200
        assert api.login(victim[field], "attacker-password").status_code == 401


def test_variants_of_a_login_are_one_account_or_refused(api: Api) -> None:
    tag = unique("")
    account, _ = api.registered(second_login=f"Anna_{tag}")
    for same in (f"anna_{tag}", f"ANNA_{tag}", "".join(chr(ord(c) + 0xFEE0) for c in "Anna") + f"_{tag}"):
        response = api.register(new_account(second_login=same))  # lower case, upper case, fullwidth
        assert (response.status_code, response.json()) == (
            400,
            {"detail": "User with this second_login already exists"},
        )
        assert api.login(same, account["password"]).status_code == 200
    for other_script in (
        f"\u0410nna_{tag}",
        f"Anna\u200b_{tag}",
        f"A\u0301nna_{tag}",
    ):  # Cyrillic А, zero-width, NFD
        assert_refused(api.register(new_account(second_login=other_script)), 422, "second_login")
    fullwidth_email = account["email"].replace("@", "\uff20").upper()
    assert api.login(fullwidth_email, account["password"]).status_code == 200


def test_public_registration_gives_only_self_assignable_groups(api: Api) -> None:
    for groups in (["admin"], ["customer", "admin"]):
        response = api.register(new_account(group_names=groups))
        assert (response.status_code, response.json()) == (403, {"detail": "group cannot be assigned: admin"})
    # AUTH-REG-05 unchanged: an unknown group is named first, with 400.
    response = api.register(new_account(group_names=["nonexistent", "admin"]))
    assert (response.status_code, response.json()) == (400, {"detail": "group not found: nonexistent"})


def test_only_an_admin_creates_admins(api: Api, stack: RunningStack) -> None:
    _, customer = api.registered()
    as_customer = bearer(customer["access_token"])
    refused = api.users.post("/", json=new_account(group_names=["admin"]), headers=as_customer)
    assert (refused.status_code, refused.json()) == (403, {"detail": "group cannot be assigned: admin"})
    created = api.users.post("/", json=new_account(), headers=as_customer)  # USERS-CREATE-01
    assert (created.status_code, created.json()["groups"]) == (201, ["customer"])
    as_admin = bearer(admin_tokens(api, stack)["access_token"])
    admin = api.users.post("/", json=new_account(group_names=["admin"]), headers=as_admin)
    assert (admin.status_code, admin.json()["groups"]) == (201, ["admin"])


@pytest.mark.parametrize("password", ["a", " ", "1234", "seven77", "x" * 257])
def test_passwords_follow_nist_sp_800_63b(api: Api, password: str) -> None:
    _, tokens = api.registered()
    for response in (
        api.register(new_account(password=password)),
        api.users.post("/", json=new_account(password=password), headers=bearer(tokens["access_token"])),
    ):
        reason = "at least 8 characters" if len(password) < 8 else "at most 256 characters"
        assert_refused(response, 422, "password", reason)


def test_passwords_of_eight_and_256_characters_register(api: Api) -> None:
    for password in ("eight8ch", "p" * 256):
        account, _ = api.registered(password=password)
        assert api.login(account["second_login"], password).status_code == 200
    missing = new_account()
    del missing["password"]
    refused = api.register(missing)
    assert (refused.status_code, refused.json()) == (400, {"detail": "Password is required"})


def test_other_users_contacts_are_shown_only_to_admins(api: Api, stack: RunningStack) -> None:
    other, other_tokens = api.registered()
    other_id = api.me(other_tokens["access_token"]).json()["id"]
    _, caller = api.registered()
    seen = api.users.get(f"/{other_id}", headers=bearer(caller["access_token"])).json()
    assert (seen["id"], seen["groups"], seen["contacts"]) == (other_id, ["customer"], None)
    own = api.users.get(f"/{other_id}", headers=bearer(other_tokens["access_token"])).json()
    assert own["contacts"] == {"email": other["email"], "phone": other["phone"]}
    by_admin = api.users.get(f"/{other_id}", headers=bearer(admin_tokens(api, stack)["access_token"])).json()
    assert by_admin["contacts"] == {"email": other["email"], "phone": other["phone"]}


# ---- password storage -------------------------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_with_the_configured_cost(api: Api, stack: RunningStack) -> None:
    account, tokens = api.registered()
    user_id = api.me(tokens["access_token"]).json()["id"]
    [row] = sql(stack, "SELECT password_hash FROM users.users WHERE id = $1::uuid", user_id)
    settings = Settings()
    cost = (
        f"m={settings.password_hash_memory_kib},t={settings.password_hash_time_cost},"
        f"p={settings.password_hash_parallelism}"
    )
    assert row["password_hash"].startswith(f"$argon2id$v=19${cost}$")
    assert account["password"] not in row["password_hash"]


def test_a_hash_made_with_another_cost_still_logs_in(api: Api, stack: RunningStack) -> None:
    """Raising or lowering the cost must not lock out existing accounts: a hash carries its parameters."""
    account, tokens = api.registered()
    user_id = api.me(tokens["access_token"]).json()["id"]
    stronger = PasswordHash.recommended().hash(account["password"])  # 64 MiB, 3 passes, 4 lanes
    sql(stack, "UPDATE users.users SET password_hash = $2 WHERE id = $1::uuid", user_id, stronger)
    assert api.login(account["second_login"], account["password"]).status_code == 200
    assert api.login(account["second_login"], account["password"] + "x").status_code == 401


# ---- login throttling -------------------------------------------------------------------------------------------


def test_repeated_failures_on_one_account_get_429_with_retry_after(api: Api) -> None:
    account, _ = api.registered()
    for _ in range(10):
        assert api.login(account["second_login"], "wrong-password").status_code == 401
    throttled = api.login(account["second_login"], "wrong-password")
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    # Even the right password waits: the account is locked for the rest of the window.
    assert api.login(account["second_login"], account["password"]).status_code == 429
    # Other accounts are not affected.
    other, _ = api.registered()
    assert api.login(other["email"], other["password"]).status_code == 200


def test_lockout_holds_for_every_identifier_of_the_account(api: Api) -> None:
    """Failures are counted per account, whichever identifier (and spelling) named it."""
    account, _ = api.registered()
    for login in [account["second_login"], account["second_login"].upper()] * 5:
        assert api.login(login, "wrong-password").status_code == 401
    for login in (account["email"], account["phone"], account["second_login"]):
        assert api.login(login, account["password"]).status_code == 429, login


LOGIN_LIMITS = {"LOGIN_FAILURES_PER_ADDRESS": "5", "LOGIN_FAILURES_PER_ACCOUNT": "100"}


def test_x_forwarded_for_is_ignored_by_default(stack: RunningStack, tmp_path: Path) -> None:
    """Without TRUSTED_PROXIES a client cannot pick the address the throttle counts: six failures, each claiming
    another address, still come from one (loopback, shared with other tests, so the 429 may come sooner)."""
    with lone_service("auth", stack, tmp_path, env=LOGIN_LIMITS) as url:
        statuses = []
        for _ in range(6):
            body = {"login": unique("nobody"), "password": "wrong-password"}
            spoofed = {"X-Forwarded-For": f"2001:db8::{uuid.uuid4().hex[:4]}"}
            statuses.append(httpx.post(url + "/login", json=body, headers=spoofed, timeout=10).status_code)
    assert 429 in statuses, statuses


def test_repeated_failures_from_one_address_get_429(stack: RunningStack, tmp_path: Path) -> None:
    # Behind a trusted proxy (loopback here), X-Forwarded-For names the client: each test address is a
    # documentation-range string, unique because Redis may outlive the run.
    address = {"X-Forwarded-For": f"2001:db8::{uuid.uuid4().hex[:4]}"}
    with lone_service("auth", stack, tmp_path, env={**LOGIN_LIMITS, "TRUSTED_PROXIES": "127.0.0.1"}) as url:
        for _ in range(5):
            body = {"login": unique("nobody"), "password": "wrong-password"}
            assert httpx.post(url + "/login", json=body, headers=address, timeout=10).status_code == 401
        body = {"login": unique("nobody"), "password": "wrong-password"}
        assert httpx.post(url + "/login", json=body, headers=address, timeout=10).status_code == 429
        other = {"X-Forwarded-For": f"2001:db8::{uuid.uuid4().hex[:4]}:1"}
        assert httpx.post(url + "/login", json=body, headers=other, timeout=10).status_code == 401


# ---- webhook signature ------------------------------------------------------------------------------------------


def test_webhook_signature_is_checked_when_configured(stack: RunningStack, tmp_path: Path) -> None:
    secret = "shared-with-the-gateway"
    with lone_service("webhook", stack, tmp_path, env={"WEBHOOK_HMAC_SECRET": secret}) as url:
        body = json.dumps(webhook_payload()).encode()
        good = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"content-type": "application/json"}
        unsigned = httpx.post(url, content=body, headers=headers, timeout=10)
        forged = httpx.post(url, content=body, headers=headers | {"X-Signature": "0" * 64}, timeout=10)
        not_json = httpx.post(url, content=b"{not json", headers=headers, timeout=10)
        nan = httpx.post(url, content=b'{"Amount": NaN}', headers=headers, timeout=10)
        signed = httpx.post(url, content=body, headers=headers | {"X-Signature": good}, timeout=10)
    for refused in (
        unsigned,
        forged,
        not_json,
        nan,
    ):  # refused before parsing: even bad JSON gets 401, not 422
        assert (refused.status_code, refused.json()) == (401, {"detail": "Invalid signature"})
        assert refused.headers["X-Request-ID"]
    assert signed.status_code == 200


def test_webhook_needs_no_signature_by_default(api: Api) -> None:
    assert api.post_webhook(webhook_payload()).status_code == 200
