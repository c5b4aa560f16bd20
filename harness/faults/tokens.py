"""Tokens identical to ones the deployment issued in every claim but `exp`, re-signed with its secret.

An expired copy tests that the deployment checks expiry only if a copy with a valid `exp` is accepted: a
deployment that matches a token's exact bytes (or keeps its own expiry) refuses every re-signed token as
unknown, and would pass an expiry row without ever checking expiry. `mint` makes both: the expired copy and
that control.
"""

import time

import jwt

from harness.faults.outages import FaultFailed

_SHARED_SECRET_ALGORITHMS = ("HS256", "HS384", "HS512")


def mint(token: str, secret: str, seconds_from_now: int) -> str:
    """Re-sign `token` with its own claims (same jti), `exp` moved to now + `seconds_from_now` (negative:
    already expired), with the deployment's secret."""
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
    claims["exp"] = now + seconds_from_now
    if isinstance(claims.get("iat"), int | float):
        claims["iat"] = min(int(claims["iat"]), claims["exp"] - 1, now)
    return jwt.encode(
        claims,
        secret,
        algorithm=algorithm,
        headers={k: v for k, v in header.items() if k not in ("alg", "typ")},
    )


def mint_expired(token: str, secret: str, seconds_ago: int = 60) -> str:
    return mint(token, secret, -seconds_ago)
