"""The env file `up` writes: everything the checklist harness needs to run every case against this stack as an
external deployment (`tox -e checklist -- --target external --env-file FILE`), fault rows included."""

import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from reference_impl.stack.api import RunningStack


def _command(action: str, *args: str) -> str:
    return shlex.join([sys.executable, "-m", "reference_impl.stack.faults", action, *args])


def target_env(stack: RunningStack, state_dir: Path) -> dict[str, str]:
    """The harness's settings for this stack, by their environment names."""
    redis_state = str(state_dir / "redis-fault.state")
    database = ("--database-url", stack.database_url)
    redis_args = ("--redis-url", stack.redis_url, "--state", redis_state)
    values = {
        "CHECKLIST_TARGET": "external",
        **{f"{service.upper()}_BASE_URL": url for service, url in stack.base_urls.items()},
        **{f"{service.upper()}_LOG": f"file:{path}" for service, path in stack.log_paths.items()},
        "JWT_SECRET": stack.jwt_secret,
        # WEBHOOK-05 swaps a function in this database: a loopback stack of one's own, so no --i-know.
        "FAULT_DB_DSN": stack.database_url,
        "ALLOW_DESTRUCTIVE": "true",
        "FAULT_DB_DOWN_CMD": _command("db-down", *database),
        "FAULT_DB_UP_CMD": _command("db-up", *database),
        "FAULT_REDIS_DOWN_CMD": _command("redis-down", *redis_args),
        "FAULT_REDIS_UP_CMD": _command("redis-up", *redis_args),
    }
    return values


def write_target_env(stack: RunningStack, path: Path) -> Path:
    """Write the env file (owner-only: it holds the signing secret and the database's DSN); its path."""
    values = target_env(stack, path.parent)
    lines = [
        f"# The reference stack `up` started at {datetime.now(UTC).isoformat(timespec='seconds')}, as a target:",
        f"#   tox -e checklist -- --target external --env-file {path}",
        *(f'{name}="{value}"' for name, value in values.items()),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path.resolve()
