"""narrative and report: exact text for small inputs; every fact sentence cites its quote; data is escaped."""

from __future__ import annotations

import base64
import csv
import hashlib
import re
import sys
import types
from dataclasses import replace

import pandas as pd
import pytest
from bs4 import BeautifulSoup
from conftest import frame
from pandas.testing import assert_frame_equal

import analysis
from analysis import ParameterError, load_timeline, metrics
from analysis.load import Timeline
from analysis.narrative import (
    Citations,
    claim_sentence,
    date_phrase,
    event_sentence,
    executive_summary,
    figures_sentence,
    format_day,
    phase_sections,
    selection_sentence,
    text,
)
from analysis.quotes import SourceText
from analysis.report import Report

SOURCE = "src"
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "</title><script>",
    "*bold*",
    "$5 to $10",
    f"{RLO}evil",
]
ALL_HOSTILE = " ".join(HOSTILE)


def sources_frame(title="Article", publisher="UN News") -> pd.DataFrame:
    row = {
        "source_id": SOURCE,
        "title": title,
        "published": "2017-04-19",
        "publisher": publisher,
        "kind": "news-article",
        "sha256": "0" * 64,
    }
    return frame("sources", [row])


def small_timeline() -> Timeline:
    """Two events in two phases, one figure, one claim of what remains."""
    events = [
        {
            "event_id": "fight",
            "title": "Fighting",
            "summary": "Fighting in the city.",
            "category": "violence",
            "start": "2016-07-08",
            "end": "2016-07-12",
            "date_precision": "range",
            "date_basis": "stated",
            "location": "the city",
            "location_quote": "fighting in the city",
            "source_id": SOURCE,
            "quote": "Fighting broke out.",
        },
        {
            "event_id": "letter",
            "title": "Letter",
            "summary": "A letter was written.",
            "category": "communication",
            "start": "2017-04-01",
            "end": "2017-04-19",
            "date_precision": "approximate",
            "date_basis": "inferred",
            "date_note": "From “for April”.",
            "source_id": SOURCE,
            "quote": "The letter was written.",
        },
    ]
    actors = [{"actor_id": "sg", "name": "The Secretary-General", "kind": "un-official", "source_id": SOURCE, "quote": "x"}]
    figures = [
        {
            "figure_id": "killed",
            "event_id": "fight",
            "measure": "killed",
            "low": 100,
            "qualifier": "Hundreds",
            "rule": "ACLED",
            "source_id": SOURCE,
            "quote": "Hundreds were killed.",
        }
    ]
    claims = [
        {
            "claim_id": "more",
            "event_id": "letter",
            "actor_id": "sg",
            "kind": "remaining",
            "statement": "More is needed.",
            "source_id": SOURCE,
            "quote": "more needs to be done",
        }
    ]
    return Timeline(
        sources=sources_frame(),
        events=frame("events", events),
        actors=frame("actors", actors),
        event_actors=frame("event_actors", [{"event_id": "letter", "actor_id": "sg", "role": "author"}]),
        figures=frame("figures", figures),
        claims=frame("claims", claims),
    )


def cite(number: int, use: int) -> str:
    return f'<sup class="cite"><a id="cite-{number}-{use}" href="#source-{number}">[{number}]</a></sup>'


# --- small pieces, exact text ------------------------------------------------------------------

DAY = pd.Timestamp


@pytest.mark.parametrize(
    ("start", "end", "precision", "basis", "expected"),
    [
        ("2016-07-08", "2016-07-08", "day", "stated", "On 8 July 2016"),
        ("2017-04-19", "2017-04-19", "day", "inferred", "On 19 April 2017 (date inferred)"),
        ("2016-07-08", "2016-07-12", "range", "stated", "From 8 to 12 July 2016"),
        ("2016-06-28", "2016-07-03", "range", "stated", "From 28 June 2016 to 3 July 2016"),
        ("2016-12-30", "2017-01-02", "range", "inferred", "From 30 December 2016 to 2 January 2017 (date inferred)"),
        ("2017-03-01", "2017-03-31", "month", "inferred", "In March 2017 (date inferred)"),
        ("2017-03-01", "2017-03-31", "month", "stated", "In March 2017"),
        (
            "2016-11-01",
            "2017-04-19",
            "approximate",
            "inferred",
            "At some time between 1 November 2016 and 19 April 2017 (date inferred)",
        ),
        ("2016-07-08", "2016-11-19", "approximate", "stated", "At some time between 8 July 2016 and 19 November 2016"),
        # Bounds that meet are one day, whatever the precision says.
        ("2016-07-09", "2016-07-09", "approximate", "stated", "On 9 July 2016"),
    ],
)
def test_date_phrase(start, end, precision, basis, expected):
    assert date_phrase(DAY(start), DAY(end), precision, basis) == expected


def test_format_day_has_no_leading_zero():
    assert format_day(DAY("2016-07-08")) == "8 July 2016"
    assert format_day(DAY("2016-11-19")) == "19 November 2016"


def test_text_escapes_and_isolates_bidi_controls():
    assert text("a < b & \"c\" 'd'") == "a &lt; b &amp; &quot;c&quot; &#x27;d&#x27;"
    assert text(f"abc{RLO}def") == f"<bdi>abc{RLO}def</bdi>"
    assert text(f"<b>{RLO}</b>") == f"<bdi>&lt;b&gt;{RLO}&lt;/b&gt;</bdi>"
    assert text(42) == "42"


def test_figures_sentence_of_one_figure():
    row = {
        "qualifier": "Hundreds",
        "measure": "killed",
        "event_title": "Fighting in Juba",
        "bounds": "at least 200",
        "is_open_ended": True,
    }
    assert figures_sentence([row]) == (
        "In the time of the event <em>Fighting in Juba</em>, the article reports “Hundreds” killed "
        "(recorded as at least 200, no upper bound given)."
    )


def test_figures_sentence_of_three_figures_with_and_without_an_upper_bound():
    rows = [
        {
            "qualifier": "between 100 and 300",
            "measure": "raped",
            "event_title": "Clash",
            "bounds": "100 to 300",
            "is_open_ended": False,
        },
        {"qualifier": "250", "measure": "killed", "event_title": "Clash", "bounds": "exactly 250", "is_open_ended": False},
        {"qualifier": "<b>x</b>", "measure": "displaced", "event_title": "Clash", "bounds": "at least 5", "is_open_ended": True},
    ]
    assert figures_sentence(rows) == (
        "In the time of the event <em>Clash</em>, the article reports “between 100 and 300” raped (recorded as 100 to 300), "
        "“250” killed (recorded as exactly 250) and “&lt;b&gt;x&lt;/b&gt;” displaced (recorded as at least 5, no upper "
        "bound given)."
    )


def test_figures_sentence_of_the_real_figures():
    cost = metrics.human_cost(load_timeline())
    assert figures_sentence(cost.to_dict("records")) == (
        "In the time of the event <em>Fighting between the SPLA and the SPLM/A-IO</em>, the article reports “Hundreds” killed "
        "(recorded as at least 200, no upper bound given) and “more than 200” raped (recorded as at least 201, no upper "
        "bound given)."
    )


def test_event_and_claim_sentences():
    timeline = small_timeline()
    events = timeline.events
    assert event_sentence(events.iloc[0]) == "<strong>From 8 to 12 July 2016.</strong> Fighting in the city."
    assert event_sentence(events.iloc[1]) == (
        "<strong>At some time between 1 April 2017 and 19 April 2017 (date inferred).</strong> A letter was written."
    )
    names = timeline.actors.set_index("actor_id")["name"]
    claim = timeline.claims.iloc[0]
    assert claim_sentence(claim, names) == "Still to be done (The Secretary-General): More is needed."
    # an unknown actor: its id
    assert claim_sentence(claim, names.iloc[:0]) == "Still to be done (sg): More is needed."
    unattributed = claim.copy()
    unattributed["actor_id"] = ""  # an empty cell: the article's own voice
    assert claim_sentence(unattributed, names) == "Still to be done (the article): More is needed."


# --- citations ---------------------------------------------------------------------------------


def test_citations_number_in_order_of_first_use_and_reuse_numbers():
    citations = Citations(sources_frame())
    assert citations.cite(SOURCE, "Second in the article, cited first.") == cite(1, 1)
    assert citations.cite(SOURCE, "First in the article.") == cite(2, 1)
    assert citations.cite(SOURCE, "Second in the article, cited first.") == cite(1, 2)
    # Only ASCII white space differs: the same quote, the same number.
    assert citations.cite(SOURCE, "First  in the\narticle. ") == cite(2, 2)
    assert citations.cite(SOURCE, "Second in the article, cited first.") == cite(1, 3)
    assert len(citations) == 2


def test_the_same_words_from_another_source_get_their_own_number():
    sources = pd.concat([sources_frame(), sources_frame().assign(source_id="other")], ignore_index=True)
    citations = Citations(sources)
    assert citations.cite(SOURCE, "Same words.") == cite(1, 1)
    assert citations.cite("other", "Same words.") == cite(2, 1)
    assert len(citations) == 2


def test_sources_list_with_back_links_exact():
    citations = Citations(sources_frame())
    citations.cite(SOURCE, "First quote.")
    citations.cite(SOURCE, "Second quote.")
    citations.cite(SOURCE, "First quote.")
    assert citations.sources_html() == (
        '<ol class="sources">\n'
        '<li id="source-1"><blockquote>First quote.</blockquote> <cite>Article</cite>, UN News, 19 April 2017. '
        '<a class="back" href="#cite-1-1" aria-label="back to citation 1, use 1 of 2">↩</a> '
        '<a class="back" href="#cite-1-2" aria-label="back to citation 1, use 2 of 2">↩</a></li>\n'
        '<li id="source-2"><blockquote>Second quote.</blockquote> <cite>Article</cite>, UN News, 19 April 2017. '
        '<a class="back" href="#cite-2-1" aria-label="back to citation 2">↩</a></li>\n'
        "</ol>"
    )


ARTICLE = (
    "# A title, no paragraph\n\nFirst paragraph, with a [link](#) in it.\n\n"
    "Second paragraph\nwraps onto a second line.\r\n\r\n## A heading\n\nThird   paragraph.\n"
)


@pytest.mark.parametrize(
    ("quote", "paragraph"),
    [
        ("First paragraph, with a link in it.", 1),  # a link counts as its words, as in the verbatim check
        ("with a link", 1),
        ("paragraph wraps onto", 2),  # across a line break, which is not a blank line
        ("Third paragraph.", 3),  # after a heading, which is not counted; white space runs count as one space
        ("A title", None),  # in a heading
        ("Not in the article", None),
    ],
)
def test_a_quote_s_paragraph(quote, paragraph):
    assert SourceText(ARTICLE, "article").paragraph_of(quote) == paragraph


def test_the_sources_list_gives_each_quote_s_paragraph_where_the_text_is_known():
    citations = Citations(sources_frame(), {SOURCE: ARTICLE})
    citations.cite(SOURCE, "Third paragraph.")
    citations.cite(SOURCE, "A title")
    items = [item.get_text() for item in BeautifulSoup(citations.sources_html(), "html.parser").find_all("li")]
    assert items[0].startswith("Third paragraph. Article, UN News, 19 April 2017, paragraph 3. ")
    assert items[1].startswith("A title Article, UN News, 19 April 2017. ")


def test_a_quote_s_sentences_are_whole_sentences_of_the_text():
    text = SourceText(
        "# A heading. Of two sentences\n\nMr. Smith met the U.N. team. He said “it went well.” Then he left!\n\n"
        "A second paragraph, of one sentence.\n",
        "t",
    )
    assert text.sentences_of("met the U.N. team") == ["Mr. Smith met the U.N. team."]  # no end after "Mr." or "U.N."
    assert text.sentences_of("it went well") == ["He said “it went well.”"]
    assert text.sentences_of("well.” Then he") == ["He said “it went well.”", "Then he left!"]  # across two: each
    assert text.sentences_of("A second paragraph") == ["A second paragraph, of one sentence."]  # never across paragraphs
    assert text.sentences_of("Of two") == ["Of two"]  # in a heading: the quote itself
    assert text.sentences_of("not in it") is None


ARTICLE_ID = "un-news-2017-04-19"


@pytest.fixture
def article_citations() -> Citations:
    timeline = load_timeline()
    return Citations(timeline.sources, timeline.source_texts)


def test_a_quote_across_two_sentences_cites_each_as_the_entry_it_is_alone(article_citations):
    citations, source = article_citations, ARTICLE_ID
    looking = citations.cite(source, "He was looking into how the UN handled its response")
    across = citations.cite(source, "last month led by Major General (retired) Patrick Cammaert. He was looking into")
    based = citations.cite(source, "The observations in the letter are based on an independent follow-up mission")
    assert [link["href"] for link in BeautifulSoup(across, "html.parser").find_all("a")] == ["#source-1", "#source-2"]
    assert 'href="#source-1"' in looking and 'href="#source-2"' in based and len(citations) == 2
    entries = [item.blockquote.get_text() for item in BeautifulSoup(citations.sources_html(), "html.parser").find_all("li")]
    assert entries[0].startswith("He was looking into") and entries[1].startswith("The observations in the letter")


def test_quotes_from_one_sentence_are_one_source_entry_showing_the_whole_sentence(article_citations):
    citations, source = article_citations, ARTICLE_ID
    first = citations.cite(source, "UNMISS peacekeepers are conducting dismounted patrols within the area")
    second = citations.cite(source, "cordon-and-search operations within the POC sites")
    assert 'href="#source-1"' in first and 'href="#source-1"' in second
    (item,) = BeautifulSoup(citations.sources_html(), "html.parser").find_all("li")
    assert item.blockquote.get_text().startswith("In addition, UNMISS peacekeepers are conducting dismounted patrols")
    # A claim's citation shows the words that say who makes it, even where its quote does not.
    citations.cite(source, "Significant work has been undertaken over the last five months")
    assert "the Secretary-General wrote" in BeautifulSoup(citations.sources_html(), "html.parser").find_all("li")[1].get_text()


def test_the_report_s_sources_give_the_article_s_paragraphs():
    items = BeautifulSoup(str(Report().sources()), "html.parser").find_all("li")
    paragraphs = {item.blockquote.get_text(): re.search(r"paragraph (\d+)\. ", item.get_text()) for item in items}
    assert all(paragraphs.values()), [quote for quote, found in paragraphs.items() if not found]
    number = {quote[:30]: int(found.group(1)) for quote, found in paragraphs.items()}
    assert number["He was looking into how the UN"] == 6
    assert number["The letter summarizes the prog"] == 2
    assert number["Mr. Guterres noted that “while"] == 9


def test_sources_list_leaves_out_an_unknown_publisher():
    citations = Citations(sources_frame(publisher=""))
    citations.cite(SOURCE, "A quote.")
    assert "<blockquote>A quote.</blockquote> <cite>Article</cite>, 19 April 2017. <a " in citations.sources_html()


def test_sources_list_without_citations():
    assert Citations(sources_frame()).sources_html() == '<p class="empty">No statements are cited in this selection.</p>'


# --- summary and sections, exact ---------------------------------------------------------------


def test_the_summary_explains_only_the_kinds_of_date_it_shows():
    from analysis.narrative import _spans_explained

    def of(*bases):
        return _spans_explained(pd.DataFrame({"date_basis": list(bases)}))

    assert of("stated") == ""
    assert of("stated", "assumed") == (
        "; those not stated are shown as spans (an assumed date over the period it is placed in), and each has a "
        "note saying why it is assumed"
    )
    assert of("inferred", "assumed").endswith(
        "(an inferred date from the earliest to the latest day the article's "
        "words allow, an assumed one over the period it is placed in), and each has a note saying how it was inferred "
        "or why it is assumed"
    )


def test_executive_summary_and_phase_sections_exact():
    timeline = small_timeline()
    citations = Citations(timeline.sources)
    summary = executive_summary(timeline, citations)
    assert summary.split("\n") == [
        "<p>This report covers 2 events between 8 July 2016 and 19 April 2017, drawn from 1 source. "
        "Dates: 1 dated as the article states, 1 inferred from the article's wording; those not stated are shown as "
        "spans (an inferred date from the earliest to the latest day the article's words allow), and each has a note "
        "saying how it was inferred.</p>",
        f'<p class="fact"><em>Crisis: the July 2016 fighting.</em> Fighting in the city.{cite(1, 1)}</p>',
        f'<p class="fact"><em>Follow-up and assessment.</em> A letter was written.{cite(2, 1)}</p>',
        '<p class="fact">In the time of the event <em>Fighting</em>, the article reports “Hundreds” killed '
        f"(recorded as at least 100, no upper bound given).{cite(3, 1)}</p>",
        f'<p class="fact">Still to be done (The Secretary-General): More is needed.{cite(4, 1)}</p>',
    ]
    sections = phase_sections(timeline, citations)
    assert list(sections) == ["crisis", "assessment"]
    assert sections["crisis"].split("\n") == [
        '<p class="span">8 July 2016 – 12 July 2016; 1 event.</p>',
        f'<p class="fact"><strong>From 8 to 12 July 2016.</strong> Fighting in the city.{cite(1, 2)}</p>',
        f'<p class="fact">Place, inferred from another passage of the article: the city.{cite(5, 1)}</p>',
        '<p class="fact">In the time of the event <em>Fighting</em>, the article reports “Hundreds” killed '
        f"(recorded as at least 100, no upper bound given).{cite(3, 2)}</p>",
    ]
    assert sections["assessment"].split("\n") == [
        '<p class="span">1 April 2017 – 19 April 2017; 1 event.</p>',
        '<p class="fact"><strong>At some time between 1 April 2017 and 19 April 2017 (date inferred).</strong> '
        f"A letter was written.{cite(2, 2)}</p>",
        '<p class="date-note">How the date was inferred: From “for April”.</p>',
        f'<p class="fact">Still to be done (The Secretary-General): More is needed.{cite(4, 2)}</p>',
    ]
    assert len(citations) == 5


def test_summary_of_a_phase_with_several_events_counts_them():
    timeline = small_timeline()
    events = timeline.events.copy()
    events.loc[1, "category"] = "violence"
    citations = Citations(timeline.sources)
    summary = executive_summary(replace(timeline, events=events), citations)
    assert f"Fighting in the city.{cite(1, 1)} (2 events in this phase.)</p>" in summary


def test_empty_selection():
    timeline = metrics.filter_timeline(small_timeline(), start="2020-01-01")
    citations = Citations(timeline.sources)
    assert executive_summary(timeline, citations) == '<p class="empty">No events match this selection.</p>'
    assert phase_sections(timeline, citations) == {}
    assert len(citations) == 0


# --- every fact cites its own quote, on the real timeline --------------------------------------


def fact_rows(timeline: Timeline) -> list[tuple[str, str]]:
    """(words that identify the row in a sentence, the words cited) for every event, place, figure and claim."""
    rows = [(row.summary, row.quote) for row in timeline.events.itertuples()]
    rows += [(f"article: {row.location}.", row.location_quote) for row in timeline.events.itertuples() if row.location_quote]
    rows += [(f"“{row.qualifier}” {row.measure}", row.quote) for row in timeline.figures.itertuples()]
    rows += [(row.statement, row.quote) for row in timeline.claims.itertuples()]
    return rows


def test_every_fact_sentence_cites_the_quote_of_its_own_row():
    timeline = load_timeline()
    citations = Citations(timeline.sources, timeline.source_texts)
    summary = executive_summary(timeline, citations)
    sections = phase_sections(timeline, citations)
    body = BeautifulSoup(summary + "\n" + "\n".join(sections.values()), "html.parser")
    sources = BeautifulSoup(citations.sources_html(), "html.parser")
    rows = fact_rows(timeline)
    article = SourceText(timeline.source_texts["un-news-2017-04-19"], "article")
    facts = body.find_all("p", class_="fact")
    # Summary: 4 phases, 2 effects, the 2 figures of one event, 1 remaining; sections: every event, the place of the
    # Juba fighting, its 2 figures, every claim.
    assert len(facts) == 8 + 13 + 1 + 1 + 9
    first_use: list[int] = []
    for fact in facts:
        links = fact.select("sup.cite > a")
        assert links, fact
        numbers = []
        for link in links:
            match = re.fullmatch(r"#source-(\d+)", link["href"])
            assert match, link
            numbers.append(int(match.group(1)))
        assert numbers == sorted(numbers), fact
        first_use += [number for number in numbers if number not in first_use]
        items = [sources.find("li", id=f"source-{number}") for number in numbers]
        assert None not in items, f"citations {numbers} resolve to no source"
        sentence = fact.get_text()
        quotes = list(dict.fromkeys(quote for words, quote in rows if words in sentence))  # one event's figures: one quote
        assert len(quotes) == 1, (sentence, quotes)
        # The whole sentences its quote is in: one, or each of those it runs across, read in the article's order.
        passages = sorted((item.blockquote.get_text() for item in items), key=article.text.find)
        assert quotes[0] in " ".join(passages), sentence
    assert first_use == list(range(1, len(citations) + 1))  # numbered in order of first use
    # One entry a sentence of the article, however many quotes are in it: the follow-up mission's quote,
    # which runs across two sentences, cites the two entries they are.
    assert len(sources.find_all("li")) == len(citations) == 11
    # Each citation links back, and each back-link lands on a citation.
    anchors = {a["id"] for a in body.select("sup.cite > a")}
    backs = {a["href"].removeprefix("#") for a in sources.select("a.back")}
    assert anchors == backs
    assert len(anchors) == len(body.select("sup.cite > a")) == len(facts) + 2  # the follow-up mission's two facts cite two


# --- hostile data stays text -------------------------------------------------------------------


def hostile_timeline(value: str) -> Timeline:
    """The small timeline with ``value`` in every text a reader sees."""
    timeline = small_timeline()
    return replace(
        timeline,
        sources=sources_frame(title=value, publisher=value),
        events=timeline.events.assign(title=value, summary=value, date_note=value, quote=value),
        actors=timeline.actors.assign(name=value),
        figures=timeline.figures.assign(qualifier=value, quote=value),
        claims=timeline.claims.assign(statement=value, quote=value),
    )


def assert_inert(page: str, values: list[str]) -> None:
    """No markup from the data: no script, no handler, no javascript link; the data reads as written."""
    assert "<script" not in page.lower()
    assert 'href="javascript:' not in page.lower()
    soup = BeautifulSoup(page, "html.parser")
    assert not soup.find_all(["script", "title"])
    for image in soup.find_all("img"):  # only the report's own chart images
        assert image["src"].startswith("data:image/png;base64,"), image
    for tag in soup.find_all(True):
        assert not [name for name in tag.attrs if name.lower().startswith("on")], tag
        assert tag.get("href", "#").startswith("#"), tag
    rendered = soup.get_text()
    for value in values:
        assert value in rendered, value
    for node in soup.find_all(string=re.compile(RLO)):
        # Isolated: in a <bdi>, or alone in a table cell, which is a bidi paragraph of its own.
        isolated = node.parent.name == "bdi" or (node.parent.name in ("td", "th") and len(node.parent.contents) == 1)
        assert isolated, node.parent


@pytest.mark.parametrize("value", [*HOSTILE, ALL_HOSTILE])
def test_hostile_data_is_escaped_in_summary_sections_and_sources(value):
    timeline = hostile_timeline(value)
    citations = Citations(timeline.sources)
    page = "\n".join([executive_summary(timeline, citations), *phase_sections(timeline, citations).values()])
    page += citations.sources_html()
    assert_inert(page, [value])
    if "<script>" in value:
        assert "&lt;script&gt;" in page
    if RLO in value:
        assert f"<bdi>{text(value.replace(RLO, ''))}" not in page  # the control character is kept, not dropped
        assert page.count("<bdi>") >= 9  # title, summary, date note, quote, qualifier, name, statement, sources
    for literal in ("*bold*", "$5 to $10", "[x](javascript:alert(1))"):
        if literal in value:
            assert literal in page  # no Markdown, no maths: the characters as written


# --- the report, end to end on the real data (charts aside) ------------------------------------


def document(report: Report) -> str:
    parts = [report.header(), report.summary(), report.sections()]
    parts += [report.table(name) for name in ("events", "human_cost", "reforms", "remaining")]
    parts += [report.method(), report.sources()]
    return "\n".join(str(part) for part in parts)


def test_report_of_the_whole_article():
    report = Report()
    header = BeautifulSoup(str(report.header()), "html.parser")
    assert header.h1.get_text() == (
        "Protection of civilians in South Sudan: from the July 2016 fighting to the progress reported in April 2017"
    )
    assert header.find("p", class_="subtitle").get_text() == (
        "A source-cited timeline of the UN News article “Peacekeepers in South Sudan working to strengthen "
        "protection of civilians – UN chief” (19 April 2017)."
    )
    assert header.find("p", class_="selection").get_text() == "The whole article (13 of 13 events)."
    assert [a["href"] for a in header.select("nav a")] == [
        "#summary",
        "#charts",
        "#phase-crisis",
        "#phase-investigation",
        "#phase-implementation",
        "#phase-assessment",
        "#tables",
        "#method",
        "#sources",
    ]
    page = BeautifulSoup(document(report), "html.parser")
    ids = [tag["id"] for tag in page.find_all(id=True)]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for link in page.find_all("a", href=True):
        if link["href"] != "#charts":  # the charts section is left out of document() to keep this fast
            assert link["href"].removeprefix("#") in ids, link
    summary = [fact.get_text() for fact in page.select("#summary p.fact")]
    assert len(summary) == 8
    assert summary[4].startswith("Reported effect (António Guterres): The weapons-free zone “has contributed to a significant")
    assert summary[5].startswith("Reported effect (António Guterres): The Secretary-General's letter noted a “positive change”")
    assert [section["id"] for section in page.select("section[id^=phase-]")] == [
        "phase-crisis",
        "phase-investigation",
        "phase-implementation",
        "phase-assessment",
    ]
    # One entry a sentence of the article (the follow-up mission's two sentences are one): the tables' roles
    # and claims quote the sentences the narrative cites, so they add none.
    assert len(page.select("ol.sources > li")) == 11
    tables = page.find_all("table")
    assert [len(table.tbody.find_all("tr")) for table in tables] == [13, 2, 8, 1]
    for table in tables:  # every row leads back to the sentences it rests on
        assert table.thead.find_all("th")[-1].get_text() == "Source"
        for row in table.tbody.find_all("tr"):
            links = row.find_all("td")[-1].find_all("a")
            assert links and all(link["href"].startswith("#source-") for link in links), row
    measures = {row.find_all("td")[1].get_text(): row.find_all("td")[-1].get_text() for row in tables[2].tbody.find_all("tr")}
    # Its own sentence, then the one that names who carried it out, then what is said of it; each sentence once.
    assert len(measures["Dismounted patrols day and night"].split()) == 1  # its sentence names UNMISS; nothing is said of it
    assert len(measures["Work to enhance UNMISS's ability to protect civilians"].split()) == 2  # UNMISS: the first sentence
    assert len(measures["Weapons-free zone around the POC sites and UN House in Juba"].split()) == 1  # its effect: same sentence
    # The fighting's row cites its sentence and the passage that names its place, Juba.
    fighting = tables[0].tbody.find("tr").find_all("td")[-1].find_all("a")
    cited = [page.find("li", id=link["href"][1:]).blockquote.get_text() for link in fighting]
    assert "the violence in Juba in July 2016" in cited[1]
    places = [row.find_all("td")[-2].get_text() for row in tables[0].tbody.find_all("tr")]
    assert places[0] == "Juba (inferred from another passage)"  # the Juba fighting, whose quote does not name it
    assert "within the POC sites" in places and sum("inferred" in place for place in places) == 1
    cost = [[cell.get_text() for cell in row.find_all("td")] for row in tables[1].tbody.find_all("tr")]
    assert [row[:4] for row in cost] == [
        ["Fighting between the SPLA and the SPLM/A-IO", "killed", "Hundreds", "at least 200"],
        ["Fighting between the SPLA and the SPLM/A-IO", "raped", "more than 200", "at least 201"],
    ]


def test_report_of_a_selection():
    report = Report(title="Crisis", start="2016-07-01", end="2016-07-31")
    header = BeautifulSoup(str(report.header()), "html.parser")
    assert header.find("p", class_="selection").get_text() == (
        "Selection: events whose recorded dates overlap 1 July 2016 to 31 July 2016 (2 of 13 events)."
    )
    assert [a["href"] for a in header.select("nav a")][2:4] == ["#phase-crisis", "#phase-investigation"]
    assert "1 dated as the article states, 1 inferred from the article's wording;" in str(report.summary())
    # The investigation only overlaps July 2016: the summary does not let "2 events" pass for two July events.
    assert (
        "drawn from 1 source. Only 1 of them is dated wholly within the selected dates; the other's possible "
        "dates only overlap them."
    ) in str(report.summary())
    assert "wholly within" not in str(Report(start="2016-07-08", end="2017-04-19").summary())
    assert "None of them is dated wholly" in str(Report(start="2016-07-10", end="2016-07-10").summary())
    within = Report(title="Crisis", start="2016-07-01", end="2016-07-31", dates="within")
    assert BeautifulSoup(str(within.header()), "html.parser").find("p", class_="selection").get_text() == (
        "Selection: events whose recorded dates lie wholly within 1 July 2016 to 31 July 2016 (1 of 13 events)."
    )
    assert within.timeline.events["event_id"].tolist() == ["juba-fighting"]
    assert "wholly within" not in str(within.summary())  # nothing shown only overlaps the dates
    report = Report(actors=["guterres"], categories=["communication", "assessment"])
    assert BeautifulSoup(str(report.header()), "html.parser").find("p", class_="selection").get_text() == (
        "Selection: involving António Guterres (a role in the event, or a claim this actor makes about it); "
        "in the categories communication and assessment (2 of 13 events)."
    )
    guterres = Report(actors=["guterres"]).timeline.events  # his claims' events too: test_metrics has them by name
    assert_frame_equal(guterres, metrics.filter_timeline(load_timeline(), actors=["guterres"]).events)
    assert len(guterres) == 7
    assert Report(start="2017-03-01").timeline.events["event_id"].tolist()[-3:] == [
        "follow-up-mission",
        "sg-letter",
        "more-to-be-done",
    ]


def test_the_report_s_timeline_is_cut_to_its_selection():
    caption = BeautifulSoup(str(Report(start="2016-07-01", end="2016-07-31").chart("timeline")), "html.parser").figcaption
    assert "The axis is cut to the months of the selection (to 31 July 2016): 1 event runs beyond it." in caption.get_text()


def test_a_chart_with_nothing_to_show_is_one_line_and_a_missing_effect_is_said():
    crisis = Report(start="2016-07-01", end="2016-07-31")
    assert str(crisis.chart("reforms")) == (
        '<p class="empty" id="chart-reforms">Reform tracker: no reforms or operations in this selection.</p>'
    )
    assert "<img" in str(crisis.chart("human_cost"))
    rows = BeautifulSoup(str(Report().table("reforms")), "html.parser").select("tbody tr")
    cells = {row.find_all("td")[1].get_text(): [cell.get_text() for cell in row.find_all("td")[3:5]] for row in rows}
    assert cells["Dismounted patrols day and night"] == ["No effect or assessment reported", "not stated"]
    wfz_status, wfz_effect = cells["Weapons-free zone around the POC sites and UN House in Juba"]
    assert wfz_status == "Effect reported" and wfz_effect.startswith("António Guterres: The weapons-free zone “has contributed")
    assert cells["Changes to training and performance monitoring of peacekeepers"][0] == "Assessed, no effect reported"


def test_report_of_an_empty_selection():
    report = Report(start="2018-01-01")
    assert "No events match this selection." in str(report.summary())
    assert str(report.sections()) == ""  # the summary has said it
    assert "No statements are cited in this selection." in str(report.sources())
    for table in ("events", "human_cost", "reforms", "remaining"):
        assert "Nothing in this selection." in str(report.table(table))


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"start": "2017-01-01", "end": "2016-12-31"}, "start 2017-01-01 is after end 2016-12-31"),
        ({"start": "03/04/2016"}, "parameter 'start' must be a date YYYY-MM-DD, got '03/04/2016'"),
        ({"start": "2016-7-1"}, "parameter 'start' must be a date YYYY-MM-DD, got '2016-7-1'"),
        ({"end": "2016-02-30"}, "parameter 'end' is not a real date: '2016-02-30'"),
        ({"actors": ["guterres", "nobody"]}, "unknown actor 'nobody'; known: unmiss, guterres"),
        ({"categories": ["violense"]}, "parameter 'categories': unknown category 'violense' (did you mean 'violence'?)"),
    ],
)
def test_report_refuses_bad_parameters(parameters, message):
    with pytest.raises(ParameterError) as caught:
        Report(**parameters)
    assert message in str(caught.value)
    assert caught.value.exit_code == 64


def test_report_refuses_unknown_table_and_chart_names():
    report = Report()
    with pytest.raises(ParameterError, match="unknown table 'figures'"):
        report.table("figures")
    with pytest.raises(ParameterError, match="unknown chart 'pie'"):
        report.chart("pie")


def test_report_title_is_escaped():
    report = Report(title=ALL_HOSTILE)
    header = str(report.header())
    assert_inert(header, [ALL_HOSTILE])
    assert "&lt;/title&gt;&lt;script&gt;" in header


def test_report_with_hostile_data_is_inert(data_copy):
    # A quote must be in the source: append the hostile line, record the new SHA-256.
    # ("[x](javascript:…)" cannot be quoted: in the source it is a link, which counts as its words.)
    line = " ".join(value for value in HOSTILE if "javascript" not in value)
    source = data_copy.root / "sources" / "un-news-2017-04-19.md"
    old_digest = hashlib.sha256(source.read_bytes()).hexdigest()
    with source.open("a", encoding="utf-8") as handle:
        handle.write(f"\n\n{line}\n")
    data_copy.replace("sources", old_digest, hashlib.sha256(source.read_bytes()).hexdigest())

    def edit(table: str, key: str, value: str, **changes: str) -> None:
        path = data_copy.csv(table)
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            if row[key] == value:
                row.update(changes)
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    edit("events", "event_id", "juba-fighting", title=ALL_HOSTILE, summary=ALL_HOSTILE, quote=line)
    edit("events", "event_id", "follow-up-mission", date_note=ALL_HOSTILE)
    edit("actors", "actor_id", "guterres", name=ALL_HOSTILE)
    edit("figures", "figure_id", "juba-killed", rule=ALL_HOSTILE)  # a qualifier holds a number's words, or is refused
    edit("claims", "claim_id", "more-needs-to-be-done", statement=ALL_HOSTILE)
    report = Report(title=ALL_HOSTILE, data_dir=str(data_copy.root))
    page = document(report)
    assert_inert(page, [ALL_HOSTILE, line])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "*bold*" in page and "$5 to $10" in page
    quotes = [q.get_text() for q in BeautifulSoup(str(report.sources()), "html.parser").select("li > blockquote")]
    assert line in quotes


def test_chart_alt_text_and_caption_are_escaped(monkeypatch):
    hostile_alt, hostile_title = f'{ALL_HOSTILE} "quoted"', f'<b>Title</b> {ALL_HOSTILE} "quoted"'
    words = {"title": hostile_title, "alt_text": hostile_alt, "source_note": "Note"}
    chart = types.SimpleNamespace(figure=None, empty=False, continued=(), **words)
    fake = types.SimpleNamespace(
        plot_timeline=lambda timeline, window: chart,
        plot_human_cost=lambda timeline: chart,
        plot_actor_matrix=lambda timeline: chart,
        plot_reform_tracker=lambda timeline: chart,
        to_png=lambda chart_: b"PNG",
    )
    monkeypatch.setitem(sys.modules, "analysis.charts", fake)
    monkeypatch.setattr(analysis, "charts", fake, raising=False)
    fragment = str(Report().chart("timeline"))
    assert_inert(fragment, [hostile_alt])  # the caption; the title is in the attribute, below
    figure = BeautifulSoup(fragment, "html.parser").find("figure")
    img = figure.find(lambda tag: tag.has_attr("alt"))
    assert img["alt"] == "Chart: " + hostile_title  # the attribute holds the words, not markup
    assert figure.figcaption.get_text() == hostile_alt
    assert img["src"] == "data:image/png;base64,UE5H"


@pytest.mark.parametrize(
    ("start", "end", "dates", "words"),
    [
        ("2016-07-01", "2016-07-31", "overlap", "events whose recorded dates overlap 1 July 2016 to 31 July 2016"),
        ("2016-07-01", "2016-07-31", "within", "events whose recorded dates lie wholly within 1 July 2016 to 31 July 2016"),
        ("2016-07-01", None, "overlap", "events whose latest possible day is on or after 1 July 2016"),
        ("2016-07-01", None, "within", "events whose earliest possible day is on or after 1 July 2016"),
        (None, "2016-07-31", "overlap", "events whose earliest possible day is on or before 31 July 2016"),
        (None, "2016-07-31", "within", "events whose latest possible day is on or before 31 July 2016"),
    ],
)
def test_the_selection_in_words_says_which_day_of_an_event_a_bound_is_compared_with(start, end, dates, words):
    parameters = {"start": start, "end": end, "dates": dates, "actors": [], "categories": ["violence"]}
    sentence = selection_sentence(parameters, pd.Series(dtype=str), 1, 13)
    assert sentence == f"Selection: {words}; in the category violence (1 of 13 events)."


def test_a_row_s_citations_are_in_number_order():
    timeline = load_timeline()
    citations = Citations(timeline.sources)
    quotes = timeline.claims["quote"].drop_duplicates().head(3)
    first, second, third = (("un-news-2017-04-19", quote) for quote in quotes)
    citations.cite(*first)
    citations.cite(*third)  # numbered 2, before the second is ever cited
    links = BeautifulSoup(citations.cite_each([third, second, first]), "html.parser").find_all("a")
    assert [link.get_text() for link in links] == ["[1]", "[2]", "[3]"]


def test_a_chart_drawn_in_parts_is_a_figure_per_part_in_order(monkeypatch):
    def part(number: int):
        words = {"title": f"Part {number}", "alt_text": f"Described {number}", "source_note": "Note"}
        return types.SimpleNamespace(figure=number, empty=False, continued=(), **words)

    chart = types.SimpleNamespace(**{**vars(part(1)), "continued": (part(2), part(3))})
    others = {name: None for name in ("plot_human_cost", "plot_actor_matrix", "plot_reform_tracker")}
    fake = types.SimpleNamespace(
        plot_timeline=lambda timeline, window: chart, to_png=lambda drawn: b"PNG%d" % drawn.figure, **others
    )
    monkeypatch.setitem(sys.modules, "analysis.charts", fake)
    monkeypatch.setattr(analysis, "charts", fake, raising=False)
    figures = BeautifulSoup(str(Report().chart("timeline")), "html.parser").find_all("figure")
    assert [f["id"] for f in figures] == ["chart-timeline", "chart-timeline-2", "chart-timeline-3"]
    assert [f.img["alt"] for f in figures] == ["Chart: Part 1", "Chart: Part 2", "Chart: Part 3"]
    assert [f.figcaption.get_text() for f in figures] == ["Described 1", "Described 2", "Described 3"]
    assert [base64.b64decode(f.img["src"].split(",")[1]) for f in figures] == [b"PNG1", b"PNG2", b"PNG3"]


def test_a_phase_with_many_events_lists_the_first_and_counts_the_rest():
    from analysis.narrative import MAX_EVENTS_PER_PHASE

    real = load_timeline()
    base = real.events[real.events["event_id"] == "weapons-free-zone"]
    many = pd.concat([base.assign(event_id=f"measure-{i:03d}") for i in range(MAX_EVENTS_PER_PHASE + 7)], ignore_index=True)
    timeline = replace(
        real, events=many, event_actors=real.event_actors.iloc[0:0], figures=real.figures.iloc[0:0], claims=real.claims.iloc[0:0]
    )
    section = phase_sections(timeline, Citations(real.sources))["implementation"]
    assert section.count('<p class="fact">') == MAX_EVENTS_PER_PHASE
    assert "… and 7 more events in this phase, not listed here" in section


def test_date_phrases_agree_with_date_phrase_row_by_row():
    from analysis.narrative import date_phrases

    events = load_timeline().events
    expected = [date_phrase(row.start, row.end, str(row.date_precision), str(row.date_basis)) for row in events.itertuples()]
    assert date_phrases(events) == expected
    assert len(set(expected)) >= 5


def test_a_claim_the_article_makes_in_its_own_voice_is_the_articles():
    timeline = load_timeline()
    sections = phase_sections(timeline, Citations(timeline.sources))
    facts = [p.get_text() for p in BeautifulSoup("\n".join(sections.values()), "html.parser").find_all("p", class_="fact")]
    basis = [fact for fact in facts if "observations are based on" in fact]
    assert len(basis) == 1 and basis[0].startswith("Basis (the article): The letter's observations are based on")
    assert not any("(António Guterres)" in fact for fact in basis)


def test_assumed_dates_are_said_to_be_assumed_with_their_reason():
    timeline = load_timeline()
    sections = phase_sections(timeline, Citations(timeline.sources))
    page = BeautifulSoup("\n".join(sections.values()), "html.parser")
    patrols = next(p for p in page.find_all("p", class_="fact") if "dismounted patrols" in p.get_text())
    assert patrols.strong.get_text() == "At some time between 1 November 2016 and 19 April 2017 (date assumed)."
    note = patrols.find_next_sibling("p")
    assert note["class"] == ["date-note"] and note.get_text().startswith("Why the date is assumed: The article gives no date.")


def test_every_claim_kind_has_a_heading_for_the_reader():
    from analysis.narrative import CLAIM_HEADINGS
    from analysis.schema import CLAIM_KINDS

    assert set(CLAIM_HEADINGS) == set(CLAIM_KINDS)
