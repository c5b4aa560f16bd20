"""The evidence of one case: every exchange it made (setup or primary), with the request ids sent and seen."""

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpx

from harness.logs import LogRecord, LogSource, LogSourceError, find

# setup: prepares the case; primary: the row's own call; recovery: a call after a fault was undone (the target
# must work again), shown in the detail but never as the row's answer.
Role = Literal["setup", "primary", "recovery"]
REQUEST_ID_HEADER = "X-Request-ID"
BODY_LIMIT = 64 * 1024  # evidence keeps bodies up to this many characters


@dataclass
class LogEvidence:
    """What the service's log source said about one request id."""

    source: str  # "file:…", "cmd:…" or "none"
    configured: bool
    # "time" when the service logs no request id: the records are those written while the exchange ran.
    matched_by: Literal["request_id", "time"] = "request_id"
    records: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None


@dataclass
class Exchange:
    seq: int
    role: Role
    service: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: Any
    request_id_sent: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: Any = None
    request_id_received: str | None = None
    elapsed_ms: float = 0.0
    error: str | None = None  # a transport failure: no response at all
    log: LogEvidence | None = None

    @property
    def request_id_echoed(self) -> bool:
        return self.request_id_received == self.request_id_sent


def _body(content: bytes, content_type: str) -> Any:
    if not content:
        return None
    text = content.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + "…"


class Recorder:
    """Collects a case's exchanges; the client layer calls `start`/`finish` around every request."""

    def __init__(self, case_key: str) -> None:
        self.case_key = case_key
        self.exchanges: list[Exchange] = []
        # Keyed by id(response), holding the response so that the id cannot be reused meanwhile.
        self._by_response: dict[int, tuple[httpx.Response, Exchange]] = {}

    def next_request_id(self) -> str:
        # Unique in the run and traceable to the case: <run id>-<row id>[.<example>]-<sequence>.
        return f"{self.case_key}-{len(self.exchanges) + 1:03d}"

    def start(self, service: str, request: httpx.Request) -> Exchange:
        exchange = Exchange(
            seq=len(self.exchanges) + 1,
            role="setup",
            service=service,
            method=request.method,
            url=str(request.url),
            request_headers=dict(request.headers),
            request_body=_body(request.content, request.headers.get("content-type", "")),
            request_id_sent=request.headers.get(REQUEST_ID_HEADER, ""),
        )
        self.exchanges.append(exchange)
        return exchange

    def finish(self, exchange: Exchange, response: httpx.Response, started: float) -> None:
        exchange.status = response.status_code
        exchange.response_headers = dict(response.headers)
        exchange.response_body = _body(response.content, response.headers.get("content-type", ""))
        exchange.request_id_received = response.headers.get(REQUEST_ID_HEADER)
        exchange.elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        self._by_response[id(response)] = (response, exchange)

    def fail(self, exchange: Exchange, error: Exception, started: float) -> None:
        exchange.error = f"{type(error).__name__}: {error}"
        exchange.elapsed_ms = round((time.perf_counter() - started) * 1000, 2)

    def exchange_of(self, response: httpx.Response) -> Exchange | None:
        entry = self._by_response.get(id(response))
        return entry[1] if entry is not None else None

    def mark(self, response: httpx.Response, role: Role) -> Exchange | None:
        """The response belongs to the call under test, or to a recovery check (the steps decide which)."""
        exchange = self.exchange_of(response)
        if exchange is not None:
            exchange.role = role
        return exchange

    def primary(self) -> Exchange | None:
        primaries = [exchange for exchange in self.exchanges if exchange.role == "primary"]
        return primaries[-1] if primaries else None


def log_record_dict(record: LogRecord) -> dict[str, str]:
    return {"level": record.level, "message": record.message, "raw": record.raw}


def exchange_dict(exchange: Exchange) -> dict[str, Any]:
    data = asdict(exchange)
    data["request_id_echoed"] = exchange.request_id_echoed
    return data


def attach_log_evidence(
    exchanges: list[Exchange], sources: dict[str, LogSource], deadline_seconds: float
) -> None:
    """Find each exchange's log records by request id; one deadline for the whole case, not one per request."""
    deadline = time.monotonic() + deadline_seconds
    for exchange in exchanges:
        source = sources.get(exchange.service)
        if source is None:
            continue
        # The id the service answered with is the one it logged (it may have replaced ours).
        request_id = exchange.request_id_received or exchange.request_id_sent
        try:
            lookup = find(source, request_id, max(0.0, deadline - time.monotonic()))
        except LogSourceError as exc:
            exchange.log = LogEvidence(source=source.spec, configured=True, error=str(exc))
            continue
        exchange.log = LogEvidence(
            source=lookup.source,
            configured=lookup.configured,
            records=[log_record_dict(record) for record in lookup.records],
        )
