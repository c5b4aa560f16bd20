"""Exception handlers shared by the services; every error body has FastAPI's `{"detail": ...}` shape."""

import logging
from typing import Any

from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from reference_impl.core.db import DATABASE_ERRORS
from reference_impl.core.logging import REQUEST_ID_HEADER
from reference_impl.core.redis import TokenStoreUnavailable

logger = logging.getLogger("reference_impl.errors")

DATABASE_ERROR = "Database error"
TOKEN_STORE_ERROR = "Token store unavailable"


class Detail(BaseModel):
    """The error body of every service (FastAPI's shape)."""

    detail: str


_RESPONSE_DESCRIPTIONS = {
    400: "Refused: the message says why (missing password, duplicate, unknown group, invalid MID)",
    401: "Missing, invalid, expired or revoked token, or invalid credentials",
    404: "Not found",
    500: "Internal error",
    503: "The database or Redis cannot be reached",
}


class RefusedRequest(Exception):
    """A request the service refuses for a reason the client can fix; answered with `status_code` and the detail."""

    status_code = 400
    log_level = logging.INFO

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses an operation really returns, all with the `Detail` body."""
    return {code: {"model": Detail, "description": _RESPONSE_DESCRIPTIONS[code]} for code in codes}


def _request_id_headers() -> dict[str, str]:
    # Only for unhandled errors: they are answered outside the request-id middleware, which adds the header to
    # every other response (adding it here too would send it twice).
    request_id = correlation_id.get()
    return {REQUEST_ID_HEADER: request_id} if request_id else {}


def install_error_handlers(app: FastAPI, internal_error_detail: str) -> None:
    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RefusedRequest)
        logger.log(exc.log_level, "%s %s refused: %s", request.method, request.url.path, exc.detail)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        logger.error("database unavailable: %s: %s", type(exc).__name__, exc)
        return JSONResponse({"detail": DATABASE_ERROR}, status_code=503)

    async def token_store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        logger.error("redis unavailable: %s: %s", type(exc).__name__, exc)
        return JSONResponse({"detail": TOKEN_STORE_ERROR}, status_code=503)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error: %s", type(exc).__name__)
        return JSONResponse({"detail": internal_error_detail}, status_code=500, headers=_request_id_headers())

    app.add_exception_handler(RefusedRequest, refused)
    app.add_exception_handler(TokenStoreUnavailable, token_store_unavailable)
    for exc_type in DATABASE_ERRORS:
        app.add_exception_handler(exc_type, database_unavailable)
    app.add_exception_handler(Exception, unexpected)
