"""`python -m reference_impl up`: one clear line on bad input, nothing left behind on SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from reference_impl.stack.processes import free_port, wait_until
from tests.lone_service import read_until_ready, start_up

UP = [sys.executable, "-m", "reference_impl", "up"]


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")} | env
    return subprocess.run(
        [*UP, "--log-dir", str(tmp_path / "logs"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run(["--backend", "embedded", "--auth-port", str(port)], tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip() == f"error: port {port} on 127.0.0.1 (auth service) is already in use"


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        (
            "postgresql://postgres@127.0.0.1:{port}/postgres",
            "error: timed out after 5s waiting for PostgreSQL at",
        ),
        ("not-a-dsn", "error: database not-a-dsn:"),
    ],
)
def test_bad_database_url_is_one_line(tmp_path: Path, database_url: str, expected: str) -> None:
    result = _run(
        ["--backend", "external", "--auth-port", "0", "--users-port", "0", "--webhook-port", "0"],
        tmp_path,
        DATABASE_URL=database_url.format(port=free_port()),
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr


def test_sigterm_stops_every_process(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("auth", "users", "webhook")}
    up = start_up(tmp_path / "logs", ports, stderr=subprocess.PIPE)
    try:
        lines = read_until_ready(up)
        assert lines[0].startswith("backend: embedded"), "".join(lines)
        for port in ports.values():
            assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        children = psutil.Process(up.pid).children(recursive=True)
        names = {child.name() for child in children}
        assert {"postgres", "redis-server"} <= names and len(children) >= 5
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0
        wait_until(
            lambda: not any(child.is_running() for child in children), timeout=10, what="children to exit"
        )
    finally:
        if up.poll() is None:
            up.kill()


def _zombie_or_running(process: psutil.Process) -> bool:
    try:
        return process.is_running()  # a zombie still "runs" for psutil: it is in the process table
    except psutil.NoSuchProcess:
        return False


def test_a_service_that_dies_stops_up_with_its_name(tmp_path: Path) -> None:
    """`up` supervises: a dead service is reported at once, everything else is stopped, the exit code is 1, and
    nothing is left behind, not even a <defunct> entry."""
    up = start_up(tmp_path / "logs", dict.fromkeys(("auth", "users", "webhook"), 0), stderr=subprocess.PIPE)
    try:
        read_until_ready(up)
        children = psutil.Process(up.pid).children(recursive=True)
        [users] = [
            child
            for child in psutil.Process(up.pid).children()
            if "reference_impl.users.main:app" in child.cmdline()
        ]
        users.kill()
        assert up.wait(10) == 1
        stderr = up.stderr.read()  # type: ignore[union-attr]
        assert "error: users service exited while running (code -9)" in stderr, stderr
        wait_until(
            lambda: not any(map(_zombie_or_running, children)), timeout=10, what="every child to be gone"
        )
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def test_the_env_file_up_writes_runs_every_case_green_against_it(tmp_path: Path) -> None:
    """`up` prints the path of an env file with everything the harness needs (URLs, log sources, the signing
    secret, the database and fault commands that work on this stack): an external run with it passes every
    case, fault rows and extra cases included, skipping none."""
    from harness.plan import all_cases
    from tests.checklist_process import latest_document, run_checklist

    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    ports = dict.fromkeys(("auth", "users", "webhook"), 0)
    up = start_up(tmp_path / "logs", ports, stderr=subprocess.STDOUT, env=environment)
    try:
        lines = read_until_ready(up)
        env_file = Path(next(line for line in lines if line.startswith("env file ")).split()[2])
        assert env_file.stat().st_mode & 0o777 == 0o600  # it holds the signing secret
        result = run_checklist(tmp_path / "reports", "--env-file", str(env_file))
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(60)
    document = latest_document(tmp_path / "reports")
    outcomes = {case["case_id"] + str(case["example"] or ""): case["outcome"] for case in document["cases"]}
    assert result.returncode == 0, result.stdout[-3000:]
    assert document["run"]["target"]["kind"] == "external"
    assert len(outcomes) == len(all_cases()) and set(outcomes.values()) == {"passed"}, outcomes
