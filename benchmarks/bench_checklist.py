"""The checklist run as a user runs it, in a subprocess, timed from start to exit.

Cold: `pytest test_checklist.py -q`, which boots its own reference stack. Warm: a stack the bench booted, the
checklist aimed at its URLs and log files with `--target external`, with fault hooks and the signing secret so
that every case runs (as tests/test_checklist_runs.py does): the database is cut with psql, Redis through the
harness's fault proxy placed between the users service and Redis.
"""

import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
from bench_common import ROOT, BenchError, child, machine_busy_pct

from harness.faults.proxy import start_proxy
from harness.plan import all_cases
from reference_impl.stack.api import RunningStack, StackConfig, reference_stack

CASES = len(all_cases())
RUN_TIMEOUT = 600.0
# What a user's environment could set for the harness: cleared, so that every run is aimed where we say.
_HARNESS_VARIABLES = {
    "CHECKLIST_TARGET",
    "AUTH_BASE_URL",
    "USERS_BASE_URL",
    "WEBHOOK_BASE_URL",
    "WEBHOOK_VALID_MID",
    "AUTH_LOG",
    "USERS_LOG",
    "WEBHOOK_LOG",
    "JWT_SECRET",
    "STACK_BACKEND",
    "REQUEST_TIMEOUT",
    "LOG_WAIT_SECONDS",
    "REPORTS_DIR",
    "SHOW_SECRETS",
    "EVIDENCE",
    "ALLOW_DESTRUCTIVE",
    "I_KNOW",
    "DATABASE_URL",
    "REDIS_URL",
    "PYTEST_ADDOPTS",
}
_SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)")
_DURATION = re.compile(r" in ([0-9.]+)s")


@dataclass(frozen=True)
class ChecklistRun:
    label: str
    wall_s: float
    pytest_s: float | None
    returncode: int
    counts: dict[str, int]
    busy_cores: float  # the machine's cores kept busy on average during the run (every process)
    tail: str = ""

    @property
    def clean(self) -> bool:
        return self.returncode == 0 and self.counts.get("passed", 0) == CASES

    def outcome(self) -> str:
        return ", ".join(f"{n} {kind}" for kind, n in self.counts.items()) or f"exit {self.returncode}"

    def as_json(self) -> dict[str, object]:
        return {
            "label": self.label,
            "wall_s": round(self.wall_s, 3),
            "pytest_s": self.pytest_s,
            "returncode": self.returncode,
            "counts": self.counts,
            "busy_cores": round(self.busy_cores, 2),
            "clean": self.clean,
            "tail": self.tail,
        }


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _HARNESS_VARIABLES and not key.startswith("FAULT_")
    }
    return env | extra


def run_checklist(label: str, args: list[str], env: dict[str, str], reports: Path) -> ChecklistRun:
    """One run, timed from the process's start to its exit; Ctrl-C interrupts it as a terminal would."""
    reports.mkdir(parents=True, exist_ok=True)
    output = reports / f"output-{time.monotonic_ns()}.txt"
    argv = [sys.executable, "-m", "pytest", "test_checklist.py", "-q", "-p", "no:cacheprovider"]
    argv += ["--reports-dir", str(reports), *args]
    with output.open("w+", encoding="utf-8") as sink:
        started = time.perf_counter()
        cpu_before = psutil.cpu_times()
        # SIGINT first: the harness then stops the stack it booted and writes its report, as on Ctrl-C.
        with child(argv, stdout=sink, env=env, cwd=ROOT, stop_signal=signal.SIGINT, grace=30) as proc:
            try:
                returncode = proc.wait(RUN_TIMEOUT)
            except subprocess.TimeoutExpired as exc:
                raise BenchError(f"checklist run ({label}) did not finish in {RUN_TIMEOUT:g}s") from exc
            wall = time.perf_counter() - started
            busy_cores = machine_busy_pct(cpu_before) / 100 * (psutil.cpu_count() or 1)
        sink.seek(0)
        text = sink.read()
    lines = [line for line in text.splitlines() if line.strip()]
    summary = next((line for line in reversed(lines) if _SUMMARY.search(line) and " in " in line), "")
    counts = {kind: int(n) for n, kind in _SUMMARY.findall(summary)}
    duration = _DURATION.search(summary)
    run = ChecklistRun(label, wall, float(duration[1]) if duration else None, returncode, counts, busy_cores)
    if not run.clean:
        return dataclasses.replace(run, tail="\n".join(lines[-25:]))
    return run


def cold_run(parallel: bool, reports: Path) -> ChecklistRun:
    args = ["-n", "2"] if parallel else []
    # The backend is named: `auto` would pick docker on a machine with an engine, and the figure would change.
    return run_checklist(
        "cold -n 2" if parallel else "cold serial", args, clean_env(STACK_BACKEND="embedded"), reports
    )


def _psql(database_url: str, *statements: str) -> str:
    """A shell command running `statements` through psql on the server's template1 (always connectable)."""
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        psql = str(POSTGRES_BIN_PATH / "psql")
    except ImportError:
        psql = shutil.which("psql") or "psql"
    server = database_url.rsplit("/", 1)[0]
    return " ".join(
        [shlex.quote(psql), "-q", "-X", shlex.quote(f"{server}/template1")]
        + [f"-c {shlex.quote(statement)}" for statement in statements]
    )


def _proxy_command(port: int, command: str) -> str:
    code = f"from harness.faults.proxy import ProxyControl; ProxyControl('127.0.0.1', {port}).{command}()"
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


@dataclass
class WarmTarget:
    """A stack the bench booted, and how the checklist reaches, reads and breaks it."""

    stack: RunningStack
    redis_control_port: int
    fault_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        database = self.stack.database_url.rsplit("/", 1)[1]
        self.fault_env = {
            "FAULT_DB_DOWN_CMD": _psql(
                self.stack.database_url,
                f"ALTER DATABASE {database} ALLOW_CONNECTIONS false",
                f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{database}'",  # noqa: S608
            ),
            "FAULT_DB_UP_CMD": self.db_up_command(),
            "FAULT_DB_DSN": self.stack.database_url,
            "FAULT_REDIS_DOWN_CMD": _proxy_command(self.redis_control_port, "cut"),
            "FAULT_REDIS_UP_CMD": _proxy_command(self.redis_control_port, "restore"),
            "JWT_SECRET": self.stack.jwt_secret,
        }

    def db_up_command(self) -> str:
        database = self.stack.database_url.rsplit("/", 1)[1]
        return _psql(self.stack.database_url, f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")

    def args(self) -> list[str]:
        args = ["--target", "external", "--allow-destructive"]
        for service in ("auth", "users", "webhook"):
            args += [f"--{service}-url", self.stack.base_urls[service]]
            args += [f"--{service}-log", f"file:{self.stack.log_paths[service]}"]
        return args

    def run(
        self, label: str, reports: Path, *, parallel: bool, evidence: bool = True, extra: Sequence[str] = ()
    ) -> ChecklistRun:
        env = clean_env(**self.fault_env)
        if not evidence:
            env["EVIDENCE"] = "false"
        try:
            return run_checklist(
                label, [*self.args(), *(["-n", "2"] if parallel else []), *extra], env, reports
            )
        finally:
            # Never leave the database cut, whatever happened to the run.
            subprocess.run(self.db_up_command(), shell=True, check=False, capture_output=True)  # noqa: S602


@contextmanager
def warm_target(log_dir: Path) -> Iterator[WarmTarget]:
    """Boot the embedded stack with a fault proxy between the auth service and Redis."""
    controls: dict[str, int] = {}
    with ExitStack() as resources:
        proxies = resources.enter_context(ExitStack())  # closed after the stack that uses them

        def route(service: str, dependency: str, url: str) -> str:
            if (service, dependency) != ("auth", "redis"):
                return url
            parts = urlsplit(url)
            proxy = proxies.enter_context(start_proxy(parts.hostname or "127.0.0.1", parts.port or 6379))
            controls["auth-redis"] = proxy.control.port
            userinfo = parts.netloc.rpartition("@")[0]
            host = f"127.0.0.1:{proxy.listen_port}"
            return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}" if userinfo else host))

        config = StackConfig(
            backend="embedded", ports={"auth": 0, "users": 0, "webhook": 0}, log_dir=log_dir, route=route
        )
        stack = resources.enter_context(reference_stack(config))
        yield WarmTarget(stack, controls["auth-redis"])


@dataclass(frozen=True)
class ReplayRun:
    wall_s: float
    requests: int
    differed: int  # statuses other than the recording's: what only the harness does (faults, forged tokens)


def replay_run(results: Path) -> ReplayRun:
    """benchmarks/replay.py on a recorded run, timed from the process's start to its exit like a harness run."""
    argv = [sys.executable, str(Path(__file__).with_name("replay.py")), str(results)]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"replay failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return ReplayRun(wall, int(figures["requests"]), int(figures["differed"]))
