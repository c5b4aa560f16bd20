import logging
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Response, status

from reference_impl.accounts.deps import Caller, LiveCaller, LiveUserBody, caller_ids
from reference_impl.accounts.schemas import AccountCreate, UserOut
from reference_impl.accounts.service import create_account, prepare_account, user_json
from reference_impl.core.config import Settings, get_settings
from reference_impl.core.deps import INVALID_ACCESS_TOKEN, AccessToken, Db, unauthorized
from reference_impl.core.errors import error_responses

logger = logging.getLogger("reference_impl.users")

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=error_responses(400, 401, 403, 503),
)
async def create_user(body: AccountCreate, caller: LiveCaller, db: Db) -> Any:
    settings = get_settings()
    account = await prepare_account(body)
    # An admin may give any group; anyone else only what public registration gives (403 otherwise).
    assignable = None if caller.is_admin(settings) else settings.assignable_groups
    async with db.connection() as conn, conn.transaction():
        user_id = await create_account(conn, account, assignable)
        user = await user_json(conn, user_id)
    logger.info("user created: %s by %s", user_id, caller.user_id)
    return user


@router.get("/me", response_model=UserOut, responses=error_responses(401, 503))
async def read_me(body: LiveUserBody) -> Response:
    # The token check and the user record are one query, and its JSON text is the answer as it is.
    return Response(body, media_type="application/json")


def _may_see_contacts(caller: Caller, user: dict[str, Any], settings: Settings) -> bool:
    return str(caller.user_id) == str(user["id"]) or caller.is_admin(settings)


@router.get(
    "/{user_id}",
    response_model=UserOut,
    responses=error_responses(401, 404, 503),
    description="Another user's contacts (email, phone) are null unless the caller is an admin.",
)
async def read_user(user_id: UUID, claims: AccessToken, db: Db) -> Any:
    caller_id, session_id = caller_ids(claims)
    async with db.connection() as conn:
        # One query: the caller's live session and user, and the user asked for.
        row = await conn.fetchrow(
            "SELECT auth.live_user_json($1, $2) AS caller, users.user_json($3) AS target",
            caller_id,
            session_id,
            user_id,
        )
    assert row is not None
    if row["caller"] is None:
        raise unauthorized(INVALID_ACCESS_TOKEN)
    user: dict[str, Any] | None = row["target"]
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="User not found")
    if not _may_see_contacts(Caller(caller_id, row["caller"]), user, get_settings()):
        user["contacts"] = None
    return user
