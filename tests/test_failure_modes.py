"""What the services answer when their database or Redis fails, and when the database function breaks."""

import asyncio
import os
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from harness.faults.proxy import start_proxy
from reference_impl.core.config import Settings
from reference_impl.core.tokens import TokenType, issue_token
from reference_impl.stack.api import API_PREFIXES, RunningStack, StackConfig, reference_stack
from reference_impl.stack.processes import free_port, wait_until
from tests.conftest import Api, sql, webhook_payload
from tests.lone_service import lone_service


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a hung database)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("failure", ["refused", "silent"])
def test_webhook_database_unreachable_is_503_within_2s(
    stack: RunningStack, tmp_path: Path, failure: str
) -> None:
    with silent_listener() as silent_port:
        port = free_port() if failure == "refused" else silent_port
        dead_db = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        with lone_service("webhook", stack, tmp_path, database_url=dead_db) as url:
            started = time.monotonic()
            response = httpx.post(url, json=webhook_payload(), timeout=10)
            elapsed = time.monotonic() - started
    assert (response.status_code, response.json()) == (503, {"detail": "Database error"})
    assert len(response.headers.get_list("X-Request-ID")) == 1
    assert elapsed < 2.0


def _via(database_url: str, port: int) -> str:
    """The same DSN, pointed at a local port (the fault proxy)."""
    parts = urlsplit(database_url)
    credentials, _, _ = parts.netloc.rpartition("@")
    return parts._replace(
        netloc=f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
    ).geturl()


def _request(service: str, url: str, token: str) -> httpx.Response:
    if service == "webhook":
        return httpx.post(url, json=webhook_payload(), timeout=10)
    return httpx.get(f"{url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.mark.parametrize("service", ["webhook", "users"])
def test_every_way_the_database_can_be_unreachable_is_503_within_2s(
    stack: RunningStack, api: Api, tmp_path: Path, service: str
) -> None:
    """Refused (cut), reset and frozen (a paused server: connections open, no byte moves), through the harness's
    fault proxy; each time for a request on a pooled connection and one that must connect, then back to 200."""
    _, tokens = api.registered()
    database = urlsplit(stack.database_url)
    assert database.hostname and database.port
    with (
        start_proxy(database.hostname, database.port) as proxy,
        lone_service(
            service, stack, tmp_path, database_url=_via(stack.database_url, proxy.listen_port)
        ) as url,
    ):
        for mode in ("cut", "reset", "freeze"):
            assert _request(service, url, tokens["access_token"]).status_code == 200  # a pooled connection
            getattr(proxy.control, mode)()
            try:
                for attempt in ("pooled connection", "new connection"):
                    started = time.monotonic()
                    response = _request(service, url, tokens["access_token"])
                    elapsed = time.monotonic() - started
                    assert (response.status_code, response.json()) == (503, {"detail": "Database error"}), (
                        mode,
                        attempt,
                    )
                    assert elapsed < 2.0, (mode, attempt, elapsed)
            finally:
                proxy.control.restore()
            wait_until(
                lambda: _request(service, url, tokens["access_token"]).status_code == 200,
                timeout=10,
                what=f"{service} to answer 200 after the {mode}",
            )


def test_logins_fail_closed_when_redis_is_unreachable(stack: RunningStack, api: Api, tmp_path: Path) -> None:
    """Failed logins are counted in Redis: without it a login is refused (503), never let through uncounted."""
    account, _ = api.registered()
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    with lone_service("auth", stack, tmp_path, redis_url=dead_redis) as url:
        response = httpx.post(
            f"{url}/login",
            json={"login": account["second_login"], "password": account["password"]},
            timeout=10,
        )
        health = httpx.get(url.replace(API_PREFIXES["auth"], "/health"), timeout=10)
    assert (response.status_code, response.json()) == (503, {"detail": "Login throttle unavailable"})
    assert (health.status_code, health.json()["redis"]) == (503, "unavailable")


def test_token_checks_need_no_redis(stack: RunningStack, api: Api, tmp_path: Path) -> None:
    """Revocation lives in PostgreSQL: the users service answers, and refuses a logged-out token, with Redis gone."""
    _, tokens = api.registered()
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    with lone_service("users", stack, tmp_path, redis_url=dead_redis) as url:
        assert httpx.get(f"{url}/me", headers=headers, timeout=10).status_code == 200
        assert api.logout(tokens["access_token"]).status_code == 200
        assert httpx.get(f"{url}/me", headers=headers, timeout=10).status_code == 401
        assert httpx.get(url.replace(API_PREFIXES["users"], "/health"), timeout=10).status_code == 200


async def _swap_function(database_url: str, body: str | None) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        if body is not None:
            await conn.execute(body)
        definition: str = await conn.fetchval(
            "SELECT pg_get_functiondef('to_can.process_webhook(jsonb)'::regprocedure)"
        )
        return definition
    finally:
        await conn.close()


BROKEN = """
CREATE OR REPLACE FUNCTION to_can.process_webhook(payload jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'unexpected failure' USING ERRCODE = 'XX000'; END; $$
"""


@pytest.mark.usefixtures("api")
def _local_port(response: httpx.Response) -> int:
    port: int = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    return port


def test_webhook_unknown_function_error_is_500(stack: RunningStack) -> None:
    original = asyncio.run(_swap_function(stack.database_url, None))
    with httpx.Client(base_url=stack.origins["webhook"], timeout=10) as client:
        try:
            asyncio.run(_swap_function(stack.database_url, BROKEN))
            response = client.post("/webhook", json=webhook_payload())
            connection = _local_port(response)
        finally:
            restored = asyncio.run(_swap_function(stack.database_url, original))
        assert restored == original
        assert (response.status_code, response.json()) == (500, {"detail": "Internal processing error"})
        assert len(response.headers.get_list("X-Request-ID")) == 1
        after = client.post("/webhook", json=webhook_payload())
        assert after.status_code == 200
        # The 500 is an answer like any other: the server keeps the keep-alive connection open.
        assert _local_port(after) == connection


def test_token_for_a_deleted_user_is_refused(stack: RunningStack, api: Api) -> None:
    settings = Settings(jwt_secret=stack.jwt_secret)
    ghost = issue_token(
        settings,
        "00000000-0000-4000-8000-000000000000",
        "00000000-0000-4000-8000-000000000001",
        TokenType.ACCESS,
    )
    assert ghost.claims.expires_at > datetime.now(UTC)
    assert api.me(ghost.token).status_code == 401


def test_every_acknowledged_payment_survives_a_postgres_crash(tmp_path: Path) -> None:
    """Under webhook load, a PostgreSQL backend is killed with SIGKILL: the server goes through crash recovery
    (shared memory, and any WAL not yet written, is lost). Every payment answered with 200 must be stored: the
    embedded server runs with synchronous_commit=off, and the payment transaction must turn it on for itself.
    A stack of its own: the crash takes every connection of the server down."""
    config = StackConfig(backend="embedded", ports={"auth": 0, "users": 0, "webhook": 0}, log_dir=tmp_path)
    with reference_stack(config) as stack:
        acknowledged: list[str] = []
        refused = 0

        async def load() -> None:
            nonlocal refused
            stop = asyncio.Event()
            limits = httpx.Limits(max_connections=16)
            async with httpx.AsyncClient(timeout=10, limits=limits) as client:

                async def sender() -> None:
                    nonlocal refused
                    while not stop.is_set():
                        payload = webhook_payload()
                        try:
                            response = await client.post(stack.base_urls["webhook"], json=payload)
                        except httpx.HTTPError:
                            refused += 1
                            continue
                        if response.status_code == 200:
                            acknowledged.append(payload["Id"])
                        else:
                            refused += 1

                async def until(count: int, what: str) -> None:
                    deadline = time.monotonic() + 30
                    while len(acknowledged) < count:
                        assert time.monotonic() < deadline, f"timed out waiting for {what}"
                        await asyncio.sleep(0.01)  # polling the senders' progress

                async def crash() -> None:
                    try:
                        await until(300, "the load to flow")
                        conn = await asyncpg.connect(stack.database_url)
                        try:
                            pids = await conn.fetch(
                                "SELECT pid FROM pg_stat_activity"
                                " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                            )
                        finally:
                            await conn.close()
                        os.kill(pids[0]["pid"], signal.SIGKILL)
                        crashed_at = len(acknowledged)
                        await until(crashed_at + 300, "payments to be acknowledged again after recovery")
                    finally:
                        stop.set()

                await asyncio.gather(crash(), *(sender() for _ in range(16)))

        asyncio.run(load())

        assert refused > 0, "the crash went unnoticed: no request failed"
        stored = sql(
            stack, "SELECT count(*) AS n FROM to_can.payments WHERE id = ANY($1::text[])", acknowledged
        )
        assert stored[0]["n"] == len(acknowledged), f"{len(acknowledged)} acknowledged"


def test_a_redis_that_dropped_its_clients_costs_no_request(tmp_path: Path) -> None:
    """After Redis drops every client (a restart, `CLIENT KILL`), each service's pooled connection is dead: the
    next request reconnects and is served, it is not a 503. Its own stack: the other tests' clients would be
    dropped too."""
    import redis

    with reference_stack(
        StackConfig(backend="embedded", ports=dict.fromkeys(API_PREFIXES, 0), log_dir=tmp_path)
    ) as own:
        api = Api(own)
        try:
            account, tokens = api.registered()
            assert api.me(tokens["access_token"]).status_code == 200
            with redis.Redis.from_url(own.redis_url) as client:
                client.client_kill_filter(_type="normal", skipme=True)
            assert api.me(tokens["access_token"]).status_code == 200  # users' connection was dropped
            assert api.login(account["second_login"], account["password"]).status_code == 200  # and auth's
        finally:
            api.close()
