"""checklist.md: the checklist itself, its sections and rows in Russian, with each row's outcome filled in."""

import json
import re
from typing import Any

from harness.catalogue import PROJECT_ROOT, rows
from harness.reports.document import OUTCOME_ICONS, log_summary, primary_exchange

CHECKLIST_PATH = PROJECT_ROOT / "docs" / "checklist.ru.md"
# Rows that the checklist states as notes (💡) under a table rather than as table rows.
NOTE_ROWS = frozenset({"AUTH-LOGOUT-05", "AUTH-LOGOUT-06", "USERS-GET-04", "WEBHOOK-06", "WEBHOOK-07"})
RESULT_COLUMNS = ["Результат", "Статус", "Тело ответа", "X-Request-ID", "Лог (уровень, сообщение)"]
_SECTION_SERVICE = re.compile(r"^# .*Чек-лист: `(\w+)`|^# .*кросс-сервисные", re.IGNORECASE)


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
    icons, statuses, bodies, request_ids, logs = [], [], [], [], []
    for case in cases:
        # A skipped case's exchanges are only its preparation: nothing of the row itself was observed.
        exchange = primary_exchange(case) if case["outcome"] != "skipped" else None
        icons.append(OUTCOME_ICONS[case["outcome"]])
        if case["outcome"] == "skipped":
            statuses.append(f"пропущен: {case['reason']}")
        elif exchange is None or exchange["status"] is None:
            statuses.append((exchange or {}).get("error") or "нет ответа")
        else:
            statuses.append(str(exchange["status"]))
        bodies.append(_short_body((exchange or {}).get("response_body")))
        request_ids.append((exchange or {}).get("request_id_received") or "")
        logs.append(log_summary(exchange) if exchange else "")
    join = " / ".join
    return [
        " ".join(icons),
        _cell(join(statuses), 160),
        _cell(join(b for b in bodies if b)),
        _cell(join(r for r in request_ids if r), 160),
        _cell(join(line for line in logs if line), 160),
    ]


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
    out = [
        f"<!-- run {run['id']} · {run['status']} · {run['target']['description']} · {run['finished_at']} -->",
        "",
    ]
    service = ""
    in_note = False
    for line in CHECKLIST_PATH.read_text(encoding="utf-8").splitlines():
        section = _SECTION_SERVICE.match(line)
        if section:
            service = section.group(1) or "cross"
        if in_note and not line.startswith(">"):
            # The rows the checklist states as notes get their own small table after the note.
            note_ids = notes_by_service.pop(service if service != "webhook_2can" else "webhook", [])
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
            _table_row(["Сценарий", *RESULT_COLUMNS]),
            _table_row(["---"] * 6),
        ]
        out += [_table_row([_cell(case["title"]), *_result_cells([case])]) for case in extra]
    return "\n".join(out) + "\n"
