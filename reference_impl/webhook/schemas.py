from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from reference_impl.core.limits import FREE_TEXT, NFKC, NO_NUL_PATTERN, SINGLE_LINE, FullMatch, StorableJson

Text = Annotated[str, StringConstraints(min_length=1, max_length=255), SINGLE_LINE]

# Money: a positive decimal string with at most two decimals, no sign, exponent or leading zero ("1200.00",
# "0.50"); at most 12 digits before the point, so it fits numeric(14, 2). [0-9], not \d: \d also matches other
# scripts' digits, which PostgreSQL's numeric refuses. Zero is no payment.
MONEY_PATTERN = r"^(?:[1-9][0-9]{0,11}(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9]))$"
Money = Annotated[
    str,
    FullMatch(
        MONEY_PATTERN,
        "money",
        "Amount must be a positive decimal string with at most 12 digits before the point and 2 after,"
        ' no sign, exponent or leading zero, e.g. "1200.00"',
    ),
]

# A payment Id: after NFKC, 1-255 visible ASCII characters (no space, no invisible or look-alike character), so
# one Id has one spelling; Ids are matched case-insensitively (to_can.payments' unique index on lower(id)).
PaymentId = Annotated[
    str,
    NFKC,
    FullMatch(
        r"^[!-~]{1,255}$",
        "payment_id",
        "Id must be 1 to 255 visible ASCII characters: no spaces or invisible characters",
    ),
]


def _integral_float_as_int(value: Any) -> Any:
    # JSON has one number type: 1.0 is the integer 1 (JSON Schema agrees). Strings and booleans stay refused.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class WebhookPayload(BaseModel):
    """A 2can (Tap2Go) payment callback, with the field names 2can sends."""

    # 2can adds fields over time (e.g. PaidAt): they are accepted and passed on to the database unchanged, as
    # long as jsonb can hold them (no NUL in keys or strings).
    model_config = ConfigDict(extra="allow", json_schema_extra={"propertyNames": {"pattern": NO_NUL_PATTERN}})
    __pydantic_extra__: dict[str, StorableJson]

    # The examples document the fields and give fuzzers a callback that succeeds (the reference stack's merchant).
    Id: Annotated[PaymentId, Field(examples=["2can-000123"])]
    MID: Annotated[Text, Field(examples=["100000000001"])]
    Amount: Annotated[Money, Field(examples=["1200.00"])]
    ReaderId: Annotated[Text, Field(examples=["reader-1"])]
    CreatedAt: Annotated[Text, Field(examples=["2025-11-24 13:04:08"])]
    Inputtype: Annotated[
        int,
        Field(ge=0, le=2**31 - 1, strict=True, examples=[1]),
        BeforeValidator(_integral_float_as_int),
    ]
    ClientName: Annotated[str, StringConstraints(max_length=255), SINGLE_LINE, Field(examples=["Anna K."])]
    Description: Annotated[str, StringConstraints(max_length=1024), FREE_TEXT, Field(examples=["Order 1001"])]

    @model_validator(mode="after")
    def _storable_extra_names(self) -> "WebhookPayload":
        # The values are checked as fields; the names go into the jsonb column too.
        if any("\x00" in name for name in self.model_extra or {}):
            raise PydanticCustomError("json_nul", "Field names must not contain NUL characters")
        return self

    def amount(self) -> Decimal:
        return Decimal(self.Amount)
