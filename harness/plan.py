"""The cases a run will execute, known before pytest collects them.

Under xdist the controller never collects, yet it must know the selection before the first case: which services
the selected cases call (the preflight checks only those), and every case a run meant to execute (an interrupted
run lists the rest as `not run`). The features are parsed here with pytest-bdd's own parser and named the way
`scenarios()` names them; `-m`, `-k`, node ids and `--deselect` are applied as pytest applies them. Where the
selection cannot be worked out (an expression pytest would reject, say), every case counts as selected: the
preflight then checks more services than needed, never fewer.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from harness.catalogue import EXTRA_ID, FEATURES_DIR, SERVICE_TAGS, row_ids

CHECKLIST_MODULE = "test_checklist.py"
# The services a scenario calls, read off its steps (the step texts in steps/ are the vocabulary): a scenario
# that starts from a registered user calls auth whatever its own service.
_STEP_SERVICES = (
    (
        re.compile(r"регистрир|зарегистрирован|вхожу|вошёл|выхожу|вышел|обновляю токены|вместо|сервиса auth"),
        "auth",
    ),
    (re.compile(r"/users/me|запрашиваю (другого )?пользователя|создаю пользователя|сервиса users"), "users"),
    (re.compile(r"вебхук|сервиса webhook|to_can\.process_webhook"), "webhook"),
)


@dataclass(frozen=True)
class PlannedCase:
    nodeid: str
    row_id: str | None  # None for cases beyond the checklist (@extra)
    case_id: str  # the row ID, or for an @extra case its EXTRA-… tag
    example: dict[str, str] | None
    title: str  # the scenario's Gherkin title, examples filled in
    tags: frozenset[str]
    services: frozenset[str]
    steps: tuple[str, ...]  # the step texts, examples filled in
    # Faults the case injects ("expired-access-token", "webhook-database", "function-swap", ...): a target without the
    # means skips the case before any of its steps run, whatever else is broken.
    faults: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.nodeid.rpartition("::")[2]


_STEP_FAULTS = (
    (re.compile(r"истёкш\w* refresh_token"), "expired-refresh-token"),
    (re.compile(r"просроченн\w* токен"), "expired-access-token"),
    (re.compile(r"база данных сервиса (\w+) недоступна"), "{}-database"),
    (re.compile(r"Redis сервиса (\w+) недоступен"), "{}-redis"),
    (re.compile(r"to_can\.process_webhook завершается"), "function-swap"),
)


def _step_faults(steps: Sequence[str]) -> frozenset[str]:
    found = set()
    for pattern, fault in _STEP_FAULTS:
        for step in steps:
            match = pattern.search(step)
            if match:
                found.add(fault.format(*match.groups()))
    return frozenset(found)


def _scenario_services(tags: frozenset[str], steps: list[str]) -> frozenset[str]:
    # Its own service always, whatever the wording of its steps.
    services = {tag for tag in tags if tag in SERVICE_TAGS and tag != "cross"}
    services |= {service for pattern, service in _STEP_SERVICES if any(pattern.search(s) for s in steps)}
    return frozenset(services)


def _render(text: str, example: dict[str, str] | None) -> str:
    for key, value in (example or {}).items():
        text = text.replace(f"<{key}>", value)
    return text


@cache
def all_cases(features_dir: Path = FEATURES_DIR) -> tuple[PlannedCase, ...]:
    """Every case `scenarios("features")` in test_checklist.py makes, in collection order."""
    from pytest_bdd.feature import get_features
    from pytest_bdd.scenario import get_python_name_generator

    known_rows = row_ids()
    taken: set[str] = set()
    cases = []
    for feature in get_features([str(features_dir)]):
        for scenario in feature.scenarios.values():
            name = next(n for n in get_python_name_generator(scenario.name) if n not in taken)
            taken.add(name)
            tags = frozenset(scenario.tags | feature.tags)
            row = next((tag for tag in tags if tag in known_rows), None)
            extra = next((tag for tag in sorted(tags) if EXTRA_ID.fullmatch(tag)), None)
            steps = [step.name for step in scenario.steps]
            services = _scenario_services(tags, steps)
            examples: list[dict[str, str] | None] = [
                dict(context) for block in scenario.examples for context in block.as_contexts()
            ]
            for example in examples or [None]:
                rendered = tuple(_render(step, example) for step in steps)
                # pytest escapes non-ASCII parameter ids, and so must a node id made here.
                param = "-".join(example.values()).encode("unicode_escape").decode("ascii") if example else ""
                param = f"[{param}]" if example else ""
                cases.append(
                    PlannedCase(
                        nodeid=f"{CHECKLIST_MODULE}::{name}{param}",
                        row_id=row,
                        case_id=row or extra or name,
                        example=example or None,
                        title=_render(scenario.name, example),
                        tags=tags,
                        services=services,
                        steps=rendered,
                        faults=_step_faults(rendered),
                    )
                )
    return tuple(cases)


def extra_case_ids() -> list[str]:
    """The ids of the cases beyond the checklist (EXTRA-…), sorted."""
    return sorted({case.case_id for case in all_cases() if case.row_id is None})


def planned_case(nodeid: str) -> PlannedCase | None:
    return _by_nodeid().get(nodeid)


@cache
def _by_nodeid() -> dict[str, PlannedCase]:
    return {case.nodeid: case for case in all_cases()}


def _keywords(case: PlannedCase) -> set[str]:
    # What pytest's KeywordMatcher sees for a case: its node names and its markers (the tags).
    return {case.name, CHECKLIST_MODULE, *case.tags}


def _matches(expression: str, names: set[str], *, substring: bool) -> bool:
    from _pytest.mark.expression import Expression  # pytest's own -m/-k grammar; no public name for it

    def matcher(name: str, /, **kwargs: object) -> bool:
        if substring:
            return any(name.lower() in candidate.lower() for candidate in names)
        return name in names

    return Expression.compile(expression).evaluate(matcher)


def _selected_by_args(case: PlannedCase, args: list[str]) -> bool:
    for arg in args:
        path, _, rest = arg.partition("::")
        if Path(path).name not in (CHECKLIST_MODULE, FEATURES_DIR.name):
            continue
        if not rest or case.nodeid.startswith(f"{CHECKLIST_MODULE}::{rest}"):
            return True
    return False


def selected_cases(config: pytest.Config, cases: tuple[PlannedCase, ...] | None = None) -> list[PlannedCase]:
    """The cases the command line selects, as pytest's collection and deselection will select them."""
    cases = all_cases() if cases is None else cases
    args = [str(arg) for arg in config.args]
    chosen = [case for case in cases if _selected_by_args(case, args)]
    deselect = [str(nodeid) for nodeid in (config.getoption("deselect", None) or [])]
    chosen = [case for case in chosen if not any(case.nodeid.startswith(prefix) for prefix in deselect)]
    markexpr = (config.getoption("markexpr", "") or "").strip()
    keyword = (config.getoption("keyword", "") or "").strip()
    try:
        if markexpr:
            chosen = [case for case in chosen if _matches(markexpr, set(case.tags), substring=False)]
        if keyword:
            chosen = [case for case in chosen if _matches(keyword, _keywords(case), substring=True)]
    except Exception:  # pytest reports a malformed expression itself; select broadly meanwhile
        return list(cases)
    return chosen


def needed_services(cases: list[PlannedCase]) -> frozenset[str]:
    return frozenset().union(*(case.services for case in cases)) if cases else frozenset()
