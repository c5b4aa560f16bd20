"""The checklist's rows, read from the project's copy of `docs/checklist-rows.tsv`."""

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ROWS_FILE = PROJECT_ROOT / "docs" / "checklist-rows.tsv"
FEATURES_DIR = PROJECT_ROOT / "features"
SERVICE_TAGS = ("auth", "users", "webhook", "cross")
KIND_TAGS = ("extra", "fault")  # beyond the checklist; breaks the target for a moment
# The ID of a case beyond the checklist (@extra): EXTRA-<AREA>-<NN>, e.g. EXTRA-DB-01.
EXTRA_ID = re.compile(r"EXTRA-[A-Z]+-\d{2}")


@dataclass(frozen=True)
class Row:
    id: str
    service: str
    endpoint: str
    scenario_ru: str
    scenario_en: str
    expected: str


@cache
def rows(path: Path = ROWS_FILE) -> tuple[Row, ...]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        next(reader)  # header
        return tuple(Row(*fields) for fields in reader if fields)


def row_ids() -> frozenset[str]:
    return frozenset(row.id for row in rows())
