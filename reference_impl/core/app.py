"""The application factory every service is built with: lifespan, middleware, error handlers, /health."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from reference_impl.core import passwords
from reference_impl.core.config import get_settings
from reference_impl.core.db import DATABASE_ERRORS, connection, create_pool
from reference_impl.core.deps import DbPool, RedisClient, SettingsDep
from reference_impl.core.errors import install_error_handlers
from reference_impl.core.logging import (
    AccessLogMiddleware,
    CorrelationIdMiddleware,
    configure_logging,
    request_id_middleware_options,
)
from reference_impl.core.redis import create_redis, redis_answers

health_router = APIRouter(tags=["health"])


@health_router.get(
    "/health",
    summary="Liveness and readiness: 200 when the database and Redis answer",
    responses={503: {"description": "The database or Redis does not answer"}},
)
async def health(pool: DbPool, redis_client: RedisClient, settings: SettingsDep) -> JSONResponse:
    checks = {"database": "ok", "redis": "ok"}
    try:
        async with connection(pool, settings) as conn:
            await conn.fetchval("SELECT 1")
    except DATABASE_ERRORS:
        checks["database"] = "unavailable"
    if not await redis_answers(redis_client):
        checks["redis"] = "unavailable"
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status_code=200 if healthy else 503
    )


def _noop() -> None:
    return None


def create_app(
    *,
    service: str,
    title: str,
    routers: Sequence[APIRouter],
    internal_error_detail: str = "Internal server error",
    hashes_passwords: bool = False,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = get_settings()
        configure_logging(service, settings.log_dir, settings.log_level, settings.log_to_stderr)
        # In the background: the service answers /health while the dummy hash is computed.
        warm_up = asyncio.get_running_loop().run_in_executor(
            None, passwords.warm_up if hashes_passwords else _noop
        )
        app.state.pool = await create_pool(settings)
        app.state.redis = create_redis(settings)
        try:
            yield
        finally:
            await warm_up
            await app.state.pool.close()
            await app.state.redis.aclose()

    app = FastAPI(title=title, lifespan=lifespan)
    for router in routers:
        app.include_router(router)
    app.include_router(health_router)
    install_error_handlers(app, internal_error_detail)
    # Added last = outermost: the request id is set before the access record is written.
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(CorrelationIdMiddleware, **request_id_middleware_options())  # type: ignore[arg-type]
    return app
