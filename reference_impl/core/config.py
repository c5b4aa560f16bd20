"""One settings object for every service, read from the environment (and a `.env` file)."""

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, PostgresDsn, RedisDsn, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Serves local stacks only; any real deployment sets JWT_SECRET.
DEVELOPMENT_JWT_SECRET = "reference-impl-development-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: PostgresDsn = PostgresDsn("postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url: RedisDsn = RedisDsn("redis://127.0.0.1:6379/0")

    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    jwt_algorithm: str = "HS256"
    access_token_ttl_seconds: int = Field(default=15 * 60, gt=0)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, gt=0)

    log_dir: Path = Path("logs")
    log_level: str = "INFO"
    # Off when a supervisor already captures stderr: the JSON file is the record, stderr is for crashes.
    log_to_stderr: bool = True

    # Database unreachable must become a 503 within 2 s: connect and query budgets stay below that. The command
    # budget bounds a whole `connection()` block (acquiring included); a connection that overruns it is aborted,
    # not cancelled, since a frozen server would never answer the cancel request.
    db_connect_timeout_seconds: float = 1.0
    db_command_timeout_seconds: float = 1.5
    db_pool_min_size: int = 0
    db_pool_max_size: int = 20
    redis_timeout_seconds: float = 1.0

    # Argon2id cost: OWASP's Password Storage Cheat Sheet profile (19 MiB, 2 passes, 1 lane), about 20 ms a hash.
    # pwdlib's recommended profile (RFC 9106: 64 MiB, 3 passes, 4 lanes) takes ten times as long, which made
    # hashing most of a checklist run and capped login at a few requests a second. Hashes carry their own
    # parameters, so raising these later leaves existing hashes verifiable.
    password_hash_time_cost: int = Field(default=2, ge=1)
    password_hash_memory_kib: int = Field(default=19 * 1024, ge=8)
    password_hash_parallelism: int = Field(default=1, ge=1)
    # Hashes computed at once; more wait their turn. Half the CPUs: the rest stays with everything else.
    password_hash_threads: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) // 2), ge=1)

    # Failed logins allowed per window before 429, per account and per client address (in Redis).
    login_failures_per_account: int = 10
    login_failures_per_address: int = 100
    login_failure_window_seconds: int = 60
    # Addresses (or CIDRs, comma-separated) of reverse proxies whose X-Forwarded-For names the client. Empty: the
    # header is ignored and the client is the TCP peer, so no one can pick the address the throttle counts.
    trusted_proxies: str = ""

    # Groups are roles. Public registration may ask only for these (comma-separated); any other existing group
    # is 403. The admin group may give any group through users POST /.
    self_assignable_groups: str = "customer"
    admin_group: str = "admin"

    # HTTP served without a proxy: the request line and headers together may take at most this many bytes (431
    # beyond) and must arrive within this many seconds of their first byte (408 and closed beyond).
    http_max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    http_header_timeout_seconds: float = Field(default=5.0, gt=0)

    # Optional shared-secret check of the webhook (a deployment option, not a 2can feature): when set, the
    # body's HMAC-SHA256 in hex must be in the signature header, or the call is refused before it is parsed.
    webhook_hmac_secret: SecretStr | None = None
    webhook_signature_header: str = "X-Signature"

    @property
    def assignable_groups(self) -> list[str]:
        return [name.strip() for name in self.self_assignable_groups.split(",") if name.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
