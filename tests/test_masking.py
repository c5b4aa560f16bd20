"""The secret-masking policy: no registered secret, JWT or bearer credential survives in clear."""

import base64
import copy
import json
import string
from collections.abc import Iterator
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harness.masking import JWT_RE, MARKER_RE, SENSITIVE_KEYS, Masker, fingerprint, marker

# ---- strategies ---------------------------------------------------------------------------------------------

# Printable text of any script (no control characters, no surrogates), as a user could type it.
printable = st.characters(blacklist_categories=("Cc", "Cs"))
metacharacters = st.sampled_from(list(".^$*+?{}[]()|\\/\"'%&=#<>«»"))
unicode_letters = st.sampled_from(list("äßéжЯ中文€😀\u00a0"))

passwords = st.one_of(
    st.text(printable, min_size=8, max_size=40),
    st.text(
        st.one_of(metacharacters, unicode_letters, st.sampled_from(string.ascii_letters)),
        min_size=8,
        max_size=40,
    ),
)
surrounding = st.text(printable, max_size=30)
b64url = st.text(st.sampled_from(string.ascii_letters + string.digits + "-_"), min_size=1, max_size=60)


@st.composite
def jwts(draw: st.DrawFn) -> str:
    header, payload = draw(b64url), draw(b64url)
    # An empty signature is the unsigned `header.payload.` form (alg none).
    signature = draw(st.one_of(st.just(""), b64url))
    return f"eyJ{header}.{payload}.{signature}"


def realistic_jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"


header_names = st.one_of(
    st.sampled_from(["Authorization", "proxy-authorization", "Cookie", "SET-COOKIE", "X-Api-Key", "X-Note"]),
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
)
json_keys = st.one_of(
    st.sampled_from(sorted(SENSITIVE_KEYS)).map(str.upper),
    st.sampled_from(sorted(SENSITIVE_KEYS)),
    st.sampled_from(["Set-Cookie", "New-Password", "login", "detail", "items"]),
    st.text(printable, max_size=10),
)


def embedding(secret: str) -> st.SearchStrategy[str]:
    return st.builds(lambda before, after: f"{before}{secret}{after}", surrounding, surrounding)


def nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(json_keys, children, max_size=4)
        ),
        max_leaves=12,
    )


def leaves_with(secret: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(secret), embedding(secret), surrounding, st.integers(), st.none(), st.booleans())


# ---- helpers ------------------------------------------------------------------------------------------------


def in_clear(secret: str, masked: str) -> bool:
    """Whether `secret` is readable in `masked` outside markers.

    Markers are cut out first: a secret made of `»` and what follows could otherwise "appear" across the end of
    a marker, which is not the secret leaking.
    """
    return secret in MARKER_RE.sub("\0", masked)


def strings_of(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_of(key)
            yield from strings_of(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_of(item)


def masker_with(*secrets: str) -> Masker:
    masker = Masker()
    for secret in secrets:
        masker.add_secret(secret)
    return masker


# ---- properties ---------------------------------------------------------------------------------------------


@given(password=passwords, before=surrounding, after=surrounding)
def test_a_registered_password_never_survives_in_text(password: str, before: str, after: str) -> None:
    masked = masker_with(password).text(f"{before}{password}{after}{password}")
    assert not in_clear(password, masked)
    assert marker(password) in masked


@given(password=passwords)
def test_a_registered_password_is_masked_in_serialised_bodies(password: str) -> None:
    masker = masker_with(password)
    for body in (
        json.dumps({"password": password}),
        json.dumps({"password": password}, ensure_ascii=False),
        f"grant_type=password&password={password}",
    ):
        masked = masker.text(body)
        assert not in_clear(password, masked)
        assert not in_clear(json.dumps(password)[1:-1], masked)
        assert marker(password) in masked


@given(token=jwts(), before=surrounding, after=surrounding)
def test_a_jwt_never_survives_in_text_even_unregistered(token: str, before: str, after: str) -> None:
    masked = Masker().text(f"{before}{token}{after}")
    assert not in_clear(token, masked)


@given(token=jwts(), before=surrounding)
def test_a_bearer_credential_is_masked_with_the_fingerprint_of_the_token(token: str, before: str) -> None:
    masked = Masker().text(f"{before} Authorization: Bearer {token}")
    assert not in_clear(token, masked)
    assert masked.endswith(f"Bearer {marker(token)}")


@given(data=st.data(), password=passwords, token=jwts())
def test_secrets_never_survive_in_json(data: st.DataObject, password: str, token: str) -> None:
    value = data.draw(nested(st.one_of(leaves_with(password), leaves_with(token))))
    original = copy.deepcopy(value)
    masked = masker_with(password).json(value)
    assert value == original, "json() must not mutate its input"
    for text in strings_of(masked):
        assert not in_clear(password, text)
        assert not in_clear(token, text)


@given(password=passwords, key=st.sampled_from(sorted(SENSITIVE_KEYS)), other=st.integers())
def test_sensitive_keys_are_masked_whatever_their_value(password: str, key: str, other: int) -> None:
    masker = Masker()  # unregistered: the key alone makes the value secret
    masked = masker.json({key.upper(): password, key: {"nested": other}, "list": [{key: other}]})
    # Authorization-like keys keep a scheme word, if the value has one; the rest is always one marker.
    assert not in_clear(password, masked[key.upper()])
    assert MARKER_RE.search(masked[key.upper()])
    assert MARKER_RE.fullmatch(masked[key])
    assert MARKER_RE.fullmatch(masked["list"][0][key])


@given(data=st.data(), password=passwords, token=jwts())
def test_secrets_never_survive_in_headers(data: st.DataObject, password: str, token: str) -> None:
    values = st.one_of(embedding(password), embedding(token), surrounding)
    headers = data.draw(st.dictionaries(header_names, values, max_size=6))
    masked = masker_with(password).headers(headers)
    assert set(masked) == set(headers)
    for value in masked.values():
        assert not in_clear(password, value)
        assert not in_clear(token, value)


def occurs_only_where_placed(secret: str, template: str) -> bool:
    """Whether `secret`, put at each NUL of `template`, occurs there and nowhere else (not even overlapping)."""
    composed = template.replace("\0", secret)
    found = sum(composed.startswith(secret, start) for start in range(len(composed)))
    return found == template.count("\0")


@given(password=passwords, token=jwts())
def test_one_secret_has_one_fingerprint_everywhere(password: str, token: str) -> None:
    line = f'{{"message": "login", "token": "{token}", "password": "\0"}}'
    # Boilerplate that happens to contain the password (e.g. "access_t") is masked too, legitimately.
    assume(
        all(occurs_only_where_placed(password, text) for text in (line, "access_token", f"Bearer {token}"))
    )
    masker = masker_with(password, token)
    body = masker.json({"password": password, "note": f"sent {password}", "access_token": token})
    headers = masker.headers({"Authorization": f"Bearer {token}", "X-Echo": password})
    masked_line = masker.text(line.replace("\0", password))
    assert body["password"] == marker(password) == headers["X-Echo"]
    assert marker(password) in body["note"]
    assert body["access_token"] == marker(token)
    assert headers["Authorization"] == f"Bearer {marker(token)}"
    assert marker(token) in masked_line
    assert marker(password) in masked_line
    assert fingerprint(token) in marker(token)


@settings(max_examples=200)
@given(data=st.data(), password=passwords, token=jwts())
def test_masking_is_idempotent(data: st.DataObject, password: str, token: str) -> None:
    masker = masker_with(password)
    text = data.draw(
        st.one_of(embedding(password), embedding(token), embedding(f"Bearer {token}"), surrounding)
    )
    once = masker.text(text)
    assert masker.text(once) == once
    value = data.draw(nested(st.one_of(leaves_with(password), leaves_with(token))))
    assert masker.json(masker.json(value)) == masker.json(value)
    headers = data.draw(
        st.dictionaries(header_names, st.one_of(embedding(password), embedding(token)), max_size=4)
    )
    assert masker.headers(masker.headers(headers)) == masker.headers(headers)


@given(value=st.text(printable))
def test_markers_never_look_like_jwts(value: str) -> None:
    assert JWT_RE.search(marker(value)) is None
    assert Masker().text(marker(value)) == marker(value)


@given(data=st.data(), password=passwords, token=jwts())
def test_a_disabled_masker_is_the_identity(data: st.DataObject, password: str, token: str) -> None:
    masker = Masker(enabled=False)
    masker.add_secret(password)
    text = data.draw(st.one_of(embedding(password), embedding(token), embedding(f"Bearer {token}")))
    assert masker.text(text) == text
    value = data.draw(nested(st.one_of(leaves_with(password), leaves_with(token))))
    assert masker.json(value) is value
    headers = {"Authorization": f"Bearer {token}", "Cookie": f"session={password}", "X-Note": text}
    assert masker.headers(headers) == headers


# ---- examples -----------------------------------------------------------------------------------------------


def test_short_values_are_not_registered() -> None:
    masker = masker_with("abc", "")
    assert masker.text("abc def abc") == "abc def abc"


def test_the_longest_secret_is_masked_whole() -> None:
    masker = masker_with("hunter22", "hunter22-and-more")
    assert masker.text("pw=hunter22-and-more") == f"pw={marker('hunter22-and-more')}"
    assert masker.text("pw=hunter22") == f"pw={marker('hunter22')}"


def test_a_secret_made_of_regex_metacharacters_is_masked_literally() -> None:
    masker = masker_with(".*(a|b)+$")
    assert masker.text("x .*(a|b)+$ y aaaa") == f"x {marker('.*(a|b)+$')} y aaaa"


def test_a_register_request_body() -> None:
    password = "Pw-3q2Zk8yYc1mLx0Tn"
    body = {
        "second_login": "qa_ab12cdgw0001",
        "phone": "+70123456789",
        "email": "qa_ab12cdgw0001@example.com",
        "password": password,
        "group_names": ["customer"],
    }
    masked = masker_with(password).json(body)
    assert masked == {**body, "password": marker(password)}
    assert body["password"] == password


def test_a_token_pair_response_body() -> None:
    access = realistic_jwt({"sub": "42", "type": "access"})
    refresh = realistic_jwt({"sub": "42", "type": "refresh"})
    body = {"access_token": access, "refresh_token": refresh, "token_type": "bearer"}
    assert Masker().json(body) == {
        "access_token": marker(access),
        "refresh_token": marker(refresh),
        "token_type": "bearer",
    }


def test_an_authorization_header_keeps_its_scheme() -> None:
    token = realistic_jwt({"sub": "42"})
    masked = Masker().headers(
        {
            "Authorization": f"Bearer {token}",
            "Cookie": "session=abcdef123456",
            "Content-Type": "application/json",
            "X-Request-ID": "run1gw0001-3",
        }
    )
    assert masked == {
        "Authorization": f"Bearer {marker(token)}",
        "Cookie": marker("session=abcdef123456"),
        "Content-Type": "application/json",
        "X-Request-ID": "run1gw0001-3",
    }
    assert Masker().headers({"Authorization": "Basic dXNlcjpwYXNz"}) == {
        "Authorization": f"Basic {marker('dXNlcjpwYXNz')}"
    }
    # A bare credential without a scheme is masked whole; an empty one has nothing to hide.
    assert Masker().headers({"Authorization": "opaque-key-123", "Proxy-Authorization": "Bearer "}) == {
        "Authorization": marker("opaque-key-123"),
        "Proxy-Authorization": "Bearer ",
    }


def test_a_json_log_line_containing_a_token() -> None:
    token = realistic_jwt({"sub": "42"})
    line = json.dumps(
        {
            "level": "INFO",
            "message": f"issued {token}",
            "request_id": "rid-1",
            "timestamp": "2025-11-24T13:04:08Z",
        }
    )
    masked = Masker().text(line)
    assert token not in masked
    assert json.loads(masked) == {
        "level": "INFO",
        "message": f"issued {marker(token)}",
        "request_id": "rid-1",
        "timestamp": "2025-11-24T13:04:08Z",
    }


def test_an_unsigned_token_and_prose_are_told_apart() -> None:
    unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiI0MiJ9."
    masker = Masker()
    assert masker.text(f"alg none: {unsigned} rejected") == f"alg none: {marker(unsigned)} rejected"
    # Not credentials: the token type in a body, a documentation placeholder.
    assert masker.text('{"token_type": "bearer"}') == '{"token_type": "bearer"}'
    assert masker.text("Authorization: Bearer <access_token>") == "Authorization: Bearer <access_token>"


def test_null_and_empty_sensitive_values_stay_visible() -> None:
    assert Masker().json({"password": None, "token": ""}) == {"password": None, "token": ""}


# ---- by meaning: opaque values, fragments ---------------------------------------------------------------------

OPAQUE = "op4que-Refresh-Token-value-0123456789abcdefghijklmnopqrstuvwxyz"


def test_keys_that_say_secret_are_recognised_whatever_their_spelling() -> None:
    from harness.masking import is_sensitive_key

    secret = [
        "refreshToken",
        "X-Api-Key",
        "session_id",
        "client-secret",
        "PASSWORD",
        "authToken",
        "Set-Cookie",
    ]
    plain = ["token_type", "expires_in", "refresh_token_expires", "login", "detail", "secrets_shown", "id"]
    assert all(is_sensitive_key(key) for key in secret)
    assert not any(is_sensitive_key(key) for key in plain)


def test_an_opaque_token_under_a_secret_key_is_masked_at_any_depth() -> None:
    body = {"data": {"session": [{"refreshToken": OPAQUE, "token_type": "bearer", "secrets_shown": False}]}}
    masked = Masker().json(body)
    inner = masked["data"]["session"][0]
    assert inner["refreshToken"] == marker(OPAQUE) and inner["token_type"] == "bearer"
    assert inner["secrets_shown"] is False
    assert OPAQUE not in json.dumps(masked)


def test_text_with_secret_keys_is_masked_also_when_cut_short() -> None:
    masker = Masker()
    excerpt = '{"access_token":"' + OPAQUE + '","refresh_token":"' + OPAQUE[:20]  # cut mid-token
    masked = masker.text(f"expected status 401, got 200: {excerpt}…")
    assert OPAQUE[:12] not in masked and masked.count("«masked:") == 2
    assert (
        masker.text("password=hunter2hunter2&login=bob") == f"password={marker('hunter2hunter2')}&login=bob"
    )
    assert masker.text("{'apiKey': 'k-123456789'}") == "{'apiKey': '" + marker("k-123456789") + "'}"
    assert masker.text("invalid token: expired") == "invalid token: expired"  # prose stays readable


def test_a_registered_secret_cut_short_at_either_end_is_masked() -> None:
    masker = Masker()
    masker.add_secret(OPAQUE)
    assert OPAQUE[:15] not in masker.text(f"got {OPAQUE[:15]}…")
    assert OPAQUE[-15:] not in masker.text(f"…{OPAQUE[-15:]} in the log")
    assert masker.text("a short run: op4que") == "a short run: op4que"  # under MIN_FRAGMENT_LENGTH


def test_learning_a_body_masks_its_secrets_in_later_text() -> None:
    masker = Masker()
    masker.learn({"result": {"access_token": OPAQUE}, "authorization": "Bearer " + OPAQUE[::-1]})
    assert masker.text(f"the token was {OPAQUE} and {OPAQUE[::-1]}") == (
        f"the token was {marker(OPAQUE)} and {marker(OPAQUE[::-1])}"
    )


def test_the_start_of_a_jwt_cut_before_its_second_dot_is_masked() -> None:
    token = realistic_jwt({"sub": "u1", "jti": "j1"})
    cut = token[: token.index(".") + 8]
    assert "eyJ" not in Masker().text(f"body: {cut}…")
