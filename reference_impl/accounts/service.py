"""Account creation and lookup: SQL first (the database decides uniqueness and builds the user JSON)."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from reference_impl.accounts.schemas import AccountCreate
from reference_impl.core.errors import RefusedRequest
from reference_impl.core.passwords import hash_password

PASSWORD_REQUIRED = "Password is required"

# Unique constraint / index name → the field it protects.
_UNIQUE_FIELDS = {
    "users_second_login_key": "second_login",
    "contacts_email_key": "email",
    "contacts_phone_key": "phone",
}


class AccountError(RefusedRequest):
    """Missing password, duplicate second_login/email/phone or unknown group (answered with 400)."""


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


async def create_account(conn: asyncpg.Connection, account: NewAccount) -> UUID:
    data, password_hash = account.data, account.password_hash
    try:
        user_id: UUID = await conn.fetchval(
            "SELECT users.create_user($1, $2, $3, $4, $5, $6)",
            data.second_login,
            data.phone,
            data.email.lower(),
            password_hash,
            data.group_names,
            data.profile,
        )
    except asyncpg.UniqueViolationError as exc:
        field = _UNIQUE_FIELDS.get(exc.constraint_name or "", "account")
        raise AccountError(f"User with this {field} already exists") from exc
    except asyncpg.NoDataFoundError as exc:  # raised by create_user for an unknown group
        raise AccountError(exc.message) from exc
    return user_id


def _as_uuid(user_id: UUID | str) -> UUID | None:
    # A token's subject is whatever was signed: anything but a UUID names no user (rather than a 500).
    try:
        return user_id if isinstance(user_id, UUID) else UUID(user_id)
    except ValueError:
        return None


async def user_json(conn: asyncpg.Connection, user_id: UUID | str) -> dict[str, Any] | None:
    uid = _as_uuid(user_id)
    if uid is None:
        return None
    result: dict[str, Any] | None = await conn.fetchval("SELECT users.user_json($1)", uid)
    return result


async def is_active_user(conn: asyncpg.Connection, user_id: str) -> bool:
    uid = _as_uuid(user_id)
    return uid is not None and bool(
        await conn.fetchval("SELECT is_active FROM users.users WHERE id = $1", uid)
    )


async def find_login(conn: asyncpg.Connection, login: str) -> asyncpg.Record | None:
    """The active user whose second_login, email or phone is `login`."""
    return await conn.fetchrow(
        """
        SELECT u.id, u.password_hash FROM users.users u
        WHERE u.second_login = $1 AND u.is_active
        UNION ALL
        SELECT u.id, u.password_hash FROM users.contacts c JOIN users.users u ON u.id = c.user_id
        WHERE u.is_active AND ((c.kind = 'email' AND c.value = lower($1)) OR (c.kind = 'phone' AND c.value = $1))
        LIMIT 1
        """,
        login,
    )
