"""What the harness runs against, in one settings object: command line > environment > `.env` > defaults."""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_FILE = ".env"

# The checklist's own addresses, used for `--target external` when nothing else is given.
CHECKLIST_URLS = {
    "auth": "http://localhost:8001/api/v1/auth",
    "users": "http://localhost:8002/api/v1/users",
    "webhook": "http://localhost:8000/webhook",
}
# Each service's path under one base URL (a gateway or ingress in front of all three): the checklist's paths.
SERVICE_PATHS = {"auth": "/api/v1/auth", "users": "/api/v1/users", "webhook": "/webhook"}
_URL_FIELDS = ("base_url", "auth_base_url", "users_base_url", "webhook_base_url")


class HarnessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore")

    # Unset: external when a URL (the base URL or a service's) is given, else the reference stack.
    target: Literal["reference", "external"] = Field(
        "reference", validation_alias=AliasChoices("target", "checklist_target")
    )
    # One URL in front of all three services (pytest-base-url's --base-url); each service's own URL wins.
    base_url: str | None = None
    auth_base_url: str | None = None
    users_base_url: str | None = None
    webhook_base_url: str | None = None
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

    @model_validator(mode="before")
    @classmethod
    def _external_when_a_url_is_given(cls, data: Any) -> Any:
        """A URL means a deployment: one given without a target makes the target external (the reference stack
        serves its own URLs, so running it would test something else than the URL given, and pass)."""
        if isinstance(data, dict):
            keys = {str(key).lower(): value for key, value in data.items()}
            if any(keys.get(name) for name in _URL_FIELDS) and not (
                keys.get("target") or keys.get("checklist_target")
            ):
                return {**data, "target": "external"}
        return data

    def base_urls(self) -> dict[str, str]:
        """Each service's URL: its own setting, else derived from the base URL, else the checklist's."""
        return {service: self._own_url(service) or self.derived_url(service) for service in SERVICE_PATHS}

    def _own_url(self, service: str) -> str | None:
        url: str | None = getattr(self, f"{service}_base_url")
        return url

    def derived_url(self, service: str) -> str:
        if self.base_url:
            return self.base_url.rstrip("/") + SERVICE_PATHS[service]
        return CHECKLIST_URLS[service]

    def unused_urls(self) -> list[str]:
        """The URL settings that are set but not used: the reference stack serves its own URLs."""
        if self.target != "reference":
            return []
        return [name for name in _URL_FIELDS if getattr(self, name)]

    def url_origin(self, service: str) -> str:
        """Where a service's URL came from, for messages about it."""
        if self._own_url(service):
            return ""
        if self.base_url:
            return f" (derived from the base URL {self.base_url})"
        return f" (the checklist's default: --{service}-url or --base-url sets it)"

    def log_sources(self) -> dict[str, str | None]:
        return {"auth": self.auth_log, "users": self.users_log, "webhook": self.webhook_log}


_SECRET_FIELDS = frozenset({"jwt_secret", "fault_db_dsn", "expired_access_token", "expired_refresh_token"})


class SettingsError(Exception):
    """A setting has a value the harness cannot use; the message is one line naming it and where it came from."""


def env_name(field: str) -> str:
    """The environment variable a field is read from."""
    return "CHECKLIST_TARGET" if field == "target" else field.upper()


def setting_variables() -> frozenset[str]:
    """Every environment variable name a harness setting answers to: what a run started for a test must not
    inherit from the developer's shell."""
    fields = HarnessSettings.model_fields
    return frozenset({field.upper() for field in fields} | {env_name(field) for field in fields})


@dataclass(frozen=True)
class Sources:
    """Where settings come from besides the environment: the options given (field → flag) and the env file
    (`.env` in the working directory, or the one --env-file names)."""

    options: dict[str, str] = field(default_factory=dict)
    env_file: Path = Path(ENV_FILE)

    def _env_file_values(self) -> dict[str, str | None]:
        from dotenv import dotenv_values

        if not self.env_file.is_file():
            return {}
        return {key.upper(): value for key, value in dotenv_values(self.env_file, encoding="utf-8").items()}

    def of(self, name: str) -> str:
        """Where a field's value came from, for messages: the option, the environment, the env file or the
        default."""
        if name in self.options:
            return f"option {self.options[name]}"
        variable = env_name(name)
        if any(key.upper() == variable for key in os.environ):
            return f"environment variable {variable}"
        if variable in self._env_file_values():
            return f"{variable} in {self.env_file.resolve()}"
        return "the default"


def load_settings(given: dict[str, Any], sources: Sources) -> HarnessSettings:
    """The settings from `given` (field → command-line value), the environment and the env file; one line on
    error, naming the setting and where it came from."""
    env_file = sources.env_file.resolve()
    if "env_file" in sources.options and not sources.env_file.is_file():
        raise SettingsError(f"{sources.options['env_file']} {sources.env_file}: no such file")
    try:
        return HarnessSettings(_env_file=sources.env_file, **given)
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{env_file} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise SettingsError(f"{env_file} cannot be read: {exc.strerror or exc}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "?"
        shown = "" if name in _SECRET_FIELDS else f" = {error.get('input')!r}"
        label = sources.options.get(name) or env_name(name)
        raise SettingsError(f"{label}{shown} (from {sources.of(name)}): {error['msg']}") from None
