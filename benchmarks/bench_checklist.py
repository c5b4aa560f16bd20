"""The checklist run as a user runs it, in a subprocess, timed from start to exit.

Cold: `pytest test_checklist.py -q`, which boots its own reference stack. Warm: a stack the bench booted, the
checklist aimed at it with the settings of the env file `up` writes (URLs, log files, the signing secret, fault
commands: psql closes the database, redis-cli puts Redis behind a password), so that every case runs.
"""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from bench_common import ROOT, BenchError, child, machine_busy_pct

from harness.plan import all_cases
from reference_impl.stack.api import RunningStack, StackConfig, reference_stack
from reference_impl.stack.envfile import target_env

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
    # What `tox -e checklist` runs (its command's options), so that the figures are a user's.
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "test_checklist.py",
        "--assert=plain",
        "-p",
        "no:unraisableexception",
    ]
    argv += ["-q", "-p", "no:cacheprovider"]
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


@dataclass
class WarmTarget:
    """A stack the bench booted, and how the checklist reaches, reads and breaks it: the settings `up` writes
    into its env file (URLs, log files, the signing secret, the fault commands), as a user's run would have."""

    stack: RunningStack
    settings: dict[str, str] = field(default_factory=dict)

    def run(
        self, label: str, reports: Path, *, parallel: bool, evidence: bool = True, extra: Sequence[str] = ()
    ) -> ChecklistRun:
        env = clean_env(**self.settings)
        if not evidence:
            env["EVIDENCE"] = "false"
        try:
            return run_checklist(label, [*(["-n", "2"] if parallel else []), *extra], env, reports)
        finally:
            # Never leave the database or Redis cut, whatever happened to the run.
            for command in (self.settings["FAULT_DB_UP_CMD"], self.settings["FAULT_REDIS_UP_CMD"]):
                subprocess.run(command, shell=True, check=False, capture_output=True)  # noqa: S602


@contextmanager
def warm_target(log_dir: Path) -> Iterator[WarmTarget]:
    """Boot the embedded stack, as `up` does, with the settings of the env file `up` writes."""
    config = StackConfig(backend="embedded", ports={"auth": 0, "users": 0, "webhook": 0}, log_dir=log_dir)
    with reference_stack(config) as stack:
        yield WarmTarget(stack, target_env(stack, log_dir))


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
