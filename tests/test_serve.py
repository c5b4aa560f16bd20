"""`python -m reference_impl.stack.serve`: uvicorn with TCP_NODELAY, one worker or several."""

import asyncio
import contextlib
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

from reference_impl.core.config import Settings
from reference_impl.stack.api import RunningStack
from reference_impl.stack.processes import wait_until
from reference_impl.stack.serve import NoDelayConfig
from tests.conftest import Api, bearer
from tests.lone_service import lone_service


def _nodelay(sock: socket.socket) -> bool:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_connections_accepted_on_the_bound_socket_have_nagle_off() -> None:
    listener = NoDelayConfig("reference_impl.users.main:app", host="127.0.0.1", port=0).bind_socket()
    with listener:
        listener.listen()
        with socket.create_connection(listener.getsockname(), timeout=5):
            accepted, _ = listener.accept()
            with accepted:
                assert _nodelay(listener)
                assert _nodelay(accepted)


def _alive(process: psutil.Process) -> bool:
    """Running and not a zombie: an orphaned worker stays a zombie where PID 1 reaps no one (containers)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _server_of(url: str) -> psutil.Process:
    port = str(urlsplit(url).port)
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "reference_impl.stack.serve" in cmdline and port in cmdline:
            return process
    raise AssertionError(f"no server process for {url}")


def test_two_workers_honour_a_logout_and_stop_together(api: Api, stack: RunningStack, tmp_path: Path) -> None:
    _, tokens = api.registered()
    headers = bearer(tokens["access_token"])
    with lone_service("users", stack, tmp_path, workers=2) as users:
        server = _server_of(users)
        children = server.children()
        # Beside the workers, multiprocessing starts its resource tracker.
        workers = [child for child in children if "spawn_main" in " ".join(child.cmdline())]
        assert len(workers) == 2
        # A fresh connection per request, so that both workers answer some of them.
        assert {httpx.get(f"{users}/me", headers=headers).status_code for _ in range(20)} == {200}
        assert api.logout(tokens["access_token"]).status_code == 200
        assert {httpx.get(f"{users}/me", headers=headers).status_code for _ in range(20)} == {401}
    # SIGKILL, which ends the group, takes effect asynchronously.
    wait_until(
        lambda: not any(map(_alive, [server, *children])), timeout=10, what="the server and its children"
    )


# ---- the request head: size and time (served without a proxy) --------------------------------------------------


async def _exchange(origin: str, chunks: list[bytes], pause: float = 0.0) -> tuple[bytes, float]:
    """Send `chunks` (pausing between them) until the server answers or closes; its whole answer and when the
    connection ended, seconds after the client began to open it (before the server's accept, so never less than
    the server's own count however late a busy loop resumes this coroutine)."""
    url = urlsplit(origin)
    assert url.hostname and url.port
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(url.hostname, url.port)

    async def send() -> None:
        with contextlib.suppress(ConnectionError):
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(pause)  # the client's pace, not synchronisation

    sender = asyncio.create_task(send())
    try:
        async with asyncio.timeout(30):
            answer = await reader.read()  # to EOF: the server closes after refusing
        return answer, time.monotonic() - started
    finally:
        sender.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await sender
            await writer.wait_closed()


def test_an_oversized_header_is_431_and_the_rest_is_never_read(stack: RunningStack) -> None:
    settings = Settings()
    server = _server_of(stack.base_urls["users"])
    memory_before = server.memory_info().rss
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: "
    # 32 MiB offered in 64 KiB pieces: the server answers after the first 16 KiB or so and stops reading.
    answer, _ = asyncio.run(_exchange(stack.origins["users"], [head] + [b"a" * 65536] * 512))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert server.memory_info().rss - memory_before < 4 * 2**20  # it grew by 30 MB when the header was read
    assert answer.endswith(b'{"detail": "Request header fields too large"}')
    # A complete head just over the limit, in one piece (so parsed whole), is refused the same way.
    big = b"x" * settings.http_max_header_bytes
    answer, _ = asyncio.run(_exchange(stack.origins["users"], [head + big + b"\r\n\r\n"]))
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_headers_below_the_limit_are_served(api: Api) -> None:
    _, tokens = api.registered()
    headers = {**bearer(tokens["access_token"]), "X-Padding": "p" * 12_000}
    assert api.users.get("/me", headers=headers).status_code == 200


def test_slow_or_silent_clients_are_cut_off_at_the_header_timeout(stack: RunningStack) -> None:
    """Ten connections sending their head one byte at a time, and one sending nothing: each gets 408 and is
    closed once HTTP_HEADER_TIMEOUT_SECONDS have passed, instead of being held for as long as they trickle."""
    timeout = Settings().http_header_timeout_seconds
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 200 + b"\r\n\r\n"
    byte_by_byte = [head[i : i + 1] for i in range(len(head))]

    async def all_at_once() -> list[tuple[bytes, float]]:
        slow = [_exchange(stack.origins["auth"], byte_by_byte, pause=0.1) for _ in range(10)]
        return await asyncio.gather(*slow, _exchange(stack.origins["auth"], []))

    for answer, lasted in asyncio.run(all_at_once()):
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert timeout - 0.1 <= lasted < timeout + 1.5, lasted  # the server's clock starts at accept
