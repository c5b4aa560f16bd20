from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class WebhookPayload(BaseModel):
    """A 2can (Tap2Go) payment callback, with the field names 2can sends."""

    # 2can adds fields over time (e.g. PaidAt): they are accepted and passed on to the database unchanged.
    model_config = ConfigDict(extra="allow")

    Id: Text
    MID: Text
    # Money: a non-negative decimal string with at most two decimals, no exponent ("1200.00").
    Amount: Annotated[str, StringConstraints(pattern=r"^\d{1,12}(\.\d{1,2})?$")]
    ReaderId: Text
    CreatedAt: Text
    Inputtype: Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)]
    ClientName: Annotated[str, StringConstraints(max_length=255)]
    Description: Annotated[str, StringConstraints(max_length=1024)]

    def amount(self) -> Decimal:
        return Decimal(self.Amount)
