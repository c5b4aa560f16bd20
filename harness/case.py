"""One checklist case in progress: the data it made, the responses it got, and the checks steps ask for.

Steps are thin glue over this class; it owns the scenario's state and the wording of verdicts. Every call is one
of two kinds: the row's own call (`_act`), whose answer the checks judge, or a precondition (`_prepare`), which
either gives the case what it needs or blocks it with a reason naming the call and what came back.
"""

import contextlib
import uuid
from collections.abc import Callable
from typing import Any, Literal, NoReturn, TypeVar

import httpx
import pytest

from harness import data
from harness.clients import MISSING, Clients
from harness.faults.injector import FaultInjector
from harness.faults.outages import FaultFailed, FaultUnavailable
from harness.logs import LogLookup, LogSource, find
from harness.masking import Masker
from harness.outcomes import Blocked, CheckFailed
from harness.recorder import REQUEST_ID_HEADER, Exchange, Recorder
from harness.target import Target

USER_FIELDS = ("id", "second_login", "groups", "contacts")
TOKEN_FIELDS = ("access_token", "refresh_token")
T = TypeVar("T")
Credential = Literal["access", "refresh", "none"]
Send = Callable[..., httpx.Response]


def _answer(response: httpx.Response) -> str:
    """`500 Internal Server Error`: the status with its reason phrase."""
    return f"{response.status_code} {response.reason_phrase}".strip()


def _call_name(exchange: Exchange) -> str:
    return f"{exchange.method} {httpx.URL(exchange.url).path}"


def normalise_contacts(contacts: Any) -> dict[str, str]:
    """Contacts as `{"phone": ..., "email": ...}` or as a list of `{type, value}`: deployments differ."""
    if isinstance(contacts, dict):
        return {str(k): str(v) for k, v in contacts.items() if v is not None}
    if isinstance(contacts, list):
        return {str(item.get("type")): str(item.get("value")) for item in contacts if isinstance(item, dict)}
    raise CheckFailed(f"contacts is neither an object nor a list: {contacts!r}")


def check(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Case:
    def __init__(
        self,
        clients: Clients,
        target: Target,
        log_wait_seconds: float,
        recorder: Recorder,
        log_sources: dict[str, LogSource],
        masker: Masker,
        faults: FaultInjector,
    ) -> None:
        self.clients = clients
        self.faults = faults
        self._undo: list[tuple[str, Callable[[], None]]] = []  # faults in force, with how to undo each
        self.recorder = recorder
        self.log_sources = log_sources
        self.masker = masker
        self.target = target
        self.log_wait_seconds = log_wait_seconds
        self.account: dict[str, Any] | None = None  # what registration sent
        self.tokens: dict[str, Any] | None = None  # the latest token pair
        self.user_refresh_tokens: list[str] = []  # every refresh token the user was given
        self.user_id: Any = None
        self.response: httpx.Response | None = None  # the call under test
        self.responses: list[httpx.Response] = []  # when the call under test is repeated
        self.spent_refresh_token: str | None = None
        self.created_account: dict[str, Any] | None = None
        self.other_account: dict[str, Any] | None = None  # another user, where a row needs two
        self.other_tokens: dict[str, Any] | None = None
        self.other_id: Any = None
        self.payload: dict[str, Any] | None = None  # the last webhook sent, for resends
        self.first_answer: httpx.Response | None = None
        # What the checks are about: the row's own exchange, or the call that blocked the case.
        self.subject: Exchange | None = None
        # Calls after a fault was undone check the target recovered; they are not the row's own answer.
        self._recovering: str | None = None
        # The row's own call that should have given the user tokens and did not: later steps that need them fail
        # naming it, instead of quietly registering another user.
        self._no_tokens_from: str | None = None

    # ---- calls ------------------------------------------------------------------------------------------------

    def _excerpt(self, response: httpx.Response, limit: int = 300) -> str:
        """The start of a body for a message: masked before it is cut, so no secret survives as a fragment."""
        with contextlib.suppress(ValueError):
            self.masker.learn(response.json())
        text = self.masker.text(response.text)
        return text if len(text) <= limit else text[:limit] + "…"

    def _send(self, send: Send, args: tuple[Any, ...], precondition: str | None) -> httpx.Response:
        try:
            return send(*args)
        except httpx.TransportError as exc:
            raise self._no_answer(exc, precondition) from None

    def _act(self, send: Send, *args: Any) -> httpx.Response:
        """The row's own call: its answer is what the checks judge and what the reports show."""
        response = self._send(send, args, None)
        self.response = response
        self.subject = self.recorder.mark(response, "recovery" if self._recovering else "primary")
        return response

    def _prepare(self, what: str, see: str, send: Send, *args: Any) -> httpx.Response:
        """A precondition's call: any 2xx will do; anything else blocks the case, naming the call."""
        response = self._send(send, args, what)
        if not response.is_success:
            self._block(
                response, f"{what} answered {_answer(response)} (see {see}): {self._excerpt(response, 200)}"
            )
        return response

    def _fields(self, response: httpx.Response, what: str, see: str, *names: str) -> dict[str, Any]:
        """The JSON object a precondition's answer must carry, with `names` in it."""
        try:
            body = response.json()
        except ValueError:
            body = None
        missing = [name for name in names if not (isinstance(body, dict) and body.get(name))]
        if not isinstance(body, dict) or missing:
            self._block(
                response,
                f"{what} answered {_answer(response)} without {', '.join(missing) or 'a JSON object'} "
                f"(see {see}): {self._excerpt(response, 200)}",
            )
        assert isinstance(body, dict)
        return body

    def _block(self, response: httpx.Response, reason: str) -> None:
        self.subject = self.recorder.exchange_of(response)
        raise Blocked(reason)

    def _no_answer(self, exc: httpx.TransportError, precondition: str | None) -> Exception:
        """A call that got no HTTP answer: blocked when the service cannot be reached or a precondition's call
        failed; failed when the row's own call was cut off, naming the previous call when it is the likely cause."""
        exchanges = self.recorder.exchanges
        failed = exchanges[-1] if exchanges and exchanges[-1].error else None
        self.subject = failed
        where = exc.request.url if failed is None else httpx.URL(failed.url)
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        service = failed.service if failed else "the"
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            doing = f"{precondition}: " if precondition else ""
            return Blocked(f"{doing}the {service} service does not answer at {where}: {reason}")
        call = _call_name(failed) if failed else str(where)
        message = f"{call} got no answer: {reason}"
        previous = next((e for e in reversed(exchanges[:-1]) if failed and e.service == failed.service), None)
        if previous is not None and (previous.error or (previous.status or 0) >= 500):
            what = previous.error or f"answered {previous.status}"
            message += (
                f"; the call before it, {_call_name(previous)} ({previous.role}), {what}: the likely cause"
            )
        return Blocked(f"{precondition}: {message}") if precondition else CheckFailed(message)

    def _new_account(self, **overrides: Any) -> dict[str, Any]:
        account = data.new_account(**overrides)
        self.masker.add_secret(account["password"])
        return account

    def _mask_tokens(self, tokens: dict[str, Any]) -> None:
        for name in TOKEN_FIELDS:
            if isinstance(tokens.get(name), str):
                self.masker.add_secret(tokens[name])

    def _remember_tokens(self, tokens: dict[str, Any]) -> None:
        self._mask_tokens(tokens)
        self.tokens = tokens
        if isinstance(tokens.get("refresh_token"), str):
            self.user_refresh_tokens.append(tokens["refresh_token"])

    def _tokens_in(self, response: httpx.Response) -> dict[str, Any] | None:
        """The token pair in a 2xx answer, if it carries one."""
        try:
            body = response.json()
        except ValueError:
            return None
        if response.is_success and isinstance(body, dict) and all(body.get(n) for n in TOKEN_FIELDS):
            return body
        return None

    @property
    def last(self) -> httpx.Response:
        if self.response is None:
            raise CheckFailed("no request was made in this case")
        return self.response

    def _expect_tokens(self, response: httpx.Response, what: str) -> dict[str, Any] | None:
        tokens = self._tokens_in(response)
        if tokens is None:
            self._no_tokens_from = f"{what} answered {_answer(response)} without tokens"
        else:
            self._no_tokens_from = None
            self._remember_tokens(tokens)
        return tokens

    def _require_user(self) -> tuple[dict[str, Any], dict[str, Any]]:
        if self._no_tokens_from is not None:
            self._fail(f"no token to go on with: the row's own {self._no_tokens_from}")
        if self.account is None or self.tokens is None:
            self.ensure_registered_user()
        assert self.account is not None and self.tokens is not None
        return self.account, self.tokens

    # ---- faults -----------------------------------------------------------------------------------------------

    def _can(self, make: Callable[[], T]) -> T:
        """The fault's means, or a skip whose reason names the setting the target lacks."""
        try:
            return make()
        except FaultUnavailable as exc:
            pytest.skip(str(exc))

    def _inject(self, what: str, inject: Callable[[], None]) -> None:
        try:
            inject()
        except FaultFailed as exc:
            raise Blocked(f"could not {what}: {exc}") from None

    def cut(self, service: str, dependency: str) -> None:
        outage = self._can(lambda: self.faults.outage(service, dependency))
        self._undo.append((f"{service}-{dependency}", outage.restore))  # a half-done cut is undone too
        self._inject(f"cut the {service} service off from its {dependency}", outage.cut)

    def restore(self, service: str, dependency: str) -> None:
        key = f"{service}-{dependency}"
        for entry in [entry for entry in self._undo if entry[0] == key]:
            self._undo.remove(entry)
            self._inject(f"reconnect the {service} service to its {dependency}", entry[1])
        self._recovering = f"after the {service} service's {dependency} came back"
        self._no_tokens_from = (
            None  # a call that failed during the outage was meant to: it blocks nothing after
        )

    def break_webhook_function(self) -> None:
        swap = self._can(self.faults.function_swap)
        self._inject("replace to_can.process_webhook with a failing version", swap.break_function)
        self._undo.append(("to_can.process_webhook", swap.restore))

    def undo_faults(self) -> None:
        """Undo every fault still in force, newest first; all are attempted even if one fails."""
        errors = []
        while self._undo:
            name, undo = self._undo.pop()
            try:
                undo()
            except Exception as exc:  # every undo gets its chance; the first failure is reported
                errors.append(f"{name}: {exc}")
        if errors:
            raise FaultFailed("could not undo faults: " + "; ".join(errors))

    def _act_with_expired(self, kind: Literal["access", "refresh"], send: Send) -> None:
        """The row's own call with an expired token of `kind`: a genuinely expired one the team gave, else the
        user's own re-signed with `exp` in the past. A re-signed copy that is refused proves expiry is checked
        only if the same copy with a valid `exp` is then accepted (the control); otherwise the row is blocked."""
        given = self.faults.given_expired(kind)
        if given is not None:
            self.masker.add_secret(given)
            self._act(send, given)
            return
        _, tokens = self._require_user()
        name = f"{kind}_token"
        try:
            expired, control = self._can(lambda: self.faults.expired(tokens[name]))
        except FaultFailed as exc:
            raise Blocked(f"cannot make an expired {name}: {exc}") from None
        for token in (expired, control):
            self.masker.add_secret(token)
        if self._act(send, expired).is_success:
            return  # accepted: the row fails on its own checks, no control needed
        checked = self._send(
            send, (control,), f"checking that a re-signed {name} is accepted when not expired"
        )
        if not checked.is_success:
            self._block(
                checked,
                f"expiry cannot be tested with re-signed tokens here: the same {name} re-signed with a valid exp "
                f"was refused too ({_answer(checked)}), so the expired one may have been refused as unknown; "
                f"give EXPIRED_{kind.upper()}_TOKEN, a genuinely expired {name}",
            )

    # ---- auth -------------------------------------------------------------------------------------------------

    def _register_fresh(self, what: str, login_what: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A new account registered as a precondition, and its tokens."""
        account = self._new_account()
        response = self._prepare(what, "AUTH-REG-01", self.clients.auth.register, account)
        # Any 2xx registers; a deployment that gives no tokens on registration gives them on login.
        tokens = self._tokens_in(response)
        if tokens is None:
            login = self._prepare(
                login_what,
                "AUTH-LOGIN-01",
                self.clients.auth.login,
                account["second_login"],
                account["password"],
            )
            tokens = self._fields(login, login_what, "AUTH-LOGIN-01", *TOKEN_FIELDS)
        return account, tokens

    def ensure_registered_user(self) -> None:
        self.account, tokens = self._register_fresh("registering a user", "logging the new user in")
        self._remember_tokens(tokens)

    def register(self, **overrides: Any) -> None:
        account = self._new_account(**overrides)
        response = self._act(self.clients.auth.register, account)
        if self._expect_tokens(response, "registration") is not None:
            self.account = account

    def register_without(self, field: str) -> None:
        account = self._new_account()
        del account[field]
        self._act(self.clients.auth.register, account)

    def register_duplicate_of(self, field: str) -> None:
        account, _ = self._require_user()
        self._act(self.clients.auth.register, self._new_account(**{field: account[field]}))

    def login_by(self, field: str) -> None:
        account, _ = self._require_user()
        response = self._act(self.clients.auth.login, account[field], account["password"])
        self._expect_tokens(response, f"login by {field}")

    def ensure_logged_in_again(self) -> None:
        account, _ = self._require_user()
        what = "logging the user in again"
        login = self._prepare(
            what, "AUTH-LOGIN-01", self.clients.auth.login, account["second_login"], account["password"]
        )
        self._remember_tokens(self._fields(login, what, "AUTH-LOGIN-01", *TOKEN_FIELDS))

    def login_with_wrong_password(self, field: str) -> None:
        account, _ = self._require_user()
        self._act(self.clients.auth.login, account[field], account["password"] + "-wrong")

    def login_unknown(self, field: str) -> None:
        # A fresh account's identifier of that kind, never registered.
        self._act(self.clients.auth.login, data.new_account()[field], "Any-password-1")

    def login_without_password(self) -> None:
        # No user needed: the password's absence is refused before any account is looked up.
        login = self.account["second_login"] if self.account else f"nobody_{data.unique_tag()}"
        self._act(self.clients.auth.login, login, MISSING)

    def refresh_current(self) -> None:
        _, tokens = self._require_user()
        response = self._act(self.clients.auth.refresh, tokens["refresh_token"])
        self._expect_tokens(response, "refresh")

    def spend_refresh_token(self) -> None:
        _, tokens = self._require_user()
        spent = tokens["refresh_token"]
        what = "spending the refresh token on a first refresh"
        response = self._prepare(what, "AUTH-REFRESH-01", self.clients.auth.refresh, spent)
        self._remember_tokens(self._fields(response, what, "AUTH-REFRESH-01", *TOKEN_FIELDS))
        self.spent_refresh_token = spent

    def refresh_spent(self) -> None:
        if self.spent_refresh_token is None:
            raise Blocked("no refresh token was spent in this case")
        self._act(self.clients.auth.refresh, self.spent_refresh_token)

    def refresh_with(self, token: str) -> None:
        self.masker.add_public(token)  # spelt out in the feature file: the report must show it
        self._act(self.clients.auth.refresh, token)

    def refresh_with_access_token(self) -> None:
        _, tokens = self._require_user()
        self._act(self.clients.auth.refresh, tokens["access_token"])

    def refresh_expired(self) -> None:
        self._act_with_expired("refresh", self.clients.auth.refresh)

    def refresh_every_user_token(self) -> None:
        self.responses = [self._act(self.clients.auth.refresh, t) for t in self.user_refresh_tokens]

    def logout(self) -> None:
        _, tokens = self._require_user()
        self._act(self.clients.auth.logout, tokens["access_token"])

    def ensure_logged_out(self) -> None:
        _, tokens = self._require_user()
        self._prepare(
            "logging the user out", "AUTH-LOGOUT-01", self.clients.auth.logout, tokens["access_token"]
        )

    def logout_without_header(self) -> None:
        self._act(self.clients.auth.logout, None)

    def logout_with_invalid_token(self) -> None:
        self._act(self.clients.auth.logout, "invalid.token.value")

    def logout_with_refresh_token(self) -> None:
        _, tokens = self._require_user()
        self._act(self.clients.auth.logout, tokens["refresh_token"])

    def logout_with_expired_token(self) -> None:
        self._act_with_expired("access", self.clients.auth.logout)

    # ---- users ------------------------------------------------------------------------------------------------

    def _credential(self, kind: Credential) -> str | None:
        """The bearer token to present: the user's access token, its refresh token in its place, or none (an
        unauthorised request needs no user of its own)."""
        if kind == "none":
            return None
        _, tokens = self._require_user()
        return str(tokens["access_token" if kind == "access" else "refresh_token"])

    def create_user(self, *, credential: Credential = "access", same_second_login: bool = False) -> None:
        token = self._credential(credential)
        overrides = (
            {"second_login": self.account["second_login"]} if same_second_login and self.account else {}
        )
        self.created_account = self._new_account(**overrides)
        self._act(self.clients.users.create, self.created_account, token)

    def ensure_other_user(self) -> None:
        """Another user registered besides the case's own: a service that answers with the wrong user fails."""
        what = "registering another user"
        self.other_account, self.other_tokens = self._register_fresh(what, what)
        self._mask_tokens(self.other_tokens)

    def _other_id(self) -> Any:
        if self.other_id is None:
            if self.other_tokens is None:
                self.ensure_other_user()
            assert self.other_tokens is not None
            self.other_id = self._id_of(self.other_tokens, "looking up the other user's id")
        return self.other_id

    def _id_of(self, tokens: dict[str, Any], what: str) -> Any:
        me = self._prepare(what, "CROSS-01", self.clients.users.me, tokens["access_token"])
        return self._fields(me, what, "CROSS-01", "id")["id"]

    def get_other_user(self) -> None:
        _, tokens = self._require_user()
        self._act(self.clients.users.get, self._other_id(), tokens["access_token"])

    def expect_other_user(self) -> None:
        """The answer is the user asked for, not the caller nor any other."""
        user = self.json()
        self._check(isinstance(user, dict), lambda: f"expected a user object, got {self._excerpt(self.last)}")
        assert self.other_account is not None
        expected = {"id": str(self.other_id), "second_login": self.other_account["second_login"]}
        got = {"id": str(user.get("id")), "second_login": user.get("second_login")}
        self._check(got == expected, f"expected the other user {expected}, got {got}")

    def _own_id(self) -> Any:
        if self.user_id is None:
            _, tokens = self._require_user()
            self.user_id = self._id_of(tokens, "looking up the user's id")
        return self.user_id

    def get_own_user(self) -> None:
        _, tokens = self._require_user()
        self._act(self.clients.users.get, self._own_id(), tokens["access_token"])

    def get_nonexistent_user(self) -> None:
        _, tokens = self._require_user()
        self._act(self.clients.users.get, data.nonexistent_id_like(self._own_id()), tokens["access_token"])

    def get_user_unauthorized(self, credential: Credential = "none") -> None:
        # Any id: without valid credentials the answer must be 401 whether or not the user exists.
        self._act(self.clients.users.get, self.user_id or str(uuid.uuid4()), self._credential(credential))

    def me(self) -> None:
        _, tokens = self._require_user()
        self._act(self.clients.users.me, tokens["access_token"])

    # ---- webhook ----------------------------------------------------------------------------------------------

    def send_webhook(self, **overrides: Any) -> None:
        self.payload = data.webhook_payload(self.target.valid_mid, **overrides)
        self.first_answer = self._act(self.clients.webhook.send, self.payload)

    def ensure_webhook_accepted(self) -> None:
        self.payload = data.webhook_payload(self.target.valid_mid)
        what = "sending a payment first"
        self.first_answer = self._prepare(what, "WEBHOOK-01", self.clients.webhook.send, self.payload)

    def resend_webhook(self, **changes: Any) -> None:
        """The payment sent before, again: as it was (2can repeats a webhook until it is answered), or with
        `changes` under the same Id."""
        if self.payload is None:
            raise Blocked("no payment was sent before in this case")
        self._act(self.clients.webhook.send, {**self.payload, **changes})

    def expect_same_answer_as_first(self) -> None:
        """The identical answer, receipt time included: a second stored payment would carry a new one."""
        assert self.first_answer is not None
        first, again = self.first_answer.json(), self.json()
        self._check(again == first, f"the resend was answered {again!r}, the first send {first!r}")

    def expect_stored_payment_undisclosed(self) -> None:
        """Nothing of the stored payment (its amount, its receipt) comes back to whoever resends its Id."""
        assert self.first_answer is not None and self.payload is not None
        stored = self.first_answer.json()
        values = {str(self.payload["Amount"])} | {
            str(value)
            for key, value in (stored.items() if isinstance(stored, dict) else [])
            if key not in ("mid", "payment_id", "status")
        }
        shown = [value for value in values if value and value in self.last.text]
        self._check(
            not shown, f"the refusal discloses the stored payment: {shown} in {self._excerpt(self.last)}"
        )

    def send_webhook_without(self, field: str) -> None:
        payload = data.webhook_payload(self.target.valid_mid)
        del payload[field]
        self._act(self.clients.webhook.send, payload)

    def _log_lookup(self, service: str) -> LogLookup:
        request_id = self.last.headers.get(REQUEST_ID_HEADER)
        check(request_id, f"the response has no {REQUEST_ID_HEADER} header to look for")
        return find(self.log_sources[service], str(request_id), self.log_wait_seconds)

    # ---- checks -----------------------------------------------------------------------------------------------

    def _fail(self, message: str) -> NoReturn:
        """A check of the response under test failed; after a recovery the message says which response."""
        raise CheckFailed(f"{self._recovering}: {message}" if self._recovering else message)

    def _check(self, condition: object, message: str | Callable[[], str]) -> None:
        """`message` may be a callable: excerpts are masked, which only a failing check should pay for."""
        if not condition:
            self._fail(message if isinstance(message, str) else message())

    def json(self) -> Any:
        try:
            return self.last.json()
        except ValueError:
            self._fail(
                f"the response is not JSON (status {self.last.status_code}): {self._excerpt(self.last)}"
            )

    def expect_status(self, *codes: int) -> None:
        status = self.last.status_code
        wanted = " or ".join(map(str, codes))
        self._check(
            status in codes, lambda: f"expected status {wanted}, got {status}: {self._excerpt(self.last)}"
        )

    def expect_every_status(self, code: int) -> None:
        got = [response.status_code for response in self.responses]
        self._check(
            got and all(status == code for status in got), f"expected every status to be {code}, got {got}"
        )

    def detail(self) -> str:
        body = self.json()
        self._check(
            isinstance(body, dict) and "detail" in body,
            lambda: f"the response has no 'detail': {self._excerpt(self.last)}",
        )
        return str(body["detail"])

    def expect_message(self, message: str) -> None:
        detail = self.detail()
        self._check(detail == message, f"expected message {message!r}, got {detail!r}")

    def expect_message_containing(self, text: str) -> None:
        detail = self.detail()
        self._check(text in detail, f"expected a message containing {text!r}, got {detail!r}")

    def expect_header(self, name: str) -> None:
        self._check(
            self.last.headers.get(name),
            f"the response has no {name} header; headers: {dict(self.last.headers)}",
        )

    def expect_field(self, field: str) -> None:
        body = self.json()
        self._check(
            isinstance(body, dict) and body.get(field),
            lambda: f"the response has no {field!r}: {self._excerpt(self.last)}",
        )

    def expect_full_user_object(self) -> None:
        for field in USER_FIELDS:
            self.expect_field(field)
        check(self.created_account is not None, "no user was created in this case")
        assert self.created_account is not None
        self._expect_user_matches(self.created_account)

    def expect_user_matches_registration(self) -> None:
        account, _ = self._require_user()
        self._expect_user_matches(account)

    def _expect_user_matches(self, account: dict[str, Any]) -> None:
        user = self.json()
        self._check(isinstance(user, dict), lambda: f"expected a user object, got {self._excerpt(self.last)}")
        self._check(
            user.get("second_login") == account["second_login"],
            f"second_login: expected {account['second_login']!r}, got {user.get('second_login')!r}",
        )
        self._check(
            sorted(user.get("groups") or []) == sorted(account["group_names"]),
            f"groups: expected {account['group_names']}, got {user.get('groups')!r}",
        )
        contacts = normalise_contacts(user.get("contacts"))
        expected = {"phone": account["phone"], "email": account["email"].lower()}
        got = {"phone": contacts.get("phone"), "email": (contacts.get("email") or "").lower()}
        self._check(got == expected, f"contacts: expected {expected}, got {user.get('contacts')!r}")

    def expect_webhook_result(self) -> None:
        body = self.json()
        self._check(
            isinstance(body, dict) and body,
            lambda: f"expected the function's JSON object, got {self._excerpt(self.last)}",
        )
        self._check("error" not in body, f"the function reported an error: {body.get('error')!r}")

    def expect_log_record(self, service: str, level: str | None = None, *, required: bool = True) -> None:
        """A record of the service's log carries the response's request id (at `level`, if given).

        Where the log is the row's subject (WEBHOOK-06) a missing log source skips the case; where it is extra
        evidence (`required=False`) the check is left to the report, which says "log source not configured".
        """
        lookup = self._log_lookup(service)
        if not lookup.configured:
            if required:
                pytest.skip(
                    f"log source not configured for the {service} service (set {service.upper()}_LOG)"
                )
            return
        request_id = self.last.headers.get(REQUEST_ID_HEADER)
        if any(level is None or record.level == level for record in lookup.records):
            return
        if lookup.records:
            found = f"; its records with that id: {[(r.level, r.message) for r in lookup.records]}"
        elif lookup.read and not any(record.request_id for record in lookup.read):
            found = f" (it logs no request ids: none of the {len(lookup.read)} records read carries one)"
        else:
            found = ""
        self._fail(
            f"the {service} service logged no {f'{level} ' if level else ''}record with request id {request_id} "
            f"within {self.log_wait_seconds:g}s in {lookup.source}{found}"
        )

    def check_evidence(self) -> None:
        """What the checklist asks QA to record for every test, checked for every row: each of the row's own
        answers carries X-Request-ID, the one the harness sent, and, where the service's log source is configured, the service logged a
        record with that request id (4xx included). Without a log source the report says the log was not
        checked. The echo is checked apart, so that a missing header is not taken for a missing record."""
        for exchange in self.recorder.exchanges:
            if exchange.role != "primary" or exchange.status is None:
                continue
            call = f"{_call_name(exchange)} ({exchange.status})"
            if not exchange.request_id_received:
                self.subject = exchange
                raise CheckFailed(f"{call}: the response carries no {REQUEST_ID_HEADER} header")
            if not exchange.request_id_echoed:
                # The harness sends a well-formed id; one that comes back replaced breaks the trace the header is for.
                self.subject = exchange
                raise CheckFailed(
                    f"{call}: the response's {REQUEST_ID_HEADER} is {exchange.request_id_received!r}, "
                    f"not the {exchange.request_id_sent!r} sent"
                )
            log = exchange.log
            if log is None or not log.configured:
                continue
            if log.error:
                self.subject = exchange
                raise Blocked(f"the {exchange.service} log source could not be read: {log.error}")
            if log.matched_by != "request_id" or not log.records:
                self.subject = exchange
                shown = (
                    " (it logs no request ids: its records were found by time only)" if log.records else ""
                )
                raise CheckFailed(
                    f"{call}: the {exchange.service} service logged no record with request id "
                    f"{exchange.request_id_received} within {self.log_wait_seconds:g}s{shown}"
                )

    def expect_answer_within(self, seconds: float) -> None:
        elapsed = self.last.elapsed.total_seconds()
        self._check(elapsed < seconds, f"the answer took {elapsed:.2f}s, expected under {seconds:g}s")
