"""The Python API: `with reference_stack(StackConfig()) as stack:` boots Postgres, Redis and the three services."""

import asyncio
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import redis

from reference_impl.core.config import DEVELOPMENT_JWT_SECRET
from reference_impl.migrate import migrate
from reference_impl.stack.backends import DataServices, DockerBackend, choose_backend
from reference_impl.stack.processes import (
    ManagedProcess,
    StackError,
    free_port,
    port_is_free,
    stop_together,
    wait_until,
)

logger = logging.getLogger("reference_impl.stack")

SERVICES = ("auth", "users", "webhook")
API_PREFIXES = {"auth": "/api/v1/auth", "users": "/api/v1/users", "webhook": "/webhook"}
DEFAULT_PORTS = {"auth": 8001, "users": 8002, "webhook": 8000}


@dataclass(frozen=True)
class StackConfig:
    backend: str = "auto"
    host: str = "127.0.0.1"
    # 0 picks a free port.
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    log_dir: Path = Path("logs")
    database_url: str | None = None
    redis_url: str | None = None
    jwt_secret: str | None = None
    workers: int = 1
    boot_timeout: float = 60.0
    # The docker backend: "bridge" (published ports) or "host" (the host's loopback), and its images.
    docker_network: str = DockerBackend.DEFAULT_NETWORK
    docker_postgres_image: str = DockerBackend.DEFAULT_POSTGRES_IMAGE
    docker_redis_image: str = DockerBackend.DEFAULT_REDIS_IMAGE
    # Lets a caller put something between a service and its data: (service, "database" | "redis", url) → url,
    # asked for every pair before any service starts. The harness routes connections through its fault proxies
    # this way; None connects directly.
    route: Callable[[str, str, str], str] | None = None

    def data_for(self, service: str, data: DataServices) -> DataServices:
        if self.route is None:
            return data
        return DataServices(
            self.route(service, "database", data.database_url), self.route(service, "redis", data.redis_url)
        )

    @classmethod
    def from_environment(cls, **overrides: object) -> "StackConfig":
        """DATABASE_URL / REDIS_URL / JWT_SECRET and the docker settings (STACK_DOCKER_NETWORK,
        STACK_POSTGRES_IMAGE, STACK_REDIS_IMAGE) from the environment, the rest from `overrides`."""
        values: dict[str, object] = {
            "database_url": os.environ.get("DATABASE_URL") or None,
            "redis_url": os.environ.get("REDIS_URL") or None,
            "jwt_secret": os.environ.get("JWT_SECRET") or None,
            "docker_network": os.environ.get("STACK_DOCKER_NETWORK") or DockerBackend.DEFAULT_NETWORK,
            "docker_postgres_image": os.environ.get("STACK_POSTGRES_IMAGE")
            or DockerBackend.DEFAULT_POSTGRES_IMAGE,
            "docker_redis_image": os.environ.get("STACK_REDIS_IMAGE") or DockerBackend.DEFAULT_REDIS_IMAGE,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RunningStack:
    backend: str
    backend_reason: str
    base_urls: dict[str, str]  # service → http://host:port/api/v1/... (what clients use)
    origins: dict[str, str]  # service → http://host:port (where /health lives)
    database_url: str
    redis_url: str
    jwt_secret: str
    log_paths: dict[str, Path]
    log_dir: Path
    # Raises StackError naming the first process of the stack that has exited (and reaps it).
    check: Callable[[], None] = field(default=lambda: None, compare=False, repr=False)


def service_env(config: StackConfig, data: DataServices, jwt_secret: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=data.database_url,
        REDIS_URL=data.redis_url,
        JWT_SECRET=jwt_secret,
        LOG_DIR=str(config.log_dir.resolve()),
        LOG_TO_STDERR="false",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_service(name: str, port: int, config: StackConfig, env: dict[str, str]) -> ManagedProcess:
    argv = [
        sys.executable,
        "-m",
        "reference_impl.stack.serve",
        f"reference_impl.{name}.main:app",
        "--host",
        config.host,
        "--port",
        str(port),
        "--workers",
        str(config.workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        "5",
    ]
    return ManagedProcess(
        f"{name} service",
        argv,
        output=config.log_dir / f"{name}.out",
        log=config.log_dir / f"{name}.log",
        env=env,
    )


def _migrate_when_ready(database_url: str, timeout: float, check_alive: Callable[[], None]) -> None:
    shown = _without_password(database_url)

    async def attempt() -> bool:
        check_alive()
        try:
            await migrate(database_url)
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError):
            return False  # not accepting connections yet
        except (asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise StackError(f"database {shown}: {type(exc).__name__}: {exc}") from exc
        return True

    wait_until(lambda: asyncio.run(attempt()), timeout=timeout, what=f"PostgreSQL at {shown}")


def wait_for_redis(redis_url: str, timeout: float, check_alive: Callable[[], None]) -> None:
    """Until Redis answers a PING; `check_alive` raises when the server it waits for is gone."""

    def answers() -> bool:
        check_alive()
        try:
            client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
            with client:
                return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    wait_until(answers, timeout=timeout, what=f"Redis at {_without_password(redis_url)}")


def _without_password(url: str) -> str:
    parsed = httpx.URL(url)
    return str(parsed.copy_with(password=None)) if parsed.password else url


def _healthy(client: httpx.Client, origin: str) -> bool:
    try:
        return client.get(f"{origin}/health").status_code == 200
    except httpx.HTTPError:
        return False


def _scratch_dir() -> str | None:
    """Where the stack's throwaway data goes: TMPDIR when one is set; else memory (/dev/shm) where there is
    some, since the embedded PostgreSQL starts from a 38 MB copy of its template, which took about a second of
    disk writes and 0.05 s in memory; else the system's temporary directory."""
    if os.environ.get("TMPDIR"):
        return None
    memory = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private (0700), unpredictably named folder in it
    return str(memory) if memory.is_dir() and os.access(memory, os.W_OK) else None


@contextmanager
def reference_stack(config: StackConfig | None = None) -> Iterator[RunningStack]:
    """Boot the reference stack; everything started here is stopped on exit, on errors and on Ctrl-C."""
    config = config or StackConfig.from_environment()
    ports = dict(config.ports)
    for name in SERVICES:
        if ports.get(name, 0) == 0:
            ports[name] = free_port(config.host)
        elif not port_is_free(config.host, ports[name]):
            raise StackError(f"port {ports[name]} on {config.host} ({name} service) is already in use")
    config.log_dir.mkdir(parents=True, exist_ok=True)
    jwt_secret = config.jwt_secret or DEVELOPMENT_JWT_SECRET

    with ExitStack() as resources:
        workdir = Path(tempfile.mkdtemp(prefix="reference-stack-", dir=_scratch_dir()))
        resources.callback(shutil.rmtree, workdir, ignore_errors=True)
        backend, reason = choose_backend(
            config.backend,
            config.database_url,
            config.redis_url,
            workdir,
            config.log_dir,
            docker_network=config.docker_network,
            postgres_image=config.docker_postgres_image,
            redis_image=config.docker_redis_image,
        )
        logger.info("backend: %s (%s)", backend.name, reason)
        # Closed in reverse: the services stop before the database and Redis they use.
        data_resources = resources.enter_context(ExitStack())
        data = backend.prepare(data_resources)
        processes: list[ManagedProcess] = []
        resources.callback(stop_together, processes)  # whichever have started
        # Every route is asked for before any service starts: a caller routing through proxies can start them all
        # at once, and have them listening before the first service connects.
        routed = {name: config.data_for(name, data) for name in SERVICES}
        for name in SERVICES:
            processes.append(
                start_service(name, ports[name], config, service_env(config, routed[name], jwt_secret))
            )
        backend.start(data_resources)  # overlaps with the services' imports

        # Given DSNs either answer now or are wrong; local ones may still be starting.
        ready_timeout = 5.0 if backend.name == "external" else config.boot_timeout

        def check_alive(when: str = "during boot") -> None:
            # Every wait below fails at once if anything the boot started has exited.
            backend.check(when)
            for process in processes:
                process.check_running(when)

        _migrate_when_ready(data.database_url, ready_timeout, check_alive)
        wait_for_redis(data.redis_url, ready_timeout, check_alive)
        origins = {name: f"http://{config.host}:{ports[name]}" for name in SERVICES}

        # One client for every poll: a new one per poll built an SSL context each time, about 1.5 s of CPU per boot
        # spent while the services themselves were starting.
        with httpx.Client(timeout=1.0) as health_client:

            def all_healthy() -> bool:
                check_alive()
                return all(_healthy(health_client, origin) for origin in origins.values())

            wait_until(all_healthy, timeout=config.boot_timeout, what="the services' /health")
        yield RunningStack(
            backend=backend.name,
            backend_reason=reason,
            base_urls={name: origins[name] + API_PREFIXES[name] for name in SERVICES},
            origins=origins,
            database_url=data.database_url,
            redis_url=data.redis_url,
            jwt_secret=jwt_secret,
            log_paths={name: (config.log_dir / f"{name}.log").resolve() for name in SERVICES},
            log_dir=config.log_dir.resolve(),
            check=lambda: check_alive("while running"),
        )
