"""webhook over real HTTP: the result of to_can.process_webhook, validation, request ids and the log."""

import json
from pathlib import Path

import pytest

from reference_impl.stack.api import RunningStack
from reference_impl.stack.processes import wait_until
from tests.conftest import Api, sql, webhook_payload


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

    rows = sql(stack, "SELECT callback FROM to_can.payments WHERE id = $1", payload["Id"])
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


def test_an_identical_resend_gets_the_same_answer(api: Api) -> None:
    payload = webhook_payload(Amount="12.50")
    first = api.post_webhook(payload)
    assert first.status_code == 200
    # Byte-for-byte the same callback, and the same with the amount spelt otherwise: both the same payment.
    for resend in (payload, {**payload, "Amount": "12.5"}):
        again = api.post_webhook(resend)
        assert (again.status_code, again.json()) == (200, first.json())


@pytest.mark.parametrize(
    "change",
    [{"Amount": "99999.00"}, {"MID": "100000000002"}, {"ClientName": "Someone else"}, {"PaidAt": "now"}],
    ids=["Amount", "MID", "ClientName", "an extra field"],
)
def test_a_conflicting_resend_is_409_and_discloses_nothing(api: Api, change: dict[str, str]) -> None:
    payload = webhook_payload(Amount="12.50", ClientName="Original Client")
    assert api.post_webhook(payload).status_code == 200
    conflicting = api.post_webhook({**payload, **change})
    assert (conflicting.status_code, conflicting.json()) == (
        409,
        {"detail": "Payment Id already used with different data"},
    )


def test_ids_that_differ_only_in_case_or_width_are_one_payment(api: Api, stack: RunningStack) -> None:
    payload = webhook_payload()
    first = api.post_webhook(payload)
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in payload["Id"])
    for variant in (payload["Id"].upper(), fullwidth):
        again = api.post_webhook({**payload, "Id": variant})
        assert (again.status_code, again.json()) == (200, first.json())
    stored = sql(
        stack, "SELECT count(*) AS n FROM to_can.payments WHERE lower(id) = lower($1)", payload["Id"]
    )
    assert stored[0]["n"] == 1


@pytest.mark.parametrize(
    "spoil",
    [" {}", "{} ", "{}\u200b", "\u200b{}", "{}\u00a0x", "{}\u0430"],  # spaces, zero-width, NBSP, Cyrillic а
    ids=["leading space", "trailing space", "zero-width after", "zero-width before", "NBSP", "Cyrillic"],
)
def test_ids_with_spaces_invisible_or_other_script_characters_are_422(api: Api, spoil: str) -> None:
    payload = webhook_payload()
    response = api.post_webhook({**payload, "Id": spoil.format(payload["Id"])})
    assert response.status_code == 422
    assert "visible ASCII" in response.text


@pytest.mark.parametrize("amount", ["0", "0.00", "-5.00"])
def test_a_zero_or_negative_amount_is_422(api: Api, amount: str) -> None:
    response = api.post_webhook(webhook_payload(Amount=amount))
    assert response.status_code == 422
    assert "positive" in response.text
