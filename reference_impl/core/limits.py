"""Limits on what a request may carry, enforced before the framework parses anything.

`RequestLimitsMiddleware` (pure ASGI, shared by every service) refuses, with a `{"detail": ...}` body:
- a body over `MAX_BODY_BYTES` (413), by its Content-Length or by counting the bytes as they stream in;
- a body that is not JSON by its Content-Type (415): every endpoint here takes JSON;
- JSON that the services could not store or echo safely (422, FastAPI's validation shape): nesting deeper than
  `MAX_JSON_DEPTH` (Python's parser would hit its recursion limit), NaN/Infinity (not JSON; PostgreSQL and the
  response encoder refuse them), integers too long to convert, text that is not UTF-8, and lone surrogates
  (`"\\ud800"`: no UTF-8 form, so neither PostgreSQL nor the response can hold them).

Malformed JSON is passed on untouched: FastAPI answers it with its own 422 `json_invalid`.

The rules below are for the request models: text that PostgreSQL cannot store (NUL) or that has no place in a
single-line value (control characters) is refused with a message naming the field.
"""

import json
import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, GetCoreSchemaHandler, GetJsonSchemaHandler, PlainValidator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from typing_extensions import TypeAliasType

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32

BODY_TOO_LARGE = "Request body too large"
UNSUPPORTED_MEDIA_TYPE = "Unsupported media type: send the body as application/json"

_JSON_MEDIA_TYPE = re.compile(r"application/(?:[\w.+-]+\+)?json")


class _RefusedBody(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def _invalid_json(kind: str, message: str, loc: tuple[str | int, ...] = ()) -> _RefusedBody:
    # FastAPI's validation shape, as for its own `json_invalid`, so clients parse one 422 format.
    return _RefusedBody(422, {"detail": [{"type": kind, "loc": ["body", *loc], "msg": message}]})


def _max_depth(body: bytes) -> int:
    """Deepest `[`/`{` nesting outside string literals; linear, and never recursive."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _reject_constant(name: str) -> Any:
    raise _invalid_json("json_invalid", f"{name} is not a valid JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: valid JSON, but no float holds it (it would become Infinity)
        raise _invalid_json("json_invalid", f"Number out of range: {text[:40]}")
    return value


def _strings(value: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every key and string value with its location; depth is already bounded by the depth check."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*loc, key), key
            yield from _strings(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*loc, index))


def has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_json_body(body: bytes) -> None:
    """Raise `_RefusedBody` for JSON the services must not receive; malformed JSON is left to FastAPI."""
    # Counting brackets is cheap; only a body that could be too deep is scanned properly.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _max_depth(body) > MAX_JSON_DEPTH:
        raise _invalid_json("json_too_deep", f"JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid_json("json_invalid", f"Request body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        # FastAPI's parser accepts a leading BOM, so the check looks past it too.
        value = json.loads(
            text.removeprefix("\ufeff"), parse_constant=_reject_constant, parse_float=_finite_float
        )
    except json.JSONDecodeError:
        return  # FastAPI reports it with the position
    except RecursionError as exc:  # unreachable past the depth check; kept so it can never become a 500
        raise _invalid_json("json_too_deep", "JSON is nested too deeply") from exc
    except ValueError as exc:  # Python refuses integers over 4300 digits
        raise _invalid_json("json_invalid", f"Number too large: {exc}") from exc
    for loc, string in _strings(value):
        if has_lone_surrogate(string):
            raise _invalid_json("string_unicode", "String contains a lone surrogate: not valid Unicode", loc)


def _is_json(content_type: str) -> bool:
    return _JSON_MEDIA_TYPE.fullmatch(content_type.split(";", 1)[0].strip().lower()) is not None


class RequestLimitsMiddleware:
    """Pure ASGI: reads the body (at most `max_body_bytes`), checks it, then replays it to the app."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope["headers"]}
        try:
            declared = headers.get(b"content-length")
            # A declared size over the limit is refused before a byte of the body is read. (A malformed
            # Content-Length never gets here: the server answers it with 400.)
            if declared is not None and declared.isdigit() and self._over_limit(declared):
                raise _RefusedBody(413, {"detail": BODY_TOO_LARGE})
            body = await self._read_body(receive)
            if body is None:
                return  # the client went away
            if body:
                # Every endpoint takes JSON; without this, a form or text body gets FastAPI's puzzling 422
                # "Input should be a valid dictionary" (or, on older FastAPI, is parsed as JSON anyway).
                if not _is_json(headers.get(b"content-type", b"").decode("latin-1")):
                    raise _RefusedBody(415, {"detail": UNSUPPORTED_MEDIA_TYPE})
                check_json_body(body)
        except _RefusedBody as refused:
            await _send_json(send, refused.status, refused.body)
            return
        await self.app(scope, _replay(body, receive), send)

    def _over_limit(self, declared: bytes) -> bool:
        digits = declared.lstrip(b"0")
        # Past 18 digits it is over any limit; int() of thousands of digits would raise instead.
        return len(digits) > 18 or int(digits or b"0") > self.max_body_bytes

    async def _read_body(self, receive: Receive) -> bytes | None:
        # Counted as it streams: a chunked body has no Content-Length to trust.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _RefusedBody(413, {"detail": BODY_TOO_LARGE})
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # afterwards only http.disconnect can come

    return replayed


async def _send_json(send: Send, status: int, content: dict[str, Any]) -> None:
    payload = json.dumps(content, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


# Validators for the request models ---------------------------------------------------------------------------

# Cc: C0 controls, DEL and C1 controls, as a regex character class (valid in Python and in ECMA-262).
CONTROL = "\\u0000-\\u001f\\u007f-\\u009f"
# Free text may hold tabs and line breaks, nothing else from Cc.
FREE_TEXT_CONTROL = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f"


class _DocumentedPattern:
    """Writes the rule's `documented_pattern()` as the JSON Schema `pattern` (what fuzzers generate from)."""

    def documented_pattern(self) -> str:
        raise NotImplementedError

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.documented_pattern()
        return json_schema


@dataclass(frozen=True)
class TextRule(_DocumentedPattern):
    """`Annotated` metadata for a `str`: refuse the characters of `forbidden` (a character class) with a
    message naming the first one, and lone surrogates; documented as a JSON Schema `pattern`. Put it after
    StringConstraints, so that a length error is reported first and a 60 KiB string is not scanned."""

    forbidden: str
    what: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        forbidden = re.compile(f"[{self.forbidden}]")

        def check(value: str) -> str:
            found = forbidden.search(value)
            if found:
                raise PydanticCustomError(
                    "string_forbidden_character",
                    "String must not contain {what} (found U+{code})",
                    {"what": self.what, "code": f"{ord(found.group()):04X}"},
                )
            if has_lone_surrogate(value):  # the middleware stops these in JSON; a model can be fed otherwise
                raise PydanticCustomError(
                    "string_unicode", "String contains a lone surrogate: not valid Unicode"
                )
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def documented_pattern(self) -> str:
        return f"^[^{self.forbidden}]*$"


@dataclass(frozen=True)
class FullMatch(_DocumentedPattern):
    """`Annotated` metadata for a `str`: it must match `pattern` whole, else `message` (clearer than pydantic's
    "String should match pattern ..."); documented as the JSON Schema `pattern`."""

    pattern: str
    error_type: str
    message: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        compiled = re.compile(self.pattern)

        def check(value: str) -> str:
            if not compiled.fullmatch(value):
                raise PydanticCustomError(self.error_type, self.message)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def documented_pattern(self) -> str:
        return self.pattern


def nfkc(value: Any) -> Any:
    """Compatibility forms (fullwidth, ligatures, superscripts) and NFD sequences become their plain form before
    any other check: one identifier has one spelling."""
    return unicodedata.normalize("NFKC", value) if isinstance(value, str) else value


NFKC = BeforeValidator(nfkc)

# A single-line value (a name, an id, a login, a token): no control characters at all (NUL above all:
# PostgreSQL text cannot store it).
SINGLE_LINE = TextRule(CONTROL, "control characters")
# Free text (a description): tabs and line breaks are fine, other control characters are not.
FREE_TEXT = TextRule(FREE_TEXT_CONTROL, "control characters other than tab and line breaks")


def storable_json(value: Any) -> Any:
    """Arbitrary JSON for a jsonb column: PostgreSQL refuses `\\u0000` in its keys and strings."""
    for loc, string in _strings(value):
        if "\x00" in string:
            where = f" (at {'.'.join(map(str, loc))})" if loc else ""
            raise PydanticCustomError(
                "json_nul", f"JSON keys and strings must not contain NUL characters{where}"
            )
        if has_lone_surrogate(string):
            raise PydanticCustomError("string_unicode", "String contains a lone surrogate: not valid Unicode")
    return value


class _KeysAsPropertyNames:
    """For `dict[ConstrainedStr, V]`, pydantic writes `patternProperties`, which still lets any other key
    through; `propertyNames` says what the validator enforces."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        ((pattern, values),) = json_schema.pop("patternProperties").items()
        json_schema["propertyNames"] = {"pattern": pattern}
        json_schema["additionalProperties"] = values
        return json_schema


# Only for the OpenAPI document (a named, recursive definition); values are checked by `storable_json`, whose
# errors name the place, where pydantic's union would list one error per JSON type.
_NoNulText = Annotated[str, TextRule("\\u0000", "NUL characters")]
StorableJsonValue = TypeAliasType(
    "StorableJsonValue",
    "_NoNulText | int | float | bool | list[StorableJsonValue] "
    "| Annotated[dict[_NoNulText, StorableJsonValue], _KeysAsPropertyNames()] | None",
)
# A JSON object for a jsonb column (a profile): any keys and values but NUL; size and depth are bounded by the
# request limits.
StorableJsonObject = Annotated[
    dict[str, Any],
    PlainValidator(
        lambda value: storable_json(_object(value)),
        json_schema_input_type=Annotated[dict[_NoNulText, StorableJsonValue], _KeysAsPropertyNames()],
    ),
]
# Any JSON value for a jsonb column (a webhook's extra field).
StorableJson = Annotated[Any, PlainValidator(storable_json, json_schema_input_type=StorableJsonValue)]
NO_NUL_PATTERN = "^[^\\u0000]*$"


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PydanticCustomError("dict_type", "Input should be a valid dictionary")
    return value
