"""The checklist suite itself, run as a user runs it: against a deployment by URL, and against a wrong URL."""

import os
import subprocess
import sys
from pathlib import Path

from reference_impl.stack.api import RunningStack

ROOT = Path(__file__).resolve().parent.parent


def _checklist(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.endswith("_BASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "test_checklist.py", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )


def test_checklist_passes_against_an_external_deployment(stack: RunningStack) -> None:
    if stack.backend != "embedded":
        return  # one external run is enough: the point is the URL-driven target, not the backend
    result = _checklist(
        "--target",
        "external",
        "--auth-url",
        stack.base_urls["auth"],
        "--users-url",
        stack.base_urls["users"],
        "--webhook-url",
        stack.base_urls["webhook"],
        "--webhook-log-file",
        str(stack.log_paths["webhook"]),
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert summary.startswith("37 passed, 4 skipped"), summary


def test_unreachable_service_is_one_line_and_nonzero() -> None:
    result = _checklist("--target", "external", "--auth-url", "http://127.0.0.1:9/api/v1/auth")
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "ERROR: checklist target unusable: auth service does not answer at http://127.0.0.1:9/"
    )
