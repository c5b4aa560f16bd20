"""webhook over real HTTP: the result of to_can.process_webhook, validation, request ids and the log."""

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest

from reference_impl.stack.api import RunningStack
from reference_impl.stack.processes import wait_until
from tests.conftest import Api, webhook_payload


def test_valid_webhook_returns_the_function_result(api: Api) -> None:
    payload = webhook_payload(Amount="99.50")
    response = api.post_webhook(payload)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "processed"
    assert (body["payment_id"], body["mid"], body["amount"]) == (payload["Id"], payload["MID"], "99.50")
    assert response.headers["X-Request-ID"]


def test_repeat_is_idempotent_and_extra_fields_are_kept(api: Api, stack: RunningStack) -> None:
    payload = webhook_payload(PaidAt="2025-11-24 13:05:00")
    first = api.post_webhook(payload)
    second = api.post_webhook(payload)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()

    async def stored() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(stack.database_url)
        try:
            return await conn.fetch("SELECT callback FROM to_can.payments WHERE id = $1", payload["Id"])
        finally:
            await conn.close()

    rows = asyncio.run(stored())
    assert len(rows) == 1
    assert json.loads(rows[0]["callback"])["PaidAt"] == "2025-11-24 13:05:00"


@pytest.mark.parametrize("field", ["Id", "MID", "Amount", "ReaderId", "CreatedAt", "Inputtype"])
def test_missing_required_field_is_422(api: Api, field: str) -> None:
    payload = webhook_payload()
    del payload[field]
    response = api.post_webhook(payload)
    assert response.status_code == 422
    assert field in response.text


@pytest.mark.parametrize("amount", ["-1.00", "1.234", "1e3", "abc", 12])
def test_amount_must_be_money(api: Api, amount: object) -> None:
    assert api.post_webhook(webhook_payload(Amount=amount)).status_code == 422


def test_unknown_mid_is_400_invalid_mid(api: Api) -> None:
    response = api.post_webhook(webhook_payload(MID="999"))
    assert (response.status_code, response.json()) == (400, {"detail": "Invalid MID"})


def _records(log_path: Path, request_id: str) -> list[dict[str, object]]:
    lines = log_path.read_text(encoding="utf-8").splitlines() if log_path.exists() else []
    return [record for record in map(json.loads, lines) if record.get("request_id") == request_id]


def test_request_id_is_echoed_and_logged(api: Api, stack: RunningStack) -> None:
    request_id = "qa-run.case-1_x"
    response = api.post_webhook(webhook_payload(), headers={"X-Request-ID": request_id})
    assert response.headers["X-Request-ID"] == request_id
    log_path = stack.log_paths["webhook"]
    assert log_path.name == "webhook.log"
    wait_until(lambda: len(_records(log_path, request_id)) >= 2, timeout=2, what="webhook log records")
    records = _records(log_path, request_id)
    assert {"timestamp", "level", "logger", "message"} <= records[0].keys()
    access = [r for r in records if r["logger"] == "reference_impl.access"]
    assert access and access[0]["status"] == 200 and access[0]["method"] == "POST"
    assert any(r["level"] == "INFO" and "processed" in str(r["message"]) for r in records)


def test_unsafe_request_id_is_replaced(api: Api) -> None:
    response = api.post_webhook(webhook_payload(), headers={"X-Request-ID": "evil\tid {injected}"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] != "evil\tid {injected}"
    assert len(response.headers["X-Request-ID"]) == 32


def test_rejected_mid_is_logged_as_warning(api: Api, stack: RunningStack) -> None:
    response = api.post_webhook(webhook_payload(MID="000"))
    request_id = response.headers["X-Request-ID"]
    log_path = stack.log_paths["webhook"]
    wait_until(lambda: bool(_records(log_path, request_id)), timeout=2, what="webhook log records")
    wait_until(
        lambda: any(r["level"] == "WARNING" for r in _records(log_path, request_id)),
        timeout=2,
        what="a WARNING record",
    )


@pytest.mark.parametrize("service", ["auth", "users", "webhook"])
def test_health(api: Api, stack: RunningStack, service: str) -> None:
    response = api.auth.get(f"{stack.origins[service]}/health")
    assert (response.status_code, response.json()["status"]) == (200, "ok")
