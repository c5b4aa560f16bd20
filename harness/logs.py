"""A service's log records, found by the request id the harness sent, waiting up to a deadline for them.

A service's log source is one of (see `parse_log_source`):
- `file:PATH`: the lines appended to PATH since `start()` (rotation and truncation are followed);
- `cmd:COMMAND`: the output of a shell command run at each poll, e.g. `docker logs --since 5m webhook 2>&1`
  (`docker logs` replays the container's stderr on its own stderr, hence the `2>&1`);
- `none`: not configured. `find` then returns at once with `LogLookup.configured == False`, which callers must
  tell apart from a configured source that has no matching record (`configured` and `records == []`).

A source that cannot be read (a failing or hanging command) raises `LogSourceError`.
"""

import functools
import json
import os
import re
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DEFAULT_DEADLINE_SECONDS = 2.0
DEFAULT_COMMAND_TIMEOUT_SECONDS = 10.0
_FIRST_DELAY = 0.001
_MAX_DELAY = 0.05
# Bytes compared at each poll to notice a file truncated and rewritten past the offset already read.
_HEAD_BYTES = 1024


@dataclass(frozen=True)
class LogRecord:
    level: str  # upper case, normalised (WARN → WARNING, FATAL → CRITICAL); "" when the line has none
    message: str
    raw: str
    request_id: str | None = None
    timestamp: str | None = None


@dataclass(frozen=True)
class LogLookup:
    """The answer of `find`: `configured` is False for a `none` source, whose `records` are then empty."""

    source: str  # the spec, e.g. "file:logs/webhook.log"
    configured: bool
    records: list[LogRecord] = field(default_factory=list)
    read: list[LogRecord] = field(default_factory=list)  # every record of the last read, for `records_near`


class LogSourceError(RuntimeError):
    """The log source could not be read (e.g. its command failed); the message says why, in one line."""


# ---- parsing --------------------------------------------------------------------------------------------------

_LEVEL_ALIASES = {
    "WARN": "WARNING",
    "FATAL": "CRITICAL",
    "CRIT": "CRITICAL",
    "EMERG": "CRITICAL",
    "EMERGENCY": "CRITICAL",
    "ALERT": "CRITICAL",
    "ERR": "ERROR",
    "INFORMATION": "INFO",
    "DBG": "DEBUG",
}
# Words accepted as the level of a text line; anything else means the line is not of that shape.
_KNOWN_LEVELS = frozenset(
    {"TRACE", "DEBUG", "INFO", "NOTICE", "SUCCESS", "WARNING", "ERROR", "CRITICAL", *_LEVEL_ALIASES}
)

_JSON_LEVEL_KEYS = ("level", "levelname", "severity")
_JSON_MESSAGE_KEYS = ("message", "msg", "event")
_JSON_TIME_KEYS = ("timestamp", "time", "asctime", "ts")
# Compared after lower-casing and `-` → `_`: covers requestId, X-Request-ID, x_request_id…
_REQUEST_ID_KEYS = ("request_id", "requestid", "correlation_id", "correlationid", "x_request_id", "req_id")
# Placeholders loggers write when a record has no request id (asgi-correlation-id's default is "-").
_NO_REQUEST_ID = frozenset({"", "-", "none", "null"})

_TS = r"\d{4}[-/]\d{2}[-/]\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
# loguru: `2025-11-24 13:04:08 | INFO | …` (a custom file format) and its default, with a padded level.
_LOGURU_RE = re.compile(rf"(?P<ts>{_TS})\s*\|\s*(?P<level>[A-Za-z]+)\s*\|\s?(?P<rest>.*)")
_LOGURU_LOCATION_RE = re.compile(r"[\w.<>-]+:[\w.<>-]+:\d+ - (?P<message>.*)", re.DOTALL)
_BRACKETED_ID_RE = re.compile(r"\[(?P<id>[A-Za-z0-9._:-]{1,128})\]\s*(?P<message>.*)", re.DOTALL)
# Python logging's default `LEVEL:logger:message`, and uvicorn's `LEVEL:     message`.
_PYTHON_DEFAULT_RE = re.compile(
    r"(?P<level>[A-Z]+):(?:(?P<logger>[\w.]*):(?P<message>.*)|\s+(?P<uvicorn>.*))"
)
# `[time] LEVEL message`, `[time] [pid] [LEVEL] message` (gunicorn), `time [level] pid#tid: message` (nginx),
# `time LEVEL message`, and `time - logger - LEVEL - message`.
_BRACKETED_TIME_RE = re.compile(
    r"\[(?P<ts>[^\]]+)\]\s+(?:\[\d+\]\s+)?\[?(?P<level>[A-Za-z]+)\]?:?\s+(?P<message>.*)"
)
_TIME_LEVEL_RE = re.compile(rf"(?P<ts>{_TS})\s+\[?(?P<level>[A-Za-z]+)\]?:?\s+(?P<message>.*)")
_TIME_LOGGER_LEVEL_RE = re.compile(
    rf"(?P<ts>{_TS})\s+-\s+\S+\s+-\s+(?P<level>[A-Za-z]+)\s+-\s+(?P<message>.*)"
)


def normalise_level(level: str) -> str:
    upper = level.strip().upper()
    return _LEVEL_ALIASES.get(upper, upper)


def _is_level(word: str) -> bool:
    return word.upper() in _KNOWN_LEVELS


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    # Nested values as JSON, so that a dict reads as it was written rather than as a Python repr.
    return json.dumps(value, ensure_ascii=False, default=str)


def _first(data: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = data.get(key)
        if value is not None and value != "":
            return value
    return None


def _request_id_in(data: dict[str, Any]) -> str | None:
    # Extra fields are top-level in python-json-logger and structlog, under "extra" in loguru's serialize.
    for scope in (data, data.get("extra")):
        if not isinstance(scope, dict):
            continue
        for key, value in scope.items():
            if (
                isinstance(key, str)
                and key.lower().replace("-", "_") in _REQUEST_ID_KEYS
                and value is not None
            ):
                text = _text(value)
                if text.strip().lower() not in _NO_REQUEST_ID:
                    return text
    return None


def _parse_json(data: dict[str, Any], raw: str) -> LogRecord:
    record = data.get("record")
    if isinstance(record, dict) and "text" in data:
        # loguru's `serialize=True`: the fields are under "record", the level and time are objects.
        level_obj, time_obj = record.get("level"), record.get("time")
        data = {
            **record,
            "level": level_obj.get("name") if isinstance(level_obj, dict) else level_obj,
            "time": time_obj.get("repr") if isinstance(time_obj, dict) else time_obj,
        }
    level = _first(data, _JSON_LEVEL_KEYS)
    message = _first(data, _JSON_MESSAGE_KEYS)
    timestamp = _first(data, _JSON_TIME_KEYS)
    return LogRecord(
        level=normalise_level(_text(level)) if level is not None else "",
        message=_text(message) if message is not None else "",
        raw=raw,
        request_id=_request_id_in(data),
        timestamp=_text(timestamp) if timestamp is not None else None,
    )


def _bracketed_id(message: str) -> tuple[str | None, str]:
    match = _BRACKETED_ID_RE.fullmatch(message)
    if match is None:
        return None, message
    return match.group("id"), match.group("message")


def parse_line(line: str) -> LogRecord:
    """One log line as a record; a line of no known shape keeps its whole text as message, with no level."""
    raw = line.rstrip("\r\n")
    stripped = raw.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict):
            return _parse_json(data, raw)

    if match := _LOGURU_RE.fullmatch(stripped):
        rest = match.group("rest")
        if location := _LOGURU_LOCATION_RE.fullmatch(rest):
            rest = location.group("message")
        request_id, message = _bracketed_id(rest)
        return LogRecord(normalise_level(match.group("level")), message, raw, request_id, match.group("ts"))

    if (match := _PYTHON_DEFAULT_RE.fullmatch(stripped)) and _is_level(match.group("level")):
        message = match.group("message") if match.group("message") is not None else match.group("uvicorn")
        return LogRecord(normalise_level(match.group("level")), message, raw)

    for pattern in (_BRACKETED_TIME_RE, _TIME_LOGGER_LEVEL_RE, _TIME_LEVEL_RE):
        if (match := pattern.fullmatch(stripped)) and _is_level(match.group("level")):
            request_id, message = _bracketed_id(match.group("message"))
            return LogRecord(
                normalise_level(match.group("level")), message, raw, request_id, match.group("ts")
            )

    return LogRecord(level="", message=raw, raw=raw)


# ---- matching -------------------------------------------------------------------------------------------------

_ID_CHAR = "A-Za-z0-9_-"


@functools.lru_cache(maxsize=256)
def _token_re(request_id: str) -> re.Pattern[str]:
    # A whole token: `abc` must not match inside `abcd`, `x-abc` or `abc.def`, but a sentence's final dot or
    # surrounding quotes and brackets are boundaries.
    return re.compile(
        rf"(?<![{_ID_CHAR}])(?<![{_ID_CHAR}]\.){re.escape(request_id)}(?![{_ID_CHAR}])(?!\.[{_ID_CHAR}])"
    )


def matches(record: LogRecord, request_id: str) -> bool:
    """Whether the record carries `request_id`: in its request-id field, or as a whole token of the line."""
    if not request_id:
        return False
    return record.request_id == request_id or _token_re(request_id).search(record.raw) is not None


# ---- sources --------------------------------------------------------------------------------------------------


class LogSource(ABC):
    """Where a service's log records come from. `records(final=True)` is the last read before a deadline."""

    configured = True
    # True when each `records()` answer starts with the previous one (a growing history): `find` then checks
    # only what is new at each poll, which keeps a long run's log cheap to wait on.
    append_only = False

    def __init__(self, spec: str) -> None:
        self.spec = spec

    # Not abstract: most sources have nothing to remember at the start of the run.
    def start(self) -> None:  # noqa: B027
        """Mark the start of the run: what was logged before does not belong to it."""

    @abstractmethod
    def records(self, *, final: bool = False) -> list[LogRecord]:
        """The records available now (since `start()`, where the source can tell)."""

    def __str__(self) -> str:
        return self.spec

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


class NoSource(LogSource):
    configured = False

    def __init__(self) -> None:
        super().__init__("none")

    def records(self, *, final: bool = False) -> list[LogRecord]:
        return []


class FileSource(LogSource):
    """The lines of a file, read incrementally from the last offset.

    Before `start()` the whole file is read; `start()` moves to its current end. A file that shrank, was
    replaced (another inode) or rewritten (its first bytes changed) is read again from its start: rotation.
    A file that does not exist yet is read from its start once it appears. A final line still being written
    (no newline yet) is only taken on the last read before the deadline, so that a half-written JSON line is
    not parsed as text.
    """

    append_only = True

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        super().__init__(f"file:{self.path}")
        self._offset = 0
        self._identity: tuple[int, int] | None = None
        self._head = b""
        self._pending = b""
        self._records: list[LogRecord] = []

    def start(self) -> None:
        self._records.clear()
        self._pending = b""
        try:
            with self.path.open("rb") as handle:
                status = os.fstat(handle.fileno())
                self._identity = (status.st_dev, status.st_ino)
                self._offset = status.st_size
                self._head = handle.read(min(_HEAD_BYTES, self._offset))
        except FileNotFoundError:
            self._offset, self._identity, self._head = 0, None, b""

    def _read_new(self) -> bytes:
        try:
            with self.path.open("rb") as handle:
                status = os.fstat(handle.fileno())
                identity = (status.st_dev, status.st_ino)
                if (
                    identity != self._identity
                    or status.st_size < self._offset
                    or handle.read(len(self._head)) != self._head
                ):
                    self._offset, self._identity, self._head, self._pending = 0, identity, b"", b""
                handle.seek(self._offset)
                data = handle.read()
                self._offset += len(data)
                if len(self._head) < min(_HEAD_BYTES, self._offset):
                    handle.seek(0)
                    self._head = handle.read(min(_HEAD_BYTES, self._offset))
                return data
        except FileNotFoundError:
            return b""  # not written yet, or between the two steps of a rotation

    def records(self, *, final: bool = False) -> list[LogRecord]:
        data = self._pending + self._read_new()
        *lines, self._pending = data.split(b"\n")
        self._records.extend(_parse_lines(lines))
        if final and self._pending.strip():
            return [*self._records, *_parse_lines([self._pending])]
        return list(self._records)


class CommandSource(LogSource):
    """The output of a shell command, run again at each poll (its own window decides what it covers)."""

    def __init__(self, command: str, *, timeout_seconds: float = DEFAULT_COMMAND_TIMEOUT_SECONDS) -> None:
        super().__init__(f"cmd:{command}")
        self.command = command
        self.timeout_seconds = timeout_seconds

    def records(self, *, final: bool = False) -> list[LogRecord]:
        # A session of its own, so that a timeout ends the whole pipeline, not just the shell: a surviving
        # child would keep the output pipe open and the wait going.
        # A shell command is the point of `cmd:`: pipes, `2>&1`, quoting.
        with subprocess.Popen(  # noqa: S602
            self.command,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ) as process:
            try:
                stdout, stderr = process.communicate(timeout=self.timeout_seconds)
            except subprocess.TimeoutExpired:
                _kill_session(process)
                process.communicate()
                raise LogSourceError(
                    f"log command {self.command!r} did not finish within {self.timeout_seconds:g} s"
                ) from None
        if process.returncode != 0:
            lines = stderr.decode("utf-8", "replace").strip().splitlines()
            detail = f": {lines[-1].strip()}" if lines else ""
            raise LogSourceError(
                f"log command {self.command!r} failed with exit code {process.returncode}{detail}"
            )
        return _parse_lines(stdout.split(b"\n"))


def _kill_session(process: "subprocess.Popen[bytes]") -> None:
    if hasattr(os, "killpg"):
        try:
            os.killpg(process.pid, signal.SIGKILL)
            return
        except ProcessLookupError:
            return
    process.kill()


def _parse_lines(lines: list[bytes]) -> list[LogRecord]:
    decoded = (line.decode("utf-8", "replace") for line in lines)
    return [parse_line(line) for line in decoded if line.strip()]


def parse_log_source(spec: str) -> LogSource:
    """`file:PATH`, `cmd:COMMAND` or `none` as a source; anything else is a ValueError naming the spec."""
    kind, colon, rest = spec.strip().partition(":")
    if not colon and kind.lower() == "none":
        return NoSource()
    if colon and kind == "file" and rest.strip():
        return FileSource(Path(rest.strip()).expanduser())
    if colon and kind == "cmd" and rest.strip():
        return CommandSource(rest.strip())
    raise ValueError(f"log source {spec!r} is not file:PATH, cmd:COMMAND or none")


# ---- finding --------------------------------------------------------------------------------------------------


def find(source: LogSource, request_id: str, deadline_seconds: float = DEFAULT_DEADLINE_SECONDS) -> LogLookup:
    """The source's records that carry `request_id`, polling until one appears or the deadline passes.

    Returns at once for a source that is not configured (`configured=False`). Raises `LogSourceError` when the
    source cannot be read.
    """
    if not source.configured:
        return LogLookup(source=source.spec, configured=False)
    deadline = time.monotonic() + deadline_seconds
    delay = _FIRST_DELAY
    checked = 0
    found: list[LogRecord] = []
    while True:
        final = time.monotonic() >= deadline
        records = source.records(final=final)
        if not source.append_only:
            checked, found = 0, []
        found += [record for record in records[checked:] if matches(record, request_id)]
        checked = len(records)
        if found or final:
            return LogLookup(source=source.spec, configured=True, records=found, read=records)
        # Polling the condition: backoff keeps a fast writer cheap to notice and a slow one cheap to wait for.
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, _MAX_DELAY)


def record_time(record: LogRecord) -> datetime | None:
    """When the record was written, from its timestamp (ISO-like text or epoch seconds); local time when the
    timestamp names no zone. None when it has none the harness can read."""
    text = (record.timestamp or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        normalised = text.replace("/", "-").replace(",", ".").replace(" ", "T", 1)
        try:
            moment = datetime.fromisoformat(
                normalised.removesuffix("Z") + ("+00:00" if normalised.endswith("Z") else "")
            )
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.astimezone()


def records_near(
    records: list[LogRecord], start: datetime, end: datetime, slack: timedelta
) -> list[LogRecord]:
    """For a service that logs no request id, what it most likely wrote for an exchange that ran from `start`
    to `end` (from the records `find` read last, which waited for them): the records whose own timestamp is
    within `slack` of that span, those written during it first, then the nearer before the farther, so that a
    neighbouring request's record is never shown ahead of the exchange's own."""

    def distance(moment: datetime) -> timedelta:
        return max(start - moment, moment - end, timedelta(0))

    timed = [(distance(moment), record) for record in records if (moment := record_time(record))]
    return [record for away, record in sorted(timed, key=lambda pair: pair[0]) if away <= slack]


def find_records(path: Path, request_id: str, *, deadline_seconds: float) -> list[LogRecord]:
    """Records of the whole file at `path` that carry `request_id`, waiting up to the deadline for one."""
    return find(FileSource(path), request_id, deadline_seconds).records
