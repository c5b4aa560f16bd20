"""report.html: the run as one self-contained page, rendered from `templates/report.html.j2` by Jinja2.

Autoescaping is on, so every document value reaches the page escaped: response bodies come from the services
under test and are hostile. The one filter that returns markup, `text`, escapes the value and wraps its masking
markers in a highlight. The style and script are `templates/report.css` and `report.js`, inlined; the page's
Content-Security-Policy admits exactly those two, by the sha256 of the files' contents read at render time, and
lets nothing load, should escaping ever miss something.

This module imports only the standard library at import time: Jinja2 is loaded on the first render, since the
harness's start-up time is measured and most runs render the page only at their end.
"""

import base64
import functools
import hashlib
import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.outcomes import LABELS, OUTCOMES
from harness.reports.compare import CHANGE_KINDS, case_key
from harness.reports.document import (
    SERVICE_ORDER,
    example_text,
    primary_exchange,
    subject_exchange,
    verdict_line,
)

if TYPE_CHECKING:
    from jinja2 import Template
    from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"
RUN_STATUS_LABELS = {
    "completed": "completed",
    "interrupted": "interrupted",
    "error": "error",
    "running": "running (report written mid-run)",
}
ROLE_NOTES = {
    "setup": "prepares the case",
    "primary": "the call the row is about",
    "recovery": "a call after the fault was undone, to see the target work again",
}
# Masking markers (see harness.masking), highlighted in the page.
_MASKED = re.compile(r"(«masked:[^«»<>&\s]{1,64}»)")


# --- filters: the only Python the template calls --------------------------------------------------------------


def _text(value: Any) -> "Markup":
    """Escaped text of any document value (None becomes empty), with masking markers highlighted."""
    from markupsafe import Markup, escape

    if value is None:
        return Markup("")
    # split() with the group keeps the markers at the odd places; format() escapes them too.
    parts = _MASKED.split(value if isinstance(value, str) else str(value))
    return Markup("").join(
        Markup('<span class="masked">{}</span>').format(part) if odd else escape(part)
        for odd, part in zip(itertools.cycle((False, True)), parts)
    )


def _pretty(body: Any) -> str:
    """A body as readable text: JSON values (or strings holding JSON objects/arrays) indented, text as it is."""
    if body is None:
        return ""
    if isinstance(body, str):
        text: str = body
        if not text.strip().startswith(("{", "[")):
            return text
        try:
            body = json.loads(text)
        except ValueError:
            return text
    return json.dumps(body, ensure_ascii=False, indent=2, default=str)


def _seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    return f"{value:.2f} s" if value < 60 else f"{int(value // 60)} min {value % 60:.0f} s"


def _milliseconds(value: Any) -> str:
    return f"{value:.1f} ms" if isinstance(value, int | float) else "—"


def _time(value: Any) -> str:
    return value.replace("T", " ") if isinstance(value, str) and value else "—"


def _status_class(status: Any) -> str:
    return f"s{status // 100}" if isinstance(status, int) else "s-none"


# --- the view: the document reduced to what the template shows ------------------------------------------------


def _status_text(exchange: dict[str, Any]) -> str:
    status = exchange.get("status")
    return str(status) if status is not None else "no response"


def _request_id_problem(exchange: dict[str, Any]) -> str | None:
    """Why the response's X-Request-ID does not confirm the one sent, if it does not."""
    if exchange.get("status") is None:
        return None  # no response, nothing to compare
    received = exchange.get("request_id_received")
    if not received:
        return "missing in the response"
    if received != exchange.get("request_id_sent"):
        return "differs from the one sent"
    return None


def _log_view(log: Any) -> dict[str, Any]:
    """The log records of one exchange, or the note that stands in for them."""
    if not isinstance(log, dict):
        return {"records": [], "note": "no log lookup", "source": None, "by_time": False, "error": None}
    records = [record for record in log.get("records") or [] if isinstance(record, dict)]
    note = None
    if not log.get("configured"):
        note = "log source not configured"
    elif not records:
        note = "no log record found" + (f" ({log['error']})" if log.get("error") else "")
    return {
        "records": records,
        "note": note,
        "source": log.get("source"),
        "by_time": log.get("matched_by") == "time",
        "error": log.get("error") if records else None,
    }


def _anchors(cases: list[dict[str, Any]]) -> list[str]:
    """A stable, unique element id per case for links into the report: its node id with the unsafe parts
    dropped (Cyrillic stays: an id may hold any letter), numbered when two reduce to the same."""
    seen: Counter[str] = Counter()
    anchors = []
    for case in cases:
        name = str(case.get("nodeid") or case.get("row_id") or "")
        base = "case-" + re.sub(r"[^\w.-]+", "-", name).strip("-")
        seen[base] += 1
        anchors.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return anchors


def _case_view(case: dict[str, Any], index: int, anchor: str) -> dict[str, Any]:
    outcome = str(case.get("outcome"))
    exchanges = [exchange for exchange in case.get("exchanges") or [] if isinstance(exchange, dict)]
    case = {**case, "exchanges": exchanges, "outcome": outcome}
    own = primary_exchange(case)  # None for a case that was not judged: its status would be another call's
    subject = subject_exchange(case)  # the detail highlights it: for a blocked case, the call that blocked it
    views = [
        _exchange_view(exchange, is_subject=exchange is subject, outcome=outcome) for exchange in exchanges
    ]
    verdict = verdict_line(case) if outcome != "passed" else ""
    previous = case.get("previous_outcome")
    title_en = case.get("title_en")
    return {
        "index": index,
        "anchor": anchor,
        "row_id": case.get("row_id"),
        "case_id": case.get("case_id") or case.get("row_id"),  # cases beyond the checklist: their EXTRA- id
        "service": case.get("service"),
        "outcome": outcome,
        "title": case.get("title"),
        "title_en": title_en if title_en and title_en != case.get("title") else None,
        "example": example_text(case),
        "endpoint": case.get("endpoint"),
        "expected": case.get("expected"),
        "nodeid": case.get("nodeid"),
        "checklist_row": case.get("checklist_row", True),
        "previous": previous,
        "was": previous if previous is not None and previous != outcome else None,
        # Under the title, the first line only; the whole text is in the detail.
        "verdict": verdict.strip().splitlines()[0] if verdict.strip() else "",
        "verdict_full": verdict,
        "message": case.get("message"),
        "reason": case.get("reason"),
        "duration_s": case.get("duration_s"),
        "own": next((view for view, exchange in zip(views, exchanges, strict=True) if exchange is own), None),
        "exchanges": views,
    }


_EXCHANGE_FIELDS = (
    "seq",
    "service",
    "method",
    "url",
    "request_headers",
    "request_body",
    "request_id_sent",
    "request_id_received",
    "response_headers",
    "response_body",
    "elapsed_ms",
    "error",
)


def _exchange_view(exchange: dict[str, Any], *, is_subject: bool, outcome: str) -> dict[str, Any]:
    role = str(exchange.get("role") or "")
    return {
        **{key: exchange.get(key) for key in _EXCHANGE_FIELDS},
        "role": role,
        "role_note": ROLE_NOTES.get(role, ""),
        "status_text": _status_text(exchange),
        "status_class": _status_class(exchange.get("status")),
        "rid_problem": _request_id_problem(exchange),
        "log": _log_view(exchange.get("log")),
        "is_subject": is_subject,
        "subject_note": "the call that blocked the case" if outcome == "blocked" else "the case's own call",
    }


def _services(cases: list[dict[str, Any]]) -> list[str]:
    present = {str(case.get("service")) for case in cases}
    known = [service for service in SERVICE_ORDER if service in present or service != "extra"]
    return known + sorted(present - set(SERVICE_ORDER))


def _summary(cases: list[dict[str, Any]], services: list[str]) -> dict[str, Any]:
    tally = Counter((str(case.get("service")), str(case.get("outcome"))) for case in cases)
    rows: list[dict[str, Any]] = []
    for service in services:
        numbers: dict[str, int] = {outcome: tally[(service, outcome)] for outcome in OUTCOMES}
        rows.append({"service": service, "counts": {**numbers, "total": sum(numbers.values())}})
    totals = {column: sum(row["counts"][column] for row in rows) for column in (*OUTCOMES, "total")}
    return {"rows": rows, "totals": totals}


def _changes(document: dict[str, Any], anchors: dict[str, str]) -> list[dict[str, Any]]:
    """The document's changes grouped by kind, in the order the kinds are defined, each linked to its case."""
    groups = []
    changes = [change for change in document.get("changes") or [] if isinstance(change, dict)]
    for kind in CHANGE_KINDS:
        items = [
            {**change, "anchor": anchors.get(str(change.get("key")))}
            for change in changes
            if change.get("kind") == kind
        ]
        if items:
            groups.append({"kind": kind, "slug": kind.replace(" ", "-"), "items": items})
    return groups


def _notes(run: dict[str, Any]) -> list[dict[str, str]]:
    """What the run says once per service: preflight problems, then log notes."""
    notes = []
    for service, entry in (run.get("preflight") or {}).items():
        if isinstance(entry, dict) and entry.get("problem"):
            needs = "needed by the selected cases" if entry.get("needed") else "no selected case needs it"
            text = f"{entry['problem']} ({needs})"
            notes.append(
                {"kind": "preflight-problem", "label": "service check", "service": service, "text": text}
            )
    for service, note in (run.get("log_notes") or {}).items():
        if note:
            notes.append({"kind": "log-note", "label": "logs", "service": service, "text": str(note)})
    return notes


def _view(document: dict[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] = document.get("run") or {}
    cases: list[dict[str, Any]] = [case for case in document.get("cases") or [] if isinstance(case, dict)]
    anchors = _anchors(cases)
    services = _services(cases)
    target = run.get("target") or {}
    base_urls = target.get("base_urls") or {}
    log_sources = target.get("log_sources") or {}
    outcome_counts = Counter(str(case.get("outcome")) for case in cases)
    service_counts = Counter(str(case.get("service")) for case in cases)
    status = str(run.get("status") or "unknown")
    return {
        "run": {
            "id": run.get("id"),
            "status": status,
            "status_label": RUN_STATUS_LABELS.get(status, status),
            "error": run.get("error"),
            "secrets_shown": run.get("secrets_shown") is True,  # a masked value is no "yes"
            "target_kind": target.get("kind"),
            "target_description": target.get("description"),
            "endpoints": [
                {"service": service, "url": base_urls.get(service), "log": log_sources.get(service)}
                for service in dict.fromkeys([*base_urls, *log_sources])
            ],
            "started_at": run.get("started_at"),
            "finished_at": run.get("finished_at"),
            "duration_s": run.get("duration_s"),
            "counts": {"total": len(cases), **{o: (run.get("counts") or {}).get(o, 0) for o in OUTCOMES}},
            "versions": ", ".join(f"{name} {value}" for name, value in (run.get("versions") or {}).items()),
            "compared_with": run.get("compared_with"),
            "not_run": outcome_counts["not_run"],
        },
        "notes": _notes(run),
        "change_groups": _changes(
            document, {case_key(case): a for case, a in zip(cases, anchors, strict=True)}
        ),
        "summary": _summary(cases, services),
        "outcome_filters": [{"value": o, "count": outcome_counts[o]} for o in OUTCOMES],
        "service_filters": [{"value": s, "count": service_counts[s]} for s in services if service_counts[s]],
        "cases": [
            _case_view(case, index, anchor)
            for index, (case, anchor) in enumerate(zip(cases, anchors, strict=True))
        ],
    }


# --- rendering ------------------------------------------------------------------------------------------------


def csp_source(text: str) -> str:
    """The CSP source expression that admits exactly this inline style or script."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _asset(name: str) -> str:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    if "</" in text:  # it is inlined raw: a closing tag in it would end the <style>/<script> element early
        raise ValueError(f"{name} must not contain '</'")
    return text


@functools.cache
def _template() -> "Template":
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt field is an error, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        text=_text, pretty=_pretty, seconds=_seconds, milliseconds=_milliseconds, time=_time
    )
    environment.globals.update(labels=LABELS, outcomes=OUTCOMES, columns=(*OUTCOMES, "total"))
    return environment.get_template("report.html.j2")


def render_html(document: dict[str, Any]) -> str:
    """The whole report page for a (masked) results document."""
    from markupsafe import Markup

    css, js = _asset("report.css"), _asset("report.js")
    # Only this page's own style and script may run, and nothing may be loaded: no network, no injected handlers.
    policy = (
        f"default-src 'none'; style-src {csp_source(css)}; script-src {csp_source(js)}; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    # The style and script are the project's own files (checked for "</"), inserted as they are: their hashes hold.
    raw = {"css": Markup(css), "js": Markup(js)}  # noqa: S704
    return _template().render(**_view(document), **raw, policy=policy)
