"""Argon2 password hashing via pwdlib, run in worker threads of its own so the event loop never blocks on it."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TypeVar

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


T = TypeVar("T")


@lru_cache
def _executor() -> ThreadPoolExecutor:
    # A bounded pool of its own, not the loop's default (up to CPUs + 4 threads): a burst of logins then
    # queues here instead of taking every core from the other services on the machine.
    return ThreadPoolExecutor(get_settings().password_hash_threads, thread_name_prefix="argon2")


async def _off_loop(work: Callable[..., T], *args: str) -> T:
    return await asyncio.get_running_loop().run_in_executor(_executor(), work, *args)


async def hash_password(password: str) -> str:
    return await _off_loop(_hasher().hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        await _off_loop(_hasher().verify, password, _dummy_hash())
        return False
    return await _off_loop(_hasher().verify, password, password_hash)


def warm_up() -> None:
    """Compute the dummy hash at startup rather than on the first unknown login."""
    _dummy_hash()
