"""The application factory every service is built with: lifespan, middleware, error handlers, /health."""

import asyncio
import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from reference_impl.core.config import get_settings
from reference_impl.core.db import DATABASE_ERRORS, open_database
from reference_impl.core.deps import Db
from reference_impl.core.errors import (
    DETAIL_REF_TEMPLATE,
    Detail,
    detail_response,
    install_error_handlers,
)
from reference_impl.core.limits import RequestLimitsMiddleware
from reference_impl.core.logging import (
    AccessLogMiddleware,
    CorrelationIdMiddleware,
    configure_logging,
    request_id_middleware_options,
)

health_router = APIRouter(tags=["health"])

Check = Literal["ok", "unavailable"]


class Health(BaseModel):
    status: Check
    database: Check
    redis: Check


@health_router.get(
    "/health",
    summary="Liveness and readiness: 200 when the database (and Redis, where the service uses it) answer",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database or Redis does not answer"}},
)
async def health(request: Request, db: Db) -> JSONResponse:
    checks = {"database": "ok", "redis": "ok"}
    redis_client = request.app.state.redis
    try:
        async with db.connection() as conn:
            await conn.fetchval("SELECT 1")
    except DATABASE_ERRORS:
        checks["database"] = "unavailable"
    if redis_client is not None and not await _redis_answers(redis_client):
        checks["redis"] = "unavailable"
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status_code=200 if healthy else 503
    )


def _noop() -> None:
    return None


def _tune_garbage_collector() -> None:
    """What the service built to start (routes, models, validators) lives as long as it does: frozen out of the
    collector, and with a youngest generation collected less often, the full collections that stalled about one
    request in a hundred by 30-40 ms are gone (p99 of /users/me at 32 connections: 50 ms before, 24 ms after)."""
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


async def _redis_answers(client: Any) -> bool:
    from reference_impl.core.redis import redis_answers

    return await redis_answers(client)


# Answered by RequestLimitsMiddleware to any operation that takes a body (its JSON checks answer 422, which
# FastAPI already documents for such operations).
_BODY_LIMIT_STATUSES = (413, 415)


def _document_body_limits(app: FastAPI) -> None:
    """List the middleware's statuses on every operation with a body: the routers list only their own, and the
    OpenAPI document should hold every status a client can get."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # cached by FastAPI in app.openapi_schema: patched once, in place
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.setdefault("Detail", Detail.model_json_schema(ref_template=DETAIL_REF_TEMPLATE))
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    if "requestBody" in operation:
                        for code in _BODY_LIMIT_STATUSES:
                            operation["responses"].setdefault(str(code), detail_response(code))
        return generate()

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    *,
    service: str,
    title: str,
    routers: Sequence[APIRouter],
    internal_error_detail: str = "Internal server error",
    hashes_passwords: bool = False,
    uses_redis: bool = False,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = get_settings()
        configure_logging(service, settings.log_dir, settings.log_level, settings.log_to_stderr)
        # In the background: the service answers /health while the dummy hash is computed.
        # Imported only by the services that use them: each service's start pays for its own needs alone.
        if hashes_passwords:
            from reference_impl.core import passwords
        warm_up = asyncio.get_running_loop().run_in_executor(
            None, passwords.warm_up if hashes_passwords else _noop
        )
        app.state.database = await open_database(settings)
        app.state.redis = None
        if uses_redis:
            from reference_impl.core.redis import create_redis

            app.state.redis = create_redis(settings)
        _tune_garbage_collector()
        try:
            yield
        finally:
            await warm_up
            await app.state.database.close()
            if app.state.redis is not None:
                await app.state.redis.aclose()

    app = FastAPI(title=title, lifespan=lifespan)
    for router in routers:
        app.include_router(router)
    app.include_router(health_router)
    install_error_handlers(app, internal_error_detail)
    _document_body_limits(app)
    # Innermost of ours: its refusals (413, 415, 422) get a request id and an access record like any other.
    app.add_middleware(RequestLimitsMiddleware)
    # Added last = outermost: the request id is set before the access record is written.
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(CorrelationIdMiddleware, **request_id_middleware_options())  # type: ignore[arg-type]
    return app
