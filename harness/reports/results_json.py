"""results.json: the whole results document, as JSON (its shape: results.schema.json beside this file)."""

import json
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")


def render_results_json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n"
