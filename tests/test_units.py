"""Unit tests of the pieces that need no running service."""

import asyncio
import time

import jwt
import pytest

from reference_impl.core.config import Settings
from reference_impl.core.logging import is_acceptable_request_id
from reference_impl.core.tokens import InvalidToken, TokenType, decode_token, issue_token
from reference_impl.migrate import migrate
from reference_impl.stack.api import RunningStack

SETTINGS = Settings(jwt_secret="unit-test-secret-long-enough-for-hs256!")


def test_issued_token_round_trips() -> None:
    issued = issue_token(SETTINGS, "user-1", "session-1", TokenType.REFRESH)
    claims = decode_token(SETTINGS, issued.token, TokenType.REFRESH)
    assert (claims.sub, claims.jti, claims.session) == ("user-1", issued.claims.jti, "session-1")


def test_token_type_is_enforced() -> None:
    issued = issue_token(SETTINGS, "user-1", "session-1", TokenType.ACCESS)
    with pytest.raises(InvalidToken, match="wrong type"):
        decode_token(SETTINGS, issued.token, TokenType.REFRESH)


@pytest.mark.parametrize("claim", ["sub", "sid", "jti", "iat", "exp", "type"])
def test_every_claim_is_required(claim: str) -> None:
    payload = jwt.decode(
        issue_token(SETTINGS, "u", "s", TokenType.ACCESS).token, options={"verify_signature": False}
    )
    del payload[claim]
    token = jwt.encode(payload, SETTINGS.jwt_secret.get_secret_value(), algorithm="HS256")
    with pytest.raises(InvalidToken):
        decode_token(SETTINGS, token, TokenType.ACCESS)


def test_a_token_accepted_once_is_refused_when_it_expires() -> None:
    """Verified tokens are cached; their expiry must still be checked on every use."""
    short = Settings(jwt_secret=SETTINGS.jwt_secret, access_token_ttl_seconds=1)
    issued = issue_token(short, "user-1", "session-1", TokenType.ACCESS)
    assert decode_token(short, issued.token, TokenType.ACCESS).jti == issued.claims.jti
    deadline = time.monotonic() + 5
    with pytest.raises(InvalidToken, match="expired"):
        while time.monotonic() < deadline:
            decode_token(short, issued.token, TokenType.ACCESS)


def test_a_token_accepted_once_is_refused_under_another_secret() -> None:
    issued = issue_token(SETTINGS, "user-1", "session-1", TokenType.ACCESS)
    decode_token(SETTINGS, issued.token, TokenType.ACCESS)
    rotated = Settings(jwt_secret="another-unit-test-secret-long-enough-for-hs256")
    with pytest.raises(InvalidToken, match="InvalidSignatureError"):
        decode_token(rotated, issued.token, TokenType.ACCESS)


def test_alg_none_is_refused() -> None:
    payload = jwt.decode(
        issue_token(SETTINGS, "u", "s", TokenType.ACCESS).token, options={"verify_signature": False}
    )
    with pytest.raises(InvalidToken):
        decode_token(SETTINGS, jwt.encode(payload, None, algorithm="none"), TokenType.ACCESS)


@pytest.mark.parametrize("value", ["abc", "run-1.case_2", "a" * 128, "0f" * 16])
def test_safe_request_ids_are_kept(value: str) -> None:
    assert is_acceptable_request_id(value)


@pytest.mark.parametrize("value", ["", "a" * 129, "with space", "line\nbreak", "brace{}", "кириллица"])
def test_unsafe_request_ids_are_refused(value: str) -> None:
    assert not is_acceptable_request_id(value)


def test_migrate_is_idempotent(stack: RunningStack) -> None:
    assert asyncio.run(migrate(stack.database_url)) == []
