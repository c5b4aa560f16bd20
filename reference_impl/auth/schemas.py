from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reference_impl.accounts.schemas import Password, document_password_as_required
from reference_impl.core.limits import NFKC, SINGLE_LINE


class LoginRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra=document_password_as_required(1))

    # second_login, email or phone, in NFKC as they are stored; control characters can match no account (and NUL
    # would reach PostgreSQL).
    login: Annotated[
        str, NFKC, StringConstraints(min_length=1, max_length=320), SINGLE_LINE, Field(examples=["anna_k"])
    ]
    # Optional so that a missing password is answered with 400 "Password is required", not 422.
    password: Annotated[Password | None, Field(examples=["correct horse battery staple"])] = None


class RefreshRequest(BaseModel):
    # No minimum: an empty or malformed token is an invalid token (401), not a malformed request.
    refresh_token: Annotated[str, StringConstraints(max_length=4096), SINGLE_LINE]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
