"""Pure functions from the timeline's tables to cited report text, as HTML; escaping happens here.

Every sentence that states a fact carries a numbered citation linking to the verbatim quote in the
"Sources" list. All data is untrusted text: it is HTML-escaped (so ``<script>``, ``*``, ``$`` and
``[x](javascript:…)`` stay literal), and text carrying bidirectional controls is isolated in
``<bdi>`` so it cannot reorder the sentence around it.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import metrics
from .load import Timeline
from .quotes import SourceText, normalize_quote
from .schema import label

# Beyond these counts the text summarizes instead of listing (a timeline may hold 100,000 events).
MAX_EVENTS_PER_PHASE = 25
MAX_SUMMARY_ITEMS = 5
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def counted(number: int, noun: str) -> str:
    """'1 event', '1,234 events'."""
    return f"{number:,} {noun if number == 1 else noun + 's'}"


def text(value) -> str:
    """Data as safe HTML text."""
    escaped = html.escape(str(value), quote=True)
    return f"<bdi>{escaped}</bdi>" if _BIDI_CONTROLS.search(str(value)) else escaped


@functools.lru_cache(maxsize=4096)  # a big timeline's events share their days: each is formatted once
def format_day(day: pd.Timestamp) -> str:
    return f"{day.day} {day:%B %Y}"


def source_credit(publisher: str, title: str, published: pd.Timestamp) -> str:
    """'UN News, “<title>”, 19 April 2017': how a report credits a source (plain text, to be escaped where it goes)."""
    return f"{publisher + ', ' if publisher else ''}“{title}”, {format_day(published)}"


def selection_sentence(parameters: dict, names: pd.Series, shown: int, total: int, escape=str) -> str:
    """What a report's parameters select and how many events that leaves, in words.

    "Selection: events whose recorded dates overlap 1 July 2016 to 31 July 2016 (3 of 13 events).",
    or "The whole article (13 of 13 events).". ``names`` maps actor ids to names; ``escape`` is
    applied to each piece of data in it (``text`` for the report's HTML, none for plain text).
    """
    start, end = (None if parameters[bound] is None else pd.Timestamp(parameters[bound]) for bound in ("start", "end"))
    pieces = []
    within = parameters["dates"] == "within"
    # With "overlap" the events shown can run beyond the window: said here, since the summary gives
    # their whole span. One bound alone is said as the one day of an event it is compared with.
    if start is not None and end is not None:
        relation = "lie wholly within" if within else "overlap"
        pieces.append(f"events whose recorded dates {relation} {format_day(start)} to {format_day(end)}")
    elif start is not None:
        pieces.append(f"events whose {'earliest' if within else 'latest'} possible day is on or after {format_day(start)}")
    elif end is not None:
        pieces.append(f"events whose {'latest' if within else 'earliest'} possible day is on or before {format_day(end)}")
    if parameters["actors"]:
        who = ", ".join(escape(names.get(actor, actor)) for actor in parameters["actors"])
        maker = "this actor makes" if len(parameters["actors"]) == 1 else "one of them makes"
        pieces.append(f"involving {who} (a role in the event, or a claim {maker} about it)")
    if parameters["categories"]:
        categories = [escape(label(category).lower()) for category in parameters["categories"]]
        if len(categories) == 1:
            pieces.append(f"in the category {categories[0]}")
        else:
            pieces.append(f"in the categories {', '.join(categories[:-1])} and {categories[-1]}")
    count = f"{shown} of {total} events"
    return f"Selection: {'; '.join(pieces)} ({count})." if pieces else f"The whole article ({count})."


def date_phrase(start: pd.Timestamp, end: pd.Timestamp, precision: str, basis: str) -> str:
    """The event's date in words, honest about precision: 'From 8 to 12 July 2016'."""
    if precision == "day" or start == end:
        phrase = f"On {format_day(start)}"
    elif precision == "month":
        phrase = f"In {start:%B %Y}"
    elif precision == "range":
        if (start.year, start.month) == (end.year, end.month):
            phrase = f"From {start.day} to {format_day(end)}"
        else:
            phrase = f"From {format_day(start)} to {format_day(end)}"
    else:
        phrase = f"At some time between {format_day(start)} and {format_day(end)}"
    return phrase + (f" (date {basis})" if basis != "stated" else "")


def date_phrases(events: pd.DataFrame) -> list[str]:
    """``date_phrase`` for every event at once, formatting each distinct day once (for big timelines)."""
    codes, distinct = pd.factorize(pd.concat([events["start"], events["end"]], ignore_index=True))
    days = list(distinct)  # Timestamps boxed at once: indexing the DatetimeIndex boxes one a call, 20 times slower
    starts, ends = codes[: len(events)].tolist(), codes[len(events) :].tolist()
    phrases: dict[tuple, str] = {}
    result = []
    precisions, bases = events["date_precision"].astype(str).tolist(), events["date_basis"].astype(str).tolist()
    for key in zip(starts, ends, precisions, bases, strict=True):
        if key not in phrases:
            start, end, precision, basis = key
            phrases[key] = date_phrase(days[start], days[end], precision, basis)
        result.append(phrases[key])
    return result


@dataclass
class Citations:
    """Numbers the passages cited, in the order they are first cited, and renders the Sources list.

    With the sources' texts (``Timeline.source_texts``), a passage is a whole sentence a quote is in (a
    quote across two sentences cites both): quotes from one sentence are one source entry, which shows the
    sentence, with the words that say who speaks, and the paragraph it is in; no sentence is shown twice.
    Without the texts, a passage is the quote itself, however spaced.
    """

    sources: pd.DataFrame
    source_texts: dict[str, str] = field(default_factory=dict)
    _normalized: dict[str, SourceText] = field(default_factory=dict)  # each source's text, normalized once
    _numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    _uses: dict[int, int] = field(default_factory=dict)
    _quotes: dict[int, tuple[str, str]] = field(default_factory=dict)

    def _passages(self, source_id: str, quote: str) -> list[tuple[str, str]]:
        """(source_id, the words cited) for each whole sentence the quote is in, where the source's text is
        known (a quote across two sentences cites both, each as the one entry it is wherever cited)."""
        source = self._source_text(source_id)
        sentences = source.sentences_of(quote) if source is not None else None
        return [(source_id, sentence) for sentence in sentences or [normalize_quote(quote)]]

    def cite(self, source_id: str, quote: str) -> str:
        return self.cite_each([(source_id, quote)])

    def cite_each(self, quotes: list[tuple[str, str]]) -> str:
        """Citations of (source_id, quote) pairs, each passage once (a measure's assessment may be in the
        very sentence that reports it), in number order."""
        passages = dict.fromkeys(passage for source_id, quote in quotes for passage in self._passages(source_id, quote))
        links = {passage: self._cite(passage) for passage in passages}
        return " ".join(links[passage] for passage in sorted(links, key=self._numbers.__getitem__))  # [12] [13] [22]

    def _cite(self, passage: tuple[str, str]) -> str:
        number = self._numbers.setdefault(passage, len(self._numbers) + 1)
        self._quotes[number] = passage
        self._uses[number] = self._uses.get(number, 0) + 1
        anchor = f"cite-{number}-{self._uses[number]}"
        return f'<sup class="cite"><a id="{anchor}" href="#source-{number}">[{number}]</a></sup>'

    def __len__(self) -> int:
        return len(self._numbers)

    def sources_html(self) -> str:
        if not self._numbers:
            return '<p class="empty">No statements are cited in this selection.</p>'
        by_id = self.sources.set_index("source_id")
        items = []
        for number in sorted(self._quotes):
            source_id, quote = self._quotes[number]
            source = by_id.loc[source_id]
            paragraph = self._paragraph(source_id, quote)
            where = ", ".join(
                part
                for part in (
                    f"<cite>{text(source['title'])}</cite>",
                    text(source["publisher"]) if source["publisher"] else "",
                    format_day(source["published"]),
                    f"paragraph {paragraph}" if paragraph else "",
                )
                if part
            )
            uses = self._uses[number]
            backlinks = " ".join(
                f'<a class="back" href="#cite-{number}-{use}" '
                f'aria-label="back to citation {number}{f", use {use} of {uses}" if uses > 1 else ""}">↩</a>'
                for use in range(1, uses + 1)
            )
            items.append(f'<li id="source-{number}"><blockquote>{text(quote)}</blockquote> {where}. {backlinks}</li>')
        return '<ol class="sources">\n' + "\n".join(items) + "\n</ol>"

    def _source_text(self, source_id: str) -> SourceText | None:
        if source_id not in self.source_texts:
            return None
        if source_id not in self._normalized:
            self._normalized[source_id] = SourceText(self.source_texts[source_id], source_id)
        return self._normalized[source_id]

    def _paragraph(self, source_id: str, quote: str) -> int | None:
        source = self._source_text(source_id)
        return None if source is None else source.paragraph_of(quote)


def _fact(sentence_html: str, citation: str) -> str:
    return f'<p class="fact">{sentence_html}{citation}</p>'


def figures_sentence(rows: list) -> str:
    """The figures the article gives in the time of one event, in one sentence: 'In the time of the event
    <em>Fighting …</em>, the article reports “Hundreds” killed (recorded as at least 200, no upper bound given) and …'.

    In the time of the event, not by it: each figure's rule says what the article ties the number to.
    """
    reported = [
        f"“{text(row['qualifier'])}” {text(row['measure'])} (recorded as {text(row['bounds'])}"
        f"{', no upper bound given' if row['is_open_ended'] else ''})"
        for row in rows
    ]
    listed = reported[0] if len(reported) == 1 else f"{', '.join(reported[:-1])} and {reported[-1]}"
    title = text(rows[0]["event_title"])  # our title, not the article's words: set in italics, not quoted
    return f"In the time of the event <em>{title}</em>, the article reports {listed}."


def _figures_fact(rows: list, citations: Citations) -> str:
    return _fact(figures_sentence(rows), citations.cite_each([(row["source_id"], row["quote"]) for row in rows]))


def event_sentence(event: pd.Series) -> str:
    phrase = date_phrase(event["start"], event["end"], str(event["date_precision"]), str(event["date_basis"]))
    return f"<strong>{text(phrase)}.</strong> {text(event['summary'])}"


# Introduces a place that the event's own sentence does not name: linking it to the event is ours.
PLACE_FROM_ANOTHER_PASSAGE = "Place, inferred from another passage of the article"


# How each kind of claim is introduced to a reader (schema.CLAIM_KINDS says what each kind is).
CLAIM_HEADINGS = {"assessment": "Assessment", "effect": "Reported effect", "basis": "Basis", "remaining": "Still to be done"}


def claim_sentence(claim: pd.Series, actor_names: pd.Series) -> str:
    """Which kind of claim, by whom, and what: 'Reported effect (António Guterres): The zone “has contributed …”'.

    The statement is ours, but for the words in quotation marks, which the loader holds to the claim's
    quote and which mark every run of someone's own words it takes; its citation gives the whole sentence.
    """
    heading = CLAIM_HEADINGS.get(str(claim["kind"]), label(str(claim["kind"])))
    who = metrics.speaker(claim["actor_id"], actor_names, statement=claim["statement"])
    return f"{text(heading)} ({text(who)}): {text(claim['statement'])}"


def _more(count: int, noun: str, where: str) -> str:
    return f'<p class="more">… and {count:,} more {noun}, not listed here: {where}.</p>'


def _by_event(frame: pd.DataFrame, event_ids) -> dict[str, list[dict]]:
    """The rows about the given events, grouped by event id, in file order."""
    grouped: dict[str, list[dict]] = {}
    for record in frame[metrics.isin_text(frame["event_id"], list(event_ids))].to_dict("records"):
        grouped.setdefault(record["event_id"], []).append(record)
    return grouped


def _within_window(events: pd.DataFrame, start, end) -> str:
    """' Only 1 of them is dated wholly within the selected dates; …', or nothing when all are or no window is set."""
    if start is None and end is None:
        return ""
    inside = np.ones(len(events), dtype=bool)
    if start is not None:
        inside &= (events["start"] >= start).to_numpy()
    if end is not None:
        inside &= (events["end"] <= end).to_numpy()
    within = int(inside.sum())
    if within == len(events):
        return ""
    if within == 0:
        return " None of them is dated wholly within the selected dates: their possible dates only overlap them."
    verb = "is" if within == 1 else "are"
    others = "the other's" if len(events) - within == 1 else "the others'"
    return f" Only {within:,} of them {verb} dated wholly within the selected dates; {others} possible dates only overlap them."


def _spans_explained(events: pd.DataFrame) -> str:
    """How dates not stated are shown, said only of the kinds there are (inferred, assumed)."""
    bases = set(events["date_basis"].astype(str))
    inferred, assumed = "inferred" in bases, "assumed" in bases
    if not (inferred or assumed):
        return ""
    ways = ["an inferred date from the earliest to the latest day the article's words allow"] if inferred else []
    ways += [f"an assumed {'one' if inferred else 'date'} over the period it is placed in"] if assumed else []
    notes = " or ".join((["how it was inferred"] if inferred else []) + (["why it is assumed"] if assumed else []))
    return f"; those not stated are shown as spans ({', '.join(ways)}), and each has a note saying {notes}"


def executive_summary(timeline: Timeline, citations: Citations, window: tuple = (None, None)) -> str:
    """A few cited sentences: the span, one sentence per phase, the effects reported, the human cost, what remains.

    ``window`` is the selection's first and last day (None: open); the events it keeps may only overlap it.
    """
    events = metrics.events_in_order(timeline.events)
    if events.empty:
        return '<p class="empty">No events match this selection.</p>'
    parts = []
    source_count = events["source_id"].nunique()
    parts.append(
        f"<p>This report covers {counted(len(events), 'event')} between "
        f"{format_day(events['start'].min())} and {format_day(events['end'].max())}, drawn from "
        f"{counted(source_count, 'source')}.{_within_window(events, *window)} "
        f"Dates: {metrics.dating_phrase(events)}{_spans_explained(events)}.</p>"
    )
    phases = metrics.summarize_phases(events)
    by_id = events.set_index("event_id")
    for phase in phases.itertuples():
        first = by_id.loc[phase.event_ids[0]]
        more = f" ({phase.events:,} events in this phase.)" if phase.events > 1 else ""
        sentence = f"<em>{text(phase.label)}.</em> {text(first['summary'])}"
        parts.append(_fact(sentence, citations.cite(first["source_id"], first["quote"]) + more))
    names = timeline.actor_names()
    effects = metrics.reported_effects(timeline)
    for claim in effects.head(MAX_SUMMARY_ITEMS).to_dict("records"):
        parts.append(_fact(claim_sentence(claim, names), citations.cite(claim["source_id"], claim["quote"])))
    if len(effects) > MAX_SUMMARY_ITEMS:
        parts.append(_more(len(effects) - MAX_SUMMARY_ITEMS, "reported effects", "see the reforms table"))
    cost = metrics.human_cost(timeline)
    shown = cost.head(MAX_SUMMARY_ITEMS)
    for rows in _by_event(shown, list(dict.fromkeys(shown["event_id"]))).values():
        parts.append(_figures_fact(rows, citations))
    if len(cost) > MAX_SUMMARY_ITEMS:
        parts.append(_more(len(cost) - MAX_SUMMARY_ITEMS, "reported figures", "see the human cost table"))
    remaining = metrics.remaining_work(timeline)
    for claim in remaining.head(MAX_SUMMARY_ITEMS).to_dict("records"):
        parts.append(_fact(claim_sentence(claim, names), citations.cite(claim["source_id"], claim["quote"])))
    if len(remaining) > MAX_SUMMARY_ITEMS:
        parts.append(_more(len(remaining) - MAX_SUMMARY_ITEMS, "statements of what remains", "see the tables"))
    return "\n".join(parts)


def phase_sections(timeline: Timeline, citations: Citations) -> dict[str, str]:
    """One HTML section body per phase with events: each event, its figures and the claims about it.

    A phase with more than ``MAX_EVENTS_PER_PHASE`` events lists its first ones and says how many
    more there are: a report of a hundred thousand events summarizes, and the data files list all.
    """
    events = metrics.events_in_order(timeline.events)
    names = timeline.actor_names()
    by_id = events.set_index("event_id")
    cost = metrics.human_cost(timeline)
    sections: dict[str, str] = {}
    for phase in metrics.summarize_phases(events).itertuples():
        paragraphs = [
            f'<p class="span">{format_day(phase.start)} – {format_day(phase.end)}; {counted(phase.events, "event")}.</p>'
        ]
        shown = list(phase.event_ids[:MAX_EVENTS_PER_PHASE])
        figures, claims = _by_event(cost, shown), _by_event(timeline.claims, shown)
        notes_shown: set[str] = set()
        for event in by_id.loc[shown].reset_index().to_dict("records"):
            paragraphs.append(_fact(event_sentence(event), citations.cite(event["source_id"], event["quote"])))
            if event["location_quote"]:
                place = f"{PLACE_FROM_ANOTHER_PASSAGE}: {text(event['location'])}."
                paragraphs.append(_fact(place, citations.cite(event["source_id"], event["location_quote"])))
            if event["date_basis"] != "stated":
                note = event["date_note"]
                said = "the same as for the event above." if note in notes_shown else text(note)
                notes_shown.add(note)
                how = "How the date was inferred" if event["date_basis"] == "inferred" else "Why the date is assumed"
                paragraphs.append(f'<p class="date-note">{how}: {said}</p>')
            if event["event_id"] in figures:
                paragraphs.append(_figures_fact(figures[event["event_id"]], citations))
            for claim in claims.get(event["event_id"], []):
                paragraphs.append(_fact(claim_sentence(claim, names), citations.cite(claim["source_id"], claim["quote"])))
        if phase.events > len(shown):
            paragraphs.append(
                _more(
                    phase.events - len(shown), "events in this phase", "every event is in the report's CSV and TimelineJS files"
                )
            )
        sections[phase.phase] = "\n".join(paragraphs)
    return sections
