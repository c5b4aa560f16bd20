from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from reference_impl.core.limits import NFKC, SINGLE_LINE, FullMatch, StorableJsonObject

# Latin letters, digits, '.', '_' and '-', at least one of them not a digit: so no look-alike from another
# script, no invisible character, nothing shaped like an email (no '@') or a phone number (not digits only), and
# the three kinds of identifier never overlap. [0-9], not \d: \d also matches other scripts' digits.
SECOND_LOGIN_PATTERN = r"^[A-Za-z0-9._-]*[A-Za-z._-][A-Za-z0-9._-]*$"
SecondLogin = Annotated[
    str,
    NFKC,
    StringConstraints(min_length=3, max_length=64),
    FullMatch(
        SECOND_LOGIN_PATTERN,
        "second_login",
        "second_login may hold only Latin letters, digits, '.', '_' and '-', and not only digits"
        " (it must not look like an email or a phone number)",
    ),
]
PHONE_PATTERN = r"^\+?[0-9]{5,20}$"
Phone = Annotated[
    str, NFKC, FullMatch(PHONE_PATTERN, "phone", "phone must be 5 to 20 digits, optionally after a '+'")
]
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=64), SINGLE_LINE]
# Any password can be tried at login; only a new one must meet the policy below.
Password = Annotated[str, StringConstraints(max_length=256), SINGLE_LINE]
# NIST SP 800-63B 3.1.1.2: at least 8 characters, a maximum of at least 64, no composition rules.
PASSWORD_MIN_LENGTH = 8


def _long_enough(value: str) -> str:
    # "" is left to the handler: a missing or empty password is 400 "Password is required" (the checklist's).
    if value and len(value) < PASSWORD_MIN_LENGTH:
        raise PydanticCustomError(
            "password_too_short",
            "Password must be at least {min_length} characters long",
            {"min_length": PASSWORD_MIN_LENGTH},
        )
    return value


NewPassword = Annotated[Password, AfterValidator(_long_enough)]


def _email(value: str) -> str:
    # EmailStr's checks, plus the RFC 2606 test domain (qa@team.test) that QA environments use; still refused:
    # the other special-use names (.local, .localhost, .invalid, .onion, .arpa), which no mail reaches.
    # Lower-cased whole: addresses are matched case-insensitively. email_validator refuses invisible characters.
    try:
        return validate_email(value, check_deliverability=False, test_environment=True).normalized.lower()
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "value_error", "value is not a valid email address: {reason}", {"reason": str(exc)}
        ) from exc


# RFC 5321 caps a path at 254 characters.
Email = Annotated[
    str,
    NFKC,
    StringConstraints(max_length=254),
    AfterValidator(_email),
    Field(json_schema_extra={"format": "email"}),
]


def document_password_as_required(min_length: int) -> Callable[[JsonDict], None]:
    """The models take a missing password so that it is answered with 400 "Password is required" (the
    checklist's status), not 422; the documented contract is still a required password of `min_length`."""

    def document(schema: JsonDict) -> None:
        properties = schema["properties"]
        assert isinstance(properties, dict)
        generated = properties["password"]
        assert isinstance(generated, dict)
        properties["password"] = {
            **TypeAdapter(Password).json_schema(),
            "minLength": min_length,
            **{key: generated[key] for key in ("title", "examples") if key in generated},
        }
        required = schema.setdefault("required", [])
        assert isinstance(required, list)
        required.append("password")

    return document


class AccountCreate(BaseModel):
    """Registration (auth) and user creation (users) take the same fields."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=document_password_as_required(PASSWORD_MIN_LENGTH)
    )

    # The examples document the fields and give fuzzers a request that succeeds.
    second_login: Annotated[SecondLogin, Field(examples=["anna_k"])]
    phone: Annotated[Phone, Field(examples=["+79991234567"])]
    email: Annotated[Email, Field(examples=["anna@example.com"])]
    # Optional in the schema so that a missing password is answered with 400 "Password is required", not 422.
    password: Annotated[NewPassword | None, Field(examples=["correct horse battery staple"])] = None
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
    # null for another user's record unless the caller is an admin (see users GET /{id}).
    contacts: Contacts | None
    created_at: datetime
    updated_at: datetime
