"""One checklist case in progress: the data it made, the responses it got, and the checks steps ask for.

Steps are thin glue over this class; it owns the scenario's state and the wording of failures.
"""

from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

from harness import data
from harness.clients import MISSING, Clients
from harness.faults.injector import FaultInjector
from harness.faults.outages import FaultFailed, FaultUnavailable
from harness.logs import LogLookup, LogSource, find
from harness.masking import Masker
from harness.recorder import REQUEST_ID_HEADER, Recorder
from harness.target import Target

USER_FIELDS = ("id", "second_login", "groups", "contacts")
T = TypeVar("T")


class SetupFailed(AssertionError):
    """A step that prepares a case got an answer the case cannot build on."""


def _excerpt(response: httpx.Response, limit: int = 300) -> str:
    text = response.text
    return text if len(text) <= limit else text[:limit] + "…"


def normalise_contacts(contacts: Any) -> dict[str, str]:
    """Contacts as `{"phone": ..., "email": ...}` or as a list of `{type, value}`: deployments differ."""
    if isinstance(contacts, dict):
        return {str(k): str(v) for k, v in contacts.items() if v is not None}
    if isinstance(contacts, list):
        return {str(item.get("type")): str(item.get("value")) for item in contacts if isinstance(item, dict)}
    raise AssertionError(f"contacts is neither an object nor a list: {contacts!r}")


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

    # ---- bookkeeping ------------------------------------------------------------------------------------------

    def _primary(self, response: httpx.Response) -> httpx.Response:
        self.response = response
        self.recorder.mark_primary(response)
        return response

    def _setup(self, response: httpx.Response, what: str, expected: int) -> Any:
        if response.status_code != expected:
            raise SetupFailed(
                f"setup failed: {what} answered {response.status_code} (expected {expected}): {_excerpt(response)}"
            )
        return response.json()

    def _new_account(self, **overrides: Any) -> dict[str, Any]:
        account = data.new_account(**overrides)
        self.masker.add_secret(account["password"])
        return account

    def _remember_tokens(self, tokens: dict[str, Any]) -> None:
        for name in ("access_token", "refresh_token"):
            if isinstance(tokens.get(name), str):
                self.masker.add_secret(tokens[name])
        self.tokens = tokens
        self.user_refresh_tokens.append(tokens["refresh_token"])

    @property
    def last(self) -> httpx.Response:
        assert self.response is not None, "no request was made in this case"
        return self.response

    def _require_user(self) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.account is None or self.tokens is None:
            self.ensure_registered_user()
        assert self.account is not None and self.tokens is not None
        return self.account, self.tokens

    # ---- faults -----------------------------------------------------------------------------------------------

    def _can(self, make: Callable[[], T]) -> T:
        """The fault's means, or a skip whose reason names what the target lacks."""
        try:
            return make()
        except FaultUnavailable as exc:
            pytest.skip(str(exc))

    def cut(self, service: str, dependency: str) -> None:
        outage = self._can(lambda: self.faults.outage(service, dependency))
        outage.cut()
        self._undo.append((f"{service}-{dependency}", outage.restore))

    def restore(self, service: str, dependency: str) -> None:
        key = f"{service}-{dependency}"
        for entry in [entry for entry in self._undo if entry[0] == key]:
            self._undo.remove(entry)
            entry[1]()

    def break_webhook_function(self) -> None:
        swap = self._can(self.faults.function_swap)
        swap.break_function()
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

    def _expired(self, token: str) -> str:
        expired = self._can(lambda: self.faults.expired(token))
        self.masker.add_secret(expired)
        return expired

    # ---- auth -------------------------------------------------------------------------------------------------

    def ensure_registered_user(self) -> None:
        account = self._new_account()
        tokens = self._setup(self.clients.auth.register(account), "registration", 201)
        self.account = account
        self._remember_tokens(tokens)

    def register(self, **overrides: Any) -> None:
        account = self._new_account(**overrides)
        response = self._primary(self.clients.auth.register(account))
        if response.status_code == 201:
            self.account = account
            self._remember_tokens(response.json())

    def register_without(self, field: str) -> None:
        account = self._new_account()
        del account[field]
        self._primary(self.clients.auth.register(account))

    def register_duplicate_of(self, field: str) -> None:
        account, _ = self._require_user()
        self._primary(self.clients.auth.register(self._new_account(**{field: account[field]})))

    def login_by(self, field: str) -> None:
        account, _ = self._require_user()
        response = self._primary(self.clients.auth.login(account[field], account["password"]))
        if response.status_code == 200:
            self._remember_tokens(response.json())

    def ensure_logged_in_again(self) -> None:
        account, _ = self._require_user()
        login = self.clients.auth.login(account["second_login"], account["password"])
        self._remember_tokens(self._setup(login, "login", 200))

    def login_with_wrong_password(self) -> None:
        account, _ = self._require_user()
        self._primary(self.clients.auth.login(account["second_login"], account["password"] + "-wrong"))

    def login_unknown(self) -> None:
        self._primary(self.clients.auth.login(f"nobody_{data.unique_tag()}", "Any-password-1"))

    def login_without_password(self) -> None:
        account, _ = self._require_user()
        self._primary(self.clients.auth.login(account["second_login"], MISSING))

    def refresh_current(self) -> None:
        _, tokens = self._require_user()
        response = self._primary(self.clients.auth.refresh(tokens["refresh_token"]))
        if response.status_code == 200:
            self._remember_tokens(response.json())

    def spend_refresh_token(self) -> None:
        _, tokens = self._require_user()
        spent = tokens["refresh_token"]
        self._remember_tokens(self._setup(self.clients.auth.refresh(spent), "the first refresh", 200))
        self.spent_refresh_token = spent

    def refresh_spent(self) -> None:
        assert self.spent_refresh_token is not None, "no refresh token was spent in this case"
        self._primary(self.clients.auth.refresh(self.spent_refresh_token))

    def refresh_with(self, token: str) -> None:
        self._primary(self.clients.auth.refresh(token))

    def refresh_expired(self) -> None:
        _, tokens = self._require_user()
        self._primary(self.clients.auth.refresh(self._expired(tokens["refresh_token"])))

    def refresh_every_user_token(self) -> None:
        self.responses = [self._primary(self.clients.auth.refresh(t)) for t in self.user_refresh_tokens]

    def logout(self) -> None:
        _, tokens = self._require_user()
        self._primary(self.clients.auth.logout(tokens["access_token"]))

    def ensure_logged_out(self) -> None:
        _, tokens = self._require_user()
        self._setup(self.clients.auth.logout(tokens["access_token"]), "logout", 200)

    def logout_without_header(self) -> None:
        self._primary(self.clients.auth.logout(None))

    def logout_with_invalid_token(self) -> None:
        self._primary(self.clients.auth.logout("invalid.token.value"))

    def logout_with_expired_token(self) -> None:
        _, tokens = self._require_user()
        self._primary(self.clients.auth.logout(self._expired(tokens["access_token"])))

    # ---- users ------------------------------------------------------------------------------------------------

    def create_user(self, *, authorized: bool = True, same_second_login: bool = False) -> None:
        account, tokens = self._require_user()
        overrides = {"second_login": account["second_login"]} if same_second_login else {}
        self.created_account = self._new_account(**overrides)
        token = tokens["access_token"] if authorized else None
        self._primary(self.clients.users.create(self.created_account, token))

    def _own_id(self) -> Any:
        if self.user_id is None:
            _, tokens = self._require_user()
            self.user_id = self._setup(self.clients.users.me(tokens["access_token"]), "GET /users/me", 200)[
                "id"
            ]
        return self.user_id

    def get_own_user(self) -> None:
        _, tokens = self._require_user()
        self._primary(self.clients.users.get(self._own_id(), tokens["access_token"]))

    def get_nonexistent_user(self) -> None:
        _, tokens = self._require_user()
        self._primary(
            self.clients.users.get(data.nonexistent_id_like(self._own_id()), tokens["access_token"])
        )

    def get_user_unauthorized(self) -> None:
        self._primary(self.clients.users.get(self._own_id(), None))

    def me(self) -> None:
        _, tokens = self._require_user()
        self._primary(self.clients.users.me(tokens["access_token"]))

    # ---- webhook ----------------------------------------------------------------------------------------------

    def send_webhook(self, **overrides: Any) -> None:
        self._primary(self.clients.webhook.send(data.webhook_payload(self.target.valid_mid, **overrides)))

    def send_webhook_without(self, field: str) -> None:
        payload = data.webhook_payload(self.target.valid_mid)
        del payload[field]
        self._primary(self.clients.webhook.send(payload))

    def _log_lookup(self, service: str) -> LogLookup:
        request_id = self.last.headers.get(REQUEST_ID_HEADER)
        assert request_id, f"the response has no {REQUEST_ID_HEADER} header to look for"
        return find(self.log_sources[service], request_id, self.log_wait_seconds)

    # ---- checks -----------------------------------------------------------------------------------------------

    def json(self) -> Any:
        try:
            return self.last.json()
        except ValueError:
            raise AssertionError(
                f"the response is not JSON (status {self.last.status_code}): {_excerpt(self.last)}"
            ) from None

    def expect_status(self, *codes: int) -> None:
        status = self.last.status_code
        wanted = " or ".join(map(str, codes))
        assert status in codes, f"expected status {wanted}, got {status}: {_excerpt(self.last)}"

    def expect_every_status(self, code: int) -> None:
        got = [response.status_code for response in self.responses]
        assert got and all(status == code for status in got), f"expected every status to be {code}, got {got}"

    def detail(self) -> str:
        body = self.json()
        assert isinstance(body, dict) and "detail" in body, (
            f"the response has no 'detail': {_excerpt(self.last)}"
        )
        return str(body["detail"])

    def expect_message(self, message: str) -> None:
        assert self.detail() == message, f"expected message {message!r}, got {self.detail()!r}"

    def expect_message_containing(self, text: str) -> None:
        assert text in self.detail(), f"expected a message containing {text!r}, got {self.detail()!r}"

    def expect_header(self, name: str) -> None:
        assert self.last.headers.get(name), (
            f"the response has no {name} header; headers: {dict(self.last.headers)}"
        )

    def expect_field(self, field: str) -> None:
        body = self.json()
        assert isinstance(body, dict) and body.get(field), (
            f"the response has no {field!r}: {_excerpt(self.last)}"
        )

    def expect_full_user_object(self) -> None:
        for field in USER_FIELDS:
            self.expect_field(field)
        assert self.created_account is not None, "no user was created in this case"
        self._expect_user_matches(self.created_account)

    def expect_user_matches_registration(self) -> None:
        account, _ = self._require_user()
        self._expect_user_matches(account)

    def _expect_user_matches(self, account: dict[str, Any]) -> None:
        user = self.json()
        assert user.get("second_login") == account["second_login"], (
            f"second_login: expected {account['second_login']!r}, got {user.get('second_login')!r}"
        )
        assert sorted(user.get("groups") or []) == sorted(account["group_names"]), (
            f"groups: expected {account['group_names']}, got {user.get('groups')!r}"
        )
        contacts = normalise_contacts(user.get("contacts"))
        expected = {"phone": account["phone"], "email": account["email"].lower()}
        got = {"phone": contacts.get("phone"), "email": (contacts.get("email") or "").lower()}
        assert got == expected, f"contacts: expected {expected}, got {user.get('contacts')!r}"

    def expect_webhook_result(self) -> None:
        body = self.json()
        assert isinstance(body, dict) and body, (
            f"expected the function's JSON object, got {_excerpt(self.last)}"
        )
        assert "error" not in body, f"the function reported an error: {body['error']!r}"

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
        records = [record for record in lookup.records if level is None or record.level == level]
        assert records, (
            f"no {level or ''} record with request id {request_id} in the {service} log ({lookup.source}) "
            f"within {self.log_wait_seconds:g}s; found: {[(r.level, r.message) for r in lookup.records]}"
        )

    def expect_answer_within(self, seconds: float) -> None:
        elapsed = self.last.elapsed.total_seconds()
        assert elapsed < seconds, f"the answer took {elapsed:.2f}s, expected under {seconds:g}s"
