"""Hands the validated callback to `to_can.process_webhook` and interprets its JSON result."""

import logging

import asyncpg

from reference_impl.core.errors import RefusedRequest
from reference_impl.webhook.schemas import WebhookPayload


class InvalidWebhookData(RefusedRequest):
    """The database refused the callback (its result carries `error`): 400 with that text, or the result's
    `status` (409 for an Id already used with different data)."""

    log_level = logging.WARNING

    def __init__(self, detail: str, status_code: int = 400) -> None:
        super().__init__(detail)
        self.status_code = status_code


async def process_webhook(conn: asyncpg.Connection, payload: WebhookPayload) -> str:
    """The function's result as JSON text, to be the answer as it is; its `error` (and `status`) read in SQL,
    so that Python never parses the body it passes on."""
    row = await conn.fetchrow(
        "SELECT r::text AS body, jsonb_typeof(r) AS kind, r->>'error' AS error, r->>'status' AS status"
        " FROM to_can.process_webhook($1::jsonb) AS r",
        payload.model_dump(mode="json"),
    )
    assert row is not None
    if row["kind"] != "object":
        raise TypeError(f"to_can.process_webhook returned {row['kind']}, expected an object")
    if row["error"] is not None:
        status = int(row["status"]) if (row["status"] or "").isdigit() else 400
        raise InvalidWebhookData(row["error"], status if status in (400, 409) else 400)
    body: str = row["body"]
    return body
