"""What changed since an earlier run: each case's previous outcome, and the cases whose outcome moved.

By default a run is compared with the newest earlier run in the same reports folder against the same target
(the reference stack, or the same three URLs); `--compare RUN_DIR` names the run to compare with instead, e.g.
a staging run against the last reference run.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Headings of the changes, in the order reports list them: (name, from outcomes, to outcomes).
KINDS = (
    ("newly failing", None, frozenset({"failed"})),
    ("newly blocked", None, frozenset({"blocked"})),
    ("fixed", frozenset({"failed", "blocked"}), frozenset({"passed"})),
)


# Every kind a change can be, in the order the reports list them.
CHANGE_KINDS = (*(name for name, _, _ in KINDS), "other")


def case_key(case: dict[str, Any]) -> str:
    """A case's identity across runs: its row ID (or EXTRA- id) and example."""
    example = case.get("example") or {}
    suffix = "[" + ",".join(f"{k}={v}" for k, v in example.items()) + "]" if example else ""
    return f"{case.get('case_id') or case.get('row_id') or case.get('title')}{suffix}"


def same_target(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """Two runs aimed at the same thing: the reference stack (its ports change every boot), or the same URLs."""
    if one.get("kind") != other.get("kind"):
        return False
    return one.get("kind") == "reference" or one.get("base_urls") == other.get("base_urls")


def _read(folder: Path) -> dict[str, Any] | None:
    try:
        document: dict[str, Any] = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document.get("cases"), list) and document["cases"] else None


@dataclass(frozen=True)
class Baseline:
    folder: Path
    document: dict[str, Any]

    @property
    def outcomes(self) -> dict[str, str]:
        return {case_key(case): case["outcome"] for case in self.document["cases"]}


def load_baseline(folder: Path) -> Baseline | None:
    """The run in `folder` (a report folder, or a results.json), if it has results to compare with."""
    folder = folder.parent if folder.name == "results.json" else folder
    document = _read(folder.resolve())
    return Baseline(folder.resolve(), document) if document else None


def latest_baseline(reports_dir: Path, target: dict[str, Any], exclude: Path | None) -> Baseline | None:
    """The newest earlier run under `reports_dir` against the same target, with results."""
    if not reports_dir.is_dir():
        return None
    # Newest first (folders are named by their UTC start): usually the first one read is the answer, however many
    # runs the folder has kept.
    folders = sorted((f for f in reports_dir.iterdir() if f.is_dir() and not f.is_symlink()), reverse=True)
    for folder in folders:
        if exclude and folder.resolve() == exclude.resolve():
            continue
        document = _read(folder)
        if document and same_target(document["run"]["target"], target):
            return Baseline(folder.resolve(), document)
    return None


def apply(document: dict[str, Any], baseline: Baseline | None) -> None:
    """Annotate `document` in place: `run.compared_with`, each case's `previous_outcome`, and `changes`."""
    if baseline is None:
        document["run"]["compared_with"] = None
        for case in document["cases"]:
            case["previous_outcome"] = None
        document["changes"] = []
        return
    before = baseline.outcomes
    run = baseline.document["run"]
    document["run"]["compared_with"] = {
        "id": run.get("id"),
        "folder": str(baseline.folder),
        "started_at": run.get("started_at"),
        "status": run.get("status"),
    }
    changes = []
    for case in document["cases"]:
        previous = before.get(case_key(case))
        case["previous_outcome"] = previous
        if previous == case["outcome"] or case["outcome"] == "not_run":
            continue
        kind = next(
            (name for name, was, now in KINDS if case["outcome"] in now and (was is None or previous in was)),
            "other",
        )
        changes.append(
            {
                "kind": kind,
                "key": case_key(case),
                "row_id": case["row_id"],
                "title": case["title"],
                "from": previous,
                "to": case["outcome"],
            }
        )
    document["changes"] = changes
