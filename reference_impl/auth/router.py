import logging

from fastapi import APIRouter, HTTPException, status

from reference_impl.accounts.schemas import AccountCreate
from reference_impl.accounts.service import PASSWORD_REQUIRED, AccountError, create_account, find_login
from reference_impl.auth import service
from reference_impl.auth.schemas import LoginRequest, RefreshRequest, TokenPair
from reference_impl.core.db import connection
from reference_impl.core.deps import AccessToken, DbPool, RedisClient, SettingsDep
from reference_impl.core.errors import Detail, error_responses
from reference_impl.core.passwords import verify_password

logger = logging.getLogger("reference_impl.auth")

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

INVALID_CREDENTIALS = "Invalid credentials"


@router.post("/register", status_code=status.HTTP_201_CREATED, responses=error_responses(400, 503))
async def register(body: AccountCreate, pool: DbPool, settings: SettingsDep) -> TokenPair:
    async with connection(pool, settings) as conn, conn.transaction():
        user_id = await create_account(conn, body)
        pair = await service.issue_pair(conn, settings, user_id)
    logger.info("user registered: %s", user_id)
    return pair


@router.post("/login", responses=error_responses(400, 401, 503))
async def login(body: LoginRequest, pool: DbPool, settings: SettingsDep) -> TokenPair:
    if not body.password:
        raise AccountError(PASSWORD_REQUIRED)
    async with connection(pool, settings) as conn:
        account = await find_login(conn, body.login)
        if not await verify_password(body.password, account["password_hash"] if account else None):
            logger.info("login refused: invalid credentials")
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=INVALID_CREDENTIALS)
        assert account is not None
        pair = await service.issue_pair(conn, settings, account["id"])
    logger.info("user logged in: %s", account["id"])
    return pair


@router.post("/refresh", responses=error_responses(401, 503))
async def refresh(body: RefreshRequest, pool: DbPool, settings: SettingsDep) -> TokenPair:
    async with connection(pool, settings) as conn:
        try:
            return await service.rotate(conn, settings, body.refresh_token)
        except service.RefreshRefused as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=service.INVALID_REFRESH_TOKEN) from exc


@router.post("/logout", responses=error_responses(401, 503))
async def logout(
    claims: AccessToken, pool: DbPool, redis_client: RedisClient, settings: SettingsDep
) -> Detail:
    async with connection(pool, settings) as conn:
        await service.logout(conn, redis_client, claims)
    return Detail(detail="Successfully logged out")
