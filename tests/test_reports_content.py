"""What the reports say on real runs: no secret in any form, log records found by time where a service logs no
request id, what changed since the previous run, and checklist.md's header, summary and reasons."""

import re
import shlex
from pathlib import Path
from typing import Any

from harness.catalogue import FEATURES_DIR
from harness.plan import all_cases
from reference_impl.stack.api import RunningStack
from tests import secret_collector
from tests.checklist_process import (
    by_case,
    external_args,
    latest_document,
    on_embedded_stack,
    output_lines,
    run_checklist,
    written_texts,
)
from tests.fake_deployment import Answer, OpaqueTokens, serve

WINDOW = 12  # no run of this many characters of a secret may appear anywhere
_RUN = re.compile(rf"[A-Za-z0-9._~+/=-]{{{WINDOW},}}")


def leaked_fragments(secrets: set[str], text: str) -> set[str]:
    """The secrets of which some WINDOW-long piece (start, middle or end) appears in `text`."""
    pieces = {secret[i : i + WINDOW]: secret for secret in secrets for i in range(len(secret) - WINDOW + 1)}
    found = set()
    for run in _RUN.findall(text):
        for i in range(len(run) - WINDOW + 1):
            secret = pieces.get(run[i : i + WINDOW])
            if secret:
                found.add(secret)
    return found


@on_embedded_stack
def test_opaque_tokens_never_appear_whole_or_cut_in_any_report_or_the_terminal(
    stack: RunningStack, tmp_path: Path
) -> None:
    """Against a deployment whose tokens are opaque strings, with failures whose messages quote token pairs cut
    short by the excerpt: nothing of any token or password survives anywhere."""
    upstreams = {
        "/api/v1/auth": stack.base_urls["auth"].removesuffix("/api/v1/auth"),
        "/api/v1/users": stack.base_urls["users"].removesuffix("/api/v1/users"),
    }
    gateway = OpaqueTokens(upstreams)
    collected = tmp_path / "secrets"
    collected.mkdir()
    with serve(gateway) as front:
        result = run_checklist(
            tmp_path / "reports",
            "-p",
            "tests.secret_collector",
            "-n",
            "2",
            "--alluredir",
            str(tmp_path / "reports" / "allure-results"),
            *external_args(stack, auth=front.url + "/api/v1/auth", users=front.url + "/api/v1/users"),
            quiet=False,
            SECRET_COLLECTOR_DIR=str(collected),
        )
    tokens = gateway.issued()
    assert len(tokens) > 40, result.stdout[-2000:]
    document = latest_document(tmp_path / "reports")
    cases = by_case(document)
    # The broken refresh (a spent token still gives a pair) fails rows with token pairs in their messages.
    assert cases[("AUTH-REFRESH-03", ())]["outcome"] == "failed"
    assert "«masked:" in cases[("AUTH-REFRESH-03", ())]["message"]
    # Values the feature files spell out (the malformed token "not-a-jwt-token") are public, not secrets.
    public = "".join(path.read_text(encoding="utf-8") for path in FEATURES_DIR.glob("*.feature"))
    secrets = {secret for secret in tokens | secret_collector.collected(collected) if secret not in public}
    texts = written_texts(tmp_path / "reports" / "latest", result.stdout + result.stderr)
    for path in (tmp_path / "reports" / "allure-results").iterdir():
        texts[f"allure-results/{path.name}"] = path.read_text(encoding="utf-8")
    assert sum(name.startswith("allure-results/") for name in texts) > len(all_cases())
    for name, text in texts.items():
        leaked = len(leaked_fragments(secrets, text))  # a count: the test's own output must not show them
        assert leaked == 0, f"{name} holds pieces of {leaked} secrets"


@on_embedded_stack
def test_records_of_a_service_that_logs_no_request_id_are_shown_by_time_without_waiting_every_case(
    stack: RunningStack, tmp_path: Path
) -> None:
    """The services' real log lines with their request ids removed: the report shows each exchange's records by
    time, says once per service that it logs no request id, and only the first case per service waits."""
    stripped = {
        f"--{service}-log": 'cmd:sed -E \'s/"request_id": *"[^"]*",? *//\' ' + shlex.quote(str(path))
        for service, path in stack.log_paths.items()
    }
    wait = 1.5  # cases take about 0.1 s here: a case that waited out the deadline stands out
    result = run_checklist(
        tmp_path,
        "-p",
        "no:randomly",
        *external_args(stack),
        *(item for pair in stripped.items() for item in pair),
        LOG_WAIT_SECONDS=str(wait),
    )
    document = latest_document(tmp_path)
    notes = document["run"]["log_notes"]
    assert set(notes) == {"auth", "users", "webhook"}, notes
    assert "does not log the X-Request-ID" in notes["webhook"]
    logs = [
        e["log"] for case in document["cases"] for e in case["exchanges"] if e["log"] and e["log"]["records"]
    ]
    assert logs and all(log["matched_by"] == "time" for log in logs)
    # WEBHOOK-06 is about exactly this, and fails saying so.
    webhook_06 = by_case(document)[("WEBHOOK-06", ())]
    assert webhook_06["outcome"] == "failed"
    assert "the webhook service logged no record with request id" in webhook_06["message"]
    assert "(it logs no request ids: none of the" in webhook_06["message"], webhook_06["message"]
    # Rows without their evidence are failed rows for pytest too (checked in the call phase, not in teardown).
    failed = sum(case["outcome"] == "failed" for case in document["cases"])
    summary = result.stdout.strip().splitlines()[-1]
    assert f"{failed} failed" in summary and "error" not in summary, summary
    # One case per service proves it, and WEBHOOK-06 looks for itself; nothing else waits out the deadline.
    waited = [case["row_id"] or case["title"] for case in document["cases"] if case["duration_s"] >= wait]
    assert len(waited) <= 4, waited
    checklist = (tmp_path / "latest" / "checklist.md").read_text(encoding="utf-8")
    assert "by time, not by request id" in checklist and "does not log the X-Request-ID" in checklist
    assert result.returncode == 1


@on_embedded_stack
def test_a_request_the_service_did_not_log_is_not_taken_for_a_service_that_logs_no_ids(
    stack: RunningStack, tmp_path: Path
) -> None:
    """The auth service logs request ids, but its records of one case are hidden (as from a service that writes
    nothing for some 4xx): that row fails for its missing record, and neither its message nor the run's notes
    say auth logs no request ids, although other requests' records were written within the second."""
    args = external_args(stack)
    hidden = "-AUTH-LOGOUT-02-"
    args[args.index("--auth-log") + 1] = (
        f"cmd:grep -v -- {hidden} {shlex.quote(str(stack.log_paths['auth']))}"
    )
    run_checklist(tmp_path, "-p", "no:randomly", "-m", "auth and not fault", *args, LOG_WAIT_SECONDS="1")
    document = latest_document(tmp_path)
    logout_02 = by_case(document)[("AUTH-LOGOUT-02", ())]
    assert logout_02["outcome"] == "failed"
    assert "the auth service logged no record with request id" in logout_02["message"], logout_02["message"]
    assert "logs no request ids" not in logout_02["message"], logout_02["message"]
    assert "auth" not in document["run"]["log_notes"], document["run"]["log_notes"]
    failed = [case["case_id"] for case in document["cases"] if case["outcome"] == "failed"]
    assert failed == ["AUTH-LOGOUT-02"], failed  # (rows needing the signing secret are skipped, saying so)


def _broken_webhook() -> Any:
    return lambda request: (
        Answer(500, b'{"detail":"Internal processing error"}', "application/json")
        if b'"Id"' in request.body
        else Answer(422, b'{"detail":"invalid"}', "application/json")
    )


@on_embedded_stack
def test_a_run_says_what_changed_since_the_previous_run_against_the_same_target(
    stack: RunningStack, tmp_path: Path
) -> None:
    select = ("-m", "webhook and not fault")
    first = run_checklist(tmp_path, *select, *external_args(stack))
    assert first.returncode == 0, first.stdout[-2000:]
    first_run = latest_document(tmp_path)
    assert first_run["run"]["compared_with"] is None and first_run["changes"] == []
    with serve(_broken_webhook()) as webhook:
        # Another URL is another target: not compared with the first run, unless asked to.
        args = external_args(stack, webhook=webhook.url + "/webhook")
        run_checklist(tmp_path, *select, *args)
        assert latest_document(tmp_path)["run"]["compared_with"] is None
        first_folder = min(
            p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink()
        )  # named by time
        compared = run_checklist(tmp_path, *select, *args, "--compare", str(first_folder), quiet=False)
    document = latest_document(tmp_path)
    assert document["run"]["compared_with"]["id"] == first_run["run"]["id"]
    changes = {change["key"]: change for change in document["changes"]}
    assert changes["WEBHOOK-01"]["kind"] == "newly failing" and changes["WEBHOOK-01"]["from"] == "passed"
    assert by_case(document)[("WEBHOOK-01", ())]["previous_outcome"] == "passed"
    checklist = (tmp_path / "latest" / "checklist.md").read_text(encoding="utf-8")
    assert f"**Изменения с прогона `{first_run['run']['id']}`**" in checklist
    assert "стали падать (newly failing): WEBHOOK-01 (passed → failed)" in checklist
    assert compared.returncode == 1
    # The same target again: compared with the newest earlier run by default.
    again = run_checklist(tmp_path, *select, *external_args(stack))
    assert again.returncode == 0
    assert latest_document(tmp_path)["run"]["compared_with"]["id"] == first_run["run"]["id"]


def test_a_compare_folder_without_results_is_one_line(tmp_path: Path) -> None:
    result = run_checklist(tmp_path, "--compare", str(tmp_path / "nowhere"), timeout=120)
    lines = output_lines(result)
    assert result.returncode == 4 and len(lines) == 1, lines
    assert "nowhere (from option --compare) is not a run's report folder with results" in lines[0]
