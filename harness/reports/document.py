"""The run's results document: the one structure every report is written from (see results.schema.json)."""

import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from harness.catalogue import SERVICE_TAGS, Row
from harness.outcomes import LABELS, OUTCOMES, Outcome
from harness.recorder import Exchange, exchange_dict
from harness.reports.compare import Baseline
from harness.reports.compare import apply as apply_baseline

SCHEMA_VERSION = 2
SERVICE_ORDER = (*SERVICE_TAGS, "extra")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def case_entry(
    *,
    nodeid: str,
    row: Row | None,
    case_id: str,
    title: str,
    example: dict[str, str] | None,
    outcome: Outcome,
    reason: str | None,
    message: str | None,
    duration_s: float,
    exchanges: list[Exchange],
    subject: Exchange | None = None,
) -> dict[str, Any]:
    """One case. `reason` says why it was not judged (skipped, blocked, not run); `message` why it failed.
    `subject` is the exchange the verdict is about: the row's own call, or the call that blocked it."""
    return {
        "nodeid": nodeid,
        "row_id": row.id if row else None,
        "case_id": case_id,
        "service": row.service if row else "extra",
        "endpoint": row.endpoint if row else None,
        "title": row.scenario_ru if row else title,
        "title_en": row.scenario_en if row else None,
        "example": example or None,
        "expected": row.expected if row else None,
        "checklist_row": row is not None,
        "outcome": outcome,
        "previous_outcome": None,
        "reason": reason,
        "message": message,
        "duration_s": round(duration_s, 3),
        "subject_seq": subject.seq if subject is not None else None,
        "exchanges": [exchange_dict(exchange) for exchange in exchanges],
    }


def subject_exchange(case: dict[str, Any]) -> dict[str, Any] | None:
    """The exchange the verdict is about: the one `subject_seq` names (the row's own call, or the call that
    blocked it); for a judged case without one, the last the row names (never a recovery check)."""
    exchanges: list[dict[str, Any]] = case.get("exchanges") or []
    seq = case.get("subject_seq")
    if seq is not None:
        return next((e for e in exchanges if e.get("seq") == seq), None)
    if case.get("outcome") not in ("passed", "failed"):
        return None
    primaries = [exchange for exchange in exchanges if exchange.get("role") == "primary"]
    return primaries[-1] if primaries else None


def primary_exchange(case: dict[str, Any]) -> dict[str, Any] | None:
    """The row's own exchange, the one its status and body are shown from: for a row with several, the one the
    check failed on. None for a case that was not judged (blocked, skipped, not run): its status would be some
    other call's."""
    return subject_exchange(case) if case["outcome"] in ("passed", "failed") else None


def example_text(case: dict[str, Any]) -> str:
    """The case's example as `name=value, …` (empty for a plain scenario)."""
    example = case.get("example")
    if not isinstance(example, dict):
        return ""
    return ", ".join(f"{name}={value}" for name, value in example.items())


def verdict_line(case: dict[str, Any]) -> str:
    """The outcome word and what it rests on, in one line: `blocked: registering a user answered 500 …`."""
    label = LABELS[case["outcome"]]
    detail = case["message"] if case["outcome"] == "failed" else case["reason"]
    return f"{label}: {detail}" if detail else label


def first_log_record(exchange: dict[str, Any] | None) -> dict[str, str] | None:
    log = (exchange or {}).get("log") or {}
    records: list[dict[str, str]] = log.get("records") or []
    return records[0] if records else None


def log_summary(exchange: dict[str, Any] | None) -> str:
    """One line for tables: the first record's level and message, or why there is none."""
    log = (exchange or {}).get("log")
    if not log:
        return "no log lookup"
    if not log["configured"]:
        return "log source not configured"
    record = first_log_record(exchange)
    if record is None:
        return log.get("error") or "no log record found"
    line = f"{record['level']} {record['message']}".strip()
    return f"by time, not by request id: {line}" if log.get("matched_by") == "time" else line


def log_notes(cases: list[dict[str, Any]]) -> dict[str, str]:
    """Said once per service: a service whose records were only ever found by time logs no request id."""
    by_id: set[str] = set()
    by_time: set[str] = set()
    for case in cases:
        for exchange in case["exchanges"]:
            log = exchange.get("log") or {}
            if log.get("records"):
                (by_time if log.get("matched_by") == "time" else by_id).add(exchange["service"])
    return {
        service: f"the {service} service does not log the X-Request-ID it is sent: its records are shown by time, "
        "not by request id"
        for service in sorted(by_time - by_id)
    }


@dataclass
class RunInfo:
    id: str
    target: dict[str, Any]
    started_at: str = field(default_factory=utc_now)
    status: Literal["running", "completed", "interrupted", "error"] = "running"
    # Per service: whether the selected cases need it and what the preflight found (None: it serves the API).
    preflight: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Per service, said once: what its log source showed about the whole run (e.g. it logs no request ids).
    log_notes: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    secrets_shown: bool = False


def counts(cases: list[dict[str, Any]]) -> dict[str, int]:
    result: dict[str, int] = {"total": len(cases), **{outcome: 0 for outcome in OUTCOMES}}
    for case in cases:
        result[case["outcome"]] += 1
    return result


def counts_by_service(cases: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """`counts` of each service that has cases, in the checklist's order (any other service after, by name)."""
    present = {case["service"] for case in cases}
    order = [s for s in SERVICE_ORDER if s in present] + sorted(present - set(SERVICE_ORDER))
    return {service: counts([case for case in cases if case["service"] == service]) for service in order}


def run_document(
    run: RunInfo,
    cases: list[dict[str, Any]],
    finished_at: str | None = None,
    baseline: Baseline | None = None,
) -> dict[str, Any]:
    """The whole document; compared with `baseline` (an earlier run), if any."""
    finished = finished_at or utc_now()
    duration = (datetime.fromisoformat(finished) - datetime.fromisoformat(run.started_at)).total_seconds()
    document = {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "id": run.id,
            "status": run.status,
            "error": run.error,
            "target": run.target,
            "preflight": run.preflight,
            "log_notes": run.log_notes,
            "compared_with": None,
            "started_at": run.started_at,
            "finished_at": finished,
            "duration_s": duration,
            "versions": {
                "python": platform.python_version(),
                "pytest": _version("pytest"),
                "pytest_bdd": _version("pytest-bdd"),
                "harness": _version("checklist-harness"),
            },
            "secrets_shown": run.secrets_shown,
            "counts": counts(cases),
        },
        "cases": cases,
        "changes": [],
    }
    apply_baseline(document, baseline)
    return document
