import logging

from fastapi import APIRouter, HTTPException, Request, status

from reference_impl.accounts.schemas import AccountCreate
from reference_impl.accounts.service import (
    PASSWORD_REQUIRED,
    AccountError,
    create_account,
    find_login,
    prepare_account,
)
from reference_impl.auth import service
from reference_impl.auth.schemas import LoginRequest, RefreshRequest, TokenPair
from reference_impl.auth.throttle import LoginThrottle, account_subject, unknown_login_subject
from reference_impl.core.config import get_settings
from reference_impl.core.deps import AccessToken, Db
from reference_impl.core.errors import Detail, error_responses
from reference_impl.core.passwords import verify_password
from reference_impl.core.redis import RedisClient

logger = logging.getLogger("reference_impl.auth")

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

INVALID_CREDENTIALS = "Invalid credentials"


@router.post("/register", status_code=status.HTTP_201_CREATED, responses=error_responses(400, 403, 503))
async def register(body: AccountCreate, db: Db) -> TokenPair:
    settings = get_settings()
    account = await prepare_account(body)
    async with db.connection() as conn, conn.transaction():
        # Public registration gives only the self-assignable groups: roles come through an admin.
        user_id = await create_account(conn, account, settings.assignable_groups)
        pair = await service.issue_pair(conn, settings, user_id)
    logger.info("user registered: %s", user_id)
    return pair


@router.post("/login", responses=error_responses(400, 401, 429, 503))
async def login(body: LoginRequest, request: Request, db: Db, redis_client: RedisClient) -> TokenPair:
    if not body.password:
        raise AccountError(PASSWORD_REQUIRED)
    # The TCP peer, or X-Forwarded-For's client when the peer is one of TRUSTED_PROXIES (the server decides).
    address = request.client.host if request.client else "unknown"
    async with db.connection() as conn:
        account = await find_login(conn, body.login)
    # Counted per account, whichever identifier named it, so no spelling of a login escapes a lockout.
    subject = account_subject(account["id"]) if account else unknown_login_subject(body.login)
    settings = get_settings()
    throttle = LoginThrottle(redis_client, settings)
    await throttle.check(subject, address)
    # Argon2 runs without holding a connection; unknown logins are verified against a dummy hash.
    if not await verify_password(body.password, account["password_hash"] if account else None):
        await throttle.failed(subject, address)
        logger.info("login refused: invalid credentials")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=INVALID_CREDENTIALS)
    assert account is not None
    await throttle.succeeded(subject)
    async with db.connection() as conn:
        pair = await service.issue_pair(conn, settings, account["id"])
    logger.info("user logged in: %s", account["id"])
    return pair


@router.post("/refresh", responses=error_responses(401, 503))
async def refresh(body: RefreshRequest, db: Db) -> TokenPair:
    async with db.connection() as conn:
        try:
            return await service.rotate(conn, get_settings(), body.refresh_token)
        except service.RefreshRefused as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=service.INVALID_REFRESH_TOKEN) from exc


@router.post("/logout", responses=error_responses(401, 503))
async def logout(claims: AccessToken, db: Db) -> Detail:
    async with db.connection() as conn:
        await service.logout(conn, claims)
    return Detail(detail="Successfully logged out")
