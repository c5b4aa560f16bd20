"""Writes every report of a run into `reports/<UTC time>-<target>/` and points `reports/latest` at it.

Each file is written atomically (temporary file, then rename), so a reader never sees half a report, and the
folder is (re)written whenever the run's state changes, so an interrupted run still leaves a valid report.
"""

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.reports.checklist_md import render_checklist_md
from harness.reports.junit import render_junit
from harness.reports.results_json import render_results_json

Renderer = Callable[[dict[str, Any]], str]


def _html(document: dict[str, Any]) -> str:
    from harness.reports.html import render_html

    return render_html(document)


RENDERERS: dict[str, Renderer] = {
    "results.json": render_results_json,
    "checklist.md": render_checklist_md,
    "junit.xml": render_junit,
    "report.html": _html,
}


def new_report_dir(root: Path, target_kind: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = root / f"{stamp}-{re.sub(r'[^A-Za-z0-9_-]', '_', target_kind)}"
    folder, n = base, 1
    while folder.exists():  # two runs in one second
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    folder.mkdir(parents=True)
    return folder


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _point_latest(folder: Path) -> None:
    latest = folder.parent / "latest"
    temporary = folder.parent / ".latest.tmp"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(folder.name, target_is_directory=True)
    os.replace(temporary, latest)


def write_reports(document: dict[str, Any], folder: Path) -> None:
    for name, render in RENDERERS.items():
        _write_atomically(folder / name, render(document))
    _point_latest(folder)
