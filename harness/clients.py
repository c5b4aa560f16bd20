"""One client per service over one httpx.Client each: the only place that knows URLs, paths and headers.

Every request goes through `ServiceClient.request`, which stamps it with the case's X-Request-ID and records
the exchange in the case's recorder. After a 5xx or a transport error the next request goes out on a fresh
connection: a server that failed may close the keep-alive connection under us, and the next call on it would
then fail with a reset that hides the real cause.
"""

import itertools
import ssl
import time
from functools import cache
from typing import Any

import httpx

from harness.recorder import REQUEST_ID_HEADER, Recorder

_unrecorded = itertools.count(1)

MISSING: Any = object()  # a field left out of the request body


@cache
def tls() -> ssl.SSLContext:
    """One TLS context for every client the harness makes: httpx builds a new one per client otherwise, loading
    the CA bundle each time (about 25 ms), and clients are remade after every 5xx."""
    return ssl.create_default_context()


def new_client(timeout: float) -> httpx.Client:
    return httpx.Client(timeout=timeout, verify=tls())


def _body(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not MISSING}


class ServiceClient:
    def __init__(self, name: str, base_url: str, timeout: float) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = new_client(timeout)
        self.recorder: Recorder | None = None  # the current case's, set by `Clients.bind`

    def _fresh_connections(self) -> None:
        self.http.close()
        self.http = new_client(self.timeout)

    def request(
        self,
        method: str,
        path: str = "",
        *,
        json: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        recorder = self.recorder
        all_headers[REQUEST_ID_HEADER] = (
            recorder.next_request_id() if recorder else f"unrecorded-{next(_unrecorded)}"
        )
        request = self.http.build_request(method, self.base_url + path, json=json, headers=all_headers)
        exchange = recorder.start(self.name, request) if recorder else None
        started = time.perf_counter()
        try:
            response = self.http.send(request)
        except httpx.HTTPError as exc:
            if recorder and exchange:
                recorder.fail(exchange, exc, started)
            self._fresh_connections()
            raise
        if recorder and exchange:
            recorder.finish(exchange, response, started)
        if response.status_code >= 500:
            self._fresh_connections()
        return response

    def close(self) -> None:
        self.http.close()


class AuthClient(ServiceClient):
    def register(self, account: dict[str, Any]) -> httpx.Response:
        return self.request("POST", "/register", json=account)

    def login(self, login: str, password: str = MISSING) -> httpx.Response:
        return self.request("POST", "/login", json=_body(login=login, password=password))

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.request("POST", "/refresh", json={"refresh_token": refresh_token})

    def logout(self, access_token: str | None) -> httpx.Response:
        return self.request("POST", "/logout", token=access_token)


class UsersClient(ServiceClient):
    def create(self, account: dict[str, Any], access_token: str | None) -> httpx.Response:
        return self.request("POST", "/", json=account, token=access_token)

    def get(self, user_id: object, access_token: str | None) -> httpx.Response:
        return self.request("GET", f"/{user_id}", token=access_token)

    def me(self, access_token: str | None) -> httpx.Response:
        return self.request("GET", "/me", token=access_token)


class WebhookClient(ServiceClient):
    def send(self, payload: dict[str, Any]) -> httpx.Response:
        return self.request("POST", json=payload)


class Clients:
    def __init__(self, base_urls: dict[str, str], timeout: float) -> None:
        self.auth = AuthClient("auth", base_urls["auth"], timeout)
        self.users = UsersClient("users", base_urls["users"], timeout)
        self.webhook = WebhookClient("webhook", base_urls["webhook"], timeout)

    def all(self) -> tuple[ServiceClient, ...]:
        return (self.auth, self.users, self.webhook)

    def bind(self, recorder: Recorder | None) -> None:
        """Record every request from now on into `recorder` (None: stop recording)."""
        for client in self.all():
            client.recorder = recorder

    def close(self) -> None:
        for client in self.all():
            client.close()
