"""The checklist suite run as a user runs it, in a subprocess: its outcome, its reports and its evidence."""

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import psutil
import pytest
from junitparser import JUnitXml, Skipped

from harness.catalogue import row_ids
from harness.faults.functions import FunctionSwap
from harness.plan import all_cases
from harness.reports.results_json import SCHEMA_PATH
from reference_impl.stack.api import RunningStack
from reference_impl.stack.envfile import target_env
from reference_impl.stack.processes import free_port, wait_until
from tests import secret_collector
from tests.browser import browser_unavailable, check_report_in_browser
from tests.checklist_process import (
    REPORT_FILES,
    ROOT,
    by_case,
    command,
    environment,
    external_args,
    latest_document,
    on_embedded_stack,
    run_checklist,
    written_texts,
)
from tests.lone_service import read_until_ready, start_up

JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
ALL = len(all_cases())
NEED_MEANS = sum(bool(case.faults) for case in all_cases())  # skipped without fault hooks or JWT_SECRET


@dataclass(frozen=True)
class ChecklistRun:
    result: subprocess.CompletedProcess[str]
    report: Path
    secrets: frozenset[str]

    def document(self) -> dict[str, Any]:
        return latest_document(self.report.parent)  # `report` is reports/latest, resolved


@pytest.fixture(scope="module")
def checklist_run(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChecklistRun]:
    """One run of the whole checklist against the session's stack, driven by URL as a team would drive it."""
    reports = tmp_path_factory.mktemp("reports")
    collected = tmp_path_factory.mktemp("secrets")
    result = run_checklist(
        reports,
        "-n",
        "2",
        "-p",
        "tests.secret_collector",
        *external_args(stack),
        SECRET_COLLECTOR_DIR=str(collected),
    )
    yield ChecklistRun(result, (reports / "latest").resolve(), secret_collector.collected(collected))


@on_embedded_stack
def test_checklist_passes_against_an_external_deployment(checklist_run: ChecklistRun) -> None:
    result = checklist_run.result
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = [line for line in result.stdout.splitlines() if " passed" in line][-1]
    # Skipped: the rows and extra cases that need fault hooks or the signing secret, not given here.
    assert f"{ALL - NEED_MEANS} passed, {NEED_MEANS} skipped" in summary, summary
    assert "report: " in result.stdout and "checklist" in result.stdout


@on_embedded_stack
def test_report_folder_has_the_four_files(checklist_run: ChecklistRun) -> None:
    assert sorted(path.name for path in checklist_run.report.iterdir() if path.suffix != ".png") == sorted(
        REPORT_FILES
    )


@on_embedded_stack
def test_results_json_matches_its_schema_and_holds_the_evidence(checklist_run: ChecklistRun) -> None:
    document = checklist_run.document()
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    cases = document["cases"]
    assert isinstance(cases, list) and len(cases) == ALL
    assert {case["row_id"] for case in cases if case["checklist_row"]} == row_ids()
    for case in cases:
        if case["outcome"] == "skipped":
            assert case["reason"], case["row_id"]
            continue
        primary = [exchange for exchange in case["exchanges"] if exchange["role"] == "primary"]
        assert primary, f"{case['row_id']}: no primary exchange"
        for exchange in primary:
            assert exchange["status"] is not None and exchange["response_body"] is not None
            assert exchange["response_headers"]["x-request-id"] == exchange["request_id_sent"]
            assert exchange["request_id_sent"].startswith(f"{document['run']['id']}-{case['case_id']}")
            records = exchange["log"]["records"]
            assert records and records[0]["level"] and records[0]["message"], (
                f"{case['row_id']}: no log record"
            )
    webhook = [case for case in cases if case["service"] == "webhook" and case["outcome"] == "passed"]
    for case in webhook:
        assert case["exchanges"][-1]["log"]["source"].endswith("webhook.log")


@on_embedded_stack
def test_junit_has_one_testcase_per_case_named_by_row_id(checklist_run: ChecklistRun) -> None:
    xml = JUnitXml.fromfile(str(checklist_run.report / "junit.xml"))
    testcases = [case for suite in xml for case in suite]
    assert len(testcases) == ALL
    assert {case.name.split(" ")[0] for case in testcases} == {case.case_id for case in all_cases()}
    skipped = [case for case in testcases if any(isinstance(r, Skipped) for r in case.result)]
    assert len(skipped) == NEED_MEANS
    assert all(case.system_out for case in testcases)
    executed = [case for case in testcases if case not in skipped]
    assert all("X-Request-ID" in str(case.system_out) for case in executed)


@on_embedded_stack
def test_checklist_md_fills_in_every_row(checklist_run: ChecklistRun, stack: RunningStack) -> None:
    text = (checklist_run.report / "checklist.md").read_text(encoding="utf-8")
    for row_id in row_ids():
        assert len(re.findall(rf"^\| {re.escape(row_id)} ", text, flags=re.MULTILINE)) == 1, row_id
    run_id = checklist_run.document()["run"]["id"]
    # A visible header: the run, its status, the URLs it tested (in the sections too), a tally per service.
    assert text.startswith(f"# Прогон чек-листа `{run_id}`: завершён\n")
    for service, url in stack.base_urls.items():
        assert f"| {service} | `{url}` |" in text
    assert f"# 🧾 Чек-лист: `auth` (`{stack.base_urls['auth']}`)" in text
    assert "http://localhost:8001" not in text
    assert f"| всего | {ALL - NEED_MEANS} | 0 | 0 | {NEED_MEANS} | 0 | {ALL} |" in text
    # Skipped rows say why and show no status of some other call; @extra rows have their Gherkin titles.
    webhook_04 = next(line for line in text.splitlines() if line.startswith("| WEBHOOK-04 "))
    assert "⏭ skipped: needs FAULT_DB_DOWN_CMD" in webhook_04 and "| — |" in webhook_04
    assert "| EXTRA-DB-01 | База данных вернулась после сбоя" in text


@on_embedded_stack
def test_no_secret_used_in_the_run_appears_in_reports_terminal_or_service_logs(
    checklist_run: ChecklistRun, stack: RunningStack
) -> None:
    assert len(checklist_run.secrets) > 50  # passwords and tokens of ~40 cases
    written = written_texts(checklist_run.report, checklist_run.result.stdout + checklist_run.result.stderr)
    for service, log in stack.log_paths.items():
        written[f"{service}.log"] = log.read_text(encoding="utf-8")
    for name, text in written.items():
        leaked = [secret for secret in checklist_run.secrets if secret in text]
        assert not leaked, f"{name} holds {len(leaked)} secrets in clear"
        assert not JWT.search(text), f"{name} holds a JWT in clear"
    assert "«masked:" in (checklist_run.report / "results.json").read_text(encoding="utf-8")


@on_embedded_stack
def test_report_html_renders_in_a_browser(checklist_run: ChecklistRun) -> None:
    missing = browser_unavailable()
    if missing:
        pytest.skip(missing)
    check_report_in_browser(checklist_run.report / "report.html", ALL, checklist_run.report / "report.png")


@on_embedded_stack
def test_without_hooks_the_fault_rows_say_which_setting_is_missing(checklist_run: ChecklistRun) -> None:
    reasons = {
        (case["row_id"], tuple((case["example"] or {}).values())): case["reason"]
        for case in checklist_run.document()["cases"]
        if case["outcome"] == "skipped"
    }
    assert "FAULT_DB_DOWN_CMD" in reasons[("WEBHOOK-04", ())]
    assert "FAULT_DB_DSN" in reasons[("WEBHOOK-05", ())]
    assert "JWT_SECRET" in reasons[("AUTH-REFRESH-02", ())]
    assert "JWT_SECRET" in reasons[("AUTH-LOGOUT-03", ("просроченным токеном",))]
    cases = checklist_run.document()["cases"]
    extra = [case["reason"] for case in cases if not case["checklist_row"] and case["outcome"] == "skipped"]
    assert sorted(reason.split(" ")[1] for reason in extra) == ["FAULT_DB_DOWN_CMD", "FAULT_REDIS_DOWN_CMD"]


@on_embedded_stack
def test_with_hooks_the_fault_rows_run_against_an_external_deployment(
    stack: RunningStack, tmp_path: Path
) -> None:
    # The database's fault commands as `up` writes them into its env file; Redis's are left out.
    hooks = target_env(stack, tmp_path)
    before = FunctionSwap(stack.database_url).current_definition()
    try:
        result = run_checklist(
            tmp_path,
            "-n",
            "2",
            "--allow-destructive",
            *external_args(stack),
            FAULT_DB_DOWN_CMD=hooks["FAULT_DB_DOWN_CMD"],
            FAULT_DB_UP_CMD=hooks["FAULT_DB_UP_CMD"],
            FAULT_DB_DSN=stack.database_url,
            JWT_SECRET=stack.jwt_secret,
        )
    finally:
        # never leave it cut
        subprocess.run(hooks["FAULT_DB_UP_CMD"], shell=True, check=False, capture_output=True)  # noqa: S602
    assert result.returncode == 0, result.stdout[-3000:]
    document = latest_document(tmp_path)
    outcomes = {key: case["outcome"] for key, case in by_case(document).items()}
    for key in [
        ("WEBHOOK-04", ()),
        ("WEBHOOK-05", ()),
        ("AUTH-REFRESH-02", ()),
        ("AUTH-LOGOUT-03", ("просроченным токеном",)),
    ]:
        assert outcomes[key] == "passed", key
    skipped = [case for case in document["cases"] if case["outcome"] == "skipped"]
    assert [case["reason"] for case in skipped] == [
        "needs FAULT_REDIS_DOWN_CMD and FAULT_REDIS_UP_CMD: commands that cut and restore Redis"
    ]
    assert FunctionSwap(stack.database_url).current_definition() == before


def test_destructive_faults_against_a_remote_target_need_a_second_yes(tmp_path: Path) -> None:
    result = run_checklist(
        tmp_path,
        "--target",
        "external",
        "--allow-destructive",
        "--auth-url",
        "https://staging.example.invalid/api/v1/auth",
        timeout=120,
    )
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode != 0
    assert lines == [
        "ERROR: checklist target unusable: --allow-destructive against a deployment that is not on this machine "
        "(https://staging.example.invalid/api/v1/auth) needs --i-know too"
    ]


def test_a_target_that_dies_midway_still_gets_a_report_and_leaves_no_process(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("auth", "users", "webhook")}
    up = start_up(
        tmp_path / "logs",
        ports,
        stderr=subprocess.STDOUT,
        env=environment(),
    )
    try:
        read_until_ready(up)
        stack_processes = psutil.Process(up.pid).children(recursive=True)
        urls = {
            "auth": f"http://127.0.0.1:{ports['auth']}/api/v1/auth",
            "users": f"http://127.0.0.1:{ports['users']}/api/v1/users",
            "webhook": f"http://127.0.0.1:{ports['webhook']}/webhook",
        }
        run = subprocess.Popen(
            command(
                "-v",
                "-p",
                "no:randomly",
                "--reports-dir",
                str(tmp_path / "reports"),
                "--target",
                "external",
                *(arg for name, url in urls.items() for arg in (f"--{name}-url", url)),
            ),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment(),
        )
        assert run.stdout is not None
        for line in run.stdout:
            if "PASSED" in line:
                up.send_signal(signal.SIGTERM)  # the deployment goes away mid-run
                break
        output = line + run.communicate(timeout=300)[0]
    finally:
        for process in (up,):
            if process.poll() is None:
                process.kill()
    assert run.returncode == 1, output[-2000:]
    assert up.wait(30) == 0
    wait_until(lambda: not any(p.is_running() for p in stack_processes), timeout=15, what="the stack to stop")
    document = latest_document(tmp_path / "reports")
    assert document["run"]["status"] == "completed"
    # Once the deployment is gone, its services do not answer: the cases after that are blocked, saying so.
    blocked = [case for case in document["cases"] if case["outcome"] == "blocked"]
    assert blocked and all(
        "service does not answer at http://127.0.0.1:" in case["reason"] for case in blocked
    )
