"""JWT access and refresh tokens: HS256 via pyjwt, algorithm pinned, every claim required."""

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

import jwt

from reference_impl.core.config import Settings

# `sid`: the session (one login) the token belongs to; every use checks in PostgreSQL that it is still live.
REQUIRED_CLAIMS = ["sub", "sid", "jti", "iat", "exp", "type"]


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


class InvalidToken(Exception):
    """The token is malformed, badly signed, expired or of the wrong type."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TokenClaims:
    sub: str
    session: str
    jti: str
    type: TokenType
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    claims: TokenClaims


def issue_token(settings: Settings, user_id: str, session: str, token_type: TokenType) -> IssuedToken:
    ttl = (
        settings.access_token_ttl_seconds
        if token_type is TokenType.ACCESS
        else settings.refresh_token_ttl_seconds
    )
    now = datetime.now(UTC)
    claims = TokenClaims(
        sub=user_id,
        session=session,
        jti=uuid.uuid4().hex,
        type=token_type,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    payload: dict[str, object] = {
        "sub": claims.sub,
        "sid": claims.session,
        "jti": claims.jti,
        "type": claims.type.value,
        "iat": claims.issued_at,
        "exp": claims.expires_at,
    }
    token = jwt.encode(payload, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm)
    return IssuedToken(token=token, claims=claims)


@lru_cache(maxsize=4096)
def _verified_payload(token: str, secret: str, algorithm: str) -> dict[str, Any]:
    """Signature and claims checked in full, once per token: PyJWT's parsing and HMAC cost as much as the rest of
    a GET /users/me. Only tokens that pass are cached (a raising call is not), and of the time-bound claims only
    `exp` can turn a valid token invalid later: `decode_token` checks it on every use."""
    return jwt.decode(token, secret, algorithms=[algorithm], options={"require": REQUIRED_CLAIMS})


def decode_token(settings: Settings, token: str, expected_type: TokenType) -> TokenClaims:
    try:
        payload = _verified_payload(token, settings.jwt_secret.get_secret_value(), settings.jwt_algorithm)
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("expired") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid: {type(exc).__name__}") from exc
    if int(payload["exp"]) <= time.time():  # the same test as PyJWT's, for a payload verified earlier
        raise InvalidToken("expired")
    if payload["type"] != expected_type.value:
        raise InvalidToken(f"wrong type: {payload['type']!r}")
    if not all(isinstance(payload[claim], str) for claim in ("sub", "sid", "jti")):
        raise InvalidToken("invalid: malformed claims")
    return TokenClaims(
        sub=payload["sub"],
        session=payload["sid"],
        jti=payload["jti"],
        type=expected_type,
        issued_at=datetime.fromtimestamp(payload["iat"], UTC),
        expires_at=datetime.fromtimestamp(payload["exp"], UTC),
    )
