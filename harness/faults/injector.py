"""What the harness can break on a target, and how: the one place that decides whether a fault can run."""

from harness.faults.functions import FunctionSwap
from harness.faults.outages import CommandOutage, FaultUnavailable, Outage, ProxyOutage
from harness.faults.tokens import mint
from harness.settings import HarnessSettings
from harness.target import Target

_COMMAND_SETTINGS = {
    "database": ("FAULT_DB_DOWN_CMD", "FAULT_DB_UP_CMD"),
    "redis": ("FAULT_REDIS_DOWN_CMD", "FAULT_REDIS_UP_CMD"),
}


class FaultInjector:
    def __init__(self, target: Target, settings: HarnessSettings) -> None:
        self.target = target
        self.settings = settings

    def outage(self, service: str, dependency: str) -> Outage:
        """Cut `service` off from its `dependency` ("database" or "redis")."""
        address = self.target.fault_proxies.get(f"{service}-{dependency}")
        if address:
            return ProxyOutage.at(address)
        down = (
            self.settings.fault_db_down_cmd
            if dependency == "database"
            else self.settings.fault_redis_down_cmd
        )
        up = self.settings.fault_db_up_cmd if dependency == "database" else self.settings.fault_redis_up_cmd
        if down and up:
            return CommandOutage(down, up)
        down_name, up_name = _COMMAND_SETTINGS[dependency]
        what = "the database" if dependency == "database" else "Redis"
        raise FaultUnavailable(f"needs {down_name} and {up_name}: commands that cut and restore {what}")

    def require(self, fault: str) -> None:
        """FaultUnavailable, naming the missing setting, unless the target has the means for `fault`
        ("expired-access-token", "expired-refresh-token", "function-swap" or "<service>-<database|redis>")."""
        if fault.startswith("expired-"):
            kind = fault.removeprefix("expired-").removesuffix("-token")
            if self.given_expired(kind) is None:
                self._secret(f"EXPIRED_{kind.upper()}_TOKEN")
        elif fault == "function-swap":
            self.function_swap()
        else:
            service, _, dependency = fault.partition("-")
            self.outage(service, dependency)

    def _secret(self, alternative: str = "") -> str:
        if not self.target.jwt_secret:
            instead = f" (or {alternative}: a genuinely expired one)" if alternative else ""
            raise FaultUnavailable(
                f"needs JWT_SECRET: the deployment's token-signing secret, to mint an expired token{instead}"
            )
        return self.target.jwt_secret

    def given_expired(self, kind: str) -> str | None:
        """A genuinely expired token of `kind` ("access" or "refresh") the team gave (EXPIRED_*_TOKEN)."""
        given = (
            self.settings.expired_access_token if kind == "access" else self.settings.expired_refresh_token
        )
        return given.get_secret_value() if given else None

    def function_swap(self) -> FunctionSwap:
        if self.target.database_url:
            return FunctionSwap(self.target.database_url)
        if self.settings.fault_db_dsn and not self.settings.allow_destructive:
            raise FaultUnavailable(
                "FAULT_DB_DSN is set, but replacing a function on it needs --allow-destructive too"
            )
        raise FaultUnavailable(
            "needs FAULT_DB_DSN and --allow-destructive: a connection to the deployment's database"
        )

    def expired(self, token: str) -> tuple[str, str]:
        """A copy of `token` expired a minute ago, and its control: the same copy valid for ten minutes."""
        secret = self._secret()
        return mint(token, secret, -60), mint(token, secret, 600)
