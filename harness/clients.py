"""One client per service over one httpx.Client each: the only place that knows URLs, paths and headers."""

from typing import Any

import httpx

MISSING: Any = object()  # a field left out of the request body


def _body(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not MISSING}


class ServiceClient:
    def __init__(self, name: str, base_url: str, timeout: float) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(timeout=timeout)

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
        return self.http.request(method, self.base_url + path, json=json, headers=all_headers)

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

    def close(self) -> None:
        for client in (self.auth, self.users, self.webhook):
            client.close()
