"""Test support: the checklist suite run as a user runs it, in a subprocess, and what it leaves behind."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.reports.results_json import SCHEMA_PATH
from harness.settings import setting_variables
from reference_impl.stack.api import RunningStack

ROOT = Path(__file__).resolve().parent.parent
CHECKLIST = str(ROOT / "test_checklist.py")
REPORT_FILES = ("results.json", "checklist.md", "junit.xml", "report.html")
# For a test that runs the checklist against the session's stack: the embedded backend's is enough.
on_embedded_stack = pytest.mark.parametrize("stack", ["embedded"], indirect=True)


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", CHECKLIST, "-p", "no:cacheprovider", *args]


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without any checklist setting, plus `extra`."""
    settings = setting_variables()
    dropped = (
        "_BASE_URL",
        "_LOG",
        "FAULT_",
        "JWT_SECRET",
        "REQUEST_TIMEOUT",
        "LOG_WAIT_SECONDS",
        "CHECKLIST_",
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in settings and not key.startswith(dropped) and not key.endswith(dropped)
    }
    return env | extra


def run_checklist(
    reports: Path,
    *args: str,
    timeout: float = 600,
    cwd: Path = ROOT,
    quiet: bool = True,
    env: dict[str, str] | None = None,
    **settings: str,
) -> subprocess.CompletedProcess[str]:
    """Run the checklist as a user does (from `cwd`), writing its reports under `reports`; `quiet` keeps
    pytest's dots (-q) instead of the harness's line per case."""
    return subprocess.run(
        command(*(["-q"] if quiet else []), "--reports-dir", str(reports), *args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=environment(**(env or {}), **settings),
    )


def external_args(stack: RunningStack, **urls: str) -> list[str]:
    """Options pointing the checklist at `stack` by URL (and its log files); `urls` replace some services'."""
    args = ["--target", "external"]
    for service in ("auth", "users", "webhook"):
        args += [f"--{service}-url", urls.get(service, stack.base_urls[service])]
        if service not in urls:
            args += [f"--{service}-log", f"file:{stack.log_paths[service]}"]
    return args


def output_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def latest_document(reports: Path) -> dict[str, Any]:
    """The newest run's results.json under `reports`, checked against its schema."""
    document: dict[str, Any] = json.loads((reports / "latest" / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    return document


def by_case(document: dict[str, Any]) -> dict[tuple[str, tuple[str, ...]], dict[str, Any]]:
    """The cases keyed by (row ID or title, example values)."""
    return {
        (case["row_id"] or case["title"], tuple((case["example"] or {}).values())): case
        for case in document["cases"]
    }


def written_texts(report: Path, terminal: str) -> dict[str, str]:
    """Every text a run wrote into its report folder, by file name, and its terminal output."""
    texts = {
        path.name: path.read_text(encoding="utf-8") for path in report.iterdir() if path.suffix != ".png"
    }
    texts["terminal"] = terminal
    return texts
