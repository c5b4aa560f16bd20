"""Argon2 password hashing via pwdlib, run in a worker thread so the event loop never blocks on it."""

import asyncio
from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from reference_impl.core.config import get_settings


@lru_cache
def _hasher() -> PasswordHash:
    settings = get_settings()
    return PasswordHash(
        (
            Argon2Hasher(
                time_cost=settings.password_hash_time_cost,
                memory_cost=settings.password_hash_memory_kib,
                parallelism=settings.password_hash_parallelism,
            ),
        )
    )


@lru_cache
def _dummy_hash() -> str:
    # Verifying unknown logins against a real hash keeps their response time comparable to a wrong password.
    return _hasher().hash("dummy password for unknown logins")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher().hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        await asyncio.to_thread(_hasher().verify, password, _dummy_hash())
        return False
    return await asyncio.to_thread(_hasher().verify, password, password_hash)


def warm_up() -> None:
    """Compute the dummy hash at startup rather than on the first unknown login."""
    _dummy_hash()
