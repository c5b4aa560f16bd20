"""The webhook service: `uvicorn reference_impl.webhook.main:app` (default port 8000)."""

from starlette.middleware import Middleware

from reference_impl.core.app import create_app
from reference_impl.core.config import get_settings
from reference_impl.core.limits import RequestLimitsMiddleware
from reference_impl.webhook.router import router
from reference_impl.webhook.signature import SignatureMiddleware

app = create_app(
    service="webhook",
    title="webhook_2can",
    routers=[router],
    internal_error_detail="Internal processing error",
)

_secret = get_settings().webhook_hmac_secret
if _secret is not None:
    # Inside the request-id and access-log middleware (refusals carry both) but before the request limits,
    # which parse the body: an unsigned body is refused before anything reads it as JSON.
    position = next(
        (
            i
            for i, entry in enumerate(app.user_middleware)
            if getattr(entry, "cls", None) is RequestLimitsMiddleware
        ),
        len(app.user_middleware),
    )
    app.user_middleware.insert(
        position,
        Middleware(
            SignatureMiddleware,
            secret=_secret.get_secret_value().encode(),
            header=get_settings().webhook_signature_header,
        ),
    )
