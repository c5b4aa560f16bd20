"""What one checklist run said about one mutant, and the verdict: killed as expected, or why not."""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from mutants.catalogue import Mutant

# A case kills a mutant when it did not pass for a reason the mutant caused: its check failed, or a precondition
# (a setup call) broke. Skipped and not-run cases decide nothing.
KILLING = frozenset({"failed", "blocked"})
Cell = Literal["killed-as-expected", "killed-unexpected", "survived", ""]
Status = Literal[
    "killed",
    "not as expected",
    "survived",
    "equivalent",
    "equivalent failed",
    "known gap",
    "gap closed",
    "error",
]


@dataclass(frozen=True)
class CaseResult:
    case_id: str
    outcome: str
    example: str | None  # "login=email" for an outline's example
    detail: str | None  # why it did not pass: the blocked reason or the failed check's message


@dataclass(frozen=True)
class RunResult:
    """One checklist run: against a mutant, or against the unmutated tree (the baseline)."""

    name: str
    duration_s: float
    cases: tuple[CaseResult, ...] = ()
    error: str | None = None  # the run did not complete (no report, interrupted, did not start): why

    @property
    def killed_by(self) -> frozenset[str]:
        return frozenset(case.case_id for case in self.cases if case.outcome in KILLING)

    @property
    def not_passed(self) -> tuple[CaseResult, ...]:
        return tuple(case for case in self.cases if case.outcome != "passed")


def _example(example: Any) -> str | None:
    if not isinstance(example, dict) or not example:
        return None
    return ", ".join(f"{key}={value}" for key, value in example.items())


def read_results(name: str, duration_s: float, path: Path, output_tail: str = "") -> RunResult:
    """The run's results.json (harness/reports/results.schema.json); an error result when it is missing or the run
    did not complete, with the end of its output to say why."""
    said = f": {output_tail}" if output_tail else ""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return RunResult(name, duration_s, error=f"the checklist run wrote no results.json{said}")
    except (OSError, ValueError) as exc:
        return RunResult(name, duration_s, error=f"results.json cannot be read: {exc}")
    run = document["run"]
    if run["status"] != "completed":
        why = f": {run['error']}" if run["error"] else said
        return RunResult(name, duration_s, error=f"the checklist run is {run['status']}{why}")
    cases = tuple(
        CaseResult(
            case_id=case["case_id"],
            outcome=case["outcome"],
            example=_example(case["example"]),
            detail=case["reason"] or case["message"],
        )
        for case in document["cases"]
    )
    return RunResult(name, duration_s, cases)


@dataclass(frozen=True)
class Verdict:
    mutant: Mutant
    run: RunResult

    @property
    def killed_by(self) -> frozenset[str]:
        return self.run.killed_by

    @property
    def missed(self) -> tuple[str, ...]:
        """Expected killers that did not kill it."""
        return tuple(case_id for case_id in self.mutant.expect if case_id not in self.killed_by)

    @property
    def unexpected(self) -> tuple[str, ...]:
        """Cases that killed it without being expected to: fine, and worth a look."""
        return tuple(sorted(self.killed_by - set(self.mutant.expect)))

    @property
    def status(self) -> Status:
        if self.run.error is not None:
            return "error"
        if self.mutant.equivalent:
            return "equivalent failed" if self.killed_by else "equivalent"
        if self.mutant.gap:
            return "known gap" if self.missed else "gap closed"
        if not self.killed_by:
            return "survived"
        return "not as expected" if self.missed else "killed"

    @property
    def ok(self) -> bool:
        return self.status in ("killed", "equivalent", "known gap")

    def problem(self) -> str | None:
        """Why this verdict fails the matrix, in one line; None when it does not."""
        name, killed = self.mutant.name, ", ".join(sorted(self.killed_by))
        match self.status:
            case "error":
                return f"{name}: {self.run.error}"
            case "equivalent failed":
                return f"{name}: an equivalent mutant failed {killed}"
            case "survived":
                return f"{name} survived: no case failed (expected {', '.join(self.mutant.expect)} to fail)"
            case "not as expected":
                return f"{name}: killed by {killed}, but not by {', '.join(self.missed)}"
            case "gap closed":
                return f"{name}: the known gap is closed ({killed} caught it): remove `gap` from its catalogue file"
        return None

    def cell(self, case_id: str) -> Cell:
        if case_id in self.killed_by:
            return "killed-as-expected" if case_id in self.mutant.expect else "killed-unexpected"
        if case_id in self.mutant.expect:
            return "survived"
        return ""


MatrixStatus = Literal["completed", "interrupted", "baseline failed"]


@dataclass(frozen=True)
class Matrix:
    """Every verdict of one `python -m mutants`, with what a reader needs to trust it."""

    started_at: datetime
    wall_s: float  # from start to the last process stopped
    servers_s: float  # PostgreSQL and Redis up
    jobs: int  # checklist runs at a time
    status: MatrixStatus
    columns: tuple[str, ...]  # case ids: the checklist rows in checklist order, then the @extra cases
    baseline: RunResult | None
    verdicts: tuple[Verdict, ...]  # in catalogue order
    selected: int  # mutants selected; fewer verdicts when interrupted

    def problems(self) -> list[str]:
        found = []
        if self.status == "baseline failed" and self.baseline is not None:
            found.append(f"baseline: {baseline_problem(self.baseline)}")
        found += [problem for verdict in self.verdicts if (problem := verdict.problem())]
        if self.status == "interrupted":
            found.append(f"interrupted after {len(self.verdicts)} of {self.selected} mutants")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems()


def baseline_problem(baseline: RunResult) -> str | None:
    """Why the unmutated tree is no baseline (every case must pass), or None."""
    if baseline.error is not None:
        return baseline.error
    if not baseline.cases:
        return "the checklist ran no case"
    if baseline.not_passed:
        shown = "; ".join(
            f"{case.case_id}{f' ({case.example})' if case.example else ''} {case.outcome}: {case.detail or '-'}"
            for case in baseline.not_passed
        )
        return f"the unmutated tree does not pass every case: {shown}"
    return None
