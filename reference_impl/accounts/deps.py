"""The caller as a live account: a valid access token whose session is live and whose user is active, checked
in PostgreSQL in the same query that returns the user."""

from dataclasses import dataclass
from typing import Annotated, Any, cast
from uuid import UUID

from fastapi import Depends

from reference_impl.accounts.service import token_ids
from reference_impl.core.config import Settings
from reference_impl.core.deps import INVALID_ACCESS_TOKEN, AccessToken, Db, unauthorized
from reference_impl.core.tokens import TokenClaims


@dataclass(frozen=True)
class Caller:
    user_id: UUID
    user: dict[str, Any]  # users.user_json of the caller

    def is_admin(self, settings: Settings) -> bool:
        return settings.admin_group in self.user["groups"]


def caller_ids(claims: TokenClaims) -> tuple[UUID, UUID]:
    ids = token_ids(claims)
    if ids is None:
        raise unauthorized(INVALID_ACCESS_TOKEN)
    return ids


async def _of_live_caller(claims: TokenClaims, db: Db, query: str) -> tuple[UUID, Any]:
    """The caller's id and what `query` ($1 the user, $2 the session) returns; 401 when that is NULL, as
    auth.live_user_json is unless the token's session is live and its user active."""
    user_id, session_id = caller_ids(claims)
    async with db.connection() as conn:
        value = await conn.fetchval(query, user_id, session_id)
    if value is None:
        raise unauthorized(INVALID_ACCESS_TOKEN)
    return user_id, value


async def live_caller(claims: AccessToken, db: Db) -> Caller:
    user_id, user = await _of_live_caller(claims, db, "SELECT auth.live_user_json($1, $2)")
    return Caller(user_id, user)


LiveCaller = Annotated[Caller, Depends(live_caller)]


async def live_user_body(claims: AccessToken, db: Db) -> str:
    """The caller's user object as the JSON text PostgreSQL builds, for a response that returns it as it is:
    nothing parsed or validated again in Python (users.user_json's shape is the API's)."""
    _, body = await _of_live_caller(claims, db, "SELECT auth.live_user_json($1, $2)::text")
    return cast(str, body)


LiveUserBody = Annotated[str, Depends(live_user_body)]
