"""One PostgreSQL and one Redis for the whole matrix (the embedded backend's pip-shipped binaries), with a fresh,
empty database and a Redis db index of its own for each checklist run."""

import asyncio
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis

from reference_impl.stack.api import wait_for_redis
from reference_impl.stack.backends import EmbeddedBackend
from reference_impl.stack.processes import wait_until

_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
# Redis's default number of databases; index 0 is left alone, each parallel run takes one of the others.
REDIS_DATABASES = 16


@dataclass(frozen=True)
class Servers:
    database_url: str  # the maintenance database, where databases are created and dropped
    redis_url: str

    def database_url_for(self, name: str) -> str:
        return self.database_url.rsplit("/", 1)[0] + f"/{_checked(name)}"

    def redis_url_for(self, index: int) -> str:
        if not 0 < index < REDIS_DATABASES:
            raise ValueError(f"no Redis database {index}: use 1 to {REDIS_DATABASES - 1}")
        return self.redis_url.rsplit("/", 1)[0] + f"/{index}"

    def create_database(self, name: str) -> None:
        # From template1, which holds nothing but PostgreSQL's own catalogue: the run migrates it from the
        # copy's SQL files, so a mutant of a migration is applied as written.
        asyncio.run(self._execute(f'CREATE DATABASE "{_checked(name)}"'))

    def drop_database(self, name: str) -> None:
        # FORCE: a run stopped mid-way may leave a connection behind.
        asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)'))

    def flush_redis(self, index: int) -> None:
        with redis.Redis.from_url(self.redis_url_for(index), socket_timeout=5) as client:
            client.flushdb()

    async def _execute(self, statement: str) -> None:
        conn = await asyncpg.connect(self.database_url, timeout=10)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()


def _checked(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a database name this runner makes: {name!r}")
    return name


def _postgres_answers(backend: EmbeddedBackend, servers: Servers) -> bool:
    backend.check("while starting")  # a server that exited fails at once, with its last output

    async def connects() -> None:
        conn = await asyncpg.connect(servers.database_url, timeout=2)
        await conn.close()

    try:
        asyncio.run(connects())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    return True


@contextmanager
def shared_servers(workdir: Path, timeout: float = 60.0) -> Iterator[Servers]:
    """PostgreSQL and Redis on free loopback ports, data under `workdir`; both stopped on exit, on errors and on
    Ctrl-C."""
    with ExitStack() as resources:
        data_dir, log_dir = workdir / "data", workdir / "logs"
        data_dir.mkdir(parents=True)
        backend = EmbeddedBackend(data_dir, log_dir)
        data = backend.prepare(resources)
        backend.start(resources)
        servers = Servers(data.database_url, data.redis_url)
        wait_until(lambda: _postgres_answers(backend, servers), timeout=timeout, what="PostgreSQL")
        wait_for_redis(servers.redis_url, timeout, lambda: backend.check("while starting"))
        yield servers
