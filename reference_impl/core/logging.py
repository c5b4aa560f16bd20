"""JSON-lines logging with the request id on every record, plus one access record per request."""

import logging
import re
import sys
import time
import uuid
from pathlib import Path

from asgi_correlation_id import CorrelationIdFilter, CorrelationIdMiddleware
from pythonjsonlogger.orjson import OrjsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")

access_logger = logging.getLogger("reference_impl.access")


def is_acceptable_request_id(value: str) -> bool:
    """Client ids are echoed only when they cannot inject anything into a log line."""
    return _REQUEST_ID_RE.fullmatch(value) is not None


def request_id_middleware_options() -> dict[str, object]:
    return {
        "header_name": REQUEST_ID_HEADER,
        "validator": is_acceptable_request_id,
        "generator": lambda: uuid.uuid4().hex,
    }


def configure_logging(service: str, log_dir: Path, level: str = "INFO", to_stderr: bool = True) -> Path:
    """Send JSON lines to `<log_dir>/<service>.log` and stderr; return the log file's path."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{service}.log"
    # orjson: every request writes an access record, and the stdlib json encoder was a visible share of its cost.
    formatter = OrjsonFormatter(
        "{levelname}{name}{message}{correlation_id}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger", "correlation_id": "request_id"},
        static_fields={"service": service},
        timestamp=True,  # ISO 8601, UTC
    )
    request_id_filter = CorrelationIdFilter(default_value="-")
    handlers: list[logging.Handler] = [logging.FileHandler(log_path, encoding="utf-8")]
    if to_stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(request_id_filter)
        root.addHandler(handler)
    root.setLevel(level)
    # Uvicorn's own access log would duplicate ours without the request id.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return log_path


class AccessLogMiddleware:
    """Pure ASGI: logs method, path, status and duration after the response, inside the request-id context."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before starting a response

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            access_logger.info(
                "%s %s %s %.2fms",
                scope["method"],
                scope["path"],
                status,
                duration_ms,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": duration_ms,
                },
            )


__all__ = [
    "REQUEST_ID_HEADER",
    "AccessLogMiddleware",
    "CorrelationIdMiddleware",
    "configure_logging",
    "request_id_middleware_options",
]
