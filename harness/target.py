"""The deployment under test: its base URLs and what the harness knows about it, checked before the first case."""

import json
from dataclasses import asdict, dataclass, field

import httpx


class TargetError(Exception):
    """The target cannot be used; the message is one line naming what is wrong."""


@dataclass(frozen=True)
class Target:
    kind: str  # "reference" or "external"
    description: str
    base_urls: dict[str, str]
    valid_mid: str
    log_sources: dict[str, str]  # service → file:PATH, cmd:COMMAND or none
    jwt_secret: str | None = None
    database_url: str | None = None  # only where the harness may change the database (function swap)
    fault_proxies: dict[str, str] = field(default_factory=dict)  # "webhook-database" → control host:port
    lock_path: str | None = None  # serialises fault cases against the rest, across xdist workers

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Target":
        return cls(**json.loads(text))


def check_url(name: str, url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise TargetError(f"{name} base URL {url!r} is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise TargetError(f"{name} base URL {url!r} is not an http(s) URL with a host")


def check_reachable(base_urls: dict[str, str], timeout: float = 5.0) -> None:
    """Every service must answer HTTP at its base URL (any status will do); else one line naming it."""
    for name, url in base_urls.items():
        check_url(name, url)
        try:
            httpx.get(url, timeout=timeout)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise TargetError(f"{name} service does not answer at {url}: {reason}") from exc


def is_loopback(url: str) -> bool:
    host = httpx.URL(url).host
    return host in ("localhost", "::1") or host.startswith("127.")
