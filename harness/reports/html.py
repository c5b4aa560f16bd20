"""report.html: the run as one self-contained page (inline CSS and JS, no fetches) with filters and evidence.

Everything taken from the document passes through `html.escape` here: response bodies come from the services
under test and are treated as hostile. The page's script only reads data-* attributes and toggles `hidden`, and a
Content-Security-Policy lets no other script run and nothing load, should escaping ever miss something.
"""

import base64
import hashlib
import json
import re
from collections import Counter
from html import escape
from typing import Any

from harness.outcomes import LABELS, OUTCOMES
from harness.reports.document import OUTCOME_ICONS, primary_exchange

SERVICE_ORDER = ("auth", "users", "webhook", "cross", "extra")
RUN_STATUS_LABELS = {
    "completed": "completed",
    "interrupted": "interrupted",
    "error": "error",
    "running": "running (report written mid-run)",
}
# Masking markers (see harness.masking) are highlighted; the escaped text cannot contain <, > or & inside one.
_ICONS_BY_NAME: dict[str, str] = {str(outcome): icon for outcome, icon in OUTCOME_ICONS.items()}
_MASKED = re.compile(r"«masked:[^«»<>&\s]{1,64}»")

_CSS = """
:root { color-scheme: light; --passed: #1a7f37; --failed: #cf222e; --blocked: #8250df; --skipped: #8c6d1f;
  --not_run: #6e7781; --muted: #57606a;
  --line: #d0d7de; --soft: #f6f8fa; --warn-bg: #fff8c5; --warn-line: #d4a72c; }
* { box-sizing: border-box; }
body { margin: 0; padding: 20px 28px 40px; font: 14px/1.45 system-ui, "Segoe UI", "DejaVu Sans", "Liberation Sans",
  Arial, sans-serif; color: #1f2328; background: #fff; }
h1 { font-size: 22px; margin: 0 0 6px; display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
h2 { font-size: 16px; margin: 22px 0 8px; }
h3 { font-size: 13px; margin: 12px 0 4px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
h1 .run-id { font-size: 18px; }
h3 .source { text-transform: none; letter-spacing: 0; font-weight: normal; }
code, pre, .mono { font-family: "DejaVu Sans Mono", "Liberation Mono", Consolas, monospace; font-size: 12px; }
pre { margin: 0; padding: 8px 10px; background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  white-space: pre-wrap; overflow-wrap: anywhere; max-height: 420px; overflow: auto; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600;
  border: 1px solid currentColor; }
.run-completed { color: var(--passed); } .run-interrupted, .run-running { color: var(--skipped); }
.run-error { color: var(--failed); }
.banner { margin: 10px 0; padding: 10px 14px; border-radius: 6px; border: 1px solid var(--warn-line);
  background: var(--warn-bg); font-weight: 600; }
.banner.error { border-color: var(--failed); background: #ffebe9; }
.banner pre { margin-top: 6px; font-weight: normal; background: #fff; }
table { border-collapse: collapse; }
.meta th, .meta td, .kv th, .kv td { text-align: left; vertical-align: top; padding: 2px 12px 2px 0; }
.meta th, .kv th { color: var(--muted); font-weight: 600; white-space: nowrap; }
.kv td { overflow-wrap: anywhere; }
.summary th, .summary td { border: 1px solid var(--line); padding: 4px 12px; text-align: right; }
.summary th:first-child, .summary td:first-child { text-align: left; }
.summary thead th { background: var(--soft); }
.summary tfoot td { font-weight: 600; background: var(--soft); }
.n-passed { color: var(--passed); } .n-failed { color: var(--failed); } .n-skipped { color: var(--skipped); }
.n-blocked { color: var(--blocked); } .n-not_run { color: var(--not_run); }
.zero { color: #afb8c1; }
.filters { display: flex; flex-wrap: wrap; gap: 8px 22px; align-items: center; padding: 10px 12px;
  border: 1px solid var(--line); border-radius: 6px; background: var(--soft); position: sticky; top: 0; z-index: 2; }
.filters fieldset { border: 0; margin: 0; padding: 0; display: flex; gap: 10px; align-items: center; }
.filters legend { float: left; margin-right: 6px; font-weight: 600; color: var(--muted); }
.filters label { white-space: nowrap; cursor: pointer; }
.filters button { font: inherit; font-size: 12px; padding: 2px 10px; border: 1px solid var(--line);
  border-radius: 6px; background: #fff; cursor: pointer; }
.shown { margin-left: auto; font-weight: 600; }
.cases { margin-top: 10px; border: 1px solid var(--line); border-radius: 6px; }
.grid { display: grid; align-items: baseline; gap: 0 12px; padding: 6px 12px;
  grid-template-columns: 1.6em 10.5em minmax(0, 1fr) 6.8em 15.5em minmax(0, .8fr) 4.5em; }
.cases-head { font-size: 12px; font-weight: 600; color: var(--muted); background: var(--soft);
  border-bottom: 1px solid var(--line); border-radius: 6px 6px 0 0; }
.case { border-bottom: 1px solid var(--line); border-left: 4px solid transparent; }
.case:last-of-type { border-bottom: 0; }
.case[data-outcome="passed"] { border-left-color: var(--passed); }
.case[data-outcome="failed"] { border-left-color: var(--failed); background: #fffafa; }
.case[data-outcome="skipped"] { border-left-color: var(--skipped); }
.case[data-outcome="blocked"] { border-left-color: var(--blocked); background: #fbf8ff; }
.case[data-outcome="not_run"] { border-left-color: var(--not_run); }
.case > summary { cursor: pointer; list-style: none; }
.case > summary::-webkit-details-marker { display: none; }
.case > summary:hover { background: #f3f6f9; }
.case[open] > summary { background: #eef2f6; }
.icon { font-family: "Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji", sans-serif; }
.row-id { font-weight: 600; white-space: nowrap; }
.title small { display: block; color: var(--muted); }
.title .verdict { display: block; font-size: 12px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.verdict-failed { color: var(--failed); } .verdict-skipped { color: var(--skipped); }
.verdict-blocked { color: var(--blocked); } .verdict-not_run { color: var(--not_run); }
.example { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12px; padding: 0 4px;
  border-radius: 4px; background: #ddf4ff; white-space: nowrap; }
.s2 { color: var(--passed); } .s3 { color: #0969da; } .s4 { color: #bc4c00; } .s5, .s-none { color: var(--failed); }
.status { font-weight: 600; white-space: nowrap; }
.request-id { overflow-wrap: anywhere; }
.cell-log { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.level { font-size: 11px; font-weight: 700; padding: 0 4px; border-radius: 4px; background: #eaeef2; }
.level-ERROR, .level-CRITICAL { background: #ffebe9; color: var(--failed); }
.level-WARNING { background: var(--warn-bg); color: #7d4e00; }
.duration { text-align: right; white-space: nowrap; color: var(--muted); }
.flag { color: var(--failed); font-weight: 700; }
.detail { padding: 4px 14px 14px 30px; border-top: 1px dashed var(--line); }
.failure pre { background: #ffebe9; border-color: #ffcecb; }
.exchange { margin: 10px 0 0; padding: 8px 12px 12px; border: 1px solid var(--line); border-radius: 6px; }
.exchange.primary { border-color: #0969da; }
.exchange-head { font-weight: 600; overflow-wrap: anywhere; }
.role { font-size: 11px; text-transform: uppercase; padding: 0 6px; border-radius: 4px; background: #eaeef2; }
.primary .role { background: #ddf4ff; color: #0969da; }
.pair { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; }
.headers td:first-child { color: var(--muted); white-space: nowrap; padding-right: 10px; vertical-align: top; }
.headers td { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12px; overflow-wrap: anywhere; }
.log-record { margin: 4px 0; }
.log-record pre { margin-top: 2px; font-size: 11px; color: var(--muted); }
.masked { background: #fff8c5; border-radius: 3px; }
.empty { padding: 14px; color: var(--muted); }
@media (max-width: 900px) {  /* one case per small card: id and status on top, the rest below */
  .grid { grid-template-columns: 1.6em minmax(0, 1fr) auto;
    grid-template-areas: "icon id status" ". title title" ". rid duration" ". log log"; }
  .icon { grid-area: icon; } .row-id { grid-area: id; } .title { grid-area: title; }
  .grid > .status { grid-area: status; } .cell-rid { grid-area: rid; } .cell-log { grid-area: log; }
  .duration { grid-area: duration; }
  .cases-head { display: none; }
  .pair { grid-template-columns: minmax(0, 1fr); }
  .detail { padding-left: 14px; }
}
@media print { .filters { display: none; } .case > summary:hover { background: none; } }
"""

# Filters: plain DOM, reading only data-* attributes and toggling `hidden`; document data never becomes markup.
_JS = """
(function () {
  "use strict";
  var cases = Array.prototype.slice.call(document.querySelectorAll(".case"));
  var boxes = Array.prototype.slice.call(document.querySelectorAll(".filters input[type=checkbox]"));
  var shown = document.getElementById("visible-count");
  var none = document.getElementById("no-match");
  function checked(kind) {
    var values = {};
    boxes.forEach(function (box) { if (box.dataset.filter === kind && box.checked) { values[box.value] = true; } });
    return values;
  }
  function apply() {
    var outcomes = checked("outcome"), services = checked("service"), visible = 0;
    cases.forEach(function (item) {
      var show = outcomes[item.dataset.outcome] === true && services[item.dataset.service] === true;
      item.hidden = !show;
      if (show) { visible += 1; }
    });
    shown.textContent = String(visible);
    if (none) { none.hidden = visible !== 0 || cases.length === 0; }
  }
  boxes.forEach(function (box) { box.addEventListener("change", apply); });
  function openAll(open) {
    return function () { cases.forEach(function (item) { if (!item.hidden) { item.open = open; } }); };
  }
  document.getElementById("expand-all").addEventListener("click", openAll(true));
  document.getElementById("collapse-all").addEventListener("click", openAll(false));
  document.getElementById("show-all").addEventListener("click", function () {
    boxes.forEach(function (box) { box.checked = true; });
    apply();
  });
  apply();
})();
"""


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


# Only this page's own style and script may run, and nothing may be loaded: no network, no injected handlers.
_CSP = f"default-src 'none'; style-src {_csp_hash(_CSS)}; script-src {_csp_hash(_JS)}; img-src data:; base-uri 'none'; form-action 'none'"


def _text(value: Any) -> str:
    """Escaped text of any document value (None becomes empty), with masking markers highlighted."""
    if value is None:
        return ""
    escaped = escape(value if isinstance(value, str) else str(value), quote=True)
    return _MASKED.sub(lambda match: f'<span class="masked">{match.group(0)}</span>', escaped)


def _attr(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _or_dash(value: Any) -> str:
    return _text(value) if value not in (None, "") else '<span class="muted">—</span>'


def _seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    return f"{value:.2f} s" if value < 60 else f"{int(value // 60)} min {value % 60:.0f} s"


def _milliseconds(value: Any) -> str:
    return f"{value:.1f} ms" if isinstance(value, int | float) else "—"


def _time(value: Any) -> str:
    return _or_dash(value.replace("T", " ") if isinstance(value, str) else value)


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


def _body_block(body: Any) -> str:
    if body is None or body == "":
        return '<p class="muted">(empty)</p>'
    return f'<pre class="body">{_text(_pretty(body))}</pre>'


def _headers_table(headers: Any) -> str:
    if not isinstance(headers, dict) or not headers:
        return '<p class="muted">(none)</p>'
    rows = "".join(
        f"<tr><td>{_text(name)}</td><td>{_text(value)}</td></tr>" for name, value in headers.items()
    )
    return f'<table class="headers">{rows}</table>'


def _status_class(status: Any) -> str:
    return f"s{status // 100}" if isinstance(status, int) else "s-none"


def _status_text(exchange: dict[str, Any] | None) -> str:
    if exchange is None:
        return "—"
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


def _log_state(log: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The log records, or the note that stands in for them."""
    if not isinstance(log, dict):
        return [], "no log lookup"
    if not log.get("configured"):
        return [], "log source not configured"
    records = [record for record in log.get("records") or [] if isinstance(record, dict)]
    if records:
        return records, None
    return [], "no log record found" + (f" ({log['error']})" if log.get("error") else "")


def _level(level: Any) -> str:
    if not level:
        return ""
    return f'<span class="level level-{_attr(str(level).upper())}">{_text(level)}</span> '


def _example_text(example: Any) -> str:
    if not isinstance(example, dict) or not example:
        return ""
    return ", ".join(f"{name}={value}" for name, value in example.items())


# --- page parts ---------------------------------------------------------------------------------------------


def _header(run: dict[str, Any]) -> str:
    status = str(run.get("status") or "unknown")
    counts = run.get("counts") or {}
    target = run.get("target") or {}
    parts = [
        f'<h1>Checklist run <code class="run-id">{_text(run.get("id"))}</code>'
        f'<span class="badge run-status run-{_attr(status)}">{_text(RUN_STATUS_LABELS.get(status, status))}</span></h1>'
    ]
    if run.get("secrets_shown"):
        parts.append(
            '<div class="banner secrets-shown" role="alert">⚠ Secrets are shown in clear in this report: '
            "do not share it.</div>"
        )
    if run.get("error"):
        parts.append(
            f'<div class="banner error run-error" role="alert">Run error<pre>{_text(run["error"])}</pre></div>'
        )
    base_urls = target.get("base_urls") or {}
    log_sources = target.get("log_sources") or {}
    services = list(dict.fromkeys([*base_urls, *log_sources]))
    endpoints = "".join(
        f"<tr><th>{_text(service)}</th><td><code>{_or_dash(base_urls.get(service))}</code></td>"
        f'<td class="muted">log: <code>{_or_dash(log_sources.get(service))}</code></td></tr>'
        for service in services
    )
    versions = ", ".join(f"{name} {value}" for name, value in (run.get("versions") or {}).items())
    count_text = " · ".join(
        [f"{_text(counts.get('total', 0))} total"]
        + [
            f'<span class="n-{outcome}">{_text(counts.get(outcome, 0))} {LABELS[outcome]}</span>'
            for outcome in OUTCOMES
        ]
    )
    parts.append(
        '<table class="meta"><tbody>'
        f"<tr><th>Target</th><td>{_text(target.get('kind'))} — {_text(target.get('description'))}</td></tr>"
        f'<tr><th>Services</th><td><table class="kv">{endpoints}</table></td></tr>'
        f"<tr><th>Started</th><td>{_time(run.get('started_at'))}</td></tr>"
        f"<tr><th>Finished</th><td>{_time(run.get('finished_at'))}</td></tr>"
        f"<tr><th>Duration</th><td>{_seconds(run.get('duration_s'))}</td></tr>"
        f'<tr><th>Cases</th><td class="counts">{count_text}</td></tr>'
        f'<tr><th>Versions</th><td class="muted">{_text(versions)}</td></tr>'
        "</tbody></table>"
    )
    return "\n".join(parts)


def _services(cases: list[dict[str, Any]]) -> list[str]:
    present = {str(case.get("service")) for case in cases}
    known = [service for service in SERVICE_ORDER if service in present or service != "extra"]
    return known + sorted(present - set(SERVICE_ORDER))


def _summary(cases: list[dict[str, Any]], services: list[str]) -> str:
    tally = Counter((str(case.get("service")), str(case.get("outcome"))) for case in cases)

    def cells(numbers: list[int]) -> str:
        out = []
        for column, number in zip((*OUTCOMES, "total"), numbers, strict=True):
            css = "zero" if number == 0 else ("" if column == "total" else f"n-{column}")
            out.append(f'<td class="{css}" data-count="{column}">{number}</td>')
        return "".join(out)

    body = []
    for service in services:
        numbers = [tally[(service, outcome)] for outcome in OUTCOMES]
        body.append(
            f'<tr data-service="{_attr(service)}"><td>{_text(service)}</td>{cells([*numbers, sum(numbers)])}</tr>'
        )
    totals = [sum(tally[(service, outcome)] for service in services) for outcome in OUTCOMES]
    heads = "".join(f"<th>{OUTCOME_ICONS[outcome]} {LABELS[outcome]}</th>" for outcome in OUTCOMES)
    return (
        f'<table class="summary"><thead><tr><th>Service</th>{heads}<th>total</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody><tfoot><tr><td>all</td>{cells([*totals, sum(totals)])}</tr></tfoot></table>"
    )


def _filters(cases: list[dict[str, Any]], services: list[str]) -> str:
    outcome_counts = Counter(str(case.get("outcome")) for case in cases)
    service_counts = Counter(str(case.get("service")) for case in cases)

    def box(kind: str, value: str, label: str, number: int) -> str:
        return (
            f'<label><input type="checkbox" class="filter-{kind}" data-filter="{kind}" value="{_attr(value)}" '
            f'checked> {label} <span class="muted">({number})</span></label>'
        )

    outcomes = "".join(
        box("outcome", outcome, f"{OUTCOME_ICONS[outcome]} {LABELS[outcome]}", outcome_counts[outcome])
        for outcome in OUTCOMES
    )
    service_boxes = "".join(
        box("service", service, _text(service), service_counts[service])
        for service in services
        if service_counts[service]
    )
    return (
        '<div class="filters">'
        f"<fieldset><legend>Outcome</legend>{outcomes}</fieldset>"
        f"<fieldset><legend>Service</legend>{service_boxes}</fieldset>"
        '<fieldset><button type="button" id="show-all">Show all</button>'
        '<button type="button" id="expand-all">Expand shown</button>'
        '<button type="button" id="collapse-all">Collapse all</button></fieldset>'
        f'<span class="shown">Showing <span id="visible-count">{len(cases)}</span> of '
        f'<span id="total-count">{len(cases)}</span> cases</span>'
        "</div>"
    )


def _log_block(log: Any) -> str:
    records, note = _log_state(log)
    source = (
        f' <span class="muted source">from <code>{_text(log.get("source"))}</code></span>'
        if isinstance(log, dict)
        else ""
    )
    if note is not None:
        return f'<h3>Log</h3><p class="log-note muted">{_text(note)}{source}</p>'
    items = "".join(
        f'<div class="log-record">{_level(record.get("level"))}<span class="log-message">{_text(record.get("message"))}'
        f'</span><pre class="log-raw">{_text(record.get("raw"))}</pre></div>'
        for record in records
    )
    error = f'<p class="flag">{_text(log["error"])}</p>' if isinstance(log, dict) and log.get("error") else ""
    return f"<h3>Log ({len(records)}){source}</h3>{items}{error}"


def _exchange(exchange: dict[str, Any], is_primary: bool) -> str:
    role = str(exchange.get("role") or "")
    status = exchange.get("status")
    problem = _request_id_problem(exchange)
    received = exchange.get("request_id_received")
    received_cell = _or_dash(received) + (
        f' <span class="flag rid-flag">⚠ {_text(problem)}</span>' if problem else ""
    )
    error = (
        f'<tr><th>Error</th><td class="flag transport-error">{_text(exchange["error"])}</td></tr>'
        if exchange.get("error")
        else ""
    )
    classes = "exchange primary" if is_primary else "exchange"
    return (
        f'<section class="{classes}" data-seq="{_attr(exchange.get("seq"))}" data-role="{_attr(role)}">'
        f'<div class="exchange-head">#{_text(exchange.get("seq"))} <span class="role">{_text(role)}</span> '
        f"{_text(exchange.get('service'))} · {_text(exchange.get('method'))} "
        f'<code class="url">{_text(exchange.get("url"))}</code></div>'
        '<table class="kv"><tbody>'
        f'<tr><th>Status</th><td class="status {_status_class(status)}">{_text(_status_text(exchange))}</td></tr>'
        f'<tr><th>Elapsed</th><td class="elapsed">{_milliseconds(exchange.get("elapsed_ms"))}</td></tr>'
        f'<tr><th>Request ID sent</th><td class="request-id request-id-sent mono">'
        f"{_or_dash(exchange.get('request_id_sent'))}</td></tr>"
        f'<tr><th>Request ID received</th><td class="request-id request-id-received mono">{received_cell}</td></tr>'
        f"{error}</tbody></table>"
        '<div class="pair">'
        f'<div class="request"><h3>Request headers</h3>{_headers_table(exchange.get("request_headers"))}'
        f"<h3>Request body</h3>{_body_block(exchange.get('request_body'))}</div>"
        f'<div class="response"><h3>Response headers</h3>{_headers_table(exchange.get("response_headers"))}'
        f"<h3>Response body</h3>{_body_block(exchange.get('response_body'))}</div>"
        "</div>"
        f"{_log_block(exchange.get('log'))}"
        "</section>"
    )


def _verdict_line(case: dict[str, Any]) -> str:
    """Why a case did not pass, in one line under its title (the full text is in the expanded part)."""
    outcome = case.get("outcome")
    text = case.get("message") if outcome == "failed" else case.get("reason")
    if not text:
        return ""
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return f'<span class="verdict verdict-{_attr(outcome)}" title="{_attr(text)}">{_text(first)}</span>'


def _case(case: dict[str, Any]) -> str:
    outcome = str(case.get("outcome"))
    exchanges = [exchange for exchange in case.get("exchanges") or [] if isinstance(exchange, dict)]
    primary = primary_exchange({**case, "exchanges": exchanges})
    example = _example_text(case.get("example"))
    row_id = case.get("row_id")
    title_en = case.get("title_en")

    # The one-line summary: primary exchange's status and request id, first log record, duration.
    status_cell = _text(_status_text(primary))
    rid_cell = '<span class="muted">—</span>'
    if primary is not None:
        problem = _request_id_problem(primary)
        flag = f' <span class="flag rid-flag" title="{_attr(problem)}">⚠</span>' if problem else ""
        rid_cell = _or_dash(primary.get("request_id_received") or primary.get("request_id_sent")) + flag
    if primary is None:
        log_cell = '<span class="muted">—</span>'
    else:
        records, note = _log_state(primary.get("log"))
        if records:
            first = records[0]
            log_cell = f'{_level(first.get("level"))}<span title="{_attr(first.get("message"))}">{_text(first.get("message"))}</span>'
        else:
            log_cell = f'<span class="muted">{_text(note)}</span>'
    summary = (
        '<summary class="grid">'
        f'<span class="icon" title="{_attr(outcome)}">{_ICONS_BY_NAME.get(outcome, "?")}</span>'
        f'<span class="row-id">{_or_dash(row_id)}</span>'
        f'<span class="title">{_text(case.get("title"))}'
        + (f' <span class="example">{_text(example)}</span>' if example else "")
        + (f"<small>{_text(title_en)}</small>" if title_en and title_en != case.get("title") else "")
        + _verdict_line(case)
        + "</span>"
        f'<span class="status {_status_class(primary.get("status")) if primary else "muted"}">{status_cell}</span>'
        f'<span class="request-id cell-rid mono">{rid_cell}</span>'
        f'<span class="cell-log">{log_cell}</span>'
        f'<span class="duration">{_seconds(case.get("duration_s"))}</span>'
        "</summary>"
    )

    facts = [
        ("Endpoint", f"<code>{_or_dash(case.get('endpoint'))}</code>"),
        ("Expected", f'<span class="expected">{_or_dash(case.get("expected"))}</span>'),
        ("Test", f'<code class="nodeid">{_text(case.get("nodeid"))}</code>'),
    ]
    if example:
        facts.insert(1, ("Example", f"<code>{_text(example)}</code>"))
    if not case.get("checklist_row", True):
        facts.append(("Checklist", '<span class="muted">extra case, not a checklist row</span>'))
    fact_rows = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in facts)
    verdict = ""
    if case.get("message"):
        verdict += (
            f'<div class="failure"><h3>Failure</h3><pre class="message">{_text(case["message"])}</pre></div>'
        )
    if case.get("reason"):
        heading = {"blocked": "Blocked by", "not_run": "Not run"}.get(outcome, "Skip reason")
        verdict += f'<div class="skip"><h3>{heading}</h3><p class="reason">{_text(case["reason"])}</p></div>'

    if exchanges:
        evidence = "".join(_exchange(exchange, exchange is primary) for exchange in exchanges)
        evidence = f"<h3>Exchanges ({len(exchanges)})</h3>{evidence}"
    else:
        evidence = '<p class="muted no-exchanges">No HTTP exchange was made.</p>'
    return (
        f'<details class="case" id="case-{_attr(_case_anchor(case))}" data-row-id="{_attr(row_id or "")}" '
        f'data-outcome="{_attr(outcome)}" data-service="{_attr(case.get("service"))}">'
        f'{summary}<div class="detail"><table class="kv"><tbody>{fact_rows}</tbody></table>{verdict}{evidence}</div>'
        "</details>"
    )


def _case_anchor(case: dict[str, Any]) -> str:
    # A stable anchor for links into the report: the node id reduced to safe characters.
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(case.get("nodeid") or case.get("row_id") or "case")).strip(
        "-"
    )


def render_html(document: dict[str, Any]) -> str:
    """The whole report page for a (masked) results document."""
    run: dict[str, Any] = document.get("run") or {}
    cases: list[dict[str, Any]] = [case for case in document.get("cases") or [] if isinstance(case, dict)]
    services = _services(cases)
    if cases:
        rows = "\n".join(_case(case) for case in cases)
        listing = (
            '<div class="cases-head grid" aria-hidden="true"><span></span><span>Row</span><span>Scenario</span><span>Status</span>'
            '<span>X-Request-ID</span><span>First log record</span><span class="duration">Time</span></div>'
            f'{rows}\n<p class="empty" id="no-match" hidden>No case matches the filters.</p>'
        )
    else:
        listing = '<p class="empty">No cases in this run.</p>'
    title = f"Checklist run {run.get('id', '')} — {run.get('status', '')}"
    return f"""<!DOCTYPE html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_attr(_CSP)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_attr(title)}</title>
<link rel="icon" href="data:,">
<style>{_CSS}</style>
</head>
<body>
<header>
{_header(run)}
</header>
<h2>By service</h2>
{_summary(cases, services)}
<h2>Cases</h2>
{_filters(cases, services)}
<div class="cases">
{listing}
</div>
<script>{_JS}</script>
</body>
</html>
"""
