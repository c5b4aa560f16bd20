"""A real-browser check of report.html: Debian's Chromium, headless, driven by Playwright (no browser download).

`check_report_in_browser` is reusable: a test that produced a real run's report can run the same check on it
(the results.json beside the page is the document it is checked against). It skips, naming what is missing,
where Chromium or the playwright package is not there.
"""

import json
import os
import re
import struct
import tempfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.outcomes import OUTCOMES

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Dialog, Error, Locator, Page, Request, Route, ViewportSize

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
VIEWPORT: "ViewportSize" = {"width": 1280, "height": 900}
# Widths the case rows must lay out at without overflow: the desktop one, a narrow window, a phone.
WIDTHS = (1280, 800, 390)
TIMEOUT_MS = 30_000
# The page script's "failures first": failed, then blocked, then the rest.
FAILURE_RANK = {"failed": 0, "blocked": 1}


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
        assert page.locator(f'.filters input[data-filter="outcome"][value="{outcome}"]').count() == 1, (
            f"a filter box for {outcome}"
        )
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
    subject = case.locator(".exchange.subject")
    assert not subject.locator(".status").is_visible(), "a case starts collapsed"
    summary_status = case.locator("summary .status").inner_text().strip()
    summary_rid = case.locator("summary .request-id").inner_text().replace("⚠", "").strip()

    case.locator("summary").click()
    assert case.evaluate("element => element.open") is True
    status = subject.locator(".status")
    assert status.is_visible()
    assert status.inner_text().strip() == summary_status
    sent = subject.locator(".request-id-sent")
    received = subject.locator(".request-id-received")
    assert sent.is_visible() and received.is_visible()
    sent_text = sent.inner_text().strip()
    assert sent_text and sent_text != "—"
    assert summary_rid in (sent_text, received.inner_text().split("⚠")[0].strip())


def _case_order(page: "Page") -> list[tuple[int, str, str]]:
    """The cases as the page shows them, top to bottom: (document index, row id, outcome)."""
    found: list[list[Any]] = page.locator(".case").evaluate_all(
        "items => items.map(item => [Number(item.dataset.index), item.dataset.rowId, item.dataset.outcome])"
    )
    return [(int(index), str(row_id), str(outcome)) for index, row_id, outcome in found]


def _check_order(page: "Page", document: dict[str, Any] | None) -> None:
    """Checklist order first; "failures first" puts failed, then blocked, on top; "checklist" restores it."""
    shown = _case_order(page)
    assert [index for index, _, _ in shown] == list(range(len(shown))), "checklist order by default"
    if document is not None:
        assert [row_id for _, row_id, _ in shown] == [case["row_id"] or "" for case in document["cases"]]

    page.locator('input[name="order"][value="failures"]').check()
    failures_first = _case_order(page)
    expected = sorted(shown, key=lambda item: (FAILURE_RANK.get(item[2], 2), item[0]))
    assert failures_first == expected, "failures first: failed, then blocked, each in checklist order"
    # The control moves elements, not just a list of labels: what a reader sees on top is a failure.
    if any(outcome in FAILURE_RANK for _, _, outcome in shown):
        top = page.locator(".case").first
        assert top.get_attribute("data-outcome") in FAILURE_RANK and top.is_visible()

    page.locator('input[name="order"][value="checklist"]').check()
    assert _case_order(page) == shown, "back to checklist order"


# Per case row: every grid cell, its box, and whether its content is wider than the cell (only where the content
# could show outside it: a cell that clips, as the log cell does with an ellipsis, cannot overflow).
_CELL_LAYOUT = """
rows => rows.map(row => {
  const box = row.getBoundingClientRect();
  const cells = Array.from(row.children).map(cell => {
    const rect = cell.getBoundingClientRect();
    const style = getComputedStyle(cell);
    return {
      name: cell.className, left: rect.left, right: rect.right, top: rect.top, bottom: rect.bottom,
      overflows: style.overflowX === "visible" && cell.scrollWidth > cell.clientWidth + 1,
    };
  }).filter(cell => cell.right > cell.left && cell.bottom > cell.top);
  return {id: row.parentElement.id, left: box.left, right: box.right, cells: cells};
})
"""


def _check_layout(page: "Page") -> None:
    """At each width: no cell's content overflows, no two cells of a row overlap, the title stays left of the
    status column (on wide screens), and the page needs no sideways scrolling."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
            f"the page scrolls sideways at {width} px"
        )
        rows: list[dict[str, Any]] = page.locator(".case > summary").evaluate_all(_CELL_LAYOUT)
        for row in rows:
            where = f"{row['id']} at {width} px"
            cells = row["cells"]
            for cell in cells:
                assert not cell["overflows"], f"{cell['name']} overflows its cell in {where}"
                assert row["left"] - 1 <= cell["left"] and cell["right"] <= row["right"] + 1, (
                    f"{cell['name']} sticks out of {where}"
                )
            for n, one in enumerate(cells):
                for other in cells[n + 1 :]:
                    apart = (
                        one["right"] <= other["left"] + 1
                        or other["right"] <= one["left"] + 1
                        or one["bottom"] <= other["top"] + 1
                        or other["bottom"] <= one["top"] + 1
                    )
                    assert apart, f"{one['name']} and {other['name']} overlap in {where}"
            title = next(cell for cell in cells if cell["name"] == "title")
            status = next(cell for cell in cells if cell["name"].split()[0] == "status")
            if status["top"] < title["bottom"] and title["top"] < status["bottom"]:  # side by side
                assert title["right"] <= status["left"], f"the title runs into the status column in {where}"
    page.set_viewport_size(VIEWPORT)


# Emoji live from U+2190 on (arrows, dingbats, symbols, pictographs); a mark may hold none of them.
_EMOJI_FROM = 0x2190


def _png_rgb(png: bytes) -> list[tuple[int, int, int]]:
    """The pixels of an 8-bit RGB or RGBA PNG, as Chromium writes screenshots (no library needed)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, header, data = 8, b"", b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind, chunk = png[position + 4 : position + 8], png[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            data += chunk
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, "an 8-bit RGB(A) PNG without interlacing"
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(data)
    pixels: list[tuple[int, int, int]] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                near = min(
                    (abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner)
                )
                line[x] = (line[x] + near[2]) & 0xFF
        pixels += [tuple(line[x : x + 3]) for x in range(0, stride, channels)]  # type: ignore[misc]
        previous = line
    return pixels


def _check_marks(page: "Page") -> None:
    """Each outcome's mark is drawn: it has a size, holds no emoji code point, and its pixels show the outcome's
    colour, whatever fonts the machine has (this one need not have any colour-emoji font)."""
    for outcome in OUTCOMES:
        mark = page.locator(f".filters .mark-{outcome}")
        assert mark.count() == 1, f"a filter mark for {outcome}"
        box = mark.bounding_box()
        assert box is not None and box["width"] >= 10 and box["height"] >= 10, (
            f"the {outcome} mark has no size"
        )
        text = mark.evaluate("element => element.textContent")
        assert all(ord(char) < _EMOJI_FROM for char in text), f"the {outcome} mark uses {text!r}"
        # The outcome's colour as the stylesheet names it: a mark drawn in any other (or in white) fails.
        colour = page.evaluate(f"getComputedStyle(document.documentElement).getPropertyValue('--{outcome}')")
        wanted = tuple(bytes.fromhex(colour.strip().lstrip("#")))
        assert len(wanted) == 3 and min(wanted) < 200, f"--{outcome} is {colour!r}, not a colour on white"
        inked = [
            pixel
            for pixel in _png_rgb(mark.screenshot())
            if all(abs(have - want) <= 40 for have, want in zip(pixel, wanted, strict=True))
        ]
        assert len(inked) >= 20, f"the {outcome} mark shows {len(inked)} pixels of {colour}"
    sizes: list[list[float]] = page.locator(".case .cell-mark .mark").evaluate_all(
        "marks => marks.map(mark => [mark.getBoundingClientRect().width, mark.getBoundingClientRect().height])"
    )
    assert len(sizes) == page.locator(".case").count(), "every row has its mark"
    assert all(width > 0 and height > 0 for width, height in sizes), "every row shows its mark"


def _check_changes(page: "Page") -> None:
    """A link in "Changed since" opens its case, even one the filters hide."""
    links = page.locator('.changes a[href^="#case-"]')
    if not links.count():
        return
    link = links.first
    case = page.locator(f"[id='{(link.get_attribute('href') or '#')[1:]}']")
    outcome = case.get_attribute("data-outcome") or ""
    _only(page, "outcome", next(other for other in OUTCOMES if other != outcome))
    assert not case.is_visible()
    link.click()
    assert case.is_visible(), "a link to a case the filters hide shows it"
    assert case.evaluate("element => element.open") is True, "a link to a case opens it"
    case.locator("summary").click()  # closed again, as the other checks expect
    page.locator("#show-all").click()


def _check_run_banner(page: "Page", document: dict[str, Any] | None) -> None:
    """A run that could not start says why at the top, within the first screen."""
    if document is None or not document["run"].get("error"):
        return
    banner = page.locator(".banner.run-error")
    assert banner.is_visible()
    box = banner.bounding_box()
    assert box is not None and box["y"] + box["height"] <= VIEWPORT["height"], (
        "the run error is below the fold"
    )
    assert document["run"]["error"].splitlines()[0] in banner.inner_text()


def _document_beside(html_path: Path) -> dict[str, Any] | None:
    results = html_path.with_name("results.json")
    if not results.is_file():
        return None
    document: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))
    return document


def check_report_in_browser(
    html_path: Path, expected_cases: int, screenshot: Path, document: dict[str, Any] | None = None
) -> None:
    """Open the report in headless Chromium and check it as a reader would, against `document` (by default the
    results.json beside it, when there is one); save a full-page PNG."""
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    if document is None:
        document = _document_beside(html_path)
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
            viewport=VIEWPORT,
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
            _check_run_banner(page, document)
            _check_marks(page)
            if expected_cases:
                assert _visible_cases(page) == expected_cases == _shown_count(page)
                _check_order(page, document)
                _check_filters(page, expected_cases)
                _check_changes(page)
                _check_layout(page)
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
