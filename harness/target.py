"""The deployment under test: its base URLs and what the harness knows about it, checked before the first case."""

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from harness.clients import new_client


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


# A call each API answers without side effects, and that a URL which does not serve the API answers with 404,
# 405 or a web page: (method, path under the base URL, JSON body).
PROBES: dict[str, tuple[str, str, Any]] = {
    "auth": ("POST", "/login", {}),
    "users": ("GET", "/me", None),
    "webhook": ("POST", "", {}),
}
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def probe(service: str, base_url: str, timeout: float = 5.0) -> str | None:
    """None when `base_url` answers like the service's API; else one line saying what answered instead."""
    method, path, body = PROBES[service]
    url = base_url.rstrip("/") + path
    try:
        with new_client(timeout) as client:
            response = client.request(
                method, url, json=body, headers={"X-Request-ID": f"preflight-{service}"}
            )
    except httpx.HTTPError as exc:
        return f"{service} service does not answer at {base_url}: {str(exc) or type(exc).__name__}"
    answer = f"{method} {url} answered {response.status_code} {response.reason_phrase}".strip()
    if response.status_code in (404, 405):
        return f"{base_url} does not serve the {service} API: {answer}"
    if "html" in response.headers.get("content-type", ""):
        title = _TITLE.search(response.text)
        page = f" ({' '.join(title.group(1).split())[:80]!r})" if title else ""
        return f"{base_url} does not serve the {service} API: {answer} with a web page{page}"
    return None


def preflight(base_urls: dict[str, str], timeout: float = 5.0) -> dict[str, str | None]:
    """Probe every service at once; service → None (it serves its API) or what is wrong."""
    for name, url in base_urls.items():
        check_url(name, url)
    with ThreadPoolExecutor(max_workers=len(base_urls)) as pool:
        found = {name: pool.submit(probe, name, url, timeout) for name, url in base_urls.items()}
        return {name: future.result() for name, future in found.items()}


def is_loopback(url: str) -> bool:
    host = httpx.URL(url).host
    return host in ("localhost", "::1") or host.startswith("127.")
