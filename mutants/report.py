"""The kill matrix as Markdown (for the README and reviews), JSON (for tools), a self-contained HTML page (for
people) and a terminal table."""

import json
from pathlib import Path
from typing import Any

import jinja2

from mutants.matrix import CaseResult, Cell, Matrix, Status, Verdict

TARGET_SECONDS = 240  # the matrix's wall-time target on the project's 2-core machine: a benchmark, not a test
STATUS_TEXT: dict[Status, str] = {
    "killed": "killed as expected",
    "equivalent": "equivalent: failed nothing",
    "not as expected": "killed, not as expected",
    "survived": "survived",
    "equivalent failed": "equivalent, but failed",
    "known gap": "known gap",
    "gap closed": "known gap, now caught",
    "error": "run error",
}
# Markdown and the terminal; the HTML page marks its cells with plain symbols that every font has.
CELL_EMOJI: dict[Cell, str] = {
    "killed-as-expected": "✅",
    "killed-unexpected": "➕",
    "survived": "❌",
    "": "",
}
CELL_SYMBOLS: dict[Cell, str] = {"killed-as-expected": "✓", "killed-unexpected": "+", "survived": "✗", "": ""}


def status_word(verdict: Verdict) -> str:
    icon = "✅" if verdict.ok else "❌"
    return f"{'⚠️' if verdict.status == 'known gap' else icon} {STATUS_TEXT[verdict.status]}"


def legend(marks: dict[Cell, str]) -> str:
    return (
        f"{marks['killed-as-expected']} killed as expected · {marks['killed-unexpected']} killed, not expected "
        f"(fine) · {marks['survived']} expected to kill it, passed"
    )


def caught_by(verdict: Verdict) -> str:
    """The cases that killed it: expected ones first, then `+ID` for the others, then `missed: ID`."""
    parts = [case_id for case_id in verdict.mutant.expect if case_id in verdict.killed_by]
    parts += [f"+{case_id}" for case_id in verdict.unexpected]
    if verdict.missed and verdict.status != "equivalent":
        parts.append("missed: " + ", ".join(verdict.missed))
    return ", ".join(parts) or "—"


def headline(matrix: Matrix) -> str:
    equivalents = sum(verdict.mutant.equivalent for verdict in matrix.verdicts)
    gaps = len(known_gaps(matrix))
    side = "under" if matrix.wall_s < TARGET_SECONDS else "over"
    return (
        f"{len(matrix.verdicts)} mutants ({len(matrix.verdicts) - equivalents - gaps} breakages, {equivalents} "
        f"equivalent, {gaps} known gap{'s' if gaps != 1 else ''}) against {len(matrix.columns)} case ids; "
        f"wall time {matrix.wall_s:.0f} s, {side} the {TARGET_SECONDS} s target ({matrix.jobs} runs at a time)"
    )


def known_gaps(matrix: Matrix) -> list[str]:
    """`name: why the suite misses it` for every known gap of the catalogue that the run included."""
    return [
        f"{verdict.mutant.name}: {verdict.mutant.gap}" for verdict in matrix.verdicts if verdict.mutant.gap
    ]


def result_line(matrix: Matrix) -> str:
    problems = matrix.problems()
    if not problems:
        return "OK: every mutant was killed by the cases expected to kill it, and every equivalent mutant failed nothing"
    return f"FAILED ({len(problems)} problem{'s' if len(problems) != 1 else ''}, status {matrix.status})"


def to_json(matrix: Matrix) -> dict[str, Any]:
    def case(result: CaseResult) -> dict[str, Any]:
        return {
            "case_id": result.case_id,
            "outcome": result.outcome,
            "example": result.example,
            "detail": result.detail,
        }

    baseline = matrix.baseline
    return {
        "schema_version": 1,
        "started_at": matrix.started_at.isoformat(),
        "wall_s": round(matrix.wall_s, 2),
        "target_s": TARGET_SECONDS,
        "servers_s": round(matrix.servers_s, 2),
        "jobs": matrix.jobs,
        "status": matrix.status,
        "ok": matrix.ok,
        "problems": matrix.problems(),
        "columns": list(matrix.columns),
        "baseline": None
        if baseline is None
        else {
            "duration_s": round(baseline.duration_s, 2),
            "error": baseline.error,
            "cases": len(baseline.cases),
            "not_passed": [case(result) for result in baseline.not_passed],
        },
        "mutants": [
            {
                "name": verdict.mutant.name,
                "description": verdict.mutant.description,
                "equivalent": verdict.mutant.equivalent,
                "gap": verdict.mutant.gap,
                "expect": list(verdict.mutant.expect),
                "rewrites": [
                    {"file": rewrite.file, "old": rewrite.old, "new": rewrite.new}
                    for rewrite in verdict.mutant.rewrites
                ],
                "status": verdict.status,
                "ok": verdict.ok,
                "killed_by": sorted(verdict.killed_by),
                "unexpected": list(verdict.unexpected),
                "missed": list(verdict.missed),
                "duration_s": round(verdict.run.duration_s, 2),
                "error": verdict.run.error,
                "cells": {case_id: cell for case_id in matrix.columns if (cell := verdict.cell(case_id))},
                "not_passed": [case(result) for result in verdict.run.not_passed],
            }
            for verdict in matrix.verdicts
        ],
    }


def _md(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def to_markdown(matrix: Matrix) -> str:
    lines = [
        f"# Kill matrix, {matrix.started_at:%Y-%m-%d %H:%M} UTC",
        "",
        f"`python3 -m tox -e mutants`: {headline(matrix)}.",
        "",
        f"**{result_line(matrix)}**",
    ]
    if matrix.problems():
        lines += ["", *(f"- {_md(problem)}" for problem in matrix.problems())]
    if known_gaps(matrix):
        lines += ["", "Known gaps of the suite (reported, not failed):", ""]
        lines += [f"- {_md(gap)}" for gap in known_gaps(matrix)]
    lines += [
        "",
        "| # | mutant | what it breaks | expected to be caught by | caught by | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for number, verdict in enumerate(matrix.verdicts, 1):
        mutant = verdict.mutant
        lines.append(
            f"| {number} | `{mutant.name}` | {_md(mutant.description)} | {_md(', '.join(mutant.expect) or '— (equivalent)')} "
            f"| {_md(caught_by(verdict))} | {status_word(verdict)} |"
        )
    lines += ["", "## Mutant × case", "", legend(CELL_EMOJI), ""]
    lines.append("| mutant | " + " | ".join(matrix.columns) + " |")
    lines.append("|---" * (len(matrix.columns) + 1) + "|")
    for verdict in matrix.verdicts:
        marks = (CELL_EMOJI[verdict.cell(case_id)] for case_id in matrix.columns)
        lines.append(f"| `{verdict.mutant.name}` | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"


_TEMPLATE = Path(__file__).resolve().parent / "matrix.html.j2"


def to_html(matrix: Matrix) -> str:
    # Autoescaping: descriptions, rewrites and the suite's messages are shown as text, never as markup.
    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    template = environment.from_string(_TEMPLATE.read_text(encoding="utf-8"))
    return template.render(
        matrix=matrix,
        headline=headline(matrix),
        result=result_line(matrix),
        problems=matrix.problems(),
        gaps=known_gaps(matrix),
        status_text=STATUS_TEXT,
        marks=CELL_SYMBOLS,
        legend=legend(CELL_SYMBOLS),
        caught_by=caught_by,
    )


def write_reports(matrix: Matrix, directory: Path) -> Path:
    """matrix.md, matrix.json and matrix.html in `directory`; returns the HTML page's path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "matrix.md").write_text(to_markdown(matrix), encoding="utf-8")
    (directory / "matrix.json").write_text(
        json.dumps(to_json(matrix), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    page = directory / "matrix.html"
    page.write_text(to_html(matrix), encoding="utf-8")
    return page


def terminal_table(matrix: Matrix) -> str:
    width = max((len(verdict.mutant.name) for verdict in matrix.verdicts), default=6)
    lines = [f"{'#':>3}  {'mutant':<{width}}  {'verdict':<30}  caught by"] if matrix.verdicts else []
    for number, verdict in enumerate(matrix.verdicts, 1):
        lines.append(
            f"{number:>3}  {verdict.mutant.name:<{width}}  {status_word(verdict):<30}  {caught_by(verdict)}"
        )
    lines += ["", headline(matrix)]
    lines += [f"known gap: {gap}" for gap in known_gaps(matrix)]
    lines.append(result_line(matrix))
    lines += [f"  - {problem}" for problem in matrix.problems()]
    return "\n".join(lines)
