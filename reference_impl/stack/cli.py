"""`python -m reference_impl up | migrate`: the command line of the reference stack."""

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from reference_impl.migrate import migrate
from reference_impl.stack.api import DEFAULT_PORTS, SERVICES, RunningStack, StackConfig, reference_stack
from reference_impl.stack.backends import BACKENDS, DockerBackend
from reference_impl.stack.envfile import write_target_env
from reference_impl.stack.processes import StackError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reference_impl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start Postgres, Redis and the three services; Ctrl-C stops them all")
    up.add_argument("--backend", choices=BACKENDS, default=os.environ.get("STACK_BACKEND", "auto"))
    up.add_argument("--host", default="127.0.0.1")
    for name in SERVICES:
        up.add_argument(f"--{name}-port", type=int, default=DEFAULT_PORTS[name], help="0 picks a free port")
    up.add_argument("--log-dir", type=Path, default=Path("logs"))
    up.add_argument("--workers", type=int, default=1, help="uvicorn workers per service")
    up.add_argument(
        "--env-file",
        type=Path,
        help="where to write the harness's settings for this stack (default: <log dir>/target.env)",
    )
    docker = up.add_argument_group("docker backend (default: environment, else bridge and official images)")
    docker.add_argument("--docker-network", choices=DockerBackend.NETWORKS, help="or STACK_DOCKER_NETWORK")
    docker.add_argument("--postgres-image", help="or STACK_POSTGRES_IMAGE")
    docker.add_argument("--redis-image", help="or STACK_REDIS_IMAGE")
    commands.add_parser("migrate", help="apply the schema to DATABASE_URL")
    return parser


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _up(args: argparse.Namespace) -> int:
    # SIGTERM unwinds like Ctrl-C, so the stack's context manager stops every process it started.
    signal.signal(signal.SIGTERM, _interrupt)
    config = StackConfig.from_environment(
        backend=args.backend,
        host=args.host,
        ports={name: getattr(args, f"{name}_port") for name in SERVICES},
        log_dir=args.log_dir,
        workers=args.workers,
        **{
            field: value
            for field, value in (
                ("docker_network", args.docker_network),
                ("docker_postgres_image", args.postgres_image),
                ("docker_redis_image", args.redis_image),
            )
            if value
        },
    )
    started = time.perf_counter()
    try:
        with reference_stack(config) as stack:
            print(f"backend: {stack.backend} ({stack.backend_reason})")
            for name in SERVICES:
                print(f"{name:8} {stack.base_urls[name]}")
            print(f"logs     {stack.log_dir}")
            env_file = write_target_env(stack, args.env_file or stack.log_dir / "target.env")
            print(f"env file {env_file} (tox -e checklist -- --target external --env-file {env_file})")
            print(f"ready in {time.perf_counter() - started:.2f}s; Ctrl-C stops everything", flush=True)
            return _supervise(stack)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0


SUPERVISION_INTERVAL_SECONDS = 0.2


def _supervise(stack: RunningStack) -> int:
    """Until Ctrl-C: a process of the stack that exits is reported at once, and `up` then stops everything and
    exits with 1. Restarting it instead would hide a crash loop and serve a stack that is not what was booted;
    whoever runs `up` (a shell, CI, a service manager) decides whether to start it again."""
    pause = threading.Event()
    while True:
        try:
            stack.check()
        except StackError as exc:
            print(f"error: {exc}; stopping everything", file=sys.stderr, flush=True)
            return 1
        pause.wait(SUPERVISION_INTERVAL_SECONDS)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        if args.command == "up":
            return _up(args)
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            raise StackError("DATABASE_URL is not set")
        applied = asyncio.run(migrate(database_url))
        print("applied: " + (", ".join(applied) or "nothing (up to date)"))
        return 0
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
