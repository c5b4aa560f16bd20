"""uvicorn's command line for the options the stack uses, with TCP_NODELAY on its listening socket.

With `--workers N`, uvicorn binds the listening socket itself as `socket.socket(family)`: protocol 0, so asyncio's
transports, which turn Nagle's algorithm off only for sockets whose protocol is TCP, leave it on, and every
keep-alive response waits for the delayed ACK (about 40 ms). A single worker is not affected: asyncio binds that
socket. Linux copies TCP_NODELAY from a listening socket to the connections it accepts, so setting it once on
the listening socket is enough.

    python -m reference_impl.stack.serve reference_impl.users.main:app --port 8002 --workers 2
"""

import argparse
import contextlib
import socket
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess

from reference_impl.core.config import get_settings


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
    trusted_proxies = get_settings().trusted_proxies.strip()
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
