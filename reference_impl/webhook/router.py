import logging

from fastapi import APIRouter, Response

from reference_impl.core.deps import Db
from reference_impl.core.errors import error_responses
from reference_impl.webhook.schemas import WebhookPayload
from reference_impl.webhook.service import process_webhook

logger = logging.getLogger("reference_impl.webhook")

router = APIRouter(tags=["webhook"])


@router.post(
    "/webhook",
    summary="2can payment callback; the body is the result of to_can.process_webhook",
    responses=error_responses(400, 401, 409, 500, 503),
)
async def receive_webhook(payload: WebhookPayload, db: Db) -> Response:
    async with db.connection() as conn:
        body = await process_webhook(conn, payload)
    logger.info("webhook %s processed: MID %s amount %s", payload.Id, payload.MID, payload.Amount)
    return Response(body, media_type="application/json")
