"""uvicorn's command line for the options the stack uses, with TCP_NODELAY on its listening socket and bounds on
the request head.

With `--workers N`, uvicorn binds the listening socket itself as `socket.socket(family)`: protocol 0, so asyncio's
transports, which turn Nagle's algorithm off only for sockets whose protocol is TCP, leave it on, and every
keep-alive response waits for the delayed ACK (about 40 ms). A single worker is not affected: asyncio binds that
socket. Linux copies TCP_NODELAY from a listening socket to the connections it accepts, so setting it once on
the listening socket is enough.

uvicorn's httptools protocol bounds neither the size of the request line and headers (a 32 MiB header was read
whole) nor the time they take to arrive (`timeout_keep_alive` is reset by every byte, so a client sending one
byte a second holds a connection for ever). `GuardedHttpToolsProtocol` adds both, from the settings
HTTP_MAX_HEADER_BYTES (431 beyond) and HTTP_HEADER_TIMEOUT_SECONDS (408 and closed beyond).

    python -m reference_impl.stack.serve reference_impl.users.main:app --port 8002 --workers 2
"""

import argparse
import asyncio
import contextlib
import json
import logging
import socket
import sys
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from reference_impl.core.config import get_settings

logger = logging.getLogger("reference_impl.http")

# After refusing a head: time for the answer to reach the client before the socket closes.
_LINGER_SECONDS = 1.0


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing; answered with 431 by `send_400_response`."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size and a time limit on each request's head (request line and
    headers). The clock starts at the connection's opening for its first request and at the first byte of each
    later one (between requests uvicorn's keep-alive timeout applies); it stops when the head is complete.

    Cheap on the hot path: a head that arrives in one read costs a counter and a clock reading; a timer is armed
    only at a connection's opening and for a head still incomplete after a read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_head_bytes = settings.http_max_header_bytes
        self.head_timeout = settings.http_header_timeout_seconds
        self._in_head = True  # from a request's first byte (or the connection's opening) to its last header
        self._head_bytes = 0
        self._head_started: float | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_started = self.loop.time()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_started is None:
                self._head_started = self.loop.time()
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        # Still in the head after this read: httptools holds an unfinished header in memory, so count raw bytes.
        if self._head_bytes > self.max_head_bytes:
            self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Request header fields too large")
        elif self._head_timer is None:
            if self._head_started is None:  # a pipelined request began within this read
                self._head_started = self.loop.time()
            remaining = self._head_started + self.head_timeout - self.loop.time()
            self._head_timer = self.loop.call_later(max(remaining, 0), self._head_timed_out)

    def on_headers_complete(self) -> None:
        self._stop_head_clock()
        self._in_head = False
        # The raw count bounds the head's size; only past the limit is the head itself measured (the read that
        # completed it may also have carried body bytes).
        if self._head_bytes > self.max_head_bytes:
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > self.max_head_bytes:
                self._head_too_large = True
                raise _HeadTooLarge
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes, self._head_started = True, 0, None

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers any parser error, a callback's exception included, with this method.
        if self._head_too_large:
            self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Request header fields too large")
        else:
            super().send_400_response(msg)

    def _stop_head_clock(self) -> None:
        self._head_started = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self._refuse(HTTPStatus.REQUEST_TIMEOUT, "Request header timeout")

    def _refuse(self, status: HTTPStatus, detail: str) -> None:
        """Answer with `status`, then stop reading: the rest of the head is never read. Closing at once with
        unread bytes would send a reset, and the client would lose the answer; so the answer is followed by a
        FIN and the socket closed a moment later."""
        self._stop_head_clock()
        logger.warning("request refused before its head was read: %d %s", status.value, detail)
        body = json.dumps({"detail": detail}).encode()
        head = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.pause_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)


class NoDelayConfig(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reference_impl.stack.serve", description=__doc__)
    parser.add_argument("app", help="module:attribute of the ASGI app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--app-dir", default="", help="prepended to sys.path to import the app")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")
    parser.add_argument("--timeout-graceful-shutdown", type=int, default=5)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.app_dir:
        sys.path.insert(0, args.app_dir)
    settings = get_settings()
    trusted_proxies = settings.trusted_proxies.strip()
    config = NoDelayConfig(
        args.app,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
        # Not uvloop even where it is installed: under it, a write to a Redis connection whose server went away
        # raises RuntimeError, which redis-py does not treat as a lost connection (a 500 instead of a 503).
        loop="asyncio",
        http=GuardedHttpToolsProtocol,
        # X-Forwarded-For names the client only when the peer is a configured proxy; by default no one is trusted
        # (uvicorn's own default trusts loopback, so any local process could pick the address the throttle counts).
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=trusted_proxies or None,
    )
    if config.workers > 1:
        # As uvicorn.run does for workers, with the socket bound by NoDelayConfig.
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C before uvicorn's own handlers are installed
        server.run()
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE: the port is taken, the app does not import, …


if __name__ == "__main__":
    main()
