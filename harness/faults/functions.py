"""Replacing `to_can.process_webhook` with a version that fails in a way the service does not map, and putting
the original back exactly (its `pg_get_functiondef` is compared before and after)."""

import asyncio

import asyncpg

from harness.faults.outages import FaultFailed

SIGNATURE = "to_can.process_webhook(jsonb)"
BROKEN_DEFINITION = """
CREATE OR REPLACE FUNCTION to_can.process_webhook(payload jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'fault injected by the checklist harness' USING ERRCODE = 'XX000';
END;
$$
"""


async def _definition(conn: asyncpg.Connection) -> str:
    definition: str = await conn.fetchval("SELECT pg_get_functiondef($1::regprocedure)", SIGNATURE)
    return definition


class FunctionSwap:
    """Holds the original definition between `break_function` and `restore`."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.original: str | None = None

    async def _with_connection(self, statement: str | None) -> str:
        try:
            conn = await asyncpg.connect(self.database_url, timeout=10)
            try:
                async with conn.transaction():
                    if statement is not None:
                        await conn.execute(statement)
                    return await _definition(conn)
            finally:
                await conn.close()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # e.g. the deployment has no such function: the fault cannot be injected there
            raise FaultFailed(f"{type(exc).__name__}: {exc}") from exc

    def break_function(self) -> None:
        self.original = asyncio.run(self._with_connection(None))
        asyncio.run(self._with_connection(BROKEN_DEFINITION))

    def restore(self) -> None:
        if self.original is None:
            return
        restored = asyncio.run(self._with_connection(self.original))
        if restored != self.original:
            raise FaultFailed(f"{SIGNATURE} differs from its original definition after restoring it")
        self.original = None

    def current_definition(self) -> str:
        return asyncio.run(self._with_connection(None))


def check_connects(database_url: str) -> None:
    """FaultFailed, saying why, unless `database_url` accepts a connection."""

    async def connect() -> None:
        try:
            conn = await asyncpg.connect(database_url, timeout=5)
        except (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise FaultFailed(f"{type(exc).__name__}: {exc}") from exc
        await conn.close()

    asyncio.run(connect())
