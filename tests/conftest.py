"""Fixtures for the reference implementation's tests: a real stack per backend, real HTTP clients."""

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis

from harness import data
from harness.data import new_account
from reference_impl.stack.api import RunningStack, StackConfig, reference_stack

# The machine's own PostgreSQL and Redis, for the external backend; skipped where they do not answer.
EXTERNAL_DATABASE_URL = os.environ.get(
    "TEST_EXTERNAL_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
# Under xdist each worker takes a Redis database of its own: a test that flushes its stack's Redis (as a restart
# would) must not flush another worker's login counters.
_WORKER_INDEX = int(os.environ.get("PYTEST_XDIST_WORKER", "gw-1")[2:] or -1) + 1
EXTERNAL_REDIS_URL = os.environ.get("TEST_EXTERNAL_REDIS_URL") or f"redis://127.0.0.1:6379/{_WORKER_INDEX}"
FREE_PORTS = {"auth": 0, "users": 0, "webhook": 0}
VALID_MID = "100000000001"


def _external_unavailable() -> str | None:
    try:
        with redis.Redis.from_url(EXTERNAL_REDIS_URL, socket_connect_timeout=1) as client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"Redis at {EXTERNAL_REDIS_URL} does not answer: {exc}"
    try:

        async def probe() -> None:
            conn = await asyncpg.connect(EXTERNAL_DATABASE_URL, timeout=2)
            await conn.close()

        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {EXTERNAL_DATABASE_URL} does not answer: {exc}"
    return None


@pytest.fixture(scope="session", params=["embedded", "external"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    backend = request.param
    log_dir = tmp_path_factory.mktemp(f"logs-{backend}")
    if backend == "external":
        reason = _external_unavailable()
        if reason:
            pytest.skip(f"external backend: {reason}")
        config = StackConfig(
            backend="external",
            ports=FREE_PORTS,
            log_dir=log_dir,
            database_url=EXTERNAL_DATABASE_URL,
            redis_url=EXTERNAL_REDIS_URL,
        )
    else:
        config = StackConfig(backend="embedded", ports=FREE_PORTS, log_dir=log_dir)
    with reference_stack(config) as running:
        yield running


def unique(prefix: str = "u") -> str:
    """A value unique to this test run and call: tests never share data."""
    return f"{prefix}{data.unique_tag()}"


def webhook_payload(**overrides: Any) -> dict[str, Any]:
    return data.webhook_payload(VALID_MID, **overrides)


class Api:
    """Thin httpx wrapper over the three services of one stack."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self.auth = httpx.Client(base_url=stack.base_urls["auth"], timeout=10)
        self.users = httpx.Client(base_url=stack.base_urls["users"], timeout=10)
        self.webhook = httpx.Client(base_url=stack.origins["webhook"], timeout=10)

    def close(self) -> None:
        for client in (self.auth, self.users, self.webhook):
            client.close()

    def register(self, account: dict[str, Any]) -> httpx.Response:
        return self.auth.post("/register", json=account)

    def registered(self, **overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        account = new_account(**overrides)
        response = self.register(account)
        assert response.status_code == 201, response.text
        return account, response.json()

    def login(self, login: str, password: str | None) -> httpx.Response:
        body = {"login": login} if password is None else {"login": login, "password": password}
        return self.auth.post("/login", json=body)

    def refresh(self, token: str) -> httpx.Response:
        return self.auth.post("/refresh", json={"refresh_token": token})

    def logout(self, access_token: str | None) -> httpx.Response:
        return self.auth.post("/logout", headers=bearer(access_token))

    def me(self, access_token: str | None) -> httpx.Response:
        return self.users.get("/me", headers=bearer(access_token))

    def post_webhook(self, payload: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return self.webhook.post("/webhook", json=payload, **kwargs)


def sql(stack: RunningStack, query: str, *args: object) -> list[asyncpg.Record]:
    """One statement on the stack's database, over a connection of its own."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(stack.database_url)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def admin_tokens(api: Api, stack: RunningStack) -> dict[str, Any]:
    """The tokens of a new user made an admin in the database: the admin group is given by no public path."""
    account, tokens = api.registered()
    sql(
        stack,
        "INSERT INTO users.user_groups (user_id, group_id) SELECT u.id, g.id FROM users.users u, users.groups g"
        " WHERE u.second_login = $1 AND g.name = 'admin'",
        account["second_login"],
    )
    return tokens


def explain(response: httpx.Response) -> str:
    """The refusal's reason as one line; asserts the `{"detail": ...}` shape on the way."""
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"detail"}, body
    detail = body["detail"]
    if isinstance(detail, str):
        assert detail
        return detail
    # FastAPI's validation shape: a list of {"type", "loc", "msg", ...}.
    assert isinstance(detail, list) and detail, body
    for error in detail:
        assert {"type", "loc", "msg"} <= error.keys(), error
    return "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in detail)


def assert_refused(response: httpx.Response, status: int, *mentions: str) -> str:
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    reason = explain(response)
    for mention in mentions:
        assert mention in reason, f"{mention!r} not in {reason!r}"
    return reason


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture(scope="session")
def api(stack: RunningStack) -> Iterator[Api]:
    client = Api(stack)
    yield client
    client.close()


@pytest.fixture
def log_dir(stack: RunningStack) -> Path:
    return stack.log_dir
