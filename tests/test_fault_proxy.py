"""The fault proxy over real loopback sockets: an echo server upstream, the proxy process in between."""

import contextlib
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from harness.faults.proxy import ProxyError, RunningProxy, start_proxy

LOOPBACK = "127.0.0.1"
TIMEOUT = 2.0  # every blocking socket call is bounded, so a broken proxy fails a test instead of hanging it
PROMPT = 1.0  # what "at once" means for a cut


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
        except OSError:  # the proxy resets us on a cut: expected
            pass


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = _EchoServer((LOOPBACK, 0), _Echo)
    # A short poll interval only so that shutdown() returns quickly at teardown.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


@pytest.fixture
def proxy(echo_port: int) -> Iterator[RunningProxy]:
    with start_proxy(LOOPBACK, echo_port) as running:
        yield running


def connect(port: int) -> socket.socket:
    return socket.create_connection((LOOPBACK, port), timeout=TIMEOUT)


def round_trip(sock: socket.socket, message: bytes) -> bytes:
    sock.sendall(message)
    received = b""
    while len(received) < len(message):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def assert_dropped(sock: socket.socket) -> None:
    """The connection ends (EOF or reset) promptly, without more data."""
    sock.settimeout(PROMPT)
    with contextlib.suppress(ConnectionResetError):
        assert sock.recv(1024) == b""


def test_bytes_pass_both_ways_including_a_large_payload_and_half_close(proxy: RunningProxy) -> None:
    payload = os.urandom(300 * 1024)
    with connect(proxy.listen_port) as sock:
        assert round_trip(sock, b"hello") == b"hello"

        # Send from a thread while reading here: otherwise both directions could fill their buffers.
        def send_all_then_shut_down_writing() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send_all_then_shut_down_writing)
        sender.start()
        chunks = []
        while chunk := sock.recv(65536):  # EOF arrives once our half-close went through to the echo server
            chunks.append(chunk)
        sender.join(TIMEOUT)
    assert b"".join(chunks) == payload


def test_several_connections_at_once(proxy: RunningProxy) -> None:
    socks = [connect(proxy.listen_port) for _ in range(8)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(f"message {i}".encode())
        for i, sock in enumerate(socks):
            assert sock.recv(1024) == f"message {i}".encode()
        assert proxy.control.status() == "pass open=8"
    finally:
        for sock in socks:
            sock.close()


def test_cut_drops_open_connections_and_refuses_new_ones(proxy: RunningProxy) -> None:
    with connect(proxy.listen_port) as first, connect(proxy.listen_port) as second:
        assert round_trip(first, b"before") == b"before"
        assert round_trip(second, b"before") == b"before"
        started = time.monotonic()
        proxy.control.cut()
        assert_dropped(first)
        assert_dropped(second)
        with pytest.raises(ConnectionRefusedError):
            connect(proxy.listen_port)
        assert time.monotonic() - started < PROMPT
    assert proxy.control.status() == "cut open=0"


def test_restore_forwards_again_on_the_same_port(proxy: RunningProxy) -> None:
    proxy.control.cut()
    proxy.control.cut()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.listen_port)
    proxy.control.restore()
    proxy.control.restore()  # idempotent
    assert proxy.control.status() == "pass open=0"
    with connect(proxy.listen_port) as sock:
        assert round_trip(sock, b"after") == b"after"


def test_a_connection_is_dropped_when_the_upstream_is_down() -> None:
    # A bound socket that does not listen: connects to it are refused, and no one else can take the port.
    with socket.socket() as closed:
        closed.bind((LOOPBACK, 0))
        with start_proxy(LOOPBACK, closed.getsockname()[1]) as running:
            try:
                sock = connect(running.listen_port)
            except ConnectionResetError:  # the reset can come before connect() has returned
                pass
            else:
                with sock:
                    assert_dropped(sock)
            assert running.control.status() == "pass open=0"


def test_unknown_control_command_is_answered_with_an_error(proxy: RunningProxy) -> None:
    with socket.create_connection((proxy.control.host, proxy.control.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"explode\nstatus\n")
        with sock.makefile("rb") as replies:
            assert replies.readline().startswith(b"error unknown command")
            assert replies.readline() == b"ok status pass open=0\n"


def test_the_process_is_gone_after_the_block_and_its_connections_closed(echo_port: int) -> None:
    with start_proxy(LOOPBACK, echo_port) as running:
        sock = connect(running.listen_port)
        assert round_trip(sock, b"ping") == b"ping"
    with sock:
        assert_dropped(sock)
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            os.kill(running.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, f"fault proxy {running.pid} still runs"
        time.sleep(0.01)  # polling interval only
    with pytest.raises(ConnectionRefusedError):
        connect(running.listen_port)


def test_a_bad_upstream_is_a_clear_error() -> None:
    expected = r"(?s)upstream 127\.0\.0\.1:70000 did not come up \(exited with code 2\).*port in 1\.\.65535"
    with pytest.raises(ProxyError, match=expected), start_proxy(LOOPBACK, 70000):
        pass


def test_the_command_line_rejects_a_malformed_upstream() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.faults.proxy", "--upstream", "no-port-here"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 2
    assert "expected HOST:PORT" in result.stderr
    assert result.stdout == ""


def test_a_busy_listen_port_is_a_clear_error(echo_port: int) -> None:
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1]
        expected = rf"(?s)upstream 127\.0\.0\.1:{echo_port} did not come up \(exited with code 1\).*in use"
        with pytest.raises(ProxyError, match=expected), start_proxy(LOOPBACK, echo_port, listen_port=port):
            pass


def assert_silent(sock: socket.socket, seconds: float = 0.3) -> None:
    """Nothing arrives, and the connection stays open: a frozen peer."""
    sock.settimeout(seconds)
    with pytest.raises(TimeoutError):
        sock.recv(1024)
    sock.settimeout(TIMEOUT)


def test_freeze_holds_every_byte_until_restore(proxy: RunningProxy) -> None:
    with connect(proxy.listen_port) as open_before:
        assert round_trip(open_before, b"before") == b"before"
        proxy.control.freeze()
        assert proxy.control.status() == "freeze open=1"
        open_before.sendall(b"held")
        assert_silent(open_before)
        # A new connection is accepted (no refusal, no reset) and then hears nothing either.
        with connect(proxy.listen_port) as opened_during:
            opened_during.sendall(b"also held")
            assert_silent(opened_during)
            proxy.control.restore()
            # What was sent during the freeze is delivered once it ends.
            assert open_before.recv(1024) == b"held"
            received = b""
            while len(received) < len(b"also held"):
                received += opened_during.recv(1024)
            assert received == b"also held"
    assert proxy.control.status().startswith("pass")


def test_reset_drops_open_connections_and_resets_new_ones(proxy: RunningProxy) -> None:
    with connect(proxy.listen_port) as first:
        assert round_trip(first, b"before") == b"before"
        started = time.monotonic()
        proxy.control.reset()
        assert_dropped(first)
        assert time.monotonic() - started < PROMPT
    # Still listening: the connect succeeds (or is reset before it returns), and the connection dies at once.
    try:
        sock = connect(proxy.listen_port)
    except ConnectionResetError:
        pass
    else:
        with sock:
            assert_dropped(sock)
    assert proxy.control.status() == "reset open=0"
    proxy.control.restore()
    with connect(proxy.listen_port) as after:
        assert round_trip(after, b"after") == b"after"


def test_freeze_and_reset_after_a_cut_listen_again(proxy: RunningProxy) -> None:
    proxy.control.cut()
    proxy.control.freeze()
    with connect(proxy.listen_port) as sock:  # accepted again, but silent
        sock.sendall(b"x")
        assert_silent(sock)
        proxy.control.reset()
        assert_dropped(sock)
    proxy.control.restore()
    with connect(proxy.listen_port) as sock:
        assert round_trip(sock, b"ok") == b"ok"
