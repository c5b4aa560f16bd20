"""junit.xml: one testcase per case, named by row ID and title, with the primary exchange and log in system-out."""

import json
import xml.etree.ElementTree as ET
from typing import Any

from harness.reports.document import log_summary, primary_exchange


def case_name(case: dict[str, Any]) -> str:
    example = case.get("example") or {}
    suffix = " [" + ", ".join(f"{k}={v}" for k, v in example.items()) + "]" if example else ""
    return f"{case['row_id'] or 'extra'} {case['title']}{suffix}"


def _evidence(case: dict[str, Any]) -> str:
    exchange = primary_exchange(case)
    if exchange is None:
        return "no request was made"
    body = exchange.get("response_body")
    lines = [
        f"{exchange['method']} {exchange['url']} -> {exchange['status'] if exchange['status'] is not None else exchange['error']}",
        f"X-Request-ID sent {exchange['request_id_sent']}, received {exchange['request_id_received'] or 'none'}",
        "body: " + (body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)),
        "log: " + log_summary(exchange),
    ]
    return "\n".join(lines)


def render_junit(document: dict[str, Any]) -> str:
    run = document["run"]
    counts = run["counts"]
    suite = ET.Element(
        "testsuite",
        name="checklist",
        tests=str(counts["total"]),
        failures=str(counts["failed"]),
        errors="0",
        skipped=str(counts["skipped"]),
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
    for case in document["cases"]:
        testcase = ET.SubElement(
            suite,
            "testcase",
            classname=f"checklist.{case['service']}",
            name=case_name(case),
            time=f"{case['duration_s']:.3f}",
        )
        if case["outcome"] == "failed":
            message = case["message"] or "failed"
            failure = ET.SubElement(testcase, "failure", message=message.splitlines()[0][:500])
            failure.text = message
        elif case["outcome"] == "skipped":
            ET.SubElement(testcase, "skipped", message=case["reason"] or "skipped")
        ET.SubElement(testcase, "system-out").text = _evidence(case)
    if run["error"]:
        ET.SubElement(suite, "system-err").text = run["error"]
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
