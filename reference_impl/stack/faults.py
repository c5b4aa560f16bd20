"""Cutting a running stack off from its PostgreSQL or Redis, and reconnecting it, from the command line.

These are the FAULT_*_CMD commands `up` writes into its env file, so that the checklist's fault rows run against
a stack started on its own (`--target external`), as they would against any deployment:

    python -m reference_impl.stack.faults db-down --database-url URL     # refuse new connections, end open ones
    python -m reference_impl.stack.faults db-up --database-url URL
    python -m reference_impl.stack.faults redis-down --redis-url URL --state FILE
    python -m reference_impl.stack.faults redis-up --redis-url URL --state FILE

The database is closed to connections (`ALLOW_CONNECTIONS false`) and its sessions ended, from the server's
template1 so that the command can always reopen it. Redis is put behind a one-off password (every client without
it is refused, and the connected ones are dropped); the password waits in FILE for `redis-up`.
"""

import argparse
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Each command is a process of its own, run while a checklist case waits: it imports only the client it needs.


def maintenance_target(database_url: str) -> tuple[str, str]:
    """The URL of the same server's template1, and the database's name."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path="/template1")), name


def quoted_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _database(database_url: str, allow: bool) -> None:
    import asyncpg

    maintenance, name = maintenance_target(database_url)
    conn = await asyncpg.connect(maintenance, timeout=10)
    try:
        await conn.execute(
            f"ALTER DATABASE {quoted_identifier(name)} ALLOW_CONNECTIONS {'true' if allow else 'false'}"
        )
        if not allow:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
    finally:
        await conn.close()


def _redis_down(redis_url: str, state: Path) -> None:
    import redis

    password = secrets.token_hex(16)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(password, encoding="utf-8")
    state.chmod(0o600)
    with redis.Redis.from_url(redis_url, socket_timeout=5) as client:
        client.config_set("requirepass", password)
        client.client_kill_filter(_type="normal", skipme=True)


def _redis_up(redis_url: str, state: Path) -> None:
    if not state.exists():
        return  # not down: nothing to undo
    import redis

    password = state.read_text(encoding="utf-8").strip()
    with redis.Redis.from_url(redis_url, password=password, socket_timeout=5) as client:
        client.config_set("requirepass", "")
    state.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_impl.stack.faults", description=__doc__)
    parser.add_argument("action", choices=("db-down", "db-up", "redis-down", "redis-up"))
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--state", type=Path, help="where redis-down keeps the password redis-up needs")
    args = parser.parse_args(argv)
    try:
        if args.action.startswith("db-"):
            if not args.database_url:
                parser.error("--database-url is required")
            import asyncio

            asyncio.run(_database(args.database_url, allow=args.action == "db-up"))
        else:
            if not (args.redis_url and args.state):
                parser.error("--redis-url and --state are required")
            (_redis_down if args.action == "redis-down" else _redis_up)(args.redis_url, args.state)
    except Exception as exc:  # asyncpg's, redis's and OS errors alike: one line, and the harness shows it
        print(f"error: {args.action}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
