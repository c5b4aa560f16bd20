"""A real-browser check of report.html: Debian's Chromium, headless, driven by Playwright (no browser download).

`check_report_in_browser` is reusable: a test that produced a real run's report can run the same check on it.
It skips, naming what is missing, where Chromium or the playwright package is not there.
"""

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Dialog, Error, Locator, Page, Request, Route

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# Root, no network, no display: no sandbox, no GPU, and none of the browser's own background traffic.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 30_000
OUTCOMES = ("passed", "failed", "skipped")


def browser_unavailable() -> str | None:
    """Why the browser check cannot run here, or None when it can."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (Debian package chromium; or set CHROMIUM_PATH)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install playwright; no browser download needed)"
    return None


def _visible_cases(page: "Page") -> int:
    return page.locator(".case").filter(visible=True).count()


def _shown_count(page: "Page") -> int:
    return int(page.locator("#visible-count").inner_text())


def _only(page: "Page", kind: str, value: str) -> None:
    """Tick the one filter box `value` of `kind` and untick the others of that kind."""
    boxes = page.locator(f'.filters input[data-filter="{kind}"]')
    for index in range(boxes.count()):
        box = boxes.nth(index)
        box.set_checked(box.get_attribute("value") == value)


def _check_filters(page: "Page", expected_cases: int) -> None:
    for outcome in OUTCOMES:
        _only(page, "outcome", outcome)
        wanted = page.locator(f'.case[data-outcome="{outcome}"]').count()
        assert _visible_cases(page) == wanted, f"outcome filter {outcome}"
        assert _shown_count(page) == wanted, f"shown count for outcome {outcome}"
    page.locator("#show-all").click()
    assert _visible_cases(page) == expected_cases

    services = page.locator('.filters input[data-filter="service"]')
    assert services.count() >= 1
    service = services.first.get_attribute("value") or ""
    _only(page, "service", service)
    wanted = page.locator(f'.case[data-service="{service}"]').count()
    assert 0 < wanted < expected_cases or services.count() == 1
    assert _visible_cases(page) == wanted == _shown_count(page), f"service filter {service}"

    # Both filters at once: failed cases of that service only.
    _only(page, "outcome", "failed")
    wanted = page.locator(f'.case[data-service="{service}"][data-outcome="failed"]').count()
    assert _visible_cases(page) == wanted == _shown_count(page)

    page.locator("#show-all").click()
    assert _visible_cases(page) == expected_cases == _shown_count(page)


def _case_to_expand(page: "Page") -> "Locator":
    # A failed case with evidence shows the most; any case with an exchange will do.
    failed = page.locator('.case[data-outcome="failed"]:has(.exchange)')
    return failed.first if failed.count() else page.locator(".case:has(.exchange)").first


def _check_expand(page: "Page") -> None:
    case = _case_to_expand(page)
    if not case.count():  # no case made a request: expanding still has to show its details
        case = page.locator(".case").first
        case.locator("summary").click()
        assert case.locator(".detail").is_visible()
        return
    primary = case.locator(".exchange.primary")
    assert not primary.locator(".status").is_visible(), "a case starts collapsed"
    summary_status = case.locator("summary .status").inner_text().strip()
    summary_rid = case.locator("summary .request-id").inner_text().replace("⚠", "").strip()

    case.locator("summary").click()
    assert case.evaluate("element => element.open") is True
    status = primary.locator(".status")
    assert status.is_visible()
    assert status.inner_text().strip() == summary_status
    sent = primary.locator(".request-id-sent")
    received = primary.locator(".request-id-received")
    assert sent.is_visible() and received.is_visible()
    sent_text = sent.inner_text().strip()
    assert sent_text and sent_text != "—"
    assert summary_rid in (sent_text, received.inner_text().split("⚠")[0].strip())


def check_report_in_browser(html_path: Path, expected_cases: int, screenshot: Path) -> None:
    """Open the report in headless Chromium and check it as a reader would; save a full-page PNG."""
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    url = html_path.resolve().as_uri()
    problems: list[str] = []
    requests: list[str] = []

    def on_console(message: "ConsoleMessage") -> None:
        if message.type in ("error", "assert"):
            problems.append(f"console {message.type}: {message.text}")

    def on_page_error(error: "Error") -> None:
        problems.append(f"page error: {error}")

    def on_dialog(dialog: "Dialog") -> None:
        problems.append(f"dialog ({dialog.type}): {dialog.message}")  # e.g. an injected alert() ran
        dialog.dismiss()

    def on_request(request: "Request") -> None:
        requests.append(request.url)

    def refuse(route: "Route") -> None:
        route.abort()  # the report must need nothing else; refusing also keeps the check off any network

    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile, sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": VIEWPORT["width"], "height": VIEWPORT["height"]},
            timeout=60_000,
        )
        try:
            context.set_default_timeout(TIMEOUT_MS)
            context.route(re.compile(r"^(?!file:)"), refuse)
            context.on("request", on_request)
            page = context.pages[0] if context.pages else context.new_page()
            page.on("console", on_console)
            page.on("pageerror", on_page_error)
            page.on("dialog", on_dialog)
            page.goto(url, wait_until="load")

            assert page.evaluate("document.characterSet") == "UTF-8"
            assert page.evaluate("document.documentElement.lang") == "ru"
            assert "\ufffd" not in page.locator("body").inner_text(), "text did not decode cleanly"
            assert page.locator(".case").count() == expected_cases
            assert int(page.locator("#total-count").inner_text()) == expected_cases
            if expected_cases:
                assert _visible_cases(page) == expected_cases == _shown_count(page)
                _check_filters(page, expected_cases)
                _check_expand(page)
            page.evaluate("window.scrollTo(0, 0)")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()

    assert not problems, "\n".join(problems)
    assert set(requests) <= {url}, (
        f"the report made requests besides its own file: {sorted(set(requests) - {url})}"
    )
    assert screenshot.is_file() and screenshot.stat().st_size > 0
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
