"""`Annotated` dependency aliases shared by the routers."""

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reference_impl.core.config import get_settings
from reference_impl.core.db import Database
from reference_impl.core.tokens import InvalidToken, TokenClaims, TokenType, decode_token

logger = logging.getLogger("reference_impl.auth")

INVALID_ACCESS_TOKEN = "Invalid or expired token"


# `async def` on purpose: FastAPI runs a plain `def` dependency in the threadpool, a thread hop per request for
# what is only an attribute read. Settings are not a dependency: they are one cached object (get_settings), and
# every dependency FastAPI solves costs each request about 10 µs, a tenth of the hot path's CPU.
async def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


Db = Annotated[Database, Depends(_database)]

# auto_error=False: a missing header is answered by us with 401, not by FastAPI with its own status.
_bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/login or /register")


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def current_access_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenClaims:
    """A well-formed, unexpired access token; whether its session is still live is PostgreSQL's to say, in the
    query that reads the caller (accounts.deps): one round trip, and nothing in Redis to lose."""
    if credentials is None:
        raise unauthorized("Not authenticated")
    try:
        claims = decode_token(get_settings(), credentials.credentials, TokenType.ACCESS)
    except InvalidToken as exc:
        logger.info("access token refused: %s", exc.reason)
        raise unauthorized(INVALID_ACCESS_TOKEN) from exc
    return claims


AccessToken = Annotated[TokenClaims, Depends(current_access_token)]
