"""Issuing token pairs, rotating refresh tokens with reuse detection, and logging out."""

import hashlib
import logging
import uuid
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis

from reference_impl.auth.schemas import TokenPair
from reference_impl.core.config import Settings
from reference_impl.core.redis import blacklist_token
from reference_impl.core.tokens import InvalidToken, TokenClaims, TokenType, decode_token, issue_token

logger = logging.getLogger("reference_impl.auth")

INVALID_REFRESH_TOKEN = "Invalid or expired refresh token"


class RefreshRefused(Exception):
    pass


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def issue_pair(
    conn: asyncpg.Connection, settings: Settings, user_id: UUID | str, family: str | None = None
) -> TokenPair:
    family = family or str(uuid.uuid4())
    access = issue_token(settings, str(user_id), TokenType.ACCESS)
    refresh = issue_token(settings, str(user_id), TokenType.REFRESH, family=family)
    await conn.execute(
        "INSERT INTO auth.refresh_tokens (jti, token_hash, user_id, family_id, expires_at)"
        " VALUES ($1, $2, $3::uuid, $4::uuid, $5)",
        refresh.claims.jti,
        _digest(refresh.token),
        str(user_id),
        family,
        refresh.claims.expires_at,
    )
    return TokenPair(access_token=access.token, refresh_token=refresh.token)


async def rotate(conn: asyncpg.Connection, settings: Settings, refresh_token: str) -> TokenPair:
    try:
        claims = decode_token(settings, refresh_token, TokenType.REFRESH)
    except InvalidToken as exc:
        logger.info("refresh refused: %s", exc.reason)
        raise RefreshRefused from exc
    async with conn.transaction():
        # Consumed in one statement: of two racing requests with the same token, exactly one gets the row.
        row = await conn.fetchrow(
            "UPDATE auth.refresh_tokens SET used_at = now()"
            " WHERE jti = $1 AND token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()"
            " RETURNING user_id, family_id",
            claims.jti,
            _digest(refresh_token),
        )
        if row is not None:
            return await issue_pair(conn, settings, row["user_id"], str(row["family_id"]))
    # Outside the transaction: the family revocation must be committed even though the request fails.
    await _refuse_spent(conn, claims, refresh_token)
    raise RefreshRefused


async def _refuse_spent(conn: asyncpg.Connection, claims: TokenClaims, refresh_token: str) -> None:
    """Revoke the family of a token that was already used (reuse detection); log why the token failed."""
    revoked = await conn.fetchval(
        "WITH spent AS (SELECT family_id FROM auth.refresh_tokens"
        "   WHERE jti = $1 AND token_hash = $2 AND used_at IS NOT NULL)"
        " , revoked AS (UPDATE auth.refresh_tokens SET revoked_at = now()"
        "   WHERE family_id IN (SELECT family_id FROM spent) AND revoked_at IS NULL RETURNING 1)"
        " SELECT count(*) FROM revoked",
        claims.jti,
        _digest(refresh_token),
    )
    if revoked:
        logger.warning("refresh token reused: family revoked (%d tokens)", revoked)
    else:
        logger.info("refresh refused: unknown, expired or revoked token")


async def logout(conn: asyncpg.Connection, redis_client: "aioredis.Redis", claims: TokenClaims) -> None:
    await blacklist_token(redis_client, claims.jti, claims.remaining_seconds())
    revoked = await conn.execute(
        "UPDATE auth.refresh_tokens SET revoked_at = now() WHERE user_id = $1::uuid AND revoked_at IS NULL",
        claims.sub,
    )
    logger.info("logged out: access token blacklisted, refresh tokens revoked (%s)", revoked)
