"""Login throttling in Redis: failed attempts counted per account and per client address in a fixed window.

A single wrong password is an ordinary 401; only repeated failures within the window get 429 + Retry-After.
The account is the one the login resolved to, whichever identifier named it (second_login, email or phone); a
login that names no account is counted under its own spelling.
"""

import hashlib
import logging

import redis.asyncio as aioredis
from fastapi import HTTPException, status

from reference_impl.core.config import Settings
from reference_impl.core.redis import redis_required

logger = logging.getLogger("reference_impl.auth")

TOO_MANY_ATTEMPTS = "Too many failed login attempts, try again later"


def account_subject(account_id: object) -> str:
    return f"id:{account_id}"


def unknown_login_subject(login: str) -> str:
    return f"login:{login.lower()}"


def _keys(subject: str, address: str) -> tuple[str, str]:
    # Hashed: Redis keys should not hold people's emails and phone numbers.
    account = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return f"auth:login-failures:account:{account}", f"auth:login-failures:address:{address}"


class LoginThrottle:
    def __init__(self, client: "aioredis.Redis", settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def check(self, subject: str, address: str) -> None:
        """429 when the account or the address has used up its failures for the window."""
        account_key, address_key = _keys(subject, address)
        with redis_required():
            async with self.client.pipeline(transaction=False) as pipe:
                for key in (account_key, address_key):
                    pipe.get(key)
                    pipe.ttl(key)
                account_failures, account_ttl, address_failures, address_ttl = await pipe.execute()
        over = []
        if int(account_failures or 0) >= self.settings.login_failures_per_account:
            over.append(("account", account_ttl))
        if int(address_failures or 0) >= self.settings.login_failures_per_address:
            over.append(("address", address_ttl))
        if over:
            retry_after = max(max(int(ttl) for _, ttl in over), 1)
            logger.warning("login throttled (%s) for %ss", ", ".join(kind for kind, _ in over), retry_after)
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=TOO_MANY_ATTEMPTS,
                headers={"Retry-After": str(retry_after)},
            )

    async def failed(self, subject: str, address: str) -> None:
        window = self.settings.login_failure_window_seconds
        with redis_required():
            async with self.client.pipeline(transaction=True) as pipe:
                for key in _keys(subject, address):
                    # The window starts at the first failure (SET NX EX, then INCR keeps the TTL; Redis 6 too).
                    pipe.set(key, 0, ex=window, nx=True)
                    pipe.incr(key)
                await pipe.execute()

    async def succeeded(self, subject: str) -> None:
        with redis_required():
            await self.client.delete(_keys(subject, "-")[0])
