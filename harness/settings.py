"""What the harness runs against, in one settings object: command line > environment > `.env` > defaults."""

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_FILE = ".env"

# The checklist's own addresses, used for `--target external` when nothing else is given.
CHECKLIST_URLS = {
    "auth": "http://localhost:8001/api/v1/auth",
    "users": "http://localhost:8002/api/v1/users",
    "webhook": "http://localhost:8000/webhook",
}


class HarnessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore")

    target: Literal["reference", "external"] = Field(
        "reference", validation_alias=AliasChoices("target", "checklist_target")
    )
    auth_base_url: str = CHECKLIST_URLS["auth"]
    users_base_url: str = CHECKLIST_URLS["users"]
    webhook_base_url: str = CHECKLIST_URLS["webhook"]
    # A merchant id the deployment accepts; the reference stack seeds this one.
    webhook_valid_mid: str = "100000000001"
    # Log sources per service: file:PATH, cmd:COMMAND or none; the reference stack's own files by default.
    auth_log: str | None = None
    users_log: str | None = None
    webhook_log: str | None = None
    jwt_secret: SecretStr | None = None
    # Genuinely expired tokens of the deployment, for the expiry rows where re-signed copies cannot test expiry.
    expired_access_token: SecretStr | None = None
    expired_refresh_token: SecretStr | None = None
    stack_backend: str = "auto"
    request_timeout: float = 10.0
    log_wait_seconds: float = 2.0
    reports_dir: Path = Path("reports")
    # An earlier run's report folder to compare with; by default the newest one against the same target.
    compare_run: Path | None = None
    show_secrets: bool = False
    # Recording, log correlation and report writing; off only to measure what they cost.
    evidence: bool = True

    # Fault injection against an external deployment (the reference stack needs none of these).
    fault_db_down_cmd: str | None = None
    fault_db_up_cmd: str | None = None
    fault_redis_down_cmd: str | None = None
    fault_redis_up_cmd: str | None = None
    fault_db_dsn: SecretStr | None = None
    allow_destructive: bool = False
    # Destructive faults against anything but loopback need this too: a second, deliberate yes.
    i_know: bool = False

    def base_urls(self) -> dict[str, str]:
        return {"auth": self.auth_base_url, "users": self.users_base_url, "webhook": self.webhook_base_url}

    def log_sources(self) -> dict[str, str | None]:
        return {"auth": self.auth_log, "users": self.users_log, "webhook": self.webhook_log}


_SECRET_FIELDS = frozenset({"jwt_secret", "fault_db_dsn", "expired_access_token", "expired_refresh_token"})


class SettingsError(Exception):
    """A setting has a value the harness cannot use; the message is one line naming it and where it came from."""


def env_name(field: str) -> str:
    """The environment variable a field is read from."""
    return "CHECKLIST_TARGET" if field == "target" else field.upper()


def _env_file_values() -> dict[str, str | None]:
    from dotenv import dotenv_values

    path = Path(ENV_FILE)
    return (
        {key.upper(): value for key, value in dotenv_values(path, encoding="utf-8").items()}
        if path.is_file()
        else {}
    )


def source_of(field: str, options: dict[str, str]) -> str:
    """Where a field's value came from, for messages: the option, the environment, the .env file or the default."""
    if field in options:
        return f"option {options[field]}"
    name = env_name(field)
    if any(key.upper() == name for key in os.environ):
        return f"environment variable {name}"
    if name in _env_file_values():
        return f"{name} in {Path(ENV_FILE).resolve()}"
    return "the default"


def load_settings(given: dict[str, Any], options: dict[str, str]) -> HarnessSettings:
    """The settings from `given` (field → command-line value), the environment and .env; one line on error.

    `options` maps each given field to the option that set it, so that the message can name it."""
    try:
        return HarnessSettings(**given)
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{Path(ENV_FILE).resolve()} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise SettingsError(f"{Path(ENV_FILE).resolve()} cannot be read: {exc.strerror or exc}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        shown = "" if field in _SECRET_FIELDS else f" = {error.get('input')!r}"
        name = options.get(field) or env_name(field)
        raise SettingsError(f"{name}{shown} (from {source_of(field, options)}): {error['msg']}") from None
