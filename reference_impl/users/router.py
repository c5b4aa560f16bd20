import logging
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, status

from reference_impl.accounts.deps import ActiveUserToken
from reference_impl.accounts.schemas import AccountCreate, UserOut
from reference_impl.accounts.service import create_account, prepare_account, user_json
from reference_impl.core.db import connection
from reference_impl.core.deps import INVALID_ACCESS_TOKEN, AccessToken, DbPool, SettingsDep
from reference_impl.core.errors import error_responses

logger = logging.getLogger("reference_impl.users")

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=error_responses(400, 401, 503),
)
async def create_user(
    body: AccountCreate, claims: ActiveUserToken, pool: DbPool, settings: SettingsDep
) -> Any:
    account = await prepare_account(body)
    async with connection(pool, settings) as conn, conn.transaction():
        user_id = await create_account(conn, account)
        user = await user_json(conn, user_id)
    logger.info("user created: %s by %s", user_id, claims.sub)
    return user


@router.get("/me", response_model=UserOut, responses=error_responses(401, 503))
async def read_me(claims: AccessToken, pool: DbPool, settings: SettingsDep) -> Any:
    async with connection(pool, settings) as conn:
        user = await user_json(conn, claims.sub)
    if user is None:  # a valid token for a user that no longer exists
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=INVALID_ACCESS_TOKEN)
    return user


@router.get(
    "/{user_id}",
    response_model=UserOut,
    responses=error_responses(401, 404, 503),
)
async def read_user(user_id: UUID, claims: ActiveUserToken, pool: DbPool, settings: SettingsDep) -> Any:
    async with connection(pool, settings) as conn:
        user = await user_json(conn, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="User not found")
    return user
