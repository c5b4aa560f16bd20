"""A TCP proxy that can cut a service off from a dependency (PostgreSQL, say) and reconnect it on demand.

service -> proxy (127.0.0.1:listen_port) -> upstream host:port. In the *pass* state bytes flow both ways. The
three ways a dependency becomes unreachable:
- `cut` (refused): stops listening (new connects are refused) and resets every open connection on both sides, so
  a client blocked on a query fails at once instead of hanging;
- `reset`: keeps listening, but resets every open connection and every new one as soon as it is accepted;
- `freeze` (a paused server, `docker pause`, SIGSTOP): connections stay open and new ones are accepted, but no
  byte moves either way until `restore`; what was sent meanwhile is delivered then.
`restore` returns to *pass*, listening again on the same port. It runs as its own process, driven over a
loopback line protocol (`cut`, `reset`, `freeze`, `restore`, `status`), so that several pytest workers can
share one proxy:

    python -m harness.faults.proxy --upstream HOST:PORT [--listen-port N] [--control-port N]
"""

import argparse
import asyncio
import contextlib
import logging
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
_READY = re.compile(r"fault-proxy listening on 127\.0\.0\.1:(\d+) control on 127\.0\.0\.1:(\d+)")
_CHUNK = 64 * 1024
logger = logging.getLogger("harness.faults.proxy")


def _reset(writer: asyncio.StreamWriter) -> None:
    # SO_LINGER 0: close() sends RST, so the peer fails immediately rather than reading a polite EOF.
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: asyncio.Event) -> None:
    # Frozen: nothing is read (so the sender's buffers fill as with a paused peer) and nothing written.
    while (await flowing.wait()) and (data := await reader.read(_CHUNK)):
        await flowing.wait()
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():  # pass half-closes on: a client may shut down writing and still read
        writer.write_eof()


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, listen_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listen_port = listen_port
        self.state = "pass"
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()  # commands from two control clients must not interleave
        self._flowing = asyncio.Event()  # cleared while frozen
        self._flowing.set()

    async def listen(self) -> None:
        # reuse_address: after a cut the port can be bound again despite connections in TIME_WAIT.
        self._server = await asyncio.start_server(
            self._forward, LOOPBACK, self.listen_port, reuse_address=True
        )
        self.listen_port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        async with self._lock:
            self.state = "cut"
            if self._server is not None:
                self._server.close()  # closes the listening socket now: connects are refused from here on
                await self._server.wait_closed()
                self._server = None
            await self._reset_open()

    async def reset(self) -> None:
        async with self._lock:
            self.state = "reset"  # new connections are reset by _forward as they come
            if self._server is None:
                await self.listen()
            await self._reset_open()
            self._flowing.set()

    async def freeze(self) -> None:
        async with self._lock:
            self._flowing.clear()
            self.state = "freeze"
            if self._server is None:
                await self.listen()

    async def restore(self) -> None:
        async with self._lock:
            if self._server is None:
                await self.listen()
            self.state = "pass"
            self._flowing.set()

    async def _reset_open(self) -> None:
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        # Each handler resets both of its sockets and waits until they are closed before it ends.
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _forward(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        writers = [client_writer]
        clean = False
        try:
            if self.state in ("cut", "reset"):  # reset, or accepted just before the listener closed
                return
            await self._flowing.wait()  # frozen: accepted, and then nothing
            async with asyncio.timeout(10):
                upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            writers.append(upstream_writer)
            pipes = [
                asyncio.create_task(_pipe(client_reader, upstream_writer, self._flowing)),
                asyncio.create_task(_pipe(upstream_reader, client_writer, self._flowing)),
            ]
            try:
                await asyncio.gather(*pipes)
            finally:
                for pipe in pipes:
                    pipe.cancel()
            clean = True
        except OSError as exc:  # upstream down or a peer reset: drop the other side too
            logger.info("connection dropped: %s: %s", type(exc).__name__, exc)
        except asyncio.CancelledError:
            # Only cut() and reset() cancel us, and they wait for us to end. Not re-raised: asyncio's own done-callback
            # on this task would log the cancellation as an error.
            pass
        finally:
            self._handlers.discard(task)
            for writer in writers:
                if clean:
                    writer.close()
                else:
                    _reset(writer)
            for writer in writers:
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def command(self, line: str) -> str:
        if line in ("cut", "reset", "freeze"):
            try:
                await getattr(self, line)()
            except OSError as exc:  # reset or freeze after a cut: the port was taken meanwhile
                return f"error {line} failed: {exc}"
            logger.info(line)
            return f"ok {line}"
        if line == "restore":
            try:
                await self.restore()
            except OSError as exc:  # the port was taken while we were not listening
                return f"error restore failed: {exc}"
            logger.info("restored")
            return "ok pass"
        if line == "status":
            return f"ok status {self.state} open={len(self._handlers)}"
        return f"error unknown command {line!r}"

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply = await self.command(line.decode(errors="replace").strip())
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        except (OSError, asyncio.CancelledError):  # cancelled by asyncio.run at shutdown: see _forward
            pass
        finally:
            writer.close()


async def serve(
    upstreams: list[tuple[str, int]], listen_ports: list[int], control_port: int, watch_stdin: bool
) -> None:
    """One proxy per upstream, each with its own listen and control port; one ready line each, in order."""
    lines = []
    running: list[tuple[FaultProxy, asyncio.Server]] = []
    for index, ((host, port), listen_port) in enumerate(zip(upstreams, listen_ports, strict=True)):
        proxy = FaultProxy(host, port, listen_port)
        await proxy.listen()
        control = await asyncio.start_server(proxy.control, LOOPBACK, control_port if index == 0 else 0)
        running.append((proxy, control))
        lines.append(
            f"fault-proxy listening on {LOOPBACK}:{proxy.listen_port} "
            f"control on {LOOPBACK}:{control.sockets[0].getsockname()[1]}"
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if watch_stdin:  # the parent holds our stdin open: EOF means it died, so do not outlive it

        def stdin_readable() -> None:
            if not os.read(sys.stdin.fileno(), 1024):
                stop.set()

        loop.add_reader(sys.stdin.fileno(), stdin_readable)
    print("\n".join(lines), flush=True)
    await stop.wait()
    for proxy, control in running:
        control.close()
        await proxy.cut()  # closes the listener and every open connection


def _upstream(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port in 1..65535, got {value!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m harness.faults.proxy",
        description="TCP proxy that can cut, reset, freeze and restore its upstream.",
    )
    parser.add_argument(
        "--upstream",
        type=_upstream,
        required=True,
        action="append",
        help="HOST:PORT to forward to (repeatable)",
    )
    parser.add_argument(
        "--listen-port",
        type=int,
        action="append",
        help="proxy port on 127.0.0.1 per upstream, in order (0 or none: a free port)",
    )
    parser.add_argument(
        "--control-port", type=int, default=0, help="control port on 127.0.0.1 (0: a free port)"
    )
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin reaches EOF")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="fault-proxy %(levelname)s %(message)s", stream=sys.stderr)
    listen_ports = (args.listen_port or []) + [0] * (len(args.upstream) - len(args.listen_port or []))
    asyncio.run(serve(args.upstream, listen_ports, args.control_port, args.watch_stdin))


class ProxyError(RuntimeError):
    """The fault proxy did not start, or refused a control command."""


@dataclass(frozen=True)
class ProxyControl:
    """Sync client for the control port: one short connection per command."""

    host: str
    port: int
    timeout: float = 5.0

    def _send(self, command: str) -> str:
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
            sock.sendall(command.encode() + b"\n")
            with sock.makefile("rb") as replies:
                reply = replies.readline().decode(errors="replace").strip()
        if not reply.startswith("ok"):
            raise ProxyError(f"fault proxy at {self.host}:{self.port}: {command!r} answered {reply!r}")
        return reply

    def cut(self) -> None:
        """Refuse new connections and drop open ones; returns once both are in effect."""
        self._send("cut")

    def reset(self) -> None:
        """Accept connections but reset each at once, and reset open ones; returns once in effect."""
        self._send("reset")

    def freeze(self) -> None:
        """Move no byte on open or new connections (a paused server) until `restore`."""
        self._send("freeze")

    def restore(self) -> None:
        """Forward again, on the same listen port (bytes held by a freeze are delivered)."""
        self._send("restore")

    def status(self) -> str:
        """State and open connections, e.g. ``"pass open=3"``, ``"cut open=0"`` or ``"freeze open=2"``."""
        return self._send("status").removeprefix("ok status ")


@dataclass(frozen=True)
class RunningProxy:
    listen_port: int
    control: ProxyControl
    pid: int


def _ready_lines(proc: "subprocess.Popen[bytes]", count: int, deadline: float) -> str:
    """The child's first `count` stdout lines; fewer if it exits or the deadline passes."""
    assert proc.stdout is not None
    output = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while output.count(b"\n") < count and selector.select(max(deadline - time.monotonic(), 0)):
            chunk = os.read(proc.stdout.fileno(), 1024)
            if not chunk:
                break
            output += chunk
    return output.decode(errors="replace")


def _stop(proc: "subprocess.Popen[bytes]", timeout: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def start_proxy(
    upstream_host: str, upstream_port: int, *, listen_port: int = 0, start_timeout: float = 10.0
) -> Iterator[RunningProxy]:
    """Run a fault proxy in front of upstream_host:upstream_port, in pass state, until the block exits."""
    with start_proxies([(upstream_host, upstream_port, listen_port)], start_timeout=start_timeout) as (
        proxy,
    ):
        yield proxy


@contextlib.contextmanager
def start_proxies(
    upstreams: list[tuple[str, int, int]], *, start_timeout: float = 10.0
) -> Iterator[tuple[RunningProxy, ...]]:
    """Fault proxies in front of each (host, port, listen port or 0), all in one process (one interpreter to
    start, not one each: they are on the boot's critical path), each cut and restored on its own."""
    upstream = ", ".join(f"{host}:{port}" for host, port, _ in upstreams)
    command = [sys.executable, "-m", "harness.faults.proxy", "--watch-stdin"]
    for host, port, listen_port in upstreams:
        command += ["--upstream", f"{host}:{port}", "--listen-port", str(listen_port)]
    with tempfile.TemporaryFile() as stderr:
        # Own session: a Ctrl-C meant for pytest does not reach the proxy before we stop it in order.
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, start_new_session=True
        )
        try:
            deadline = time.monotonic() + start_timeout
            line = _ready_lines(proc, len(upstreams), deadline)
            ready = [_READY.match(each) for each in line.splitlines()]
            if len(ready) != len(upstreams) or not all(ready):
                timed_out = time.monotonic() >= deadline
                _stop(proc)
                reason = (
                    f"no ready line in {start_timeout}s"
                    if timed_out
                    else f"exited with code {proc.returncode}"
                )
                reason += f", stdout {line!r}" if line else ""
                stderr.seek(0)
                detail = stderr.read().decode(errors="replace").strip()[-2000:] or "(no stderr)"
                raise ProxyError(f"fault proxy for upstream {upstream} did not come up ({reason}): {detail}")
            yield tuple(
                RunningProxy(int(match[1]), ProxyControl(LOOPBACK, int(match[2])), proc.pid)
                for match in ready
                if match is not None
            )
        finally:
            _stop(proc)


if __name__ == "__main__":
    main()
