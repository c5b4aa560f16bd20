"""Hands the validated callback to `to_can.process_webhook` and interprets its JSON result."""

import logging
from typing import Any

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


async def process_webhook(conn: asyncpg.Connection, payload: WebhookPayload) -> dict[str, Any]:
    result: dict[str, Any] = await conn.fetchval(
        "SELECT to_can.process_webhook($1::jsonb)", payload.model_dump(mode="json")
    )
    if not isinstance(result, dict):
        raise TypeError(f"to_can.process_webhook returned {type(result).__name__}, expected an object")
    if "error" in result:
        status = result.get("status")
        raise InvalidWebhookData(str(result["error"]), status if status in (400, 409) else 400)
    return result
