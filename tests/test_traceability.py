"""Every checklist row is exactly one scenario, and every scenario is exactly one known row."""

from collections import Counter
from pathlib import Path
from typing import Any

from gherkin.parser import Parser

from harness.catalogue import EXTRA_ID, FEATURES_DIR, KIND_TAGS, SERVICE_TAGS, rows

EXPECTED_FEATURES = {"auth.feature", "users.feature", "webhook.feature", "cross_service.feature"}


def _scenarios() -> list[tuple[str, dict[str, object]]]:
    found = []
    for path in sorted(FEATURES_DIR.glob("*.feature")):
        document = Parser().parse(path.read_text(encoding="utf-8"))
        feature = document["feature"]
        assert feature["language"] == "ru", f"{path.name}: expected '# language: ru'"
        feature_tags = [tag["name"].lstrip("@") for tag in feature["tags"]]
        for child in feature["children"]:
            node: dict[str, Any] = dict(child)
            if "scenario" in node:
                scenario = dict(node["scenario"])
                scenario["all_tags"] = feature_tags + [tag["name"].lstrip("@") for tag in scenario["tags"]]
                found.append((path.name, scenario))
    return found


def test_the_expected_feature_files_exist() -> None:
    assert {path.name for path in Path(FEATURES_DIR).glob("*.feature")} >= EXPECTED_FEATURES


def test_every_row_tags_exactly_one_scenario_and_every_scenario_one_row() -> None:
    known = {row.id: row for row in rows()}
    assert len(known) == 38
    problems = []
    used: Counter[str] = Counter()
    for feature, scenario in _scenarios():
        tags = scenario["all_tags"]
        assert isinstance(tags, list)
        ids = [tag for tag in tags if tag not in SERVICE_TAGS and tag not in KIND_TAGS]
        if "extra" in tags:
            # A case beyond the checklist carries exactly one EXTRA-<AREA>-<NN> id of its own, and no row ID.
            if len(ids) != 1 or not EXTRA_ID.fullmatch(ids[0]):
                problems.append(f"{feature}: extra case {scenario['name']!r} carries {ids or 'no EXTRA- id'}")
            else:
                used[ids[0]] += 1
            continue
        if len(ids) != 1 or ids[0] not in known:
            problems.append(f"{feature}: {scenario['name']!r} carries {ids or 'no row ID'}")
            continue
        used[ids[0]] += 1
        row = known[ids[0]]
        if row.service not in tags:
            problems.append(f"{feature}: {ids[0]} is not tagged @{row.service}")
        if not str(scenario["name"]).startswith(row.scenario_ru):
            problems.append(
                f"{feature}: {ids[0]} title {scenario['name']!r} is not the checklist's {row.scenario_ru!r}"
            )
    missing = sorted(set(known) - set(used))
    repeated = sorted(row_id for row_id, count in used.items() if count > 1)
    assert not (problems or missing or repeated), (
        f"missing: {missing}; tagged more than once: {repeated}; problems: {problems}"
    )


def test_scenario_titles_are_unique_per_feature() -> None:
    # pytest-bdd keys scenarios by title: a repeated title would silently drop a case.
    titles = Counter((feature, scenario["name"]) for feature, scenario in _scenarios())
    assert [title for title, count in titles.items() if count > 1] == []


def test_login_by_each_identifier_is_an_outline_with_three_examples() -> None:
    scenario = next(s for _, s in _scenarios() if "AUTH-LOGIN-01" in s["all_tags"])  # type: ignore[operator]
    assert scenario["keyword"] == "Структура сценария"
    examples = scenario["examples"]
    assert isinstance(examples, list)
    values = [row["cells"][0]["value"] for row in examples[0]["tableBody"]]
    assert values == ["second_login", "email", "phone"]
