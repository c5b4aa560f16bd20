"""asyncpg pool lifecycle and the set of errors that mean "the database cannot be reached"."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import cast

import asyncpg

from reference_impl.core.config import Settings

# Connect/query timeouts, refused or dropped connections and server shutdowns: the database is unavailable.
# Anything else (a bug, a constraint we did not map, an error raised inside a function) is not.
DB_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    # A pooled connection whose server side was terminated while idle fails on next use with "connection is
    # closed" (InterfaceError) or a confused protocol state (InternalClientError): a lost connection too.
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # json/jsonb arrive as Python objects, so SQL functions can aggregate JSON and the service returns it.
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    return None


class DatabaseUnavailable(Exception):
    """No connection could be had: whatever the reason (refused, timed out, not accepting connections)."""


# While connecting, any database error means "unavailable"; once connected, only DB_UNAVAILABLE does.
_CONNECT_FAILURES: tuple[type[Exception], ...] = (
    *DB_UNAVAILABLE,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
# Everything a handler answers with 503 "Database error".
DATABASE_ERRORS: tuple[type[Exception], ...] = (DatabaseUnavailable, *DB_UNAVAILABLE)


@dataclass(frozen=True)
class Database:
    """The services' PostgreSQL: a connection pool, and one deadline for every block of work on it."""

    pool: asyncpg.Pool
    deadline_seconds: float

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection for one block, with one deadline for all of it (waiting for a free slot,
        connecting and every query): past it the block fails with DatabaseUnavailable (503). A connection that
        timed out is aborted, not returned: asyncpg would otherwise send the server a cancel request and wait for
        its answer, which a frozen server never gives (the 503 then came after 3 s, not 2)."""
        conn: asyncpg.pool.PoolConnectionProxy | None = None
        try:
            async with asyncio.timeout(self.deadline_seconds):
                try:
                    conn = await self.pool.acquire()
                except _CONNECT_FAILURES as exc:
                    raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}") from exc
                # The pool hands out a proxy that forwards every Connection method.
                yield cast(asyncpg.Connection, conn)
        except TimeoutError as exc:
            if conn is not None:
                conn.terminate()  # closes the socket at once; the pool then replaces the connection
            raise DatabaseUnavailable(f"no answer within {self.deadline_seconds:g}s") from exc
        finally:
            if conn is not None:
                # A broken connection is closed by the pool; the request's own outcome stands.
                with contextlib.suppress(*_CONNECT_FAILURES):
                    await self.pool.release(conn)

    async def close(self) -> None:
        await self.pool.close()


async def open_database(settings: Settings) -> Database:
    """A lazy pool: it opens connections on demand, so a service starts (and reports unhealthy) without a DB."""
    pool = await asyncpg.create_pool(
        str(settings.database_url),
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_connect_timeout_seconds,
        command_timeout=settings.db_command_timeout_seconds,
        init=_init_connection,
        # The default reset runs a query (RESET ALL, UNLISTEN, …) on every release. The services never
        # change session state or listen; asyncpg still rolls back an open transaction before calling this.
        reset=_keep_session,
    )
    assert pool is not None
    return Database(pool, settings.db_command_timeout_seconds)
