"""The one secret-masking policy for everything the harness writes.

Reports may be published as CI artifacts, so no secret may appear in them in clear. A masked value becomes a
marker such as `«masked:3f9a1c2e»` (the first 8 hex digits of the SHA-256 of the secret): two occurrences of one
secret can still be matched, across a request body, a header and a log line.

What is masked:
- every value registered with `Masker.add_secret` (a password the harness generated, a token it received), also
  in its JSON-escaped and URL-encoded spellings, since bodies are often written as serialised text; and a long
  enough prefix or suffix of one (`MIN_FRAGMENT_LENGTH`), since excerpts cut values short;
- every JWT-shaped string (`eyJ...` dotted base64url runs, signed or unsigned `header.payload.`, and the start
  of one cut short);
- the credential after `Bearer `;
- by meaning, whatever the value looks like (an opaque token is masked as surely as a JWT): the value of any key
  whose name says secret (`is_sensitive_key`: token, password, secret, authorization, api key, cookie, ...; any
  case or spelling, `refreshToken` too), in JSON-like values at any depth and, in text, in `"key": "value"`,
  `'key': 'value'` and `key=value` forms (a quoted value cut short is masked to the end of the text); in
  headers, the whole value of a credential header.

Existing markers are opaque: masking masked output changes nothing.
"""

import bisect
import hashlib
import json as jsonlib
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

# Shorter values would mask everything ("a", "id", "200").
MIN_SECRET_LENGTH = 4
# A run of characters this long that begins or ends a registered secret is taken for it, cut short.
MIN_FRAGMENT_LENGTH = 12

MARKER_RE = re.compile(r"«masked:[0-9a-f]{8}»")
_MARKER_SPLIT_RE = re.compile(r"(«masked:[0-9a-f]{8}»)")

# Dotted base64url runs starting like a JSON object header: JWS (3 parts), unsigned `h.p.`, JWE (5 parts).
# Any run with two dots or more is taken whole, so a token glued to another one is not left half in clear.
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){2,}")
# The credential stops at characters that delimit it in JSON, prose or markdown; `<access_token>`-style
# placeholders in documentation are not credentials.
_BEARER_RE = re.compile(r"(?P<scheme>\b(?i:bearer))(?P<ws>[ \t]+)(?P<cred>[^\s\"'`,;<>()\[\]{}]+)")
_TEXT_PATTERNS_RE = re.compile(f"(?P<jwt>{JWT_RE.pattern})|{_BEARER_RE.pattern}")
# `<scheme> <credential>` in an Authorization header; a value that is not of this shape is masked whole.
_AUTH_VALUE_RE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?P<ws>[ \t]+)(?P<cred>.*)", re.DOTALL
)

# Examples of keys whose values are secrets (compared after lower-casing and `-` → `_`); `is_sensitive_key` takes
# any key whose name contains one of `_SECRET_WORDS`.
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "new_password",
        "old_password",
        "current_password",
        "access_token",
        "refresh_token",
        "token",
        "id_token",
        "authorization",
        "proxy_authorization",
        "secret",
        "client_secret",
        "api_key",
        "x_api_key",
        "cookie",
        "set_cookie",
        "jwt_secret",
    }
)
_SCHEME_KEYS = frozenset({"authorization", "proxy_authorization"})
_WHOLE_HEADERS = frozenset({"cookie", "set-cookie", "x-api-key"})
_SCHEME_HEADERS = frozenset({"authorization", "proxy-authorization"})


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def marker(value: str) -> str:
    """The marker that stands for `value` in masked output."""
    return f"«masked:{fingerprint(value)}»"


def is_marker(value: str) -> bool:
    return MARKER_RE.fullmatch(value) is not None


# A key is sensitive when its letters (lower case, separators dropped) contain one of these words...
_SECRET_WORDS = (
    "token",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "authorization",
    "apikey",
    "cookie",
    "credential",
    "privatekey",
    "sessionid",
)
# ...unless they end in one of these: they describe a secret, they do not hold one (`token_type`, `expires_in`).
_DESCRIBING_ENDINGS = (
    "type",
    "expires",
    "expiresin",
    "expiry",
    "ttl",
    "hint",
    "length",
    "count",
    "policy",
    "shown",
    "required",
    "enabled",
)


def _normalise_key(key: str) -> str:
    return key.lower().replace("-", "_")


def is_sensitive_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    letters = re.sub(r"[^a-z0-9]", "", key.lower())
    if not any(word in letters for word in _SECRET_WORDS):
        return False
    return not (letters.endswith(_DESCRIBING_ENDINGS) and letters not in _SECRET_WORDS)


# `"key": "value"`, `'key': 'value'` and `key=value` in text: the value of a sensitive key. A quoted value may run
# to the end of the text, cut short by an excerpt; an unquoted value only follows `=` (forms, query strings,
# logfmt), so that prose such as "invalid token: expired" stays readable.
_KEY_VALUE_RE = re.compile(
    r"""(?P<key>["']?[A-Za-z_][A-Za-z0-9_.-]{0,63}["']?)(?P<sep>\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*(?:"|$)|'(?:[^'\\]|\\.)*(?:'|$))"""
    r"""|(?P<fkey>\b[A-Za-z_][A-Za-z0-9_.-]{0,63})=(?P<fvalue>[^\s&,;"'<>(){}\[\]]+)"""
)
# A run of characters secrets are made of; checked against the registered secrets' prefixes and suffixes.
_RUN_RE = re.compile(rf"[A-Za-z0-9._~+/=-]{{{MIN_FRAGMENT_LENGTH},}}")
# The start of a JWT cut before its second dot (JWT_RE needs two).
_JWT_START_RE = re.compile(r"eyJ[A-Za-z0-9_-]{13,}(?:\.[A-Za-z0-9_-]*)?")


def _outside_markers(s: str, transform: Callable[[str], str]) -> str:
    """Apply `transform` to the text between markers only, so that markers stay intact (idempotence)."""
    if "«" not in s:
        return transform(s)
    parts = _MARKER_SPLIT_RE.split(s)
    parts[0::2] = [transform(part) for part in parts[0::2]]
    return "".join(parts)


def _mask_patterns(segment: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("jwt") is not None:
            return marker(match.group("jwt"))
        return f"{match.group('scheme')}{match.group('ws')}{marker(match.group('cred'))}"

    segment = _TEXT_PATTERNS_RE.sub(replace, segment)
    return _JWT_START_RE.sub(lambda match: marker(match.group()), segment)


def _mask_quoted(quoted: str) -> str:
    """A quoted value (possibly cut short: no closing quote) with its content masked."""
    quote_char = quoted[0]
    closed = len(quoted) > 1 and quoted.endswith(quote_char) and not quoted.endswith("\\" + quote_char)
    inner = quoted[1:-1] if closed else quoted[1:]
    if inner in ("", "null") or is_marker(inner):
        return quoted
    scheme = _AUTH_VALUE_RE.fullmatch(inner)
    if scheme and scheme.group("scheme").lower() in ("bearer", "basic", "token") and scheme.group("cred"):
        masked = f"{scheme.group('scheme')}{scheme.group('ws')}{_marker_unless_marked(scheme.group('cred'))}"
    else:
        masked = marker(inner)
    return f"{quote_char}{masked}{quote_char if closed else ''}"


def _marker_unless_marked(value: str) -> str:
    return value if is_marker(value) else marker(value)


def _mask_key_values(segment: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("fkey") is not None:
            key, value = match.group("fkey"), match.group("fvalue")
            return f"{key}={_marker_unless_marked(value)}" if is_sensitive_key(key) else match.group()
        key = match.group("key").strip("\"'")
        if not is_sensitive_key(key):
            return match.group()
        return f"{match.group('key')}{match.group('sep')}{_mask_quoted(match.group('value'))}"

    return _KEY_VALUE_RE.sub(replace, segment)


def _spellings(secret: str) -> set[str]:
    """The forms in which a secret shows up in serialised bodies: JSON strings and URL-encoded forms."""
    return {
        jsonlib.dumps(secret)[1:-1],
        jsonlib.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret),  # a path segment or a query built by hand
        quote(secret, safe=""),
        quote_plus(secret),  # a form body
    }


class Masker:
    """Masks secrets in text, JSON-like values and headers; with `enabled=False` (`--show-secrets`), it is the
    identity.

    `json()` deliberately leaves `None` and `""` under sensitive keys as they are: they carry no secret, and a
    report must still show that a validation case sent an empty or null password.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        # Spelling found in text -> marker of the registered secret it stands for.
        self._markers: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        self._stale = False
        self._registered: set[str] = set()
        # Values known to be public (literals the feature files spell out): never learnt as secrets.
        self._public: set[str] = set()
        # Sorted registered secrets, and the same reversed: a fragment is found by bisection.
        self._prefixes: list[str] = []
        self._suffixes: list[str] = []

    def registered_secrets(self) -> frozenset[str]:
        """Every secret registered so far (for leak checks over what was written)."""
        with self._lock:
            return frozenset(self._registered)

    def add_secret(self, value: str) -> None:
        if len(value) < MIN_SECRET_LENGTH or is_marker(value):
            return
        with self._lock:
            if value in self._registered:
                return  # nothing to add, and the compiled pattern stays valid
            if len(value) >= MIN_FRAGMENT_LENGTH:
                bisect.insort(self._prefixes, value)
                bisect.insort(self._suffixes, value[::-1])
            self._registered.add(value)
            if JWT_RE.fullmatch(value):
                # JWT_RE masks every spelling of a JWT already (base64url survives JSON and URL encoding);
                # keeping the run's hundreds of tokens out of the alternation keeps recompiling it cheap.
                return
            mark = marker(value)
            for spelling in _spellings(value):
                # A registered secret's own marker wins over another secret's encoded spelling.
                self._markers.setdefault(spelling, mark)
            self._markers[value] = mark
            self._stale = True  # compiled lazily: registering many secrets in a row stays linear

    def _secret_pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._stale:
                # Longest first: at one position, a secret containing another is masked whole.
                alternatives = sorted(self._markers, key=len, reverse=True)
                self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None
                self._stale = False
            return self._pattern

    def _is_fragment(self, run: str) -> bool:
        """Whether `run` begins or ends a registered secret: what is left of one an excerpt cut short."""
        for known, probe in ((self._prefixes, run), (self._suffixes, run[::-1])):
            index = bisect.bisect_left(known, probe)
            if index < len(known) and known[index].startswith(probe):
                return True
        return False

    def _mask_fragments(self, segment: str) -> str:
        if not self._prefixes:
            return segment
        return _RUN_RE.sub(
            lambda m: marker(m.group()) if self._is_fragment(m.group()) else m.group(), segment
        )

    def text(self, s: str) -> str:
        if not self.enabled or not s:
            return s
        pattern = self._secret_pattern()
        if pattern is not None:
            markers = self._markers
            s = _outside_markers(s, lambda part: pattern.sub(lambda m: markers[m.group()], part))
        # Registered secrets first: a pattern match must not take half of a secret and leave the rest in clear.
        # Each later pass runs only where it could match (a run masks some ten thousand strings, most of them
        # short header values and ids).
        if ":" in s or "=" in s:
            s = _outside_markers(s, _mask_key_values)
        if "eyJ" in s or "bearer" in s.lower():
            s = _outside_markers(s, _mask_patterns)
        if len(s) >= MIN_FRAGMENT_LENGTH:
            s = _outside_markers(s, self._mask_fragments)
        return s

    def add_public(self, value: str) -> None:
        """A value that may sit under a secret key yet is public (a malformed token a feature file spells out)."""
        with self._lock:
            self._public.add(value)

    def learn(self, value: Any) -> None:
        """Register every string held under a sensitive key in a JSON-like value (a response body, say), so that
        the same secret is masked wherever else it shows up: in a failure message, a log line."""
        if isinstance(value, Mapping):
            for key, item in value.items():
                if is_sensitive_key(key) and isinstance(item, str) and item not in self._public:
                    scheme = _AUTH_VALUE_RE.fullmatch(item)
                    self.add_secret(
                        scheme.group("cred") if scheme and _normalise_key(str(key)) in _SCHEME_KEYS else item
                    )
                else:
                    self.learn(item)
        elif isinstance(value, list | tuple):
            for item in value:
                self.learn(item)

    def json(self, value: Any) -> Any:
        """A masked copy of a JSON-like value (dicts, lists, tuples, scalars); the input is never mutated."""
        if not self.enabled:
            return value
        return self._json(value)

    def _json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                (self.text(key) if isinstance(key, str) else key): (
                    self._sensitive(key, item) if is_sensitive_key(key) else self._json(item)
                )
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._json(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._json(item) for item in value)
        return value

    def _sensitive(self, key: str, value: Any) -> Any:
        if (
            value is None or value == "" or isinstance(value, bool)
        ):  # a flag (`secrets_shown`) holds no secret
            return value
        if isinstance(value, str):
            if _normalise_key(key) in _SCHEME_KEYS:
                return self._credential(value)
            return value if is_marker(value) else marker(value)
        # Numbers, lists, objects: the marker of their canonical JSON, so equal values get equal markers.
        return marker(jsonlib.dumps(value, sort_keys=True, ensure_ascii=False, default=str))

    def _credential(self, value: str) -> str:
        """`Bearer «masked:…»`: the scheme stays readable, the credential does not."""
        # Registered secrets first, so a secret that spans the scheme is masked whole.
        masked = self.text(value)
        match = _AUTH_VALUE_RE.fullmatch(masked)
        if match is None:
            return masked if is_marker(masked) or masked == "" else marker(value)
        cred = match.group("cred")
        if cred == "" or is_marker(cred):
            return masked
        return f"{match.group('scheme')}{match.group('ws')}{marker(cred)}"

    def headers(self, h: Mapping[str, str]) -> dict[str, str]:
        if not self.enabled:
            return dict(h)
        masked: dict[str, str] = {}
        for name, value in h.items():
            lowered = name.lower()
            if lowered in _SCHEME_HEADERS:
                masked[name] = self._credential(value)
            elif lowered in _WHOLE_HEADERS:
                masked[name] = value if value == "" or is_marker(value) else marker(value)
            else:
                masked[name] = self.text(value)
        return masked
