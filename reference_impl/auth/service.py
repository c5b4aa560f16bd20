"""Issuing token pairs, rotating refresh tokens with reuse detection, and logging out: sessions in PostgreSQL."""

import logging
import uuid
from uuid import UUID

import asyncpg

from reference_impl.accounts.deps import caller_ids
from reference_impl.accounts.service import token_ids
from reference_impl.auth.schemas import TokenPair
from reference_impl.core.config import Settings
from reference_impl.core.deps import INVALID_ACCESS_TOKEN, unauthorized
from reference_impl.core.tokens import InvalidToken, TokenClaims, TokenType, decode_token, issue_token

logger = logging.getLogger("reference_impl.auth")

INVALID_REFRESH_TOKEN = "Invalid or expired refresh token"


class RefreshRefused(Exception):
    pass


async def issue_pair(
    conn: asyncpg.Connection, settings: Settings, user_id: UUID | str, session: str | None = None
) -> TokenPair:
    """A token pair of `session`, or of a new session (a login) when None."""
    session = session or str(uuid.uuid4())
    access = issue_token(settings, str(user_id), session, TokenType.ACCESS)
    refresh = issue_token(settings, str(user_id), session, TokenType.REFRESH)
    # One round trip: the session row (new at login, present on rotation) and the refresh token.
    await conn.execute(
        "WITH session AS (INSERT INTO auth.sessions (id, user_id) VALUES ($3::uuid, $2::uuid)"
        "   ON CONFLICT (id) DO NOTHING)"
        " INSERT INTO auth.refresh_tokens (jti, user_id, session_id, expires_at)"
        " VALUES ($1, $2::uuid, $3::uuid, $4)",
        refresh.claims.jti,
        str(user_id),
        session,
        refresh.claims.expires_at,
    )
    return TokenPair(access_token=access.token, refresh_token=refresh.token)


async def rotate(conn: asyncpg.Connection, settings: Settings, refresh_token: str) -> TokenPair:
    try:
        claims = decode_token(settings, refresh_token, TokenType.REFRESH)
    except InvalidToken as exc:
        logger.info("refresh refused: %s", exc.reason)
        raise RefreshRefused from exc
    if token_ids(claims) is None:
        logger.info("refresh refused: malformed claims")
        raise RefreshRefused
    async with conn.transaction():
        # Consumed in one statement: of two racing requests with the same token, exactly one gets the row; and
        # only while its session is live and its user active.
        row = await conn.fetchrow(
            "UPDATE auth.refresh_tokens t SET used_at = now()"
            " FROM auth.sessions s JOIN users.users u ON u.id = s.user_id"
            " WHERE t.jti = $1 AND t.used_at IS NULL AND t.expires_at > now()"
            "   AND s.id = t.session_id AND s.revoked_at IS NULL AND u.is_active"
            " RETURNING t.user_id, t.session_id",
            claims.jti,
        )
        if row is not None:
            return await issue_pair(conn, settings, row["user_id"], str(row["session_id"]))
    # Outside the transaction: the session's revocation must be committed even though the request fails.
    await _refuse_spent(conn, claims)
    raise RefreshRefused


async def _refuse_spent(conn: asyncpg.Connection, claims: TokenClaims) -> None:
    """End the session of a token that was already used (reuse detection); log why the token failed."""
    revoked = await conn.fetchval(
        "WITH spent AS (SELECT session_id FROM auth.refresh_tokens"
        "   WHERE jti = $1 AND used_at IS NOT NULL)"
        " , revoked AS (UPDATE auth.sessions SET revoked_at = now()"
        "   WHERE id IN (SELECT session_id FROM spent) AND revoked_at IS NULL RETURNING 1)"
        " SELECT count(*) FROM revoked",
        claims.jti,
    )
    if revoked:
        logger.warning("refresh token reused: its session is revoked")
    else:
        logger.info("refresh refused: unknown, expired or revoked token")


async def logout(conn: asyncpg.Connection, claims: TokenClaims) -> None:
    """End every session of the caller's user (401 if the caller's own session is no longer live)."""
    user_id, session_id = caller_ids(claims)
    ended = await conn.fetchval("SELECT auth.logout($1, $2)", user_id, session_id)
    if ended is None:
        raise unauthorized(INVALID_ACCESS_TOKEN)
    logger.info("logged out: %d sessions ended", ended)
