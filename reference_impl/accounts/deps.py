"""The caller as a live account: a valid access token whose session is live and whose user is active, checked
in PostgreSQL in the same query that returns the user."""

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Depends

from reference_impl.accounts.service import token_ids
from reference_impl.core.config import Settings
from reference_impl.core.deps import INVALID_ACCESS_TOKEN, AccessToken, Db, unauthorized
from reference_impl.core.tokens import TokenClaims


@dataclass(frozen=True)
class Caller:
    claims: TokenClaims
    user_id: UUID
    session_id: UUID
    user: dict[str, Any]  # users.user_json of the caller

    def is_admin(self, settings: Settings) -> bool:
        return settings.admin_group in self.user["groups"]


def caller_ids(claims: TokenClaims) -> tuple[UUID, UUID]:
    ids = token_ids(claims)
    if ids is None:
        raise unauthorized(INVALID_ACCESS_TOKEN)
    return ids


async def live_user(conn: asyncpg.Connection, claims: TokenClaims) -> Caller:
    """401 unless the token's session is live and its user active; else the caller with its user object."""
    user_id, session_id = caller_ids(claims)
    user: dict[str, Any] | None = await conn.fetchval(
        "SELECT auth.live_user_json($1, $2)", user_id, session_id
    )
    if user is None:
        raise unauthorized(INVALID_ACCESS_TOKEN)
    return Caller(claims, user_id, session_id, user)


async def live_caller(claims: AccessToken, db: Db) -> Caller:
    async with db.connection() as conn:
        return await live_user(conn, claims)


LiveCaller = Annotated[Caller, Depends(live_caller)]


async def live_user_body(claims: AccessToken, db: Db) -> str:
    """The caller's user object as the JSON text PostgreSQL builds, for a response that returns it as it is:
    nothing parsed or validated again in Python (users.user_json's shape is the API's). 401 as `live_user`."""
    user_id, session_id = caller_ids(claims)
    async with db.connection() as conn:
        body: str | None = await conn.fetchval(
            "SELECT auth.live_user_json($1, $2)::text", user_id, session_id
        )
    if body is None:
        raise unauthorized(INVALID_ACCESS_TOKEN)
    return body


LiveUserBody = Annotated[str, Depends(live_user_body)]
