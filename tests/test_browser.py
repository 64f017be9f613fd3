"""The rendered HTML in a real headless Chromium: no console errors, no request leaves the file, images decode."""

from __future__ import annotations

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS

from analysis.render import render

pytestmark = pytest.mark.slow

if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed here; .ci/run installs it", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser")
    render(names=["full"], out_dir=out, formats=("html",))
    return out / "full.html"


def open_page(browser, path, screenshot):
    page = browser.new_page(viewport={"width": 1000, "height": 1400})
    errors, requests = [], []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri(), wait_until="load")
    page.screenshot(path=str(screenshot), full_page=True)
    return page, errors, requests


def test_report_opens_offline_without_errors_and_images_decode(browser, report_file, tmp_path):
    screenshot = tmp_path / "full.png"
    page, errors, requests = open_page(browser, report_file, screenshot)
    print(f"screenshot: {screenshot}")
    assert errors == []
    assert [url for url in requests if not url.startswith(("file://", "data:"))] == []
    images = page.evaluate("() => Array.from(document.images).map(i => ({ok: i.complete && i.naturalWidth > 0, alt: i.alt}))")
    assert len(images) == 4
    assert all(image["ok"] and len(image["alt"]) > 30 for image in images)
    assert page.title() == (
        "Protection of civilians in South Sudan: from the July 2016 fighting to the progress reported in April 2017"
    )
    assert screenshot.stat().st_size > 10_000
    page.close()


def test_citation_links_reach_their_source(browser, report_file, tmp_path):
    page, _, _ = open_page(browser, report_file, tmp_path / "shot.png")
    page.click("sup.cite a >> nth=0")
    assert page.evaluate("() => location.hash") == "#source-1"
    assert page.locator("#source-1 blockquote").inner_text().startswith("He was looking into how the UN handled")
    page.close()


CITATIONS_STARTING_A_LINE = """() => Array.from(document.querySelectorAll('p > sup.cite'))
    .filter(sup => sup.previousSibling && !/\\s$/.test(sup.previousSibling.textContent))
    .filter(sup => {
        const block = sup.parentElement, style = getComputedStyle(block);
        const left = block.getBoundingClientRect().left + parseFloat(style.paddingLeft) + parseFloat(style.textIndent);
        return sup.getBoundingClientRect().left - left < 1;
    })
    .map(sup => sup.parentElement.textContent.slice(-60))"""


@pytest.mark.parametrize("width", [360, 400, 480, 640, 800, 1000])
def test_a_citation_never_starts_a_line_away_from_the_words_it_follows(browser, report_file, width):
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.goto(report_file.as_uri(), wait_until="load")
    cited = page.evaluate("() => document.querySelectorAll('p > sup.cite').length")
    assert cited > 20
    assert page.evaluate(CITATIONS_STARTING_A_LINE) == []
    page.close()


@pytest.mark.parametrize(("width", "hint"), [(400, '"Scroll sideways for the whole chart →"'), (1000, "none")])
def test_a_chart_wider_than_a_phone_says_it_scrolls(browser, report_file, width, hint):
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.goto(report_file.as_uri(), wait_until="load")
    shown = page.evaluate(
        "() => [...document.querySelectorAll('figure.chart')].map(f => getComputedStyle(f, '::before').content)"
    )
    assert len(shown) == 4 and set(shown) == {hint}
    page.close()
