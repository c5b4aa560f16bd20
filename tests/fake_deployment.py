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
