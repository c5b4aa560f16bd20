"""The Redis client of the auth service, where failed logins are counted (auth/throttle.py).

Redis holds nothing a token check needs: revocation lives in PostgreSQL, so only logins depend on Redis.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import redis.asyncio as aioredis
import redis.exceptions
from fastapi import Depends, Request
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from reference_impl.core.config import Settings
from reference_impl.core.errors import RedisUnavailable

REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)


async def _redis(request: Request) -> "aioredis.Redis":
    client: aioredis.Redis = request.app.state.redis
    return client


# Here, not in core.deps: only auth uses Redis, and the other services need not import it (about 0.1 s a start).
RedisClient = Annotated["aioredis.Redis", Depends(_redis)]


def create_redis(settings: Settings) -> "aioredis.Redis":
    # One immediate retry on a dropped connection: after Redis restarts or drops its clients, a pooled
    # connection is dead, and the first request on it must not be a 503. Not on timeouts: a frozen Redis must
    # still answer 503 within the timeout, not twice it.
    return aioredis.from_url(
        str(settings.redis_url),
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        decode_responses=True,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[redis.exceptions.ConnectionError],
    )


@contextmanager
def redis_required() -> Iterator[None]:
    """Redis failures inside become RedisUnavailable (a 503): what needs Redis fails closed."""
    try:
        yield
    except REDIS_UNAVAILABLE as exc:
        raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from exc


async def redis_answers(client: "aioredis.Redis") -> bool:
    try:
        return bool(await client.ping())
    except REDIS_UNAVAILABLE:
        return False
