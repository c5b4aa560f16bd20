"""Benchmarks (not tests) of the reference stack and the checklist harness: one command, one report.

    python benchmarks/bench.py [--quick] [--only boot,cold,warm,load] [--reps N] [--boot-runs N] [--wrk-seconds S]

Sections:
  boot  reference_stack(embedded, free ports) to all three /health = 200: median of 5 after a warm-up boot
  cold  `pytest test_checklist.py -q` booting its own stack, serial and -n 2, interleaved: median of 3 each
  warm  the checklist against a stack already up (--target external, fault hooks, JWT_SECRET: every case
        runs), serial with evidence, serial with EVIDENCE=false and -n 2, interleaved: median of 3 each
  load  wrk (32 connections, 2 threads, 10 s) on /users/me, /webhook, /login and a bare-FastAPI control (run
        before and after the endpoints; their mean is the ratios' denominator); /users/me while /login is
        loaded; /users/me with 2 users workers; a logout honoured at once by every users worker

Prints a table (each figure next to its target, met or missed) and writes reports/bench/<UTC time>/bench.json.
A missed target does not fail the bench: it exits 0 unless a measurement could not be made (1), or on Ctrl-C
(130). This machine is shared and noisy: ratios measured in the same run are the figures to trust; absolute
times are indications.
"""

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

from bench_checklist import CASES, ChecklistRun, ReplayRun, clean_env, cold_run, replay_run, warm_target
from bench_common import ROOT, Figure, Target, fmt
from bench_load import LoadResults, WrkRun, measure_load
from boot import boot_once

SECTIONS = ("boot", "cold", "warm", "load")
TITLES = {
    "boot": "Boot (embedded stack to all /health = 200)",
    "cold": "Checklist, cold (pytest boots its own stack)",
    "warm": "Checklist, warm (stack already up) and the cost of the evidence",
    "load": "Service load (wrk) and scaling",
}
BOOT_TARGET = Target("<=", 2.5, "s")
COLD_SERIAL_TARGET = Target("<=", 3.0, "s")
REPLAY_RATIO = Target("<=", 1.5, "×")
WARM_PARALLEL_RATIO = Target("<=", 0.6, "×")
EVIDENCE_RATIO = Target("<=", 1.10, "×")
USERS_ME_RATIO = Target(">=", 0.30, "×")
USERS_ME_P99 = Target("<=", 30.0, "ms")
WEBHOOK_RATIO = Target(">=", 0.25, "×")
UNDER_LOGIN_RATIO = Target(">=", 0.5, "×")


@dataclass(frozen=True)
class Plan:
    boot_runs: int
    reps: int
    wrk_seconds: int
    logout_calls: int = 50


FULL = Plan(boot_runs=5, reps=3, wrk_seconds=10)
QUICK = Plan(boot_runs=2, reps=1, wrk_seconds=3)


@dataclass
class Bench:
    plan: Plan
    work: Path
    started: float = field(default_factory=time.perf_counter)
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    sections: list[str] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f}s] {message}", flush=True)

    def add(
        self,
        section: str,
        key: str,
        label: str,
        value: float | None,
        unit: str,
        shown: str,
        target: Target | None = None,
        note: str = "",
    ) -> None:
        self.figures.append(Figure(section, key, label, value, unit, shown, target, note))


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float], unit: str = "s") -> str:
    if len(values) < 2:
        return f"n={len(values)}"
    return f"n={len(values)}, {fmt(min(values))}–{fmt(max(values))} {unit}"


# ---- environment ----------------------------------------------------------------------------------------------


def bytecode_cache() -> tuple[bool, str]:
    """Whether child processes write and reuse .pyc files: without them every process compiles its imports."""
    if os.environ.get("PYTHONDONTWRITEBYTECODE") or sys.flags.dont_write_bytecode:
        cached = importlib.util.cache_from_source(fastapi_init()) if fastapi_init() else ""
        present = bool(cached) and Path(cached).exists()
        return present, (
            "PYTHONDONTWRITEBYTECODE is set: no .pyc is written"
            + (
                ""
                if present
                else ", and none exists for fastapi: every process compiles its imports from source"
            )
        )
    return True, "on (.pyc written and reused)"


def fastapi_init() -> str:
    spec = importlib.util.find_spec("fastapi")
    return spec.origin if spec and spec.origin else ""


def pytest_plugins() -> list[str]:
    """Plugins every pytest process (and each xdist worker) loads through entry points."""
    return sorted({entry.name for entry in metadata.entry_points(group="pytest11")})


def argon2_parameters() -> str:
    """The parameters of the hashes the reference implementation makes now, e.g. `m=65536,t=3,p=4`."""
    try:
        from reference_impl.core.passwords import hash_password

        digest = asyncio.run(hash_password("bench parameters probe"))
    except Exception as exc:  # only informative: never a reason to stop the bench
        return f"unknown ({type(exc).__name__})"
    found = re.search(r"\$(argon2\w+)\$v=\d+\$([^$]+)\$", digest)
    return f"{found[1]} {found[2]}" if found else "unknown"


def environment() -> dict[str, Any]:
    cached, bytecode = bytecode_cache()
    facts: dict[str, Any] = {
        "bytecode_cache": bytecode,
        "bytecode_cache_effective": cached,
        "pytest_plugins": pytest_plugins(),
        "argon2": argon2_parameters(),
        "dotenv_present": (ROOT / ".env").exists(),
    }
    notes = []
    if not cached:
        notes.append(f"bytecode cache off ({bytecode}); boot and checklist times include it")
    if facts["dotenv_present"]:
        notes.append(".env in the project root: the harness reads it in every checklist run")
    facts["notes"] = notes
    return facts


def precompile(bench: Bench) -> None:
    """Write the .pyc files once before the timed checklist runs, as the boot warm-up does for the services."""
    if os.environ.get("PYTHONDONTWRITEBYTECODE") or sys.flags.dont_write_bytecode:
        return  # nothing would be written
    bench.log("checklist: warm-up (pytest --collect-only and the services' imports write their .pyc files)")
    env = clean_env()
    modules = "import reference_impl.auth.main, reference_impl.users.main, reference_impl.webhook.main"
    for argv in (
        [
            sys.executable,
            "-m",
            "pytest",
            "test_checklist.py",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        [sys.executable, "-c", modules],
    ):
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=False, timeout=300)


# ---- boot -----------------------------------------------------------------------------------------------------


def section_boot(bench: Bench) -> None:
    bench.log("boot: warm-up boot (initdb template, bytecode caches)")
    warm_up, _ = boot_once(bench.work / "boot-warm-up")
    samples: list[tuple[float, float]] = []
    bench.details["boot"] = {"warm_up_s": round(warm_up, 3), "runs": []}
    try:
        for i in range(bench.plan.boot_runs):
            ready, stop = boot_once(bench.work / f"boot-{i}")
            samples.append((ready, stop))
            bench.details["boot"]["runs"].append({"healthy_s": round(ready, 3), "stopped_s": round(stop, 3)})
            bench.log(
                f"boot {i + 1}/{bench.plan.boot_runs}: healthy after {ready:.2f}s, stopped in {stop:.2f}s"
            )
    finally:  # what was measured is reported, also after an error or Ctrl-C
        if samples:
            ready_times = [ready for ready, _ in samples]
            value = median(ready_times)
            stops = median([stop for _, stop in samples])
            bench.add(
                "boot",
                "boot.healthy_median_s",
                f"boot to all-healthy, median of {len(samples)}",
                value,
                "s",
                f"{value:.2f} s ({spread(ready_times)})",
                BOOT_TARGET,
                f"after one warm-up boot ({warm_up:.2f} s); stop takes {stops:.2f} s (median)",
            )


# ---- checklist ------------------------------------------------------------------------------------------------


def _runs_note(runs: Sequence[ChecklistRun]) -> str:
    unclean = [run for run in runs if not run.clean]
    pytest_times = [run.pytest_s for run in runs if run.pytest_s is not None]
    note = f"pytest's own 'in …s' median {median(pytest_times):.2f} s; " if pytest_times else ""
    note += f"{median([run.busy_cores for run in runs]):.2f} of {os.cpu_count()} cores busy (median)"
    if unclean:
        note += f"; NOT ALL {CASES} PASSED in {len(unclean)} run(s): " + "; ".join(
            f"{run.label}: {run.outcome()}" for run in unclean
        )
    return note


def _add_median(
    bench: Bench,
    section: str,
    key: str,
    label: str,
    times: Sequence[float],
    target: Target | None = None,
    note: str = "",
) -> float | None:
    """The median of `times` as a figure (None, and no figure, when there are none)."""
    if not times:
        return None
    value = median(times)
    label = f"{label}, median of {len(times)}"
    bench.add(section, key, label, value, "s", f"{value:.2f} s ({spread(times)})", target, note)
    return value


def _add_runs(
    bench: Bench, section: str, key: str, label: str, runs: Sequence[ChecklistRun], target: Target | None
) -> float | None:
    return _add_median(bench, section, key, label, [run.wall_s for run in runs], target, _runs_note(runs))


def _add_ratio(
    bench: Bench,
    key: str,
    label: str,
    over: float | None,
    under: float | None,
    target: Target,
    note: str = "",
) -> None:
    if over is None or under is None:
        return
    ratio = over / under
    bench.add("warm", key, label, ratio, "×", f"{ratio:.2f}×", target, note)


def _record(bench: Bench, section: str, run: ChecklistRun, i: int) -> None:
    bench.details.setdefault(section, {}).setdefault("runs", []).append(run.as_json())
    flag = "" if run.clean else f"  (NOT CLEAN: {run.outcome()})"
    bench.log(f"{run.label} {i + 1}/{bench.plan.reps}: {run.wall_s:.2f}s wall, {run.outcome()}{flag}")


def section_cold(bench: Bench) -> None:
    precompile(bench)
    serial: list[ChecklistRun] = []
    parallel: list[ChecklistRun] = []
    reports = bench.work / "checklist-reports"
    try:
        for i in range(bench.plan.reps):
            for runs, is_parallel in ((serial, False), (parallel, True)):
                run = cold_run(is_parallel, reports)
                runs.append(run)
                _record(bench, "cold", run, i)
    finally:
        _add_runs(bench, "cold", "cold.serial_median_s", "cold serial", serial, COLD_SERIAL_TARGET)
        _add_runs(bench, "cold", "cold.parallel_median_s", "cold -n 2", parallel, None)


def section_warm(bench: Bench) -> None:
    serial: list[ChecklistRun] = []
    no_evidence: list[ChecklistRun] = []
    parallel: list[ChecklistRun] = []
    replays: list[ReplayRun] = []
    reports = bench.work / "checklist-reports"
    if "cold" not in bench.sections:
        precompile(bench)
    bench.log("warm: booting the stack the checklist runs against (with the env file `up` writes)")
    try:
        with warm_target(bench.work / "warm-stack") as target:
            bench.details["warm"] = {"base_urls": target.stack.base_urls, "runs": []}
            # One run recorded with its secrets in clear (not timed), for the replay: the floor under a run.
            recording = bench.work / "recording"
            target.run("recording", recording, parallel=False, extra=["--show-secrets"])
            recorded = (recording / "latest" / "results.json").resolve()
            for i in range(bench.plan.reps):
                replay = replay_run(recorded)
                replays.append(replay)
                bench.log(
                    f"replay {i + 1}/{bench.plan.reps}: {replay.wall_s:.2f}s wall, {replay.requests} requests "
                    f"({replay.differed} answered otherwise than recorded: faults and forged tokens not replayed)"
                )
                # A B N, A B N, …: evidence on, evidence off, -n 2; each triple under the same conditions.
                for runs, label, is_parallel, evidence in (
                    (serial, "warm serial", False, True),
                    (no_evidence, "warm serial EVIDENCE=false", False, False),
                    (parallel, "warm -n 2", True, True),
                ):
                    run = target.run(label, reports, parallel=is_parallel, evidence=evidence)
                    runs.append(run)
                    _record(bench, "warm", run, i)
    finally:
        serial_s = _add_runs(bench, "warm", "warm.serial_median_s", "warm serial", serial, None)
        requests = replays[0].requests if replays else 0
        replay_s = _add_median(
            bench,
            "warm",
            "replay.median_s",
            f"bare httpx replay of a run's {requests} requests",
            [replay.wall_s for replay in replays],
        )
        _add_ratio(
            bench,
            "replay.harness_ratio",
            "warm serial ÷ bare replay (interleaved)",
            serial_s,
            replay_s,
            REPLAY_RATIO,
        )
        parallel_s = _add_runs(bench, "warm", "warm.parallel_median_s", "warm -n 2", parallel, None)
        _add_ratio(
            bench, "warm.parallel_ratio", "warm -n 2 ÷ warm serial", parallel_s, serial_s, WARM_PARALLEL_RATIO
        )
        off_s = _add_runs(
            bench, "warm", "evidence.off_median_s", "warm serial, EVIDENCE=false", no_evidence, None
        )
        _add_ratio(
            bench,
            "evidence.ratio",
            "evidence on ÷ off (ratio of medians, interleaved)",
            serial_s,
            off_s,
            EVIDENCE_RATIO,
            f"on {serial_s:.2f} s, off {off_s:.2f} s" if serial_s and off_s else "",
        )


# ---- load -----------------------------------------------------------------------------------------------------


def _wrk_figure(bench: Bench, key: str, label: str, run: WrkRun | None, note: str = "") -> None:
    if run is None:
        return
    problems = [
        f"machine CPU {run.cpu_busy_pct:.0f}% busy (processes not the bench's: {run.foreign_cpu_pct:.0f}%)"
    ]
    if run.non_2xx:
        problems.append(f"non-2xx by status: {run.statuses}")
    if run.socket_errors:
        problems.append(f"socket errors: {run.errors}")
    bench.add(
        "load",
        f"load.{key}.rps",
        label,
        run.rps,
        "req/s",
        run.summary(),
        None,
        "; ".join([note, *problems]).strip("; "),
    )


def section_load(bench: Bench) -> None:
    results = LoadResults()
    try:
        measure_load(bench.plan.wrk_seconds, bench.work / "load", bench.log, results)
    finally:
        bench.details["load"] = results.as_json()
        _load_figures(bench, results)


def _ratio(
    bench: Bench,
    key: str,
    label: str,
    run: WrkRun | None,
    base: float | None,
    target: Target | None,
    note: str = "",
    base_name: str = "",
) -> None:
    if run is None or not base:
        return
    ratio = run.rps / base
    shown = f"{ratio:.2f}× ({run.rps:.0f} ÷ {base:.0f} req/s{base_name})"
    bench.add("load", key, label, ratio, "×", shown, target, note)


def _load_figures(bench: Bench, results: LoadResults) -> None:
    runs = results.runs
    me, webhook, login = (runs.get(k) for k in ("users_me", "webhook", "login"))
    me_two = runs.get("users_me_2_workers")
    me_loaded, login_loaded = runs.get("users_me_during_login"), runs.get("login_during_users_me")
    controls = [run for run in (runs.get("control"), runs.get("control_after")) if run is not None]
    control = statistics.mean(run.rps for run in controls) if controls else None
    of_control = ", control's mean" if len(controls) > 1 else ""
    _wrk_figure(bench, "control", "control: bare FastAPI, constant JSON", runs.get("control"))
    _wrk_figure(bench, "control_after", "control again, after the endpoints", runs.get("control_after"))
    _wrk_figure(bench, "users_me", "GET /api/v1/users/me", me)
    _ratio(
        bench, "load.users_me.ratio", "/users/me ÷ control", me, control, USERS_ME_RATIO, base_name=of_control
    )
    if me is not None:
        p99 = me.latency_ms["p99"]
        bench.add(
            "load", "load.users_me.p99_ms", "/users/me p99 latency", p99, "ms", f"{p99:.1f} ms", USERS_ME_P99
        )
    _wrk_figure(bench, "webhook", "POST /webhook (fresh Id per request)", webhook)
    _ratio(
        bench,
        "load.webhook.ratio",
        "/webhook ÷ control",
        webhook,
        control,
        WEBHOOK_RATIO,
        base_name=of_control,
    )
    _wrk_figure(
        bench,
        "login",
        "POST /api/v1/auth/login (valid credentials)",
        login,
        f"Argon2-bound by design ({bench.environment.get('argon2', '?')}); wrk timeout 30 s",
    )
    _wrk_figure(bench, "users_me_during_login", "/users/me while /login is loaded", me_loaded)
    _wrk_figure(bench, "login_during_users_me", "/login at the same time", login_loaded)
    _ratio(
        bench,
        "load.users_me_under_login.ratio",
        "/users/me loaded ÷ unloaded",
        me_loaded,
        me.rps if me else None,
        UNDER_LOGIN_RATIO,
    )
    _wrk_figure(bench, "users_me_2_workers", "/users/me, users service with 2 workers", me_two)
    _ratio(
        bench,
        "scaling.users_me.ratio",
        "/users/me 2 workers ÷ 1 worker",
        me_two,
        me.rps if me else None,
        None,
        "one Redis, one PostgreSQL",
    )
    check = results.logout
    if check is not None:
        workers = ", ".join(f"pid {pid}: {n}" for pid, n in sorted(check.after_by_worker.items()))
        before_ok = check.before.get("200", 0)
        note = (
            f"before: {before_ok}/{sum(check.before.values())} → 200 over fresh connections "
            f"(by worker: {', '.join(f'pid {pid}: {n}' for pid, n in sorted(check.before_by_worker.items()))}); "
            f"logout → {check.logout_status}; after, by worker: {workers}; statuses {check.after}"
        )
        if len(check.workers) < 2:
            note += "; ONLY ONE WORKER SERVED: the check did not reach both"
        bench.add(
            "load",
            "scaling.logout_refused",
            "logout honoured: /users/me → 401, fresh connections",
            float(check.refused),
            "",
            f"{check.refused}/{check.calls}",
            Target(">=", float(check.calls)),
            note,
        )


# ---- report ---------------------------------------------------------------------------------------------------


def table(bench: Bench) -> str:
    rows = [("measure", "value", "target", "result")]
    lines: list[str | tuple[str, str, str, str]] = []
    for section in SECTIONS:
        figures = [figure for figure in bench.figures if figure.section == section]
        error = bench.errors.get(section)
        if not figures and not error:
            continue
        lines.append(TITLES[section])
        for figure in figures:
            lines.append(
                (figure.label, figure.shown, figure.target.text() if figure.target else "—", figure.verdict())
            )
            if figure.note:
                lines.append(f"    ↳ {figure.note}")
        if error:
            lines.append(f"    ⚠ could not run: {' '.join(error.split())[:300]}")
    notes = bench.environment.get("notes") or []
    if notes:
        lines.append("Environment")
        lines += [f"    ⚠ {note}" for note in notes]
    widths = [
        max(len(row[i]) for row in rows + [line for line in lines if isinstance(line, tuple)])
        for i in range(4)
    ]
    widths = [min(width, limit) for width, limit in zip(widths, (52, 64, 10, 40), strict=True)]

    def render(row: tuple[str, str, str, str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

    out = [render(rows[0]), "  ".join("-" * width for width in widths)]
    for line in lines:
        out.append(
            render(line) if isinstance(line, tuple) else (f"\n{line}" if not line.startswith(" ") else line)
        )
    return "\n".join(out)


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    packages = ("uvicorn", "httptools", "fastapi", "pytest", "pytest-xdist", "asyncpg", "redis", "hiredis")
    for package in (*packages, "pwdlib", "argon2-cffi"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def write_report(
    bench: Bench,
    out_dir: Path,
    status: str,
    started_at: datetime,
    load_before: tuple[float, ...],
    argv: list[str],
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = [figure.as_json() for figure in bench.figures]
    document = {
        "schema": "checklist-bench/1",
        "status": status,
        "started": started_at.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "wall_s": round(time.perf_counter() - bench.started, 1),
        "argv": argv,
        "plan": bench.plan.__dict__,
        "environment": bench.environment,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "versions": _versions(),
        },
        "summary": {
            "targets": sum(1 for figure in bench.figures if figure.target is not None),
            "met": sum(1 for figure in bench.figures if figure.met is True),
            "missed": [figure.key for figure in bench.figures if figure.met is False],
        },
        "figures": figures,
        "table": table(bench),
        "errors": bench.errors,
        "details": bench.details,
    }
    path = out_dir / "bench.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


# ---- main -----------------------------------------------------------------------------------------------------


def _sections(value: str) -> list[str]:
    chosen = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in SECTIONS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {', '.join(unknown)}: choose from {', '.join(SECTIONS)}"
        )
    return chosen


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/bench.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 boots, 1 checklist run each, wrk 3 s"
    )
    parser.add_argument(
        "--only", type=_sections, default=list(SECTIONS), help="comma-separated sections to run"
    )
    parser.add_argument("--boot-runs", type=int, help="boots measured after the warm-up (5; quick 2)")
    parser.add_argument("--reps", type=int, help="runs of each checklist variant (3; quick 1)")
    parser.add_argument("--wrk-seconds", type=int, help="duration of each wrk run (10; quick 3)")
    parser.add_argument(
        "--reports-dir", type=Path, default=ROOT / "reports" / "bench", help="where bench.json goes"
    )
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    base = QUICK if args.quick else FULL
    plan = Plan(
        boot_runs=args.boot_runs or base.boot_runs,
        reps=args.reps or base.reps,
        wrk_seconds=args.wrk_seconds or base.wrk_seconds,
    )
    # SIGTERM (tox, a CI runner) unwinds like Ctrl-C: every stack and child is stopped by its context manager.
    # SIGINT too, even when the bench was started with it ignored (a background job of a script).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    reports_dir = args.reports_dir.resolve()  # as given, from the caller's directory
    os.chdir(ROOT)
    started_at = datetime.now(UTC)
    out_dir = reports_dir / started_at.strftime("%Y%m%dT%H%M%SZ")
    load_before = os.getloadavg()
    status = "completed"
    runners: dict[str, Callable[[Bench], None]] = {
        "boot": section_boot,
        "cold": section_cold,
        "warm": section_warm,
        "load": section_load,
    }
    with tempfile.TemporaryDirectory(prefix="checklist-bench-") as tmp:
        bench = Bench(plan, Path(tmp), sections=list(args.only))
        bench.environment = environment()
        bench.log(
            f"bench: sections {', '.join(args.only)}; {plan.boot_runs} boots, {plan.reps} run(s) per checklist "
            f"variant, wrk {plan.wrk_seconds:g}s; {os.cpu_count()} CPUs, load average {load_before[0]:.2f}"
        )
        try:
            for section in SECTIONS:
                if section not in args.only:
                    continue
                try:
                    runners[section](bench)
                except Exception as exc:  # one section that cannot run does not stop the others
                    bench.errors[section] = f"{type(exc).__name__}: {exc}"
                    bench.log(f"{section}: could not run: {exc}")
                    bench.details.setdefault("tracebacks", {})[section] = traceback.format_exc()
        except KeyboardInterrupt:
            status = "interrupted"
            bench.log("interrupted: everything started has been stopped")
        if bench.errors and status == "completed":
            status = "error"
        path = write_report(bench, out_dir, status, started_at, load_before, sys.argv)
        print()
        print(table(bench))
        met = sum(1 for figure in bench.figures if figure.met is True)
        targets = sum(1 for figure in bench.figures if figure.target is not None)
        print(
            f"\n{met} of {targets} targets met; wall time {time.perf_counter() - bench.started:.0f} s; status {status}"
        )
        print(f"report: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    if status == "interrupted":
        return 130
    return 1 if bench.errors else 0


if __name__ == "__main__":
    sys.exit(main())
