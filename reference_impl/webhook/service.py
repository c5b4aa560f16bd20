"""Hands the validated callback to `to_can.process_webhook` and interprets its JSON result."""

from typing import Any

import asyncpg

from reference_impl.webhook.schemas import WebhookPayload


class InvalidWebhookData(Exception):
    """The database refused the callback (its result carries `error`)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def process_webhook(conn: asyncpg.Connection, payload: WebhookPayload) -> dict[str, Any]:
    result: dict[str, Any] = await conn.fetchval(
        "SELECT to_can.process_webhook($1::jsonb)", payload.model_dump(mode="json")
    )
    if not isinstance(result, dict):
        raise TypeError(f"to_can.process_webhook returned {type(result).__name__}, expected an object")
    if "error" in result:
        raise InvalidWebhookData(str(result["error"]))
    return result
