from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints


class LoginRequest(BaseModel):
    login: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    # Optional so that a missing password is answered with 400 "Password is required", not 422.
    password: Annotated[str, StringConstraints(max_length=256)] | None = None


class RefreshRequest(BaseModel):
    refresh_token: Annotated[str, StringConstraints(max_length=4096)]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
