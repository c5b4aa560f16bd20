from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

SecondLogin = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=64)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9]{5,20}$")]
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AccountCreate(BaseModel):
    """Registration (auth) and user creation (users) take the same fields."""

    model_config = ConfigDict(extra="forbid")

    second_login: SecondLogin
    phone: Phone
    email: EmailStr
    # Optional in the schema so that a missing password is answered with 400 "Password is required", not 422.
    password: Annotated[str, StringConstraints(max_length=256)] | None = None
    group_names: Annotated[list[GroupName], Field(max_length=16)] = Field(
        default_factory=lambda: ["customer"]
    )
    profile: dict[str, Any] | None = None


class Contacts(BaseModel):
    phone: str | None = None
    email: str | None = None


class UserOut(BaseModel):
    id: UUID
    second_login: str
    is_active: bool
    profile: dict[str, Any]
    groups: list[str]
    contacts: Contacts
    created_at: datetime
    updated_at: datetime
