"""The caller as a live account: a valid access token whose user still exists and is active."""

from typing import Annotated

from fastapi import Depends, HTTPException, status

from reference_impl.accounts.service import is_active_user
from reference_impl.core.db import connection
from reference_impl.core.deps import INVALID_ACCESS_TOKEN, AccessToken, DbPool, SettingsDep
from reference_impl.core.tokens import TokenClaims


async def active_user_token(claims: AccessToken, pool: DbPool, settings: SettingsDep) -> TokenClaims:
    async with connection(pool, settings) as conn:
        if not await is_active_user(conn, claims.sub):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=INVALID_ACCESS_TOKEN,
                headers={"WWW-Authenticate": "Bearer"},
            )
    return claims


ActiveUserToken = Annotated[TokenClaims, Depends(active_user_token)]
