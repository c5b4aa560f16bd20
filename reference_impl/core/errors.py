"""Exception handlers shared by the services; every error body has FastAPI's `{"detail": ...}` shape."""

import logging
import math
from typing import Any

import asyncpg
from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from reference_impl.core.db import DATABASE_ERRORS
from reference_impl.core.logging import REQUEST_ID_HEADER


class RedisUnavailable(Exception):
    """Redis cannot be reached: what needs it (auth's login counters) fails closed with 503, never open."""


logger = logging.getLogger("reference_impl.errors")

DATABASE_ERROR = "Database error"
REDIS_ERROR = "Login throttle unavailable"


class Detail(BaseModel):
    """The error body of every service (FastAPI's shape)."""

    detail: str


_RESPONSE_DESCRIPTIONS = {
    400: "Refused: the message says why (missing password, duplicate, unknown group, invalid MID)",
    401: "Missing, invalid, expired or revoked token; invalid credentials; or (webhook, when enabled) bad signature",
    403: "Not allowed: a group (role) the caller may not give",
    404: "Not found",
    409: "The payment Id was already used with different data",
    413: "The request body is larger than the services accept (64 KiB)",
    415: "The request body is not JSON (Content-Type must be application/json)",
    429: "Too many failed login attempts: retry after the number of seconds in Retry-After",
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


DETAIL_REF_TEMPLATE = "#/components/schemas/{model}"


def detail_response(code: int) -> dict[str, Any]:
    """The OpenAPI response object for `code` with the `Detail` body, for entries added to a generated document."""
    return {
        "description": _RESPONSE_DESCRIPTIONS[code],
        "content": {"application/json": {"schema": {"$ref": DETAIL_REF_TEMPLATE.format(model="Detail")}}},
    }


def _request_id_headers() -> dict[str, str]:
    # Only for unhandled errors: they are answered outside the request-id middleware, which adds the header to
    # every other response (adding it here too would send it twice).
    request_id = correlation_id.get()
    return {REQUEST_ID_HEADER: request_id} if request_id else {}


def _json_safe(value: Any, depth: int = 0) -> Any:
    """A validation error's echoed input as strict JSON: NaN/Infinity become strings, lone surrogates U+FFFD.

    FastAPI's own handler renders the input as received, and the response encoder refuses both (a 500)."""
    if depth > 64:  # the request limits keep inputs far shallower; never recurse without bound
        return "…"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_json_safe(key, depth + 1): _json_safe(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item, depth + 1) for item in value]
    return value


def install_error_handlers(app: FastAPI, internal_error_detail: str) -> None:
    async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # FastAPI's shape: {"detail": [{"type", "loc", "msg", "input", "ctx"?}, ...]}.
        errors = _json_safe(jsonable_encoder(exc.errors()))
        logger.info(
            "%s %s invalid: %s",
            request.method,
            request.url.path,
            "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in errors),
        )
        return JSONResponse({"detail": errors}, status_code=422)

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RefusedRequest)
        logger.log(exc.log_level, "%s %s refused: %s", request.method, request.url.path, exc.detail)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        logger.error("database unavailable: %s: %s", type(exc).__name__, exc)
        return JSONResponse({"detail": DATABASE_ERROR}, status_code=503)

    async def redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
        logger.error("redis unavailable: %s: %s", type(exc).__name__, exc)
        return JSONResponse({"detail": REDIS_ERROR}, status_code=503)

    async def query_failed(request: Request, exc: Exception) -> JSONResponse:
        # A query that failed (a broken function, a bug in SQL) is still a 500, but answered here: the catch-all
        # below runs in Starlette's outermost middleware, which re-raises to the server after answering, and
        # uvicorn then logs a second traceback and drops the keep-alive connection under the client's feet.
        logger.error("database query failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
        return JSONResponse({"detail": internal_error_detail}, status_code=500)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error: %s", type(exc).__name__)
        return JSONResponse({"detail": internal_error_detail}, status_code=500, headers=_request_id_headers())

    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(RefusedRequest, refused)
    app.add_exception_handler(RedisUnavailable, redis_unavailable)
    for exc_type in DATABASE_ERRORS:
        app.add_exception_handler(exc_type, database_unavailable)
    # Looked up by the exception's MRO: the lost-connection subclasses above still get 503.
    app.add_exception_handler(asyncpg.PostgresError, query_failed)
    app.add_exception_handler(Exception, unexpected)
