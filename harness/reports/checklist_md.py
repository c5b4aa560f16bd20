"""checklist.md: the checklist itself, its sections and rows in Russian, with each row's outcome filled in.

A header block says, visibly, which run this is, what it tested (the URLs actually used), its status and a
summary per service; every row that did not pass says why in its result cell.
"""

import json
import re
from typing import Any

from harness.catalogue import PROJECT_ROOT, rows
from harness.outcomes import ICONS, LABELS, OUTCOMES
from harness.reports.compare import CHANGE_KINDS
from harness.reports.document import counts, counts_by_service, log_summary, primary_exchange, verdict_line

CHECKLIST_PATH = PROJECT_ROOT / "docs" / "checklist.ru.md"
# Rows that the checklist states as notes (💡) under a table rather than as table rows.
NOTE_ROWS = frozenset({"AUTH-LOGOUT-05", "AUTH-LOGOUT-06", "USERS-GET-04", "WEBHOOK-06", "WEBHOOK-07"})
RESULT_COLUMNS = ["Результат", "Статус", "Тело ответа", "X-Request-ID", "Лог (уровень, сообщение)"]
_SECTION_SERVICE = re.compile(r"^# .*Чек-лист: `(\w+)`|^# .*кросс-сервисные", re.IGNORECASE)
_SECTION_URL = re.compile(r"\(`https?://[^`]*`\)")
RUN_STATUS_RU = {
    "completed": "завершён",
    "interrupted": "прерван",
    "error": "не запустился",
    "running": "идёт (отчёт записан во время прогона)",
}


def _cell(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|") or "—"


def _short_body(body: Any) -> str:
    if body is None:
        return ""
    return body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _result_cells(cases: list[dict[str, Any]]) -> list[str]:
    """The filled-in columns for one checklist row (an outline row shows each example's result)."""
    if not cases:
        return ["—", "не выполнялся", "", "", ""]
    verdicts, statuses, bodies, request_ids, logs = [], [], [], [], []
    for case in cases:
        exchange = primary_exchange(case)  # the row's own call, or the call that blocked it; None if neither
        verdicts.append(f"{ICONS[case['outcome']]} {_cell(verdict_line(case), 200)}")
        if exchange is None:
            statuses.append("—")
            continue
        if exchange["status"] is None:
            statuses.append(exchange.get("error") or "нет ответа")
        else:
            statuses.append(str(exchange["status"]))
        bodies.append(_short_body(exchange.get("response_body")))
        request_ids.append(exchange.get("request_id_received") or exchange.get("request_id_sent") or "")
        logs.append(log_summary(exchange))
    join = " / ".join
    return [
        join(verdicts),
        _cell(join(statuses), 160),
        _cell(join(b for b in bodies if b)),
        _cell(join(r for r in request_ids if r), 160),
        _cell(join(line for line in logs if line), 160),
    ]


_CHANGE_KINDS_RU = {
    "newly failing": "стали падать",
    "newly blocked": "стали заблокированы",
    "fixed": "исправлены",
    "other": "другие изменения",
}


def _changes(changes: list[dict[str, Any]], compared: dict[str, Any] | None) -> list[str]:
    """The "changed since" block: what moved since the run this one is compared with."""
    if compared is None:
        return ["> Сравнение: более раннего прогона против той же цели нет.", ""]
    title = f"> **Изменения с прогона `{compared['id']}`** ({compared['started_at']}):"
    if not changes:
        return [title + " нет изменений.", ""]
    out = [title]
    for kind in CHANGE_KINDS:
        heading = _CHANGE_KINDS_RU[kind]
        chosen = [change for change in changes if change["kind"] == kind]
        if chosen:
            items = ", ".join(
                f"{change['key']} ({change['from'] or '—'} → {change['to']})" for change in chosen
            )
            out.append(f"> - {heading} ({kind}): {_cell(items, 2000)}")
    return [*out, ""]


def _header(
    run: dict[str, Any], cases: list[dict[str, Any]], document_changes: list[dict[str, Any]]
) -> list[str]:
    """The run in a visible block: what was tested where, how it ended, and the tally per service."""
    target = run["target"]
    status = RUN_STATUS_RU.get(run["status"], run["status"])
    out = [
        f"# Прогон чек-листа `{run['id']}`: {status}",
        "",
        "| | |",
        "|---|---|",
        f"| Цель | {_cell(target['description'], 200)} ({target['kind']}) |",
    ]
    for service, url in (target.get("base_urls") or {}).items():
        out.append(f"| {service} | `{url}` |")
    out += [
        f"| Начало | {run['started_at']} |",
        f"| Конец | {run['finished_at']} |",
        f"| Статус | {run['status']} |",
        "",
    ]
    if run.get("error"):
        out += [f"> ⛔ **Прогон не запустился:** {_cell(run['error'], 600)}", ""]
    if run["status"] == "interrupted":
        out += ["> ⏸ **Прогон прерван:** невыполненные строки отмечены «not run».", ""]
    for note in (run.get("log_notes") or {}).values():
        out += [f"> ℹ️ {_cell(note, 300)}", ""]
    compared = run.get("compared_with")
    out += _changes(document_changes, compared)
    for service, entry in (run.get("preflight") or {}).items():
        if entry.get("problem"):
            out += [f"> ℹ️ {service}: {_cell(entry['problem'], 300)} (не нужен выбранным строкам)", ""]
    out += [
        _table_row(["Сервис", *(f"{ICONS[o]} {LABELS[o]}" for o in OUTCOMES), "всего"]),
        _table_row(["---"] * (len(OUTCOMES) + 2)),
    ]
    for service, tally in [*counts_by_service(cases).items(), ("всего", counts(cases))]:
        out.append(_table_row([service, *(str(tally[o]) for o in OUTCOMES), str(tally["total"])]))
    return [*out, "", "---", ""]


def _table_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render_checklist_md(document: dict[str, Any]) -> str:
    by_row: dict[str, list[dict[str, Any]]] = {}
    for case in document["cases"]:
        if case["row_id"]:
            by_row.setdefault(case["row_id"], []).append(case)
    table_ids = iter([row.id for row in rows() if row.id not in NOTE_ROWS])
    notes_by_service: dict[str, list[str]] = {}
    for row in rows():
        if row.id in NOTE_ROWS:
            notes_by_service.setdefault(row.service, []).append(row.id)
    titles = {row.id: row.scenario_ru for row in rows()}

    run = document["run"]
    urls = run["target"].get("base_urls") or {}
    out = _header(run, document["cases"], document.get("changes") or [])
    service = ""
    in_note = False
    for line in CHECKLIST_PATH.read_text(encoding="utf-8").splitlines():
        section = _SECTION_SERVICE.match(line)
        if section:
            named = section.group(1) or "cross"
            service = "webhook" if named == "webhook_2can" else named  # the checklist's name for the webhook
            tested = urls.get(service)
            if tested:  # the section names the URL this run tested, not the checklist's default
                line = _SECTION_URL.sub(f"(`{tested}`)", line)
        if in_note and not line.startswith(">"):
            # The rows the checklist states as notes get their own small table after the note.
            note_ids = notes_by_service.pop(service, [])
            if note_ids:
                out += ["", _table_row(["ID", "Проверка", *RESULT_COLUMNS]), _table_row(["---"] * 7)]
                out += [
                    _table_row([row_id, titles[row_id], *_result_cells(by_row.get(row_id, []))])
                    for row_id in note_ids
                ]
        in_note = line.startswith("> 💡") or (in_note and line.startswith(">"))
        if line.startswith("|--"):
            out.append("|---" + line + "|".join(["---"] * len(RESULT_COLUMNS)) + "|")
        elif line.startswith("| Сценарий"):
            out.append("| ID " + line + " " + " | ".join(RESULT_COLUMNS) + " |")
        elif line.startswith("|"):
            row_id = next(table_ids, "?")
            out.append(f"| {row_id} {line} " + " | ".join(_result_cells(by_row.get(row_id, []))) + " |")
        else:
            out.append(line)

    extra = [case for case in document["cases"] if not case["checklist_row"]]
    if extra:
        out += [
            "",
            "# Вне чек-листа (@extra)",
            "",
            _table_row(["ID", "Сценарий", *RESULT_COLUMNS]),
            _table_row(["---"] * 7),
        ]
        out += [_table_row([case["case_id"], _cell(case["title"]), *_result_cells([case])]) for case in extra]
    return "\n".join(out) + "\n"
