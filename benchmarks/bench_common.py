"""Shared pieces of the benchmark: figures with their targets, and child processes that never outlive it."""

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import psutil

from reference_impl.stack.processes import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent


class BenchError(RuntimeError):
    """A measurement that could not be made (as opposed to one that missed its target)."""


def fmt(value: float) -> str:
    """A number with as many decimals as its size deserves."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass(frozen=True)
class Target:
    op: Literal["<=", ">="]
    value: float
    unit: str = ""

    def text(self) -> str:
        return f"{'≤' if self.op == '<=' else '≥'} {self.value:g}{_unit(self.unit)}"

    def met(self, value: float) -> bool:
        return value <= self.value if self.op == "<=" else value >= self.value

    def margin(self, value: float) -> str:
        """How far a figure is from the target, e.g. `+1.2 s (48 % over)` or `0.05 (17 % under)`."""
        diff = value - self.value
        relative = (
            f" ({abs(diff) / self.value * 100:.0f} % {'over' if diff > 0 else 'under'})" if self.value else ""
        )
        return f"{'+' if diff > 0 else '−'}{fmt(abs(diff))}{_unit(self.unit)}{relative}"


def _unit(unit: str) -> str:
    return f" {unit}" if unit and unit not in ("×", "%") else unit


@dataclass
class Figure:
    """One reported figure: a row of the table and an entry of bench.json."""

    section: str
    key: str
    label: str
    value: float | None
    unit: str
    shown: str
    target: Target | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.target.met(self.value)

    def verdict(self) -> str:
        met = self.met
        if met is None:
            return "could not measure" if self.target is not None else ""
        assert self.value is not None and self.target is not None
        return "✅ met" if met else f"❌ missed ({self.target.margin(self.value)})"

    def as_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "key": self.key,
            "label": self.label,
            "value": self.value,
            "unit": self.unit,
            "shown": self.shown,
            "target": None
            if self.target is None
            else {
                "op": self.target.op,
                "value": self.target.value,
                "unit": self.target.unit,
                "text": self.target.text(),
            },
            "met": self.met,
            "margin": None if self.target is None or self.value is None else self.target.margin(self.value),
            "note": self.note,
        }


def _child_setup() -> None:
    # SIGINT as by default, even if the bench inherited it ignored: a child Python (pytest) then turns the
    # bench's SIGINT into KeyboardInterrupt and stops what it started, in order.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    # A bench killed with SIGKILL takes its children along, as the stack's own children do.
    die_with_parent()


def signal_group(proc: "subprocess.Popen[Any]", sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def stop_child(
    proc: "subprocess.Popen[Any]", first: signal.Signals = signal.SIGTERM, grace: float = 10.0
) -> None:
    """Signal the child's own process group, wait, then SIGKILL whatever of that group is left."""
    if proc.poll() is None:
        signal_group(proc, first)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            signal_group(proc, signal.SIGKILL)
            proc.wait(5)
    signal_group(proc, signal.SIGKILL)


@contextlib.contextmanager
def child(
    argv: Sequence[str],
    *,
    stdout: IO[Any] | int | None = None,
    stderr: IO[Any] | int | None = subprocess.STDOUT,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
    grace: float = 10.0,
) -> Iterator["subprocess.Popen[str]"]:
    """A child in its own session (a terminal's Ctrl-C reaches the bench only, which stops it in order)."""
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=env,
        cwd=cwd,
        text=True,
        start_new_session=True,
        preexec_fn=_child_setup,
    )
    try:
        yield proc
    finally:
        stop_child(proc, stop_signal, grace)


def machine_busy_pct(before: Any) -> float:
    """The whole machine's CPU use since `before` (psutil.cpu_times()), every core and process, in %."""
    after = psutil.cpu_times()
    total = sum(after) - sum(before)
    idle = (after.idle + getattr(after, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))
    return 100.0 * (1 - idle / total) if total > 0 else 0.0
