"""Test data unique to the run and the scenario, so that no scenario depends on another's state."""

import itertools
import os
import secrets
import uuid
from typing import Any

_RUN_ID = secrets.token_hex(3)
# The worker name joins the prefix: each xdist worker counts on its own.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw")
_counter = itertools.count(1)


def run_id() -> str:
    return _RUN_ID


def set_run_id(value: str) -> None:
    """Every process of one run (xdist workers included) uses the run id the controller chose."""
    global _RUN_ID
    _RUN_ID = value


def unique_tag() -> str:
    return f"{_RUN_ID}{_WORKER}{next(_counter):04d}"


def new_account(**overrides: Any) -> dict[str, Any]:
    tag = unique_tag()
    account: dict[str, Any] = {
        "second_login": f"qa_{tag}",
        "phone": f"+7{uuid.uuid4().int % 10**10:010d}",
        "email": f"qa_{tag}@example.com",
        "password": f"Pw-{secrets.token_urlsafe(12)}",
        "group_names": ["customer"],
    }
    account.update(overrides)
    return account


def webhook_payload(mid: str, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "Id": f"qa-{unique_tag()}",
        "MID": mid,
        "Amount": "1200.00",
        "ReaderId": "qa-reader-1",
        "CreatedAt": "2025-11-24 13:04:08",
        "Inputtype": 1,
        "ClientName": "QA Checklist",
        "Description": "checklist payment",
    }
    payload.update(overrides)
    return payload


def nonexistent_id_like(real_id: object) -> str | int:
    """An id of the same form as `real_id` that no user has: ids are opaque to the harness."""
    text = str(real_id)
    try:
        uuid.UUID(text)
    except ValueError:
        pass
    else:
        return str(uuid.uuid4())
    if text.isdigit():
        return 10**15 + secrets.randbelow(10**14)
    return f"{text}-nonexistent-{secrets.token_hex(4)}"
