"""The webhook service: `uvicorn reference_impl.webhook.main:app` (default port 8000)."""

from reference_impl.core.app import create_app
from reference_impl.webhook.router import router

app = create_app(
    service="webhook",
    title="webhook_2can",
    routers=[router],
    internal_error_detail="Internal processing error",
)
