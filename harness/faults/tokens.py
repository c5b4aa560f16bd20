"""Tokens identical to ones the deployment issued in every claim but `exp`, which lies in the past."""

import time

import jwt

from harness.faults.outages import FaultFailed

_SHARED_SECRET_ALGORITHMS = ("HS256", "HS384", "HS512")


def mint_expired(token: str, secret: str, seconds_ago: int = 60) -> str:
    """Re-sign `token` with its own claims (same jti), expired `seconds_ago`, with the deployment's secret."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise FaultFailed(
            f"the deployment's token is not a JWT, so no expired copy can be made ({exc})"
        ) from exc
    algorithm = header.get("alg", "")
    if algorithm not in _SHARED_SECRET_ALGORITHMS:
        raise FaultFailed(f"its tokens are signed with {algorithm!r}, which a shared secret cannot sign")
    now = int(time.time())
    claims["exp"] = now - seconds_ago
    if isinstance(claims.get("iat"), int | float):
        claims["iat"] = min(int(claims["iat"]), now - seconds_ago - 1)
    return jwt.encode(
        claims,
        secret,
        algorithm=algorithm,
        headers={k: v for k, v in header.items() if k not in ("alg", "typ")},
    )
