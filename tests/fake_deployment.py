"""A small broken deployment served over real HTTP on loopback, to show how the harness reports on it.

`serve(respond)` runs a threaded HTTP/1.1 server whose every answer comes from `respond(request)`; an answer can
also drop the keep-alive connection without saying so (no `Connection: close`), as some failing servers do.
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False  # close the connection after answering, without announcing it
    hang_up: bool = False  # close the connection without answering at all


Respond = Callable[[Request], Answer]


def _handler(respond: Respond, seen: list[Request]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(self.command, self.path, dict(self.headers), self.rfile.read(length))
            seen.append(request)
            answer = respond(request)
            if answer.hang_up:
                self.close_connection = True
                return
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            request_id = self.headers.get("X-Request-ID")
            if request_id:
                self.send_header("X-Request-ID", request_id)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
            self.wfile.flush()
            if answer.drop_connection:
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, format: str, *args: object) -> None:  # quiet: the tests read `seen`
            return None

    return Handler


@dataclass
class FakeService:
    url: str  # http://127.0.0.1:<port>
    requests: list[Request]


@contextmanager
def serve(respond: Respond) -> Iterator[FakeService]:
    seen: list[Request] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(respond, seen))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fake-deployment", daemon=True)
    thread.start()
    try:
        yield FakeService(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def always(answer: Answer) -> Respond:
    return lambda request: answer


INTERNAL_ERROR = Answer(500, b"Internal Server Error", drop_connection=True)
HANG_UP = Answer(0, hang_up=True)
VALIDATION_ERROR = Answer(422, b'{"detail":"invalid"}', "application/json")


class OpaqueTokens:
    """A gateway in front of a real auth and users service that hands out opaque tokens (long random strings,
    not JWTs) in place of the service's own, and translates them back on the way in, as deployments with
    server-side sessions do. Repeated use of a spent refresh token answers 200 with a new pair, as a broken
    service would, so failure messages carry tokens for the masking to catch."""

    TOKEN_LENGTH = 200  # longer than a failure message's excerpt: the refresh token gets cut

    def __init__(self, upstreams: dict[str, str]) -> None:
        """`upstreams`: path prefix (`/api/v1/auth`) → the real service's origin that serves it."""
        import httpx

        self.upstreams = upstreams
        self.http = httpx.Client(timeout=10)
        self.real_of: dict[str, str] = {}
        self.opaque_of: dict[str, str] = {}
        self.lock = threading.Lock()

    def issued(self) -> set[str]:
        with self.lock:
            return set(self.real_of)

    def _opaque(self, real: str) -> str:
        import secrets

        with self.lock:
            if real not in self.opaque_of:
                token = secrets.token_urlsafe(self.TOKEN_LENGTH)[: self.TOKEN_LENGTH]
                self.opaque_of[real], self.real_of[token] = token, real
            return self.opaque_of[real]

    def _real(self, value: str) -> str:
        with self.lock:
            return self.real_of.get(value, value)

    def __call__(self, request: Request) -> Answer:
        import json

        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "x-request-id")}
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            headers["Authorization"] = "Bearer " + self._real(authorization.removeprefix("Bearer "))
        body = request.body
        sent: object = None
        if body:
            try:
                sent = json.loads(body)
            except ValueError:
                sent = None
        if isinstance(sent, dict) and isinstance(sent.get("refresh_token"), str):
            sent["refresh_token"] = self._real(sent["refresh_token"])
            body = json.dumps(sent).encode()
        origin = next(origin for prefix, origin in self.upstreams.items() if request.path.startswith(prefix))
        answer = self.http.request(request.method, origin + request.path, content=body, headers=headers)
        got = answer.json() if "json" in answer.headers.get("content-type", "") else None
        status = answer.status_code
        if request.path.endswith("/refresh") and status == 401 and isinstance(sent, dict):
            # Broken on purpose: a spent refresh token still gives a new pair (on a fresh login's tokens).
            spent = sent["refresh_token"]
            if spent in self.opaque_of:
                status, got = 200, {"access_token": spent, "refresh_token": spent, "token_type": "bearer"}
        if isinstance(got, dict):
            for name in ("access_token", "refresh_token"):
                if isinstance(got.get(name), str):
                    got[name] = self._opaque(got[name])
            content = json.dumps(got).encode()
        else:
            content = answer.content
        return Answer(status, content, answer.headers.get("content-type", "application/json"))


def gateway(routes: dict[str, str]) -> Respond:
    """A reverse proxy in front of several services, as an API gateway or ingress is: a request whose path starts
    with one of `routes`' prefixes goes to that origin, headers and body as they came; the answer goes back."""
    import httpx

    client = httpx.Client(timeout=30)
    passed = ("content-type", "authorization", "x-request-id")

    def respond(request: Request) -> Answer:
        origin = next((o for prefix, o in routes.items() if request.path.startswith(prefix)), None)
        if origin is None:
            return Answer(404, b'{"detail":"Not Found"}', "application/json")
        headers = {k: v for k, v in request.headers.items() if k.lower() in passed}
        answer = client.request(request.method, origin + request.path, content=request.body, headers=headers)
        return Answer(
            answer.status_code, answer.content, answer.headers.get("content-type", "application/json")
        )

    return respond
