"""Account creation and lookup: SQL first (the database decides uniqueness, roles and builds the user JSON)."""

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from reference_impl.accounts.schemas import PHONE_PATTERN, AccountCreate
from reference_impl.core.errors import RefusedRequest
from reference_impl.core.passwords import hash_password
from reference_impl.core.tokens import TokenClaims

PASSWORD_REQUIRED = "Password is required"

# Unique constraint / index name → the field it protects.
_UNIQUE_FIELDS = {
    "users_second_login_key": "second_login",
    "users_second_login_ci_key": "second_login",
    "contacts_email_key": "email",
    "contacts_phone_key": "phone",
}
_PHONE = re.compile(PHONE_PATTERN)


class AccountError(RefusedRequest):
    """Missing password, duplicate second_login/email/phone or unknown group (answered with 400)."""


class GroupNotAssignable(AccountError):
    """A group the caller may not give (a role such as admin): 403."""

    status_code = 403


@dataclass(frozen=True)
class NewAccount:
    data: AccountCreate
    password_hash: str


async def prepare_account(data: AccountCreate) -> NewAccount:
    """Check and hash the password: done before a database connection is taken, so Argon2's time is not
    spent holding one of the pool's connections."""
    if not data.password:
        raise AccountError(PASSWORD_REQUIRED)
    return NewAccount(data, await hash_password(data.password))


async def create_account(conn: asyncpg.Connection, account: NewAccount, assignable: list[str] | None) -> UUID:
    """`assignable`: the groups this caller may give; None for any (an admin)."""
    data, password_hash = account.data, account.password_hash
    try:
        user_id: UUID = await conn.fetchval(
            "SELECT users.create_user($1, $2, $3, $4, $5, $6, $7)",
            data.second_login,
            data.phone,
            data.email,
            password_hash,
            data.group_names,
            data.profile,
            assignable,
        )
    except asyncpg.UniqueViolationError as exc:
        field = _UNIQUE_FIELDS.get(exc.constraint_name or "", "account")
        raise AccountError(f"User with this {field} already exists") from exc
    except asyncpg.NoDataFoundError as exc:  # raised by create_user for an unknown group
        raise AccountError(exc.message) from exc
    except (
        asyncpg.InsufficientPrivilegeError
    ) as exc:  # raised by create_user for a group the caller may not give
        raise GroupNotAssignable(exc.message) from exc
    return user_id


def as_uuid(value: UUID | str) -> UUID | None:
    # A token's claims are whatever was signed: anything but a UUID names no user or session (rather than a 500).
    try:
        return value if isinstance(value, UUID) else UUID(value)
    except ValueError:
        return None


async def user_json(conn: asyncpg.Connection, user_id: UUID) -> dict[str, Any] | None:
    result: dict[str, Any] | None = await conn.fetchval("SELECT users.user_json($1)", user_id)
    return result


def token_ids(claims: TokenClaims) -> tuple[UUID, UUID] | None:
    """The user and session a token names, or None when either is not a UUID (no such session)."""
    user_id, session_id = as_uuid(claims.sub), as_uuid(claims.session)
    return None if user_id is None or session_id is None else (user_id, session_id)


async def find_login(conn: asyncpg.Connection, login: str) -> asyncpg.Record | None:
    """The active user whose email, phone or second_login is `login`, by its form: an '@' makes it an email, a
    phone number's shape a phone, anything else a second_login (which can have neither form). So a login names
    at most one account, whatever another user chose as their second_login. `login` is LoginRequest's, already
    in NFKC form."""
    if "@" in login:
        kind, value = "email", login.lower()
    elif _PHONE.fullmatch(login):
        kind, value = "phone", login
    else:
        return await conn.fetchrow(
            "SELECT id, password_hash FROM users.users WHERE lower(second_login) = lower($1) AND is_active",
            login,
        )
    return await conn.fetchrow(
        "SELECT u.id, u.password_hash FROM users.contacts c JOIN users.users u ON u.id = c.user_id"
        " WHERE c.kind = $1 AND c.value = $2 AND u.is_active",
        kind,
        value,
    )
