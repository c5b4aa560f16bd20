"""The evidence of one case: every exchange it made (setup or primary), with the request ids sent and seen."""

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx

from harness.logs import LogRecord, LogSource, LogSourceError, find, records_near

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
    started_at: str = (
        ""  # UTC, ISO 8601: when the request went out (log records are placed by time against it)
    )
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
            started_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
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


# Log timestamps often have whole seconds; a record up to this far outside the exchange's own time still counts.
TIME_SLACK = timedelta(seconds=1)
TIME_MATCHES_SHOWN = 20


class LogCorrelator:
    """Finds each exchange's log records: by request id, or, for a service that logs none, by time.

    A service is taken not to log request ids once one case's full wait found records of it without any request
    id written during its exchanges, and none carrying the id; from then on its records are shown by time at
    once, without waiting for ids that never come. A record carrying an id later puts the waiting back.
    """

    def __init__(self, sources: dict[str, LogSource], deadline_seconds: float) -> None:
        self.sources = sources
        self.deadline_seconds = deadline_seconds
        self.logs_request_ids: dict[str, bool | None] = dict.fromkeys(sources)

    def attach(self, exchanges: list[Exchange]) -> None:
        """One deadline for the whole case, not one per request."""
        deadline = time.monotonic() + self.deadline_seconds
        seen: dict[
            str, tuple[bool, bool]
        ] = {}  # service → (a record carried an id, records were found by time)
        for exchange in exchanges:
            source = self.sources.get(exchange.service)
            if source is None:
                continue
            waits = self.logs_request_ids.get(exchange.service) is not False
            remaining = max(0.0, deadline - time.monotonic()) if waits else 0.0
            exchange.log = self._lookup(exchange, source, remaining)
            by_id, by_time = seen.get(exchange.service, (False, False))
            matched_by_id = exchange.log.matched_by == "request_id" and bool(exchange.log.records)
            seen[exchange.service] = (by_id or matched_by_id, by_time or exchange.log.matched_by == "time")
        for service, (by_id, by_time) in seen.items():
            if by_id:
                self.logs_request_ids[service] = True
            elif by_time and self.logs_request_ids[service] is None:
                self.logs_request_ids[service] = False

    def _lookup(self, exchange: Exchange, source: LogSource, wait: float) -> LogEvidence:
        # The id the service answered with is the one it logged (it may have replaced ours).
        request_id = exchange.request_id_received or exchange.request_id_sent
        try:
            lookup = find(source, request_id, wait)
            if lookup.records or not lookup.configured or not exchange.started_at:
                return LogEvidence(
                    source=lookup.source,
                    configured=lookup.configured,
                    records=[log_record_dict(record) for record in lookup.records],
                )
            start = datetime.fromisoformat(exchange.started_at)
            end = start + timedelta(milliseconds=exchange.elapsed_ms)
            # Only records that carry no request id: one carrying another id belongs to another request (a
            # service that logs ids but wrote nothing for this one must not look like one that logs none).
            anonymous = [record for record in lookup.read if not record.request_id]
            nearby = records_near(anonymous, start, end, TIME_SLACK)
        except LogSourceError as exc:
            return LogEvidence(source=source.spec, configured=True, error=str(exc))
        return LogEvidence(
            source=source.spec,
            configured=True,
            matched_by="time" if nearby else "request_id",
            records=[log_record_dict(record) for record in nearby[:TIME_MATCHES_SHOWN]],
        )
