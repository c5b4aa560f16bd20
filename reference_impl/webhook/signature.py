"""Optional shared-secret verification of the callback: an HMAC-SHA256 of the raw body in a header.

A deployment option (off by default), not something 2can sends: it lets a deployment that shares a secret with
its payment gateway refuse forged callbacks. The signature is checked on the raw bytes, with a constant-time
comparison, before anything parses them."""

import hashlib
import hmac
import logging

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("reference_impl.webhook")

INVALID_SIGNATURE = "Invalid signature"
_MAX_BODY = 1024 * 1024  # the body-size limit in front of this is lower; this only guards standalone use


class SignatureMiddleware:
    def __init__(self, app: ASGIApp, *, secret: bytes, header: str, path: str = "/webhook") -> None:
        self.app = app
        self.secret = secret
        self.header = header.lower().encode()
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more and len(body) <= _MAX_BODY:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        given = dict(scope["headers"]).get(self.header, b"").decode("latin-1").strip().lower()
        expected = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given.removeprefix("sha256="), expected):
            logger.warning("webhook refused: %s signature", "invalid" if given else "missing")
            await JSONResponse({"detail": INVALID_SIGNATURE}, status_code=401)(scope, receive, send)
            return

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
