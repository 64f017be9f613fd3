"""FAULTS.md cases 18 and 19: hostile text in every text field, rendered for real, stays literal and inert.

HTML and JavaScript, Markdown and LaTeX metacharacters, mathtext, a 5,000-character string, a
right-to-left override and a zero-width space go into every text field of every table (and, for the
fields that must be verbatim, into a copy of the source article, its SHA-256 recorded anew) and into
the title parameter. The real report is rendered to HTML and PDF through the command line and opened in
headless Chromium. test_narrative.py and test_charts.py check the escaping and the literal chart text
function by function; this is the whole pipeline, papermill, nbconvert and WeasyPrint included.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import subprocess
import sys

import pytest
from bs4 import BeautifulSoup
from conftest import CHROMIUM, CHROMIUM_ARGS, REPO, DataCopy

from analysis import charts, load_timeline
from analysis.schema import TABLES

pytestmark = pytest.mark.slow

SCRIPT = "<script>window.__pwned=1</script>"
HOSTILE = [
    SCRIPT,
    '<img src=x onerror="window.__pwned=1">',
    "[x](javascript:window.__pwned=1)",
    "</title><script>window.__pwned=1</script>",
    "* _ # | ` $5 to $10 $\\frac{1$ \\input{/etc/passwd}",
    "\u202eright-to-left override, zero\u200bwidth space",
]
TEXT = " ".join(HOSTILE)
# In the source a Markdown link counts as its words (analysis/quotes.py), so a verbatim field cannot
# hold link markup; it holds everything else.
VERBATIM = " ".join(value for value in HOSTILE if "](" not in value)
LONG = ("long <i>hostile</i> text costs $1 | " * 200)[:5000]
TITLE = TEXT

# A place that its event's quote does not name, and the passage of the source that names it: so
# the place is drawn as a place inferred from another passage, with hostile text in both.
PLACE = f"the hostile place {SCRIPT} $\\frac{{1$ \u202eright-to-left"
PLACE_WORDS = f"in {PLACE}"
# A stated date must be in its date_text's words: the hostile text names the fighting's days too.
DATE_WORDS = f"{VERBATIM} between 8 and 12 July 2016"


# A figure's qualifier must be the words of a number that a rule knows (analysis/quantities.py): any
# other text, hostile or not, is refused (test_load.py), so it keeps its own words here.
WORDS_OF_A_NUMBER = {("figures", "qualifier")}


def text_fields(table):
    return [
        spec
        for spec in table.fields
        if spec.type == "string" and not spec.enum and not spec.pattern and (table.name, spec.name) not in WORDS_OF_A_NUMBER
    ]


def hostile_text(spec) -> str:
    if spec.name == "location":
        return PLACE
    if spec.name == "location_quote":
        return PLACE_WORDS
    if spec.name == "date_text":
        return DATE_WORDS
    return VERBATIM if spec.verbatim else TEXT


@pytest.fixture(scope="module")
def hostile_data(tmp_path_factory):
    """A copy of data/ with every text field hostile; the first row of each table also gets the long string."""
    data = DataCopy(tmp_path_factory.mktemp("hostile") / "data")
    source = data.root / "sources" / "un-news-2017-04-19.md"
    with source.open("a", encoding="utf-8") as handle:
        handle.write(f"\n\n{VERBATIM} {LONG}\n\n{PLACE_WORDS} {LONG}\n\n{DATE_WORDS} {LONG}\n")
    for table in TABLES:
        path = data.csv(table.name)
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        for number, row in enumerate(rows):
            for spec in text_fields(table):
                value = hostile_text(spec)
                row[spec.name] = f"{value} {LONG}" if number == 0 else value
            if table.name == "sources":
                row["sha256"] = hashlib.sha256(source.read_bytes()).hexdigest()
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(table.field_names), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    return data.root


@pytest.fixture(scope="module")
def hostile_report(hostile_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile-out")
    argv = ["render", "--data", str(hostile_data), "--out", str(out), "--report", "full", "-p", f"title={TITLE}"]
    result = subprocess.run([sys.executable, "-m", "analysis", *argv], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return out


def test_the_hostile_data_is_valid_and_every_text_field_holds_it(hostile_data):
    timeline = load_timeline(hostile_data)
    for table in TABLES:
        frame = timeline.table(table.name)
        for spec in text_fields(table):
            expected = hostile_text(spec)
            assert frame[spec.name].str.startswith(expected).all(), (table.name, spec.name)
            assert frame[spec.name].str.len().max() > 5000, (table.name, spec.name)


def test_case_18_html_shows_hostile_text_literally_and_runs_none_of_it(hostile_report):
    page = (hostile_report / "full.html").read_text(encoding="utf-8")
    assert not re.search(r"<script", page, re.IGNORECASE)
    assert 'href="javascript:' not in page.lower() and "&lt;script&gt;" in page
    soup = BeautifulSoup(page, "html.parser")
    assert soup.find("script") is None
    for tag in soup.find_all(True):
        assert not [name for name in tag.attrs if name.lower().startswith("on")], tag.name
        assert not str(tag.get("href", "")).lower().startswith("javascript:"), tag
        if tag.name == "img":
            assert tag["src"].startswith("data:image/png;base64,")
    assert soup.title.get_text() == TITLE
    shown = soup.get_text()
    for value in HOSTILE:
        assert value in shown, value
    assert LONG in shown
    assert f"Place, inferred from another passage of the article: {PLACE}" in shown


def test_case_18_timelinejs_text_is_escaped(hostile_report):
    data = json.loads((hostile_report / "full.timeline.json").read_text(encoding="utf-8"))
    texts = [data["title"]["text"]["headline"]]
    texts += [event["text"][part] for event in data["events"] for part in ("headline", "text")]
    assert all("<script" not in text and "&lt;script&gt;" in text for text in texts)


def test_case_19_pdf_shows_the_metacharacters_literally(hostile_report):
    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils (pdftotext) is not installed; .ci/run installs it")
    result = subprocess.run(["pdftotext", str(hostile_report / "full.pdf"), "-"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for literal in [SCRIPT, "[x](javascript:window.__pwned=1)", "$5 to $10", "$\\frac{1$", "\\input{/etc/passwd}", "* _ # | `"]:
        assert literal in text, literal


def test_case_19_charts_draw_the_hostile_data_without_raising(hostile_data):
    timeline = load_timeline(hostile_data)
    for plot in (charts.plot_timeline, charts.plot_human_cost, charts.plot_actor_matrix, charts.plot_reform_tracker):
        chart = plot(timeline)
        assert charts.to_png(chart).startswith(b"\x89PNG"), plot.__name__
        assert chart.alt_text


def test_case_18_nothing_runs_in_a_real_browser(hostile_report):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed here; .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    page_file = hostile_report / "full.html"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            requests = []
            page.on("request", lambda request: requests.append(request.url))
            # Runs before the page's own content: proves scripts run here, so a live payload would have run.
            page.add_init_script("window.__guard = 'armed';")
            page.goto(page_file.as_uri(), wait_until="load")
            page.wait_for_timeout(300)  # an onerror fires after the image fails, just after load
            state = page.evaluate(
                """() => ({
                    guard: window.__guard,
                    pwned: typeof window.__pwned,
                    scripts: document.scripts.length,
                    handlers: [...document.querySelectorAll('*')]
                        .filter(e => [...e.attributes].some(a => /^on/i.test(a.name))).length,
                    javascriptLinks: document.querySelectorAll('[href^="javascript:" i]').length,
                })"""
            )
        finally:
            browser.close()
    assert state == {"guard": "armed", "pwned": "undefined", "scripts": 0, "handlers": 0, "javascriptLinks": 0}
    assert [url for url in requests if url != page_file.as_uri() and not url.startswith("data:")] == []
