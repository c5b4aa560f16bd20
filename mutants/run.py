"""`python -m mutants` (`tox -e mutants`): every mutant of the catalogue against the whole checklist.

One PostgreSQL and one Redis serve the whole matrix. Each checklist run gets a copy of the project with the
mutant's rewrites applied, a fresh empty database and a Redis db index of its own, and runs the checklist from that
copy as a user does. pytest puts the copy's root first on sys.path and the reference stack starts its services with
the copy as their working directory, so the harness, the steps and the services all come from the copy; the
stack's external backend (DATABASE_URL and REDIS_URL) points them at the shared servers. The unmutated tree runs
first, as the baseline: every case must pass on it, or no verdict would mean anything.
"""

import argparse
import compileall
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from queue import SimpleQueue

import asyncpg
import redis

from harness.catalogue import rows
from harness.interrupts import InterruptGuard
from harness.plan import extra_case_ids
from harness.settings import setting_variables
from mutants.catalogue import (
    PROJECT_ROOT,
    CatalogueError,
    Mutant,
    apply_rewrites,
    coverage_problems,
    load_catalogue,
    rewrite_problems,
)
from mutants.matrix import Matrix, MatrixStatus, RunResult, Verdict, baseline_problem, read_results
from mutants.report import caught_by, status_word, terminal_table, write_reports
from mutants.servers import REDIS_DATABASES, Servers, shared_servers
from reference_impl.core.config import Settings as ServiceSettings
from reference_impl.stack.processes import ManagedProcess, StackError

# What a checklist run needs of the project: the suite, its harness, the system under test and the checklist.
TREE = (
    "test_checklist.py",
    "conftest.py",
    "features",
    "steps",
    "harness",
    "reference_impl",
    "docs",
    "pyproject.toml",
)
PYTEST_ARGS = (
    "-q",
    # One order for every run, so that no verdict depends on the order.
    "-p",
    "no:randomly",
    # Plugins a checklist run does not use: importing them is about a second of CPU per run.
    *("-p", "no:hypothesispytest", "-p", "no:allure_pytest_bdd", "-p", "no:xdist", "-p", "no:anyio"),
    *("-p", "no:cacheprovider"),
)
# Argon2 at its cheapest: otherwise hashing is much of a run's CPU, and no mutant is about its cost.
CHEAP_HASHING = {"PASSWORD_HASH_TIME_COST": "1", "PASSWORD_HASH_MEMORY_KIB": "8192"}
RUN_TIMEOUT = 300.0  # a run takes about 5 s; only a hung one comes near this
EXIT_OK, EXIT_PROBLEMS, EXIT_CANNOT_RUN, EXIT_INTERRUPTED = 0, 1, 2, 130


class Interrupted(Exception):
    """The matrix is stopping: no new checklist run starts."""


@dataclass(frozen=True)
class Job:
    name: str
    mutant: Mutant | None  # None: the baseline, the unmutated tree
    database: str


class Runs:
    """The checklist processes running now, so that an interrupt or a failed baseline stops every one of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[ManagedProcess] = set()
        self.stopping = False

    def start(self, argv: list[str], *, output: Path, env: dict[str, str], cwd: Path) -> ManagedProcess:
        with self._lock:
            if self.stopping:
                raise Interrupted
            # Its own session (a Ctrl-C reaches this runner only, which stops it in order), and SIGTERM to it
            # should this runner die without cleaning up.
            process = ManagedProcess("checklist run", argv, output=output, env=env, cwd=cwd)
            self._running.add(process)
            return process

    def finished(self, process: ManagedProcess) -> None:
        with self._lock:
            self._running.discard(process)

    def stop_all(self) -> None:
        with self._lock:
            self.stopping = True
            running = list(self._running)
        interrupt(running)


def interrupt(processes: list[ManagedProcess], grace: float = 20.0) -> None:
    """Stop checklist runs with SIGINT, as Ctrl-C in a terminal does: pytest stops at any point, the stack's boot
    included (the harness takes SIGTERM as an interrupt only once the stack is up), reports the run as interrupted
    and stops its services. SIGTERM, then SIGKILL, for whatever is left after `grace` seconds."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(max(0.0, deadline - time.monotonic()))
        process.stop()


def child_environment(servers: Servers, database: str, redis_index: int, temp: Path) -> dict[str, str]:
    """This environment without any setting of the harness, the services or pytest (a developer's own
    CHECKLIST_TARGET, JWT_SECRET or PYTEST_ADDOPTS must not change a verdict), pointed at the shared servers, with
    `temp` for temporary files: whatever a run leaves there goes with its copy."""
    settings = setting_variables() | {field.upper() for field in ServiceSettings.model_fields}
    dropped = ("STACK_", "FAULT_", "PYTEST_", "DOCKER_", "TESTCONTAINERS_")
    env = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in settings and not key.upper().startswith(dropped)
    }
    # Each run starts four Python processes: without bytecode caching, every one compiles the virtualenv's
    # modules from source again (about 1.5 s of CPU each).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        CHEAP_HASHING,
        DATABASE_URL=servers.database_url_for(database),
        REDIS_URL=servers.redis_url_for(redis_index),
        STACK_BACKEND="external",
        TMPDIR=str(temp),
    )
    return env


def prepare_template(destination: Path, source: Path = PROJECT_ROOT) -> Path:
    """The part of the project a run needs, byte-compiled once: each run's copy keeps the bytecode of every file
    its mutant leaves alone (copies keep modification times, which is what the bytecode is checked against)."""
    for name in TREE:
        path = source / name
        if path.is_dir():
            shutil.copytree(
                path, destination / name, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache")
            )
        else:
            destination.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination / name)
    compileall.compile_dir(destination, quiet=2, workers=1)
    return destination


def run_checklist(job: Job, tree: Path, workdir: Path, env: dict[str, str], runs: Runs) -> RunResult:
    reports = workdir / "reports"
    argv = [sys.executable, "-m", "pytest", "test_checklist.py", *PYTEST_ARGS, "--reports-dir", str(reports)]
    started = time.monotonic()
    process = runs.start(argv, output=workdir / "pytest.out", env=env, cwd=tree)
    try:
        process.popen.wait(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        interrupt([process])
        return RunResult(job.name, time.monotonic() - started, error=f"no end within {RUN_TIMEOUT:g}s")
    finally:
        runs.finished(process)
    if runs.stopping:
        raise Interrupted
    return read_results(
        job.name, time.monotonic() - started, reports / "latest" / "results.json", process.tail(3)
    )


def run_job(
    job: Job, servers: Servers, template: Path, scratch: Path, slots: SimpleQueue[int], runs: Runs
) -> RunResult:
    """One checklist run of `job` in a copy of its own; the copy and the database are gone when it returns."""
    redis_index = slots.get()  # one of the Redis databases no other run is using now
    workdir = Path(tempfile.mkdtemp(prefix=f"{job.name}-", dir=scratch))
    started = time.monotonic()
    try:
        tree = workdir / "tree"
        shutil.copytree(template, tree)
        if job.mutant is not None:
            apply_rewrites(tree, job.mutant)
        temp = workdir / "tmp"
        temp.mkdir()
        env = child_environment(servers, job.database, redis_index, temp)
        servers.create_database(job.database)
        try:
            servers.flush_redis(redis_index)
            return run_checklist(job, tree, workdir, env, runs)
        finally:
            servers.drop_database(job.database)
    except (OSError, CatalogueError, StackError, asyncpg.PostgresError, redis.RedisError) as exc:
        return RunResult(job.name, time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        slots.put(redis_index)


def _progress(done: int, total: int, verdict: Verdict) -> str:
    return (
        f"[{done:>2}/{total}] {verdict.mutant.name:<40} {status_word(verdict):<30} "
        f"{verdict.run.duration_s:5.1f}s  {caught_by(verdict)}"
    )


def run_matrix(
    selected: Sequence[Mutant], catalogue: Sequence[Mutant], columns: tuple[str, ...], jobs: int
) -> Matrix:
    started_at, started = datetime.now(UTC), time.monotonic()
    numbers = {mutant.name: number for number, mutant in enumerate(catalogue, 1)}
    work = [Job("baseline", None, "mutant_0")]
    work += [Job(mutant.name, mutant, f"mutant_{numbers[mutant.name]}") for mutant in selected]
    runs = Runs()
    verdicts: dict[str, Verdict] = {}
    baseline: RunResult | None = None
    status: MatrixStatus = "completed"
    servers_s = 0.0
    shown = 0  # verdicts printed so far
    try:
        with ExitStack() as resources:
            scratch = Path(tempfile.mkdtemp(prefix="mutants-"))
            resources.callback(shutil.rmtree, scratch, ignore_errors=True)
            servers = resources.enter_context(shared_servers(scratch / "servers"))
            servers_s = time.monotonic() - started
            print(
                f"PostgreSQL and Redis up in {servers_s:.1f}s; {len(selected)} mutants, {jobs} at a time",
                flush=True,
            )
            template = prepare_template(scratch / "template")
            slots: SimpleQueue[int] = SimpleQueue()
            for index in range(1, jobs + 1):
                slots.put(index)
            executor = ThreadPoolExecutor(jobs, thread_name_prefix="mutant")
            # Undone first (last in): running checklists stopped, queued ones cancelled, the workers joined (each
            # drops its database and copy), and only then the servers stopped.
            resources.callback(executor.shutdown, wait=True, cancel_futures=True)
            resources.callback(runs.stop_all)
            futures: dict[Future[RunResult], Job] = {
                executor.submit(run_job, job, servers, template, scratch, slots, runs): job for job in work
            }
            for future in as_completed(futures):
                job = futures[future]
                try:
                    result = future.result()
                except Interrupted:
                    continue
                if job.mutant is None:
                    baseline = result
                    problem = baseline_problem(result)
                    if problem is not None:
                        status = "baseline failed"
                        print(f"error: baseline: {problem}", flush=True)
                        break
                    print(
                        f"baseline: {len(result.cases)} cases passed in {result.duration_s:.1f}s", flush=True
                    )
                else:
                    verdicts[job.name] = Verdict(job.mutant, result)
                # A verdict is shown once the baseline has passed: until then it means nothing.
                if baseline is not None:
                    for name in list(verdicts)[shown:]:
                        shown += 1
                        print(_progress(shown, len(selected), verdicts[name]), flush=True)
    except KeyboardInterrupt:
        status = "interrupted"
    return Matrix(
        started_at=started_at,
        wall_s=time.monotonic() - started,
        servers_s=servers_s,
        jobs=jobs,
        status=status,
        columns=columns,
        baseline=baseline,
        # Against a failing baseline no verdict means anything.
        verdicts=()
        if status == "baseline failed"
        else tuple(verdicts[mutant.name] for mutant in selected if mutant.name in verdicts),
        selected=len(selected),
    )


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mutants",
        description="Run the checklist against every mutant of the reference implementation; write the kill matrix.",
    )
    parser.add_argument(
        "--only", nargs="+", action="extend", default=[], metavar="NAME", help="these mutants only"
    )
    parser.add_argument(
        "--row",
        action="append",
        default=[],
        metavar="ID",
        help="the mutants expected to be caught by this case id",
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=2, metavar="N", help="checklist runs at a time (default: 2)"
    )
    parser.add_argument(
        "--reports-dir", type=Path, default=Path("reports/mutants"), help="where the matrix folder goes"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.jobs < REDIS_DATABASES:
        parser.error(f"-j must be 1 to {REDIS_DATABASES - 1}")
    return args


def select(catalogue: Sequence[Mutant], only: Sequence[str], row_ids: Sequence[str]) -> list[Mutant]:
    """The mutants named by --only and those --row expects to be caught by that case id; every one by default."""
    names = {mutant.name for mutant in catalogue}
    unknown = [name for name in only if name not in names]
    if unknown:
        raise CatalogueError(f"no mutant named {', '.join(unknown)}")
    idle = [row for row in row_ids if not any(row in mutant.expect for mutant in catalogue)]
    if idle:
        raise CatalogueError(f"no mutant expects {', '.join(idle)} to catch it")
    if not only and not row_ids:
        return list(catalogue)
    return [m for m in catalogue if m.name in only or any(row in m.expect for row in row_ids)]


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    checklist_rows = [row.id for row in rows()]
    extras = extra_case_ids()
    try:
        catalogue = load_catalogue()
        selected = select(catalogue, args.only, args.row)
    except CatalogueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    # The whole catalogue, whatever the selection: a rotten or incomplete catalogue is found on any run.
    problems = rewrite_problems(catalogue) + coverage_problems(catalogue, checklist_rows, extras)
    if problems:
        print("error: the catalogue cannot be used as it is:", *problems, sep="\n  ", file=sys.stderr)
        return EXIT_CANNOT_RUN
    # SIGTERM (tox, CI) stops the matrix as Ctrl-C does; a second signal is noted and cleanup goes on.
    guard = InterruptGuard()
    guard.install()
    try:
        matrix = run_matrix(selected, catalogue, (*checklist_rows, *extras), args.jobs)
    except StackError as exc:  # PostgreSQL or Redis did not start
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        guard.uninstall()
    folder = args.reports_dir / matrix.started_at.strftime("%Y%m%dT%H%M%SZ")
    page = write_reports(matrix, folder)
    print()
    print(terminal_table(matrix))
    print(f"report: {page} (also matrix.md, matrix.json)")
    if matrix.status == "interrupted":
        return EXIT_INTERRUPTED
    if matrix.status == "baseline failed":
        return EXIT_CANNOT_RUN
    return EXIT_OK if matrix.ok else EXIT_PROBLEMS
