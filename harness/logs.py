"""Finding a service's log records by request id (a file source for now), polling until a deadline."""

import json
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LogRecord:
    level: str
    message: str
    raw: str


def _parse(line: str) -> LogRecord:
    try:
        data = json.loads(line)
    except ValueError:
        return LogRecord(level="", message=line, raw=line)
    if not isinstance(data, dict):
        return LogRecord(level="", message=line, raw=line)
    level = data.get("level") or data.get("levelname") or data.get("severity") or ""
    message = data.get("message") or data.get("msg") or data.get("event") or ""
    return LogRecord(level=str(level).upper(), message=str(message), raw=line)


def find_records(path: Path, request_id: str, *, deadline_seconds: float) -> list[LogRecord]:
    """Records of `path` that carry `request_id`, waiting up to the deadline for at least one to appear."""
    deadline = time.monotonic() + deadline_seconds
    delay = 0.001
    while True:
        if path.exists():
            with path.open(encoding="utf-8", errors="replace") as handle:
                found = [_parse(line.rstrip("\n")) for line in handle if request_id in line]
            if found:
                return found
        if time.monotonic() >= deadline:
            return []
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
