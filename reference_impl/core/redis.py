"""The Redis client and the access-token blacklist kept in it (shared by auth and users)."""

from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from reference_impl.core.config import Settings

REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)

_BLACKLIST_PREFIX = "auth:blacklist:"


class TokenStoreUnavailable(Exception):
    """Redis cannot be reached: token checks fail closed (503), never open."""


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
def token_store() -> Iterator[None]:
    """Redis failures inside become TokenStoreUnavailable (a 503): checks fail closed."""
    try:
        yield
    except REDIS_UNAVAILABLE as exc:
        raise TokenStoreUnavailable(f"{type(exc).__name__}: {exc}") from exc


async def blacklist_token(client: "aioredis.Redis", jti: str, ttl_seconds: int) -> None:
    # The entry lives exactly as long as the token could still be presented.
    with token_store():
        await client.set(_BLACKLIST_PREFIX + jti, "1", ex=max(ttl_seconds, 1))


async def is_token_blacklisted(client: "aioredis.Redis", jti: str) -> bool:
    with token_store():
        return bool(await client.exists(_BLACKLIST_PREFIX + jti))


async def redis_answers(client: "aioredis.Redis") -> bool:
    try:
        return bool(await client.ping())
    except REDIS_UNAVAILABLE:
        return False
