"""Verdicts on broken deployments name their true cause: blocked vs failed, the row's own exchange, connection
hygiene. Each broken deployment is a small fake served on loopback in front of (or instead of) a real service."""

import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from junitparser import Error, JUnitXml

from harness.plan import all_cases
from reference_impl.stack.api import RunningStack
from tests.checklist_process import by_case, external_args, latest_document, on_embedded_stack, run_checklist
from tests.conftest import Api
from tests.fake_deployment import (
    HANG_UP,
    INTERNAL_ERROR,
    VALIDATION_ERROR,
    Answer,
    Request,
    Respond,
    always,
    gateway,
    serve,
)

# The cases that need a registered user (a Given, or a token presented in another's place), and inject no fault,
# which would skip them first.
STARTS_FROM_A_USER = {
    (case.row_id or case.title, tuple((case.example or {}).values()))
    for case in all_cases()
    if any("зарегистрирован" in step or "вместо" in step for step in case.steps) and not case.faults
}


@pytest.fixture(scope="module")
def broken_auth_run(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The checklist against real users and webhook services behind an auth that answers 500 to everything,
    as a broken auth does: text/plain, and the keep-alive connection dropped after each answer."""
    reports = tmp_path_factory.mktemp("reports")
    formats = [
        "--alluredir",
        str(reports / "allure-results"),
        "--cucumberjson",
        str(reports / "cucumber.json"),
    ]
    with serve(always(INTERNAL_ERROR)) as auth:
        result = run_checklist(
            reports, *formats, *external_args(stack, auth=auth.url + "/api/v1/auth"), quiet=False
        )
    return result, latest_document(reports), reports


@on_embedded_stack
def test_a_broken_auth_blocks_the_rows_that_need_a_user_and_the_others_still_run(
    broken_auth_run: Any,
) -> None:
    result, document, _ = broken_auth_run
    assert result.returncode == 1, result.stdout[-2000:]
    cases = by_case(document)
    blocked = {key for key, case in cases.items() if case["outcome"] == "blocked"}
    for key in blocked:
        reason = cases[key]["reason"]
        assert re.match(
            r"registering (a|another) user answered 500 Internal Server Error \(see AUTH-REG-01\)", reason
        ), key
    # Every row that starts from a registered user is blocked by that registration, not failed by it.
    assert STARTS_FROM_A_USER and blocked == STARTS_FROM_A_USER, sorted(STARTS_FROM_A_USER ^ blocked)
    # Rows that need no user run, and judge the service they call.
    for key in [
        ("USERS-CREATE-02", ("без авторизации",)),
        ("USERS-GET-03", ("без авторизации",)),
        ("WEBHOOK-01", ()),
        ("WEBHOOK-07", ()),
    ]:
        assert cases[key]["outcome"] == "passed", (key, cases[key]["message"])
    for key in [("AUTH-LOGIN-04", ()), ("AUTH-LOGOUT-03", ("невалидным токеном",)), ("AUTH-REG-02", ())]:
        assert cases[key]["outcome"] == "failed" and "got 500" in cases[key]["message"], key
    # One server error never turns into another error on the next call (the connection is not reused).
    everything = result.stdout + str(document)
    assert "ReadError" not in everything and "reset by peer" not in everything


@on_embedded_stack
def test_a_blocked_users_row_never_shows_a_status_the_users_service_did_not_give(
    broken_auth_run: Any,
) -> None:
    result, document, reports = broken_auth_run
    case = by_case(document)[("USERS-CREATE-01", ())]
    assert case["outcome"] == "blocked"
    assert {exchange["service"] for exchange in case["exchanges"]} == {"auth"}  # users was never called
    line = next(line for line in result.stdout.splitlines() if "USERS-CREATE-01" in line)
    assert "500" not in line.split("USERS-CREATE-01")[1].split("Авторизованный")[0], line
    assert "blocked: registering a user answered 500" in result.stdout
    checklist = (reports / "latest" / "checklist.md").read_text(encoding="utf-8")
    row = next(line for line in checklist.splitlines() if line.startswith("| USERS-CREATE-01 "))
    assert "⛔ blocked: registering a user answered 500" in row
    counts = document["run"]["counts"]
    tally = (
        f"| всего | {counts['passed']} | {counts['failed']} | {counts['blocked']} | {counts['skipped']} | 0 |"
    )
    assert tally in checklist
    # The terminal: a paragraph per red case, no tracebacks, no pytest summary repeating them.
    paragraphs = result.stdout.split("what did not pass")[1]
    assert "⛔ USERS-CREATE-01  Авторизованный запрос с валидными данными" in paragraphs
    assert "    why       blocked: registering a user answered 500" in paragraphs
    assert "Traceback" not in result.stdout and "short test summary" not in result.stdout
    assert "def " not in result.stdout
    xml = JUnitXml.fromfile(str(reports / "latest" / "junit.xml"))
    testcase = next(tc for suite in xml for tc in suite if tc.name.startswith("USERS-CREATE-01"))
    errors = [r for r in testcase.result if isinstance(r, Error)]
    assert errors and errors[0].type == "blocked" and "registering a user" in (errors[0].message or "")


def _proxy_to(upstream: str, rewrite: dict[int, int]) -> Respond:
    """A respond function forwarding to a real service, with some statuses rewritten."""
    forward = gateway({"/": upstream})

    def respond(request: Request) -> Answer:
        answer = forward(request)
        return dataclasses.replace(answer, status=rewrite.get(answer.status, answer.status))

    return respond


@on_embedded_stack
def test_setup_takes_any_2xx_carrying_tokens_only_the_status_row_is_strict(
    stack: RunningStack, tmp_path: Path
) -> None:
    origin = stack.base_urls["auth"].removesuffix("/api/v1/auth")
    with serve(_proxy_to(origin, {201: 200})) as auth:
        result = run_checklist(tmp_path, *external_args(stack, auth=auth.url + "/api/v1/auth"))
    cases = by_case(latest_document(tmp_path))
    bad = {
        key: case["outcome"] for key, case in cases.items() if case["outcome"] not in ("passed", "skipped")
    }
    assert bad == {("AUTH-REG-01", ()): "failed"}, (bad, result.stdout[-3000:])
    assert "expected status 201, got 200" in cases[("AUTH-REG-01", ())]["message"]


@on_embedded_stack
def test_a_row_whose_own_registration_gives_no_token_fails_naming_it(
    stack: RunningStack, tmp_path: Path
) -> None:
    """CROSS-01 registers another user first (a precondition), then its own (the row's call): the second
    registration answering 500 fails the row, naming that call, instead of quietly registering someone else."""
    origin = stack.base_urls["auth"].removesuffix("/api/v1/auth")
    forward = _proxy_to(origin, {})
    registrations = iter(range(1000))

    def second_registration_fails(request: Request) -> Answer:
        if request.path.endswith("/register") and next(registrations) == 1:
            return INTERNAL_ERROR
        return forward(request)

    with serve(second_registration_fails) as auth:
        result = run_checklist(
            tmp_path, "-m", "CROSS-01", *external_args(stack, auth=auth.url + "/api/v1/auth")
        )
    case = by_case(latest_document(tmp_path))[("CROSS-01", ())]
    assert result.returncode == 1
    assert case["outcome"] == "failed", case
    assert case["message"] == (
        "no token to go on with: the row's own registration answered 500 Internal Server Error without tokens"
    )


@on_embedded_stack
def test_a_row_whose_own_call_is_cut_off_fails_saying_so(stack: RunningStack, tmp_path: Path) -> None:
    def hang_up(request: Request) -> Answer:
        # Answers the preflight's empty body; hangs up on a real payment.
        return HANG_UP if b'"Id"' in request.body else VALIDATION_ERROR

    with serve(hang_up) as webhook:
        result = run_checklist(
            tmp_path, "-m", "WEBHOOK-01", *external_args(stack, webhook=webhook.url + "/webhook")
        )
    case = by_case(latest_document(tmp_path))[("WEBHOOK-01", ())]
    assert result.returncode == 1
    assert case["outcome"] == "failed", case
    assert case["message"].startswith("POST /webhook got no answer: RemoteProtocolError"), case["message"]


def _slow_database_error(request: Request) -> Answer:
    time.sleep(2.3)  # the fake service's own slowness, the fault under test; nothing waits on it
    return Answer(503, b'{"detail":"Database error"}', "application/json")


@on_embedded_stack
def test_webhook_04_shows_its_own_503_and_why_it_failed(stack: RunningStack, tmp_path: Path) -> None:
    with serve(_slow_database_error) as webhook:
        result = run_checklist(
            tmp_path,
            "-m",
            "WEBHOOK-04",
            *external_args(stack, webhook=webhook.url + "/webhook"),
            quiet=False,
            FAULT_DB_DOWN_CMD="true",
            FAULT_DB_UP_CMD="true",
        )
    document = latest_document(tmp_path)
    case = by_case(document)[("WEBHOOK-04", ())]
    assert case["outcome"] == "failed" and case["message"].startswith("the answer took 2."), case
    subject = next(e for e in case["exchanges"] if e["seq"] == case["subject_seq"])
    assert subject["status"] == 503 and subject["role"] == "primary"
    line = next(line for line in result.stdout.splitlines() if "WEBHOOK-04" in line)
    assert " 503 " in line, line
    row = next(
        line
        for line in (tmp_path / "latest" / "checklist.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| WEBHOOK-04 ")
    )
    assert "❌ failed: the answer took 2." in row and "| 503 |" in row, row


def test_recovery_calls_are_not_the_rows_answer() -> None:
    from harness.reports.document import primary_exchange

    exchanges = [
        {"seq": 1, "role": "primary", "status": 503},
        {"seq": 2, "role": "recovery", "status": 200},
    ]
    passed = {"outcome": "passed", "subject_seq": None, "exchanges": exchanges}
    assert primary_exchange(passed) == exchanges[0]
    failed_on_recovery = {"outcome": "failed", "subject_seq": 2, "exchanges": exchanges}
    assert primary_exchange(failed_on_recovery) == exchanges[1]
    blocked = {
        "outcome": "blocked",
        "subject_seq": 1,
        "exchanges": [{"seq": 1, "role": "setup", "status": 500}],
    }
    assert primary_exchange(blocked) is None


ALLURE_STATUS = {"passed": "passed", "failed": "failed", "blocked": "broken", "skipped": "skipped"}


@on_embedded_stack
def test_allure_results_carry_every_case_its_id_its_outcome_and_its_evidence(broken_auth_run: Any) -> None:
    _, document, reports = broken_auth_run
    results = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in (reports / "allure-results").glob("*-result.json")
    ]
    assert len(results) == len(document["cases"]) == len(all_cases())
    by_case_and_example: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    for result in results:
        (case_id,) = [label["value"] for label in result["labels"] if label["name"] == "as_id"]
        example = tuple(parameter["value"] for parameter in result.get("parameters", []))
        by_case_and_example[(case_id, example)] = result
    for case in document["cases"]:
        allure_case = by_case_and_example[(case["case_id"], tuple((case["example"] or {}).values()))]
        assert allure_case["status"] == ALLURE_STATUS[case["outcome"]], case["case_id"]
        names = [attachment["name"] for attachment in allure_case.get("attachments", [])]
        assert len(names) == len(case["exchanges"]), case["case_id"]
    blocked = by_case_and_example[("USERS-CREATE-01", ())]
    attachment = next(a for a in blocked["attachments"] if "register" in a["name"])
    evidence = json.loads((reports / "allure-results" / attachment["source"]).read_text(encoding="utf-8"))
    assert evidence["status"] == 500 and evidence["role"] == "setup"
    assert evidence["request_body"]["password"].startswith("«masked:")  # the generated password


@on_embedded_stack
def test_cucumber_json_carries_each_case_s_id_as_a_tag(broken_auth_run: Any) -> None:
    _, document, reports = broken_auth_run
    elements = [
        e
        for feature in json.loads((reports / "cucumber.json").read_text(encoding="utf-8"))
        for e in feature["elements"]
    ]
    assert len(elements) == len(all_cases())
    ids = {case["case_id"] for case in document["cases"]}
    for element in elements:
        tags = {tag["name"] for tag in element["tags"]}
        assert len(tags & ids) == 1, tags


def _refusing_reissued_tokens(upstream: str) -> Respond:
    """An auth that matches refresh tokens by their exact bytes: it refuses any token it did not issue itself,
    re-signed copies included (as a deployment storing a hash of each token does)."""
    forward = _proxy_to(upstream, {})
    issued: set[str] = set()

    def respond(request: Request) -> Answer:
        if request.path.endswith("/refresh"):
            token = json.loads(request.body or b"{}").get("refresh_token")
            if token not in issued:
                return Answer(401, b'{"detail":"Invalid or expired refresh token"}', "application/json")
        answer = forward(request)
        try:
            tokens = json.loads(answer.body)
        except ValueError:
            tokens = None
        if isinstance(tokens, dict) and isinstance(tokens.get("refresh_token"), str):
            issued.add(tokens["refresh_token"])
        return answer

    return respond


@on_embedded_stack
def test_an_expiry_row_is_blocked_where_re_signed_tokens_cannot_test_expiry(
    stack: RunningStack, tmp_path: Path
) -> None:
    origin = stack.base_urls["auth"].removesuffix("/api/v1/auth")
    with serve(_refusing_reissued_tokens(origin)) as auth:
        result = run_checklist(
            tmp_path,
            "-m",
            "AUTH-REFRESH-02",
            *external_args(stack, auth=auth.url + "/api/v1/auth"),
            JWT_SECRET=stack.jwt_secret,
        )
    case = by_case(latest_document(tmp_path))[("AUTH-REFRESH-02", ())]
    assert result.returncode == 1
    assert case["outcome"] == "blocked", case
    assert case["reason"].startswith("expiry cannot be tested with re-signed tokens here")
    assert "EXPIRED_REFRESH_TOKEN" in case["reason"]


@on_embedded_stack
def test_a_genuinely_expired_token_given_by_the_team_is_used_as_it_is(
    stack: RunningStack, api: Api, tmp_path: Path
) -> None:
    from harness.faults.tokens import mint_expired

    _, tokens = api.registered()
    expired = mint_expired(tokens["refresh_token"], stack.jwt_secret)  # stands in for one that aged
    result = run_checklist(
        tmp_path, "-m", "AUTH-REFRESH-02", *external_args(stack), EXPIRED_REFRESH_TOKEN=expired
    )
    case = by_case(latest_document(tmp_path))[("AUTH-REFRESH-02", ())]
    assert result.returncode == 0, result.stdout[-2000:]
    # The scenario's own user, then the given token: no re-signed copy, no control call.
    assert [(e["role"], e["status"]) for e in case["exchanges"]] == [("setup", 201), ("primary", 401)]
    assert expired not in result.stdout + (tmp_path / "latest" / "results.json").read_text(encoding="utf-8")
