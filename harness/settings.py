"""What the harness runs against, in one settings object: command line > environment > `.env` > defaults."""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The checklist's own addresses, used for `--target external` when nothing else is given.
CHECKLIST_URLS = {
    "auth": "http://localhost:8001/api/v1/auth",
    "users": "http://localhost:8002/api/v1/users",
    "webhook": "http://localhost:8000/webhook",
}


class HarnessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

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
    stack_backend: str = "auto"
    request_timeout: float = 10.0
    log_wait_seconds: float = 2.0
    reports_dir: Path = Path("reports")
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
