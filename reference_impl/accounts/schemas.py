from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from reference_impl.core.limits import CONTROL, SINGLE_LINE, StorableJsonObject, TextRule


def _not_padded(value: str) -> str:
    # Not stripped silently: a login is matched exactly, so " anna" and "anna" would be two accounts.
    if value != value.strip():
        raise PydanticCustomError("string_padded", "String must not start or end with whitespace")
    return value


# No control characters (NUL cannot be stored in PostgreSQL text; the rest have no place in a login), no
# surrounding whitespace; the pattern says both, without look-arounds (fuzzers generate from it).
SecondLogin = Annotated[
    str,
    StringConstraints(min_length=3, max_length=64),
    TextRule(CONTROL, "control characters", pattern=f"^[^\\s{CONTROL}](?:[^{CONTROL}]*[^\\s{CONTROL}])?$"),
    AfterValidator(_not_padded),
]
# [0-9], not \d: \d also matches other scripts' digits.
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{5,20}$")]
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=64), SINGLE_LINE]
Password = Annotated[str, StringConstraints(max_length=256), SINGLE_LINE]


def _email(value: str) -> str:
    # EmailStr's checks, plus the RFC 2606 test domain (qa@team.test) that QA environments use; still refused:
    # the other special-use names (.local, .localhost, .invalid, .onion, .arpa), which no mail reaches.
    try:
        return validate_email(value, check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "value_error", "value is not a valid email address: {reason}", {"reason": str(exc)}
        ) from exc


# RFC 5321 caps a path at 254 characters.
Email = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(_email),
    Field(json_schema_extra={"format": "email"}),
]


def document_password_as_required(schema: JsonDict) -> None:
    """The model takes a missing password so that it is answered with 400 "Password is required" (the
    checklist's status), not 422; the documented contract is still a required, non-empty password."""
    properties = schema["properties"]
    assert isinstance(properties, dict)
    generated = properties["password"]
    assert isinstance(generated, dict)
    properties["password"] = {
        **TypeAdapter(Password).json_schema(),
        "minLength": 1,
        **{key: generated[key] for key in ("title", "examples") if key in generated},
    }
    required = schema.setdefault("required", [])
    assert isinstance(required, list)
    required.append("password")


class AccountCreate(BaseModel):
    """Registration (auth) and user creation (users) take the same fields."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=document_password_as_required)

    # The examples document the fields and give fuzzers a request that succeeds.
    second_login: Annotated[SecondLogin, Field(examples=["anna_k"])]
    phone: Annotated[Phone, Field(examples=["+79991234567"])]
    email: Annotated[Email, Field(examples=["anna@example.com"])]
    # Optional in the schema so that a missing password is answered with 400 "Password is required", not 422.
    password: Annotated[Password | None, Field(examples=["correct horse battery staple"])] = None
    group_names: Annotated[list[GroupName], Field(max_length=16, examples=[["customer"]])] = Field(
        default_factory=lambda: ["customer"]
    )
    # Any JSON object but NUL (jsonb cannot hold it); the request limits bound its size and depth.
    profile: Annotated[StorableJsonObject | None, Field(examples=[{"city": "Kazan"}])] = None


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
