"""Bad input over real HTTP: every refusal is a 4xx with a `{"detail": ...}` body that says what and where,
never a 5xx, and the services answer /health afterwards.

Covered: bodies that are not JSON, of the wrong media type, empty or over the size limit (by Content-Length and
streamed); JSON nested too deeply, with NaN/Infinity, out-of-range numbers, invalid UTF-8 or lone surrogates;
10,000-character strings, control characters, NUL and non-BMP characters in every string field of /register,
/login, /refresh, POST /users/ and /webhook; numbers where strings belong and the reverse; amounts that are not
money.
"""

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.data import new_account
from reference_impl.core.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH
from tests.conftest import Api, assert_refused, bearer, unique, webhook_payload

JSON = {"Content-Type": "application/json"}
EMOJI = "😀𝔘"  # outside the BMP: four UTF-8 bytes each, surrogate pairs in JSON escapes


@pytest.fixture(autouse=True)
def services_still_answer(api: Api) -> Iterator[None]:
    yield
    for service, origin in api.stack.origins.items():
        response = httpx.get(f"{origin}/health", timeout=5)
        assert response.status_code == 200, f"{service} /health after the test: {response.status_code}"


@pytest.fixture(scope="module")
def token(api: Api) -> str:
    _, tokens = api.registered()
    access: str = tokens["access_token"]
    return access


def raw_json(payload: Any) -> bytes:
    """JSON as Python writes it: ASCII escapes (so lone surrogates survive) and NaN/Infinity literals."""
    return json.dumps(payload).encode()


class Target:
    """One JSON endpoint, with a valid body to spoil."""

    def __init__(self, name: str, api: Api, token: str) -> None:
        self.name = name
        self.api = api
        self.client, self.path = {
            "register": (api.auth, "/register"),
            "login": (api.auth, "/login"),
            "refresh": (api.auth, "/refresh"),
            "users": (api.users, "/"),
            "webhook": (api.webhook, "/webhook"),
        }[name]
        self.headers = bearer(token) if name == "users" else {}

    def valid(self) -> dict[str, Any]:
        if self.name in ("register", "users"):
            return new_account(profile={"city": "Kazan"})
        if self.name == "login":
            return {"login": unique("nobody"), "password": "whatever"}
        if self.name == "refresh":
            return {"refresh_token": "not-a-token"}
        return webhook_payload()

    def post(self, content: bytes, **headers: str) -> httpx.Response:
        return self.client.post(self.path, content=content, headers={**self.headers, **JSON, **headers})

    def post_json(self, payload: Any) -> httpx.Response:
        return self.post(raw_json(payload))


TARGETS = ["register", "login", "refresh", "users", "webhook"]


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest, api: Api, token: str) -> Target:
    return Target(request.param, api, token)


# Bodies that are not usable JSON ----------------------------------------------------------------------------


def test_body_that_is_not_json_is_422_json_invalid(target: Target) -> None:
    response = target.post(b'{"login": "a", oops}')
    assert_refused(response, 422, "body", "JSON decode error")
    assert response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(target: Target, content_type: str) -> None:
    response = target.post(raw_json(target.valid()), **{"Content-Type": content_type})
    assert_refused(response, 415, "application/json")


def test_missing_content_type_is_415(target: Target) -> None:
    response = target.client.post(target.path, content=raw_json(target.valid()), headers=target.headers)
    assert "content-type" not in response.request.headers
    assert_refused(response, 415, "application/json")


def test_json_content_type_with_charset_is_accepted(target: Target) -> None:
    response = target.post(raw_json(target.valid()), **{"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code < 500 and response.status_code not in (413, 415, 422), response.text


def test_empty_body_is_422_body_required(target: Target) -> None:
    assert_refused(target.post(b""), 422, "body", "Field required")


@pytest.mark.parametrize("body", [b"null", b"[]", b'"text"', b"42", b"true"])
def test_json_that_is_not_an_object_is_422(target: Target, body: bytes) -> None:
    assert_refused(target.post(body), 422, "body")


def test_invalid_utf8_is_422(target: Target) -> None:
    assert_refused(target.post(b'{"login": "\xff\xfe"}'), 422, "not valid UTF-8")


# Size ----------------------------------------------------------------------------------------------------------


def test_one_mebibyte_of_json_is_413_by_content_length(target: Target) -> None:
    payload = {**target.valid(), "padding": "x" * (1 << 20)}
    response = target.post(raw_json(payload))
    assert int(response.request.headers["content-length"]) > 1 << 20
    assert (response.status_code, response.json()) == (413, {"detail": "Request body too large"})


def test_streamed_body_over_the_limit_is_413(target: Target) -> None:
    # No Content-Length (chunked): the limit counts the bytes as they arrive.
    chunk = b" " * 8192

    def body() -> Iterator[bytes]:
        yield b"{"
        for _ in range(2 * MAX_BODY_BYTES // len(chunk)):
            yield chunk
        yield b"}"

    response = target.client.post(target.path, content=body(), headers={**target.headers, **JSON})
    assert "content-length" not in response.request.headers
    assert (response.status_code, response.json()) == (413, {"detail": "Request body too large"})


def test_body_at_the_limit_is_parsed(target: Target) -> None:
    body = raw_json(target.valid())
    padded = body[:-1] + b" " * (MAX_BODY_BYTES - len(body)) + b"}"
    assert len(padded) == MAX_BODY_BYTES
    response = target.post(padded)
    assert response.status_code not in (413, 422) and response.status_code < 500, response.text
    assert_refused(target.post(padded + b" "), 413, "Request body too large")


# JSON that parses but that nothing downstream could hold -----------------------------------------------------


@pytest.mark.parametrize(("open_", "close"), [(b"[", b"]"), (b'{"a":', b"}")])
def test_ten_thousand_levels_of_nesting_is_422(target: Target, open_: bytes, close: bytes) -> None:
    response = target.post(open_ * 10_000 + b"1" + close * 10_000)
    assert_refused(response, 422, "nested too deeply")


def test_nesting_within_the_limit_reaches_validation(api: Api) -> None:
    # MAX_JSON_DEPTH levels in all, the body's own object included: accepted and stored.
    nested: Any = "bottom"
    for _ in range(MAX_JSON_DEPTH - 1):
        nested = {"n": nested}
    _, tokens = api.registered(profile=nested)
    assert api.me(tokens["access_token"]).json()["profile"] == nested
    too_deep = api.register(new_account(profile={"n": nested}))
    assert_refused(too_deep, 422, "nested too deeply", f"at most {MAX_JSON_DEPTH} levels")


def test_brackets_inside_strings_do_not_count_as_nesting(api: Api) -> None:
    # Escaped quotes and backslashes inside the string must not end it early for the depth scan.
    note = '\\"' * 10 + "[" * 5000 + '"\\' * 10 + "{" * 5000
    _, tokens = api.registered(profile={"note": note})
    assert api.me(tokens["access_token"]).json()["profile"] == {"note": note}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(target: Target, literal: str) -> None:
    body = raw_json({**target.valid(), "extra": 0}).replace(b'"extra": 0', f'"extra": {literal}'.encode())
    assert_refused(target.post(body), 422, f"{literal} is not a valid JSON number")


def test_number_out_of_float_range_is_422(target: Target) -> None:
    body = raw_json({**target.valid(), "extra": 0}).replace(b'"extra": 0', b'"extra": 1e400')
    assert_refused(target.post(body), 422, "Number out of range")


def test_integer_with_thousands_of_digits_is_422(target: Target) -> None:
    body = raw_json({**target.valid(), "extra": 0}).replace(b'"extra": 0', b'"extra": ' + b"9" * 5000)
    assert_refused(target.post(body), 422, "Number too large")


# Every string field ----------------------------------------------------------------------------------------

# (target, field): every string field of every JSON endpoint.
ACCOUNT_FIELDS = ["second_login", "phone", "email", "password"]
STRING_FIELDS = [
    *[("register", name) for name in ACCOUNT_FIELDS],
    ("login", "login"),
    ("login", "password"),
    ("refresh", "refresh_token"),
    *[("users", name) for name in ACCOUNT_FIELDS],
    *[
        ("webhook", name)
        for name in ["Id", "MID", "Amount", "ReaderId", "CreatedAt", "ClientName", "Description"]
    ],
]


@pytest.fixture(params=STRING_FIELDS, ids=[f"{name}.{field}" for name, field in STRING_FIELDS])
def field(request: pytest.FixtureRequest, api: Api, token: str) -> tuple[Target, str]:
    name, field_name = request.param
    return Target(name, api, token), field_name


def test_ten_thousand_characters_in_any_field_is_422(field: tuple[Target, str]) -> None:
    target, name = field
    response = target.post_json({**target.valid(), name: "7" * 10_000})
    assert_refused(response, 422, name)


# NUL (PostgreSQL text cannot hold it), another C0 control, a C1 control.
@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x85"], ids=repr)
def test_control_characters_in_any_field_are_422(field: tuple[Target, str], character: str) -> None:
    target, name = field
    response = target.post_json({**target.valid(), name: f"ab{character}cd"})
    reason = assert_refused(response, 422, name)
    if name not in ("second_login", "phone", "email", "Id", "Amount"):  # a format gives its own message
        assert f"U+{ord(character):04X}" in reason


@pytest.mark.parametrize("surrogate", ["\ud800", "\udfff"], ids=["high", "low"])
def test_lone_surrogates_in_any_field_are_422(field: tuple[Target, str], surrogate: str) -> None:
    target, name = field
    response = target.post_json({**target.valid(), name: f"ab{surrogate}cd"})
    assert_refused(response, 422, name, "lone surrogate")


@pytest.mark.parametrize("value", [12345, True, None, {"a": "b"}], ids=repr)
def test_non_strings_in_string_fields_are_422(field: tuple[Target, str], value: object) -> None:
    target, name = field
    response = target.post_json({**target.valid(), name: value})
    if name == "password" and value is None:  # a null password is a missing one: the checklist's 400
        assert_refused(response, 400, "Password is required")
    else:
        assert_refused(response, 422, name)


@pytest.mark.parametrize("name", ["login", "register", "users"])
def test_missing_or_null_password_is_400(api: Api, token: str, name: str) -> None:
    target = Target(name, api, token)
    for password in (None, ""):
        payload = {**target.valid(), "password": password}
        assert_refused(target.post_json(payload), 400, "Password is required")


def test_tabs_and_line_breaks_are_fine_in_a_description(api: Api) -> None:
    response = api.post_webhook(webhook_payload(Description="line one\n\tline two\r\n"))
    assert response.status_code == 200, response.text


def test_whitespace_in_second_login_is_422(api: Api) -> None:
    for login in (" padded", "padded ", "\u3000padded", "pad ded"):
        assert_refused(api.register(new_account(second_login=login)), 422, "second_login", "Latin letters")


# Non-BMP characters: valid text, so stored and returned intact where the field is free text.


def test_non_bmp_characters_round_trip_through_registration(api: Api) -> None:
    account, tokens = api.registered(
        password=f"pässwörd {EMOJI}",
        profile={EMOJI: [EMOJI, {"k": EMOJI}]},
    )
    me = api.me(tokens["access_token"]).json()
    assert me["second_login"] == account["second_login"]
    assert me["profile"] == {EMOJI: [EMOJI, {"k": EMOJI}]}
    assert api.login(account["second_login"], account["password"]).status_code == 200


def test_non_bmp_characters_in_webhook_fields_are_stored(api: Api) -> None:
    payload = webhook_payload(
        ReaderId=EMOJI, CreatedAt=EMOJI, ClientName=EMOJI, Description=EMOJI, Note=EMOJI
    )
    response = api.post_webhook(payload)
    assert response.status_code == 200, response.text
    assert response.json()["payment_id"] == payload["Id"]


@pytest.mark.parametrize(
    ("name", "field_name", "status", "mention"),
    [
        ("register", "second_login", 422, "second_login"),
        ("register", "phone", 422, "phone"),
        ("register", "group_names", 400, "group not found"),
        ("login", "login", 401, "Invalid credentials"),
        ("refresh", "refresh_token", 401, "Invalid or expired refresh token"),
        ("webhook", "MID", 400, "Invalid MID"),
        ("webhook", "Id", 422, "Id"),
        ("webhook", "Amount", 422, "Amount"),
    ],
)
def test_non_bmp_characters_in_formatted_fields_get_the_fields_answer(
    api: Api, token: str, name: str, field_name: str, status: int, mention: str
) -> None:
    target = Target(name, api, token)
    value: object = [EMOJI] if field_name == "group_names" else EMOJI
    assert_refused(target.post_json({**target.valid(), field_name: value}), status, mention)


# NUL in free JSON: PostgreSQL's jsonb cannot hold it.


@pytest.mark.parametrize(
    "profile", [{"a": "b\x00"}, {"a\x00": "b"}, {"a": ["ok", {"b": "\x00"}]}], ids=["value", "key", "nested"]
)
def test_nul_anywhere_in_a_profile_is_422(api: Api, profile: dict[str, Any]) -> None:
    assert_refused(api.register(new_account(profile=profile)), 422, "profile", "NUL")


@pytest.mark.parametrize("extra", [{"Note": "a\x00"}, {"Note\x00": "a"}, {"Note": {"k": ["\x00"]}}])
def test_nul_in_webhook_extra_fields_is_422(api: Api, extra: dict[str, Any]) -> None:
    assert_refused(api.post_webhook(webhook_payload(**extra)), 422, "NUL")


# Numbers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["1", "one", True, False, None, 1.5, -1, 2**31, 10**30, [1], {"v": 1}], ids=repr
)
def test_inputtype_must_be_a_small_non_negative_integer(api: Api, value: object) -> None:
    assert_refused(api.post_webhook(webhook_payload(Inputtype=value)), 422, "Inputtype")


def test_inputtype_written_as_an_integral_float_is_accepted(api: Api) -> None:
    # JSON has one number type: 1.0 is the integer 1.
    response = api.webhook.post("/webhook", content=raw_json(webhook_payload(Inputtype=1.0)), headers=JSON)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "amount",
    [
        "-1.00",
        "+1.00",
        "1.234",
        "1e3",
        "1E3",
        "NaN",
        "Infinity",
        "-Infinity",
        "inf",
        " 12.00",
        "12.00 ",
        "12.",
        ".5",
        "1,00",
        "0x10",
        "",
        "9" * 13,
        "9" * 13 + ".00",
        "١٢",  # Arabic-Indic digits: \d would take them, numeric would not
        "1_000",
        "0",  # zero is no payment
        "0.00",
        "-0.01",
        "012.00",  # no leading zero: one spelling per amount
    ],
    ids=repr,
)
def test_amount_that_is_not_money_is_422(api: Api, amount: str) -> None:
    assert_refused(api.post_webhook(webhook_payload(Amount=amount)), 422, "Amount")


@pytest.mark.parametrize("amount", [12, 12.5, -1, 0, True, None], ids=repr)
def test_amount_as_a_json_number_is_422(api: Api, amount: object) -> None:
    assert_refused(api.post_webhook(webhook_payload(Amount=amount)), 422, "Amount")


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        ("NaN", "NaN is not a valid JSON number"),
        ("Infinity", "Infinity is not"),
        ("1e400", "Number out of range"),
    ],
)
def test_amount_as_a_non_finite_json_number_is_422(api: Api, literal: str, reason: str) -> None:
    body = raw_json(webhook_payload(Amount="0")).replace(b'"Amount": "0"', f'"Amount": {literal}'.encode())
    assert_refused(api.webhook.post("/webhook", content=body, headers=JSON), 422, reason)


@pytest.mark.parametrize("amount", ["0.01", "0.5", "1200.00", "999999999999.99"])
def test_amounts_at_the_edges_are_accepted(api: Api, amount: str) -> None:
    response = api.post_webhook(webhook_payload(Amount=amount))
    assert response.status_code == 200, response.text
