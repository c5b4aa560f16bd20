"""junit.xml: one testcase per case, named by row ID and title, with the row's own exchange and log in system-out.

How the outcome model maps onto JUnit, so that a CI system reading only this file stays red for the right reason:
failed → <failure>; blocked → <error type="blocked"> (the case could not be judged; CI counts errors as red);
skipped → <skipped>; not run → <skipped message="not run: ...">. A run that could not start, or was interrupted,
adds one testcase `checklist run` carrying the reason as an <error>, so an empty or partial file is never green.
"""

import json
import xml.etree.ElementTree as ET
from typing import Any

from harness.outcomes import LABELS
from harness.reports.document import example_text, log_summary, primary_exchange


def case_name(case: dict[str, Any]) -> str:
    example = example_text(case)
    return f"{case['case_id']} {case['title']}" + (f" [{example}]" if example else "")


def _evidence(case: dict[str, Any]) -> str:
    exchange = primary_exchange(case)
    if exchange is None:
        return "no request of this row was made"
    body = exchange.get("response_body")
    lines = [
        f"{exchange['method']} {exchange['url']} -> {exchange['status'] if exchange['status'] is not None else exchange['error']}",
        f"X-Request-ID sent {exchange['request_id_sent']}, received {exchange['request_id_received'] or 'none'}",
        "body: " + (body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)),
        "log: " + log_summary(exchange),
    ]
    return "\n".join(lines)


def _run_problem(run: dict[str, Any]) -> str | None:
    """Why the run as a whole is not a result CI may trust, if it is not."""
    if run["status"] == "error":
        return str(run["error"] or "the run could not start")
    if run["status"] == "interrupted":
        counts = run["counts"]
        return f"the run was interrupted: {counts['not_run']} of {counts['total']} cases not run"
    return None


def render_junit(document: dict[str, Any]) -> str:
    run = document["run"]
    counts = run["counts"]
    cases = document["cases"]
    problem = _run_problem(run)
    suite = ET.Element(
        "testsuite",
        name="checklist",
        tests=str(counts["total"] + (1 if problem else 0)),
        failures=str(counts["failed"]),
        errors=str(counts["blocked"] + (1 if problem else 0)),
        skipped=str(counts["skipped"] + counts["not_run"]),
        time=f"{run['duration_s']:.3f}",
        timestamp=run["started_at"],
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", run["id"]),
        ("target", run["target"]["description"]),
        ("status", run["status"]),
    ):
        ET.SubElement(properties, "property", name=name, value=str(value))
    if problem:
        testcase = ET.SubElement(suite, "testcase", classname="checklist", name="checklist run", time="0.000")
        error = ET.SubElement(
            testcase, "error", type=f"run {run['status']}", message=problem.splitlines()[0][:500]
        )
        error.text = problem
    for case in cases:
        testcase = ET.SubElement(
            suite,
            "testcase",
            classname=f"checklist.{case['service']}",
            name=case_name(case),
            time=f"{case['duration_s']:.3f}",
        )
        outcome = case["outcome"]
        if outcome == "failed":
            message = case["message"] or "failed"
            failure = ET.SubElement(testcase, "failure", message=message.splitlines()[0][:500])
            failure.text = message
        elif outcome == "blocked":
            reason = f"blocked: {case['reason'] or 'a precondition failed'}"
            error = ET.SubElement(testcase, "error", type="blocked", message=reason.splitlines()[0][:500])
            error.text = reason
        elif outcome in ("skipped", "not_run"):
            prefix = "" if outcome == "skipped" else f"{LABELS[outcome]}: "
            ET.SubElement(testcase, "skipped", message=prefix + (case["reason"] or LABELS[outcome]))
        ET.SubElement(testcase, "system-out").text = _evidence(case)
    if run["error"]:
        ET.SubElement(suite, "system-err").text = run["error"]
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
