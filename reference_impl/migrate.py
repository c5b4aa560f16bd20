"""Applies the versioned SQL files in `sql/` once each, under an advisory lock (safe to run concurrently)."""

import re
from importlib.resources import files

import asyncpg

_MIGRATION_NAME = re.compile(r"(\d+)_.+\.sql")
_LOCK_KEY = 7_300_100  # arbitrary, fixed: serialises concurrent migrate runs


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in files("reference_impl.sql").iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(database_url: str) -> list[str]:
    """Apply pending migrations; return the names of those applied now."""
    conn = await asyncpg.connect(database_url, timeout=10)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM public.schema_migrations")}
        for version, name, sql in _migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO public.schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            applied_now.append(name)
    finally:
        await conn.close()
    return applied_now
