"""`python -m reference_impl.stack.serve`: uvicorn with TCP_NODELAY, one worker or several."""

import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

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


def test_two_workers_share_the_blacklist_and_stop_together(
    api: Api, stack: RunningStack, tmp_path: Path
) -> None:
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
