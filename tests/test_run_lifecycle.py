"""A run that cannot start, or is stopped, says so in one line and in every report, and leaves nothing behind:
bad settings, a URL that does not serve the API, a dead service the selection does not need, and interruption
by Ctrl-C, by SIGTERM, and by tox's SIGINT-then-SIGTERM sequence."""

import configparser
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from junitparser import Error, JUnitXml

from harness.plan import all_cases
from reference_impl.stack.api import RunningStack
from reference_impl.stack.processes import wait_until
from tests.checklist_process import (
    ROOT,
    by_case,
    command,
    environment,
    external_args,
    latest_document,
    on_embedded_stack,
    output_lines,
    run_checklist,
)
from tests.fake_deployment import Answer, always, serve

DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens there


def _assert_one_line_and_a_report(
    result: subprocess.CompletedProcess[str], reports: Path, *expected: str
) -> dict[str, Any]:
    """Exit 4, one line naming the problem, and a report folder whose every file says the run did not start."""
    lines = output_lines(result)
    assert result.returncode == 4, (result.returncode, lines[-20:])
    assert len(lines) == 1, lines
    for text in expected:
        assert text in lines[0], lines[0]
    document = latest_document(reports)
    assert document["run"]["status"] == "error"
    assert lines[0].removeprefix("ERROR: ") == document["run"]["error"]
    # CI reading only JUnit stays red, with the reason.
    suite = next(iter(JUnitXml.fromfile(str(reports / "latest" / "junit.xml"))))
    assert suite.errors == 1 and suite.tests == 1
    error = next(r for case in suite for r in case.result if isinstance(r, Error))
    assert document["run"]["error"].startswith(error.message or "-")
    head = (reports / "latest" / "checklist.md").read_text(encoding="utf-8").splitlines()[:20]
    assert any(line.startswith("> ⛔ **Прогон не запустился:**") for line in head), head
    assert "run-error" in (reports / "latest" / "report.html").read_text(encoding="utf-8")
    return document


# ---- the target ----------------------------------------------------------------------------------------------


def test_an_unreachable_service_is_one_line_and_still_leaves_a_report(tmp_path: Path) -> None:
    result = run_checklist(tmp_path, "--target", "external", "--auth-url", f"{DEAD}/api/v1/auth", timeout=120)
    _assert_one_line_and_a_report(
        result,
        tmp_path,
        "ERROR: checklist target unusable: auth service does not answer at http://127.0.0.1:9/",
    )


@on_embedded_stack
@pytest.mark.parametrize("service", ["auth", "users", "webhook"])
def test_a_typo_in_a_base_url_path_is_one_line(stack: RunningStack, tmp_path: Path, service: str) -> None:
    mistyped = stack.base_urls[service][:-2] + stack.base_urls[service][-1:]  # one letter dropped
    result = run_checklist(tmp_path, *external_args(stack, **{service: mistyped}), timeout=120)
    _assert_one_line_and_a_report(
        result, tmp_path, f"{mistyped} does not serve the {service} API:", "answered 404 Not Found"
    )


@on_embedded_stack
def test_a_url_serving_a_web_page_is_one_line(stack: RunningStack, tmp_path: Path) -> None:
    page = Answer(200, b"<html><title>Welcome to nginx!</title></html>", "text/html")
    with serve(always(page)) as users:
        result = run_checklist(
            tmp_path, *external_args(stack, users=users.url + "/api/v1/users"), timeout=120
        )
    _assert_one_line_and_a_report(
        result, tmp_path, "does not serve the users API", "web page ('Welcome to nginx!')"
    )


@on_embedded_stack
def test_a_dead_service_no_selected_case_needs_is_reported_not_fatal(
    stack: RunningStack, tmp_path: Path
) -> None:
    dead = {"auth": f"{DEAD}/api/v1/auth", "users": f"{DEAD}/api/v1/users"}
    result = run_checklist(
        tmp_path, "-m", "webhook and not fault", *external_args(stack, **dead), quiet=False
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "note: users service does not answer at http://127.0.0.1:9/api/v1/users" in result.stdout
    document = latest_document(tmp_path)
    assert document["run"]["preflight"]["users"]["needed"] is False
    assert "does not answer" in document["run"]["preflight"]["users"]["problem"]
    assert {case["outcome"] for case in document["cases"]} <= {"passed", "skipped"}
    # Selected, it is fatal: a case that needs it could only be blocked.
    needed = run_checklist(tmp_path, "-m", "USERS-CREATE-02", *external_args(stack, **dead), timeout=120)
    _assert_one_line_and_a_report(needed, tmp_path, "users service does not answer at http://127.0.0.1:9/")


# ---- settings -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "dotenv", "expected"),
    [
        (
            [],
            {"REQUEST_TIMEOUT": "abc"},
            None,
            ["REQUEST_TIMEOUT = 'abc'", "environment variable REQUEST_TIMEOUT"],
        ),
        ([], {}, b"LOG_WAIT_SECONDS=two\n", ["LOG_WAIT_SECONDS = 'two'", "LOG_WAIT_SECONDS in ", ".env"]),
        ([], {}, b"REPORTS_DIR=r\xe9ports\n", [".env is not UTF-8 text (byte 0xe9"]),
        (
            ["--target", "staging"],
            {},
            None,
            ["--target = 'staging' (from option --target)", "'reference' or 'external'"],
        ),
        (
            ["--auth-log", "file:/nonexistent/auth.log"],
            {},
            None,
            ["AUTH_LOG (from option --auth-log)", "does not exist"],
        ),
        (
            [],
            {"WEBHOOK_LOG": "journal:webhook"},
            None,
            ["WEBHOOK_LOG (from environment variable WEBHOOK_LOG)"],
        ),
    ],
    ids=["env-number", "dotenv-number", "dotenv-not-utf8", "option-choice", "log-file-missing", "log-spec"],
)
def test_a_bad_setting_is_one_line_naming_it_and_where_it_came_from(
    tmp_path: Path, args: list[str], env: dict[str, str], dotenv: bytes | None, expected: list[str]
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    if dotenv is not None:
        (workdir / ".env").write_bytes(dotenv)
    reports = tmp_path / "reports"
    result = run_checklist(reports, *args, cwd=workdir, timeout=120, env=env)
    _assert_one_line_and_a_report(result, reports, "ERROR: bad setting: ", *expected)


@on_embedded_stack
def test_a_fault_dsn_that_does_not_connect_is_one_line(stack: RunningStack, tmp_path: Path) -> None:
    result = run_checklist(
        tmp_path,
        "-m",
        "WEBHOOK-05",
        "--allow-destructive",
        *external_args(stack),
        FAULT_DB_DSN="postgresql://postgres:wrong-password@127.0.0.1:9/postgres",
        timeout=120,
    )
    document = _assert_one_line_and_a_report(
        result,
        tmp_path,
        "bad setting: FAULT_DB_DSN (from environment variable FAULT_DB_DSN) does not connect",
    )
    assert "wrong-password" not in str(document) + result.stdout + result.stderr


# ---- interruption ---------------------------------------------------------------------------------------------


def _tox_timeouts() -> tuple[float, float]:
    """How long tox waits after SIGINT before SIGTERM, and after SIGTERM before SIGKILL, for the checklist."""
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    section = tox["testenv:checklist"]
    return float(section.get("interrupt_timeout", "0.3")), float(section.get("terminate_timeout", "0.2"))


def _interrupt(run: "subprocess.Popen[str]", sequence: str) -> None:
    if sequence == "sigterm":  # a CI runner cancelling the job
        run.send_signal(signal.SIGTERM)
        return
    os.killpg(run.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the whole foreground group
    if sequence == "tox":  # then tox's own escalation, at its configured pace
        interrupt_timeout, terminate_timeout = _tox_timeouts()
        time.sleep(0.3)  # tox's SIGTERM arriving while the run is already stopping is the case under test
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(interrupt_timeout + terminate_timeout - 0.3)
        except subprocess.TimeoutExpired:
            run.kill()  # tox's last word


def _start_in_its_own_group(args: list[str], temp: Path) -> "subprocess.Popen[str]":
    """Start a run as a terminal's foreground job: its own process group, output read line by line, its temporary
    files (the stack's data folder among them) under `temp`."""
    return subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment(TMPDIR=str(temp)),
        start_new_session=True,
    )


def _interrupted_cleanly(
    processes: list[psutil.Process], temp: Path, reports: Path, output: str, what: str
) -> dict[str, Any]:
    """After an interruption: `processes` (the run's stack) gone, no stack data folder left in `temp`, and a
    report saying `interrupted`, which is returned."""
    wait_until(lambda: not any(p.is_running() for p in processes), timeout=15, what=what)
    assert not list(temp.glob("reference-stack-*")), output[-2000:]
    document = latest_document(reports)
    assert document["run"]["status"] == "interrupted", output[-2000:]
    return document


@pytest.mark.parametrize("sequence", ["ctrl-c", "tox", "sigterm"])
def test_an_interrupted_run_says_so_and_leaves_no_process_or_folder(
    request: pytest.FixtureRequest, tmp_path: Path, sequence: str
) -> None:
    """Interrupt a run against the reference stack it booted: the report says `interrupted`, the cases it did
    not reach are `not run`, and the stack's processes and data folder are gone."""
    # Short: PostgreSQL's socket path (under the stack's data folder) must stay within 107 bytes.
    temp = Path(tempfile.mkdtemp(prefix="interrupt-"))
    request.addfinalizer(lambda: shutil.rmtree(temp, ignore_errors=True))
    reports = tmp_path / "reports"
    run = _start_in_its_own_group(command("-v", "-p", "no:randomly", "--reports-dir", str(reports)), temp)
    try:
        assert run.stdout is not None
        for line in run.stdout:
            if "PASSED" in line:  # the stack is up and cases are running
                break
        children = psutil.Process(run.pid).children(recursive=True)
        assert any(child.name() == "postgres" for child in children)
        assert any(temp.glob("reference-stack-*"))
        _interrupt(run, sequence)
        output = run.communicate(timeout=60)[0]
    finally:
        if run.poll() is None:
            run.kill()
    document = _interrupted_cleanly(children, temp, reports, output, "the stack to stop")
    outcomes = [case["outcome"] for case in document["cases"]]
    assert "passed" in outcomes and "not_run" in outcomes and len(outcomes) == len(all_cases())
    not_run = [case for case in document["cases"] if case["outcome"] == "not_run"]
    assert all(case["reason"] == "the run was interrupted before this case" for case in not_run)
    assert by_case(document)[("WEBHOOK-07", ())]["outcome"] == "not_run"  # the last one, with -p no:randomly
    suite = next(iter(JUnitXml.fromfile(str(reports / "latest" / "junit.xml"))))
    run_case = next(case for case in suite if case.name == "checklist run")
    assert "interrupted" in str(next(r for r in run_case.result if isinstance(r, Error)).message)


def test_ctrl_c_on_tox_checklist_leaves_an_interrupted_report_and_nothing_behind(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The README's own command, interrupted as a terminal does: SIGINT to tox's whole process group, after
    which tox escalates to SIGTERM and SIGKILL at the pace tox.ini sets."""
    tox = shutil.which("tox")
    if tox is None:
        pytest.skip("tox is not on PATH (the README's commands install it)")
    temp = Path(tempfile.mkdtemp(prefix="tox-interrupt-"))
    request.addfinalizer(lambda: shutil.rmtree(temp, ignore_errors=True))
    reports = tmp_path / "reports"
    run = _start_in_its_own_group(
        [tox, "-e", "checklist", "--", "-p", "no:randomly", "--reports-dir", str(reports)], temp
    )
    try:
        assert run.stdout is not None
        for line in run.stdout:
            if line.startswith("✅ "):  # the stack is up and cases are running
                break
        pytest_process = next(
            p for p in psutil.Process(run.pid).children() if "pytest" in " ".join(p.cmdline())
        )
        stack = pytest_process.children(recursive=True)
        os.killpg(run.pid, signal.SIGINT)
        output = run.communicate(timeout=120)[0]
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    document = _interrupted_cleanly([pytest_process, *stack], temp, reports, output, "the run to stop")
    assert "not_run" in {case["outcome"] for case in document["cases"]}


def test_sigterm_while_the_stack_boots_stops_it_and_says_so(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A run cancelled before its first case (the stack still booting) leaves no process or data folder either."""
    temp = Path(tempfile.mkdtemp(prefix="boot-interrupt-"))
    request.addfinalizer(lambda: shutil.rmtree(temp, ignore_errors=True))
    reports = tmp_path / "reports"
    run = _start_in_its_own_group(command("-v", "-p", "no:randomly", "--reports-dir", str(reports)), temp)
    try:
        # The boot has begun once the stack's data folder exists; no case has run yet.
        wait_until(lambda: any(temp.glob("reference-stack-*")), timeout=60, what="the stack's data folder")
        started = psutil.Process(run.pid).children(recursive=True)
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=60)[0]
    finally:
        if run.poll() is None:
            run.kill()
    _interrupted_cleanly(started, temp, reports, output, "the boot's processes to stop")
    assert "PASSED" not in output
