"""Log sources, line parsers and correlation by request id, on real files, real commands and real log lines."""

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.logs import (
    CommandSource,
    FileSource,
    LogRecord,
    LogSourceError,
    NoSource,
    find,
    matches,
    normalise_level,
    parse_line,
    parse_log_source,
    records_near,
)

# ---- records by time, for a service that logs no request id ----------------------------------------------------


def test_records_by_time_put_the_exchange_own_first_and_leave_out_the_far_ones() -> None:
    """A neighbouring request's record, written just before the exchange, must not be shown as its record."""
    start = datetime(2025, 11, 24, 13, 4, 8, tzinfo=UTC)

    def at(offset_ms: int, message: str) -> LogRecord:
        moment = (start + timedelta(milliseconds=offset_ms)).isoformat()
        return LogRecord(level="INFO", message=message, raw=message, timestamp=moment)

    records = [
        at(-1500, "long before"),
        at(-300, "the previous request"),
        at(40, "the exchange's own"),
        at(60, "the exchange's second"),
        at(250, "the next request"),
        at(2000, "long after"),
        LogRecord(level="INFO", message="no timestamp", raw="no timestamp"),
    ]
    near = records_near(records, start, start + timedelta(milliseconds=100), timedelta(seconds=1))
    assert [record.message for record in near] == [
        "the exchange's own",
        "the exchange's second",
        "the next request",
        "the previous request",
    ]


# ---- parsing real-world lines ---------------------------------------------------------------------------------

UVICORN = 'INFO:     127.0.0.1:54321 - "POST /webhook HTTP/1.1" 200 OK'
PYTHON_DEFAULT = "WARNING:reference_impl.webhook:merchant 100000000001 unknown"
PYTHON_JSON_LOGGER = (
    '{"level": "INFO", "logger": "reference_impl.access", "message": "POST /webhook 200", '
    '"request_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "service": "webhook", '
    '"timestamp": "2025-11-24T13:04:08.123456+00:00"}'
)
STRUCTLOG = (
    '{"event": "webhook accepted", "request_id": "rid-9", "level": "warn", '
    '"timestamp": "2025-11-24T13:04:08.123456Z", "amount": {"value": "1200.00", "currency": "RUB"}}'
)
LOGURU_FILE = "2025-11-24 13:04:08 | INFO | [rid-2] POST /webhook 200 in 12 ms"
LOGURU_DEFAULT = "2025-11-24 13:04:08.123 | WARNING  | app.webhook:handle_webhook:42 - merchant not found"
GCP = (
    '{"severity": "ERROR", "message": "database unreachable", "time": "2025-11-24T13:04:08.123Z", '
    '"requestId": "rid-g", "httpRequest": {"requestMethod": "POST", "status": 503}}'
)
NGINXISH = "[2025-11-24T13:04:08+00:00] WARN upstream answered slowly request_id=rid-n"
NGINX_ERROR = '2025/11/24 13:04:08 [error] 31#31: *1 connect() failed (111: Connection refused), request: "POST /webhook HTTP/1.1"'
GUNICORN = "[2025-11-24 13:04:08 +0000] [12] [INFO] Booting worker with pid: 12"
PYTHON_ASCTIME = "2025-11-24 13:04:08,123 - uvicorn.error - ERROR - Exception in ASGI application"
TIME_LEVEL = "2025-11-24T13:04:08.123Z fatal out of memory"
LOGURU_SERIALIZED = (
    '{"text": "2025-11-24 13:04:08.123 | ERROR | app:run:7 - boom\\n", "record": {"level": {"name": "ERROR", '
    '"no": 40}, "message": "boom", "time": {"repr": "2025-11-24 13:04:08.123000+00:00", "timestamp": 1764}, '
    '"extra": {"request_id": "rid-l"}}}'
)


@pytest.mark.parametrize(
    ("line", "level", "message", "request_id", "timestamp"),
    [
        (UVICORN, "INFO", '127.0.0.1:54321 - "POST /webhook HTTP/1.1" 200 OK', None, None),
        (PYTHON_DEFAULT, "WARNING", "merchant 100000000001 unknown", None, None),
        (
            PYTHON_JSON_LOGGER,
            "INFO",
            "POST /webhook 200",
            "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "2025-11-24T13:04:08.123456+00:00",
        ),
        (STRUCTLOG, "WARNING", "webhook accepted", "rid-9", "2025-11-24T13:04:08.123456Z"),
        (LOGURU_FILE, "INFO", "POST /webhook 200 in 12 ms", "rid-2", "2025-11-24 13:04:08"),
        (LOGURU_DEFAULT, "WARNING", "merchant not found", None, "2025-11-24 13:04:08.123"),
        (GCP, "ERROR", "database unreachable", "rid-g", "2025-11-24T13:04:08.123Z"),
        (
            NGINXISH,
            "WARNING",
            "upstream answered slowly request_id=rid-n",
            None,
            "2025-11-24T13:04:08+00:00",
        ),
        (
            NGINX_ERROR,
            "ERROR",
            '31#31: *1 connect() failed (111: Connection refused), request: "POST /webhook HTTP/1.1"',
            None,
            "2025/11/24 13:04:08",
        ),
        (GUNICORN, "INFO", "Booting worker with pid: 12", None, "2025-11-24 13:04:08 +0000"),
        (PYTHON_ASCTIME, "ERROR", "Exception in ASGI application", None, "2025-11-24 13:04:08,123"),
        (TIME_LEVEL, "CRITICAL", "out of memory", None, "2025-11-24T13:04:08.123Z"),
        (LOGURU_SERIALIZED, "ERROR", "boom", "rid-l", "2025-11-24 13:04:08.123000+00:00"),
    ],
    ids=[
        "uvicorn",
        "python-default",
        "python-json-logger",
        "structlog",
        "loguru-file",
        "loguru-default",
        "gcp",
        "nginxish",
        "nginx-error",
        "gunicorn",
        "python-asctime",
        "time-level",
        "loguru-serialized",
    ],
)
def test_real_world_lines_are_parsed(
    line: str, level: str, message: str, request_id: str | None, timestamp: str | None
) -> None:
    record = parse_line(line + "\n")
    assert record == LogRecord(level, message, line, request_id, timestamp)


def test_nested_and_non_string_json_values_are_stringified() -> None:
    record = parse_line('{"level": 30, "msg": {"text": "hi", "n": 1}, "ts": 1732453448.5, "req_id": 42}')
    assert (record.level, record.message, record.timestamp, record.request_id) == (
        "30",
        '{"text": "hi", "n": 1}',
        "1732453448.5",
        "42",
    )


def test_a_placeholder_request_id_is_no_request_id() -> None:
    # asgi-correlation-id writes "-" outside a request.
    assert parse_line('{"level": "INFO", "message": "startup", "request_id": "-"}').request_id is None


@pytest.mark.parametrize(
    "line",
    [
        "Traceback (most recent call last):",
        '  File "/app/main.py", line 3, in <module>',
        "Note: something:happened",
        "{not json at all",
        "[1, 2, 3]",
        "2025-11-24 13:04:08 something without a level",
    ],
)
def test_lines_of_no_known_shape_keep_their_text(line: str) -> None:
    assert parse_line(line) == LogRecord(level="", message=line, raw=line)


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("warn", "WARNING"),
        ("Warning", "WARNING"),
        ("FATAL", "CRITICAL"),
        ("critical", "CRITICAL"),
        ("err", "ERROR"),
        ("info ", "INFO"),
        ("TRACE", "TRACE"),
    ],
)
def test_levels_are_normalised(given: str, normalised: str) -> None:
    assert normalise_level(given) == normalised


# ---- matching -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("POST /webhook abc 200", True),
        ("[abc] POST /webhook", True),
        ('{"request_id": "abc"}', True),
        ("request abc.", True),
        ("request_id=abc,", True),
        ("request abcd", False),
        ("request xabc", False),
        ("request x-abc", False),
        ("request abc-2", False),
        ("request abc_2", False),
        ("request abc.def", False),
        ("request v1.abc", False),
    ],
)
def test_a_request_id_matches_only_as_a_whole_token(raw: str, expected: bool) -> None:
    assert matches(parse_line(raw), "abc") is expected


def test_a_request_id_field_matches_without_the_id_in_the_text() -> None:
    record = LogRecord(level="INFO", message="POST /webhook", raw="POST /webhook", request_id="rid-1")
    assert matches(record, "rid-1")
    assert not matches(record, "rid")


def test_a_request_id_with_regex_metacharacters_is_matched_literally() -> None:
    assert matches(parse_line("seen a+b(c) here"), "a+b(c)")
    assert not matches(parse_line("seen aab(c) here"), "a+b(c)")


# ---- file source ----------------------------------------------------------------------------------------------


def _append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(f"{line}\n" for line in lines)


def test_a_started_file_source_reads_only_lines_written_since(tmp_path: Path) -> None:
    log = tmp_path / "webhook.log"
    _append(log, '{"level": "INFO", "message": "before", "request_id": "old-1"}')
    source = FileSource(log)
    source.start()
    _append(log, '{"level": "INFO", "message": "after", "request_id": "new-1"}')
    assert [record.message for record in source.records()] == ["after"]
    assert find(source, "old-1", 0).records == []
    (record,) = find(source, "new-1", 0).records
    assert record.message == "after"


def test_later_reads_continue_from_the_last_offset(tmp_path: Path) -> None:
    log = tmp_path / "webhook.log"
    source = FileSource(log)
    source.start()
    _append(log, "INFO:app:one")
    assert [record.message for record in source.records()] == ["one"]
    _append(log, "INFO:app:two", "INFO:app:three")
    # Each line once: what was read is not read again.
    assert [record.message for record in source.records()] == ["one", "two", "three"]
    assert [record.message for record in source.records()] == ["one", "two", "three"]


def test_a_file_that_does_not_exist_yet_is_read_once_it_appears(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    source = FileSource(log)
    source.start()
    lookup = find(source, "rid-1", 0)
    assert lookup.configured
    assert lookup.records == []
    _append(log, "2025-11-24 13:04:08 | INFO | [rid-1] POST /webhook 200")
    (record,) = find(source, "rid-1", 0).records
    assert record.request_id == "rid-1"


def test_find_returns_a_line_appended_while_it_waits(tmp_path: Path) -> None:
    log = tmp_path / "webhook.log"
    log.write_text("")
    source = FileSource(log)
    source.start()
    writer = threading.Timer(
        0.05, _append, (log, '{"level": "ERROR", "message": "late", "request_id": "rid-late"}')
    )
    started = time.monotonic()
    writer.start()
    try:
        lookup = find(source, "rid-late", deadline_seconds=5)
    finally:
        writer.join()
    elapsed = time.monotonic() - started
    assert [record.message for record in lookup.records] == ["late"]
    # Found by polling soon after the write, not at the deadline.
    assert elapsed < 2.5


def test_find_gives_up_at_the_deadline(tmp_path: Path) -> None:
    log = tmp_path / "webhook.log"
    _append(log, "INFO:app:unrelated rid-other")
    started = time.monotonic()
    lookup = find(FileSource(log), "rid-missing", deadline_seconds=0.2)
    elapsed = time.monotonic() - started
    assert (lookup.configured, lookup.records) == (True, [])
    assert 0.2 <= elapsed < 1.5


def test_a_line_still_being_written_is_taken_only_once_complete_or_at_the_deadline(tmp_path: Path) -> None:
    log = tmp_path / "webhook.log"
    source = FileSource(log)
    source.start()
    with log.open("a", encoding="utf-8") as handle:
        handle.write('{"level": "INFO", "message": "half", "request_id": "rid-h"')
    assert source.records() == []
    # At the deadline the half line is better than nothing, without being consumed.
    (partial,) = source.records(final=True)
    assert partial.level == ""
    with log.open("a", encoding="utf-8") as handle:
        handle.write("}\n")
    (record,) = source.records()
    assert (record.level, record.message, record.request_id) == ("INFO", "half", "rid-h")


def test_a_truncated_file_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "webhook.log"
    _append(log, *(f"INFO:app:old line {n} with some padding" for n in range(20)))
    source = FileSource(log)
    source.start()
    log.write_text("INFO:app:after truncation rid-t\n")
    (record,) = find(source, "rid-t", 0).records
    assert record.message == "after truncation rid-t"


def test_a_replaced_file_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "webhook.log"
    _append(log, "INFO:app:short")
    source = FileSource(log)
    source.start()
    # logrotate's `create`: the old file moves away, a new one (another inode) takes its name.
    log.rename(tmp_path / "webhook.log.1")
    _append(log, *(f"INFO:app:new line {n} rid-r{n}" for n in range(5)))
    assert len(find(source, "rid-r0", 0).records) == 1
    assert len(find(source, "rid-r4", 0).records) == 1


def test_a_file_rewritten_past_the_old_offset_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "webhook.log"
    _append(log, "INFO:app:first generation")
    source = FileSource(log)
    source.start()
    inode = log.stat().st_ino
    # copytruncate, then more written than before between two polls: same inode, size past the offset.
    with log.open("r+", encoding="utf-8") as handle:
        handle.truncate(0)
        handle.write("INFO:app:second generation, longer than the first rid-s\n")
    assert log.stat().st_ino == inode
    (record,) = find(source, "rid-s", 0).records
    assert record.message == "second generation, longer than the first rid-s"


# ---- command source -------------------------------------------------------------------------------------------


def test_a_command_source_parses_the_command_output() -> None:
    source = parse_log_source(
        "cmd:printf '%s\\n' "
        '\'{"level": "info", "message": "POST /webhook 200", "request_id": "rid-c"}\' '
        "'INFO:app:unrelated rid-other'"
    )
    assert isinstance(source, CommandSource)
    source.start()
    (record,) = find(source, "rid-c", 0).records
    assert (record.level, record.message) == ("INFO", "POST /webhook 200")


def test_a_failing_command_says_so() -> None:
    source = parse_log_source("cmd:echo 'no such container: webhook' >&2; exit 3")
    with pytest.raises(LogSourceError, match=r"failed with exit code 3: no such container: webhook"):
        find(source, "rid-1", 0)


def test_a_hanging_command_is_stopped_at_its_timeout() -> None:
    source = CommandSource("sleep 30", timeout_seconds=0.2)
    started = time.monotonic()
    with pytest.raises(LogSourceError, match=r"did not finish within 0\.2 s"):
        source.records()
    assert time.monotonic() - started < 5


# ---- none and specs -------------------------------------------------------------------------------------------


def test_no_source_is_not_configured_and_answers_at_once() -> None:
    source = parse_log_source("none")
    assert isinstance(source, NoSource)
    source.start()
    started = time.monotonic()
    lookup = find(source, "rid-1", deadline_seconds=5)
    assert time.monotonic() - started < 1
    assert (lookup.configured, lookup.records, lookup.source) == (False, [], "none")


def test_specs_are_parsed(tmp_path: Path) -> None:
    file_source = parse_log_source(f"file:{tmp_path / 'webhook.log'}")
    assert isinstance(file_source, FileSource)
    assert file_source.path == tmp_path / "webhook.log"
    assert str(file_source) == f"file:{tmp_path / 'webhook.log'}"
    command_source = parse_log_source("cmd:docker logs --since 5m webhook 2>&1")
    assert isinstance(command_source, CommandSource)
    assert command_source.command == "docker logs --since 5m webhook 2>&1"
    assert isinstance(parse_log_source(" NONE "), NoSource)
    home_source = parse_log_source("file:~/webhook.log")
    assert isinstance(home_source, FileSource)
    assert home_source.path == Path(os.path.expanduser("~/webhook.log"))


@pytest.mark.parametrize("spec", ["flie:/x", "file:", "cmd:  ", "", "webhook.log", "none:x", "File:/x"])
def test_bad_specs_are_refused_with_a_one_line_message(spec: str) -> None:
    with pytest.raises(ValueError, match="is not file:PATH, cmd:COMMAND or none") as caught:
        parse_log_source(spec)
    message = str(caught.value)
    assert repr(spec) in message
    assert "\n" not in message


def test_the_message_names_the_bad_spec() -> None:
    with pytest.raises(ValueError) as caught:
        parse_log_source("flie:/x")
    assert str(caught.value) == "log source 'flie:/x' is not file:PATH, cmd:COMMAND or none"
