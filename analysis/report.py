"""The parts of one report, built from the parameters, for the report notebook to display.

The notebook's cells each show one part (``report.summary()``, ``report.chart("timeline")``…);
everything is computed here, so the notebook holds no logic and the text is numbered consistently.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from . import metrics
from .errors import ParameterError
from .load import load_timeline
from .narrative import Citations, executive_summary, format_day, phase_sections, selection_sentence, text
from .parallel import forked_map
from .parameters import DEFAULT_TITLE, check_parameters
from .schema import label

CHART_NAMES = ("timeline", "human_cost", "actors", "reforms")
TABLE_NAMES = ("events", "human_cost", "reforms", "remaining")
MAX_TABLE_ROWS = 50


@dataclass(frozen=True)
class Fragment:
    """A piece of HTML that Jupyter displays as such (and nbconvert carries into the page)."""

    html: str

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html

    def __repr__(self) -> str:  # the text/plain twin of every output: short, not a second copy
        return f"<report part: {len(self.html):,} characters of HTML>"


class Report:
    """One report variant: the filtered timeline, its cited narrative, charts and tables."""

    def __init__(
        self,
        title: str = "",
        start: str | None = None,
        end: str | None = None,
        actors: list[str] | tuple[str, ...] = (),
        categories: list[str] | tuple[str, ...] = (),
        data_dir: str | None = None,
        dates: str = "overlap",
    ):
        """Build every part of the report.

        Raises:
            ParameterError: a date that is not YYYY-MM-DD, start after end, or an unknown actor or category.
            TimelineError: the timeline under ``data_dir`` is invalid.
        """
        chosen = {"title": title, "start": start, "end": end, "dates": dates}
        checked = check_parameters({**chosen, "actors": list(actors), "categories": list(categories)})
        full = load_timeline(data_dir)
        self.title = title or DEFAULT_TITLE
        self.parameters = {
            "start": None if checked["start"] is None else pd.Timestamp(checked["start"]),
            "end": None if checked["end"] is None else pd.Timestamp(checked["end"]),
            "dates": checked["dates"],
            "actors": checked["actors"],
            "categories": checked["categories"],
        }
        self.full = full
        self.timeline = metrics.filter_timeline(full, **self.parameters)  # which also checks the actors exist
        self.citations = Citations(full.sources, full.source_texts)
        self._summary = executive_summary(self.timeline, self.citations, (self.parameters["start"], self.parameters["end"]))
        self._sections = phase_sections(self.timeline, self.citations)
        self._phases = metrics.summarize_phases(self.timeline.events)

    # --- parts, in reading order -------------------------------------------------------------

    def header(self) -> Fragment:
        """Title, what the report covers, the selection, and a table of contents."""
        source = self.full.sources.iloc[0]
        selection = self._selection_text()
        contents = [("summary", "Summary"), ("charts", "Charts")]
        contents += [(f"phase-{row.phase}", row.label) for row in self._phases.itertuples()]
        contents += [("tables", "Tables"), ("method", "Method"), ("sources", "Sources")]
        toc = "".join(f'<li><a href="#{anchor}">{text(name)}</a></li>' for anchor, name in contents)
        return Fragment(
            f'<header class="report-header"><h1 id="top">{text(self.title)}</h1>'
            f'<p class="subtitle">A source-cited timeline of the UN News article '
            f"“{text(source['title'])}” ({format_day(source['published'])}).</p>"
            f'<p class="selection">{selection}</p>'
            f'<nav class="toc"><h2 class="toc-title">Contents</h2><ol>{toc}</ol></nav></header>'
        )

    def summary(self) -> Fragment:
        return Fragment(f'<section id="summary"><h2>Summary</h2>\n{self._summary}\n</section>')

    def charts(self, share: bool = True) -> Fragment:
        """Every chart under one heading, so the heading never stands alone at the foot of a page.

        With ``share``, a forked process draws the second half of them meanwhile, where a second
        CPU allows (see :mod:`analysis.parallel`); the page is the same either way.
        """
        drawn = forked_map(self._chart_html, CHART_NAMES) if share else map(self._chart_html, CHART_NAMES)
        figures = "\n".join(drawn)
        return Fragment(f'<section id="charts"><h2>Charts</h2>\n{figures}\n</section>')

    def chart(self, name: str) -> Fragment:
        """One chart as an embedded PNG, named by its title; its description, generated from the data, is its caption.

        A chart with nothing to show is one line saying so, not a figure. A chart drawn in parts, a
        page each (a long timeline), is a figure per part.

        The alt text is the title, not the description: a screen reader then reads the description
        once (the caption), and print shows it under the chart.
        """
        from . import charts

        plotters = {
            "timeline": lambda timeline: charts.plot_timeline(timeline, (self.parameters["start"], self.parameters["end"])),
            "human_cost": charts.plot_human_cost,
            "actors": charts.plot_actor_matrix,
            "reforms": charts.plot_reform_tracker,
        }
        if name not in plotters:
            raise ParameterError(f"unknown chart {name!r}; known: {', '.join(CHART_NAMES)}")
        chart = plotters[name](self.timeline)
        if chart.empty:  # a figure would only repeat the sentence, three times
            return Fragment(f'<p class="empty" id="chart-{name}">{text(chart.title)}.</p>')
        figures = []
        for number, part in enumerate((chart, *chart.continued), start=1):  # a part a page, where it takes more
            png = base64.b64encode(charts.to_png(part)).decode("ascii")
            figures.append(
                f'<figure class="chart" id="chart-{name}{"" if number == 1 else f"-{number}"}">'
                # alt is an attribute: escaped, but never wrapped in <bdi> as text() does for body text
                f'<img src="data:image/png;base64,{png}" alt="{html.escape("Chart: " + part.title, quote=True)}">'
                f"<figcaption>{text(part.alt_text)}</figcaption></figure>"
            )
        return Fragment("\n".join(figures))

    def _chart_html(self, name: str) -> str:
        return self.chart(name).html

    def sections(self) -> Fragment:
        """Every phase of the story, each as a section of cited paragraphs."""
        if self._phases.empty:
            return Fragment("")  # the summary says that no events match: once is enough
        parts = [
            f'<section id="phase-{row.phase}"><h2>{text(row.label)}</h2>\n{self._sections[row.phase]}\n</section>'
            for row in self._phases.itertuples()
        ]
        return Fragment("\n".join(parts))

    def table(self, name: str) -> Fragment:
        """A data table, escaped: events, human_cost, reforms or remaining."""
        builders = {
            "events": self._events_table,
            "human_cost": self._cost_table,
            "reforms": self._reforms_table,
            "remaining": self._remaining_table,
        }
        if name not in builders:
            raise ParameterError(f"unknown table {name!r}; known: {', '.join(TABLE_NAMES)}")
        caption, frame, quotes_of = builders[name]()
        heading = '<h2 id="tables">Tables</h2>' if name == TABLE_NAMES[0] else ""
        if frame.empty:
            return Fragment(f'{heading}<h3>{text(caption)}</h3><p class="empty">Nothing in this selection.</p>')
        note = ""
        if len(frame) > MAX_TABLE_ROWS:  # the data files beside the report hold every row
            note = f'<p class="more">The first {MAX_TABLE_ROWS} of {len(frame):,} rows are shown.</p>'
            frame = frame.head(MAX_TABLE_ROWS)
        # Every cell escaped here (the headers are ours), so that the last column can hold the citations' links.
        cells = frame.map(lambda value: "" if pd.isna(value) else text(value))
        cells["Source"] = [self.citations.cite_each(row) for row in quotes_of(len(frame))]
        body = cells.to_html(index=False, escape=False, border=0, classes=["data", name])
        return Fragment(f'{heading}<h3>{text(caption)}</h3><div class="table-scroll">{body}</div>{note}')

    def method(self) -> Fragment:
        phases = "; ".join(f"{label_} ({', '.join(categories)})" for label_, categories in metrics.PHASES.values())
        return Fragment(
            '<section id="method"><h2>Method</h2>'
            "<p>Every event, actor, figure and claim comes from the article and carries the sentence it "
            "comes from, checked word for word against the article's text; where that sentence does not "
            "name the place, the place is inferred from another passage that does, which is cited. "
            "Each date is stored as a "
            "first and a last day: the article's own where it gives one; bounds inferred from its "
            "wording where it implies one (“over the last five months”, a round figure, gives "
            "approximate bounds), with the inference explained; and where it gives none, the period "
            "of the work the event is reported with, marked as assumed, with a note saying why. Vague "
            "numbers keep their uncertainty: “Hundreds” is recorded as at least 200 (the least the "
            "plural allows) with no upper bound, “more than 200” as at least 201; a number is shown with "
            "the event in whose time the article gives it, not as caused by it. "
            "Claims (assessments, effects, what remains to be done), event titles and summaries and date notes are "
            "in our words, "
            "but for what is in quotation marks: the article's words, checked word for word, and every run "
            "of four words or more that the article quotes from someone is among them. Each claim follows "
            "its speaker and cites the article's own sentence. Where one sentence names several aims or "
            "measures (the five months of work “to protect civilians, better plan and prepare its response "
            "to crisis situations and increase staff safety and security”), each is an event of its own, "
            "citing that sentence. "
            "Statements the article makes in its own voice are attributed to the article, and so are "
            "words it quotes without saying whose they are. Square brackets mark where our words "
            "correct the article's (“revise[d]”). Nothing "
            "the article does not state is added beyond these marked inferences and assumptions.</p>"
            f"<p>Phases are derived from each event's category: {text(phases)}.</p></section>"
        )

    def sources(self) -> Fragment:
        return Fragment(f'<section id="sources"><h2>Sources</h2>\n{self.citations.sources_html()}\n</section>')

    # --- helpers -----------------------------------------------------------------------------

    def _selection_text(self) -> str:
        names = self.full.actor_names()
        return selection_sentence(self.parameters, names, len(self.timeline.events), len(self.full.events), escape=text)

    # Each table's builder gives its caption, its rows, and a function giving, for its first n rows, the
    # (source_id, quote) pairs each rests on: a large selection shows only the first rows.

    def _events_table(self) -> tuple[str, pd.DataFrame, Callable]:
        events = metrics.events_in_order(self.timeline.events)
        frame = pd.DataFrame(
            {
                "Event": events["title"],
                "Category": events["category"].astype(str).map(label),
                "Earliest – latest day": events["start"].dt.strftime("%Y-%m-%d") + " – " + events["end"].dt.strftime("%Y-%m-%d"),
                "Dating": events["date_precision"].astype(str).map(label) + ", " + events["date_basis"].astype(str),
                "Article's words the date rests on": events["date_text"],
                "Article's words for the place": events["location"].where(
                    events["location_quote"] == "", events["location"] + " (inferred from another passage)"
                ),
            }
        )

        def quotes_of(count: int) -> list[list[tuple[str, str]]]:  # its sentence, and the passage naming an inferred place
            places = zip(_pairs(events, count), events["location_quote"].head(count).tolist(), strict=True)
            return [[pair, *([(pair[0], place)] if place else [])] for pair, place in places]

        return "Events, in date order", frame, quotes_of

    def _cost_table(self) -> tuple[str, pd.DataFrame, Callable]:
        cost = metrics.human_cost(self.timeline)
        frame = pd.DataFrame(
            {
                "Event": cost["event_title"],
                "Measure": cost["measure"],
                "Article's words": cost["qualifier"],
                "Recorded as": cost["bounds"],
                "How": cost["rule"],
            }
        )
        return "Reported human cost", frame, lambda count: [[pair] for pair in _pairs(cost, count)]

    def _reforms_table(self) -> tuple[str, pd.DataFrame, Callable]:
        tracker = metrics.reform_tracker(self.timeline)

        def quotes_of(count: int) -> list[list[tuple[str, str]]]:  # its own sentence, who did it, what is said of it
            shown = tracker.head(count)
            ids = shown["event_id"].tolist()
            events = self.timeline.events
            events = events[metrics.isin_text(events["event_id"], ids)]
            source_of = dict(zip(events["event_id"].tolist(), events["source_id"].tolist(), strict=True))
            said_of: dict[str, list[tuple[str, str]]] = {}
            for rows in (metrics.tracker_implementers(self.timeline), metrics.tracker_claims(self.timeline)):
                rows = rows[metrics.isin_text(rows["event_id"], ids)]
                for event_id, pair in zip(rows["event_id"].tolist(), _pairs(rows, len(rows)), strict=True):
                    said_of.setdefault(event_id, []).append(pair)
            own = zip(ids, shown["quote"].tolist(), strict=True)
            return [[(source_of[event_id], quote), *said_of.get(event_id, [])] for event_id, quote in own]

        frame = pd.DataFrame(
            {
                "Area": tracker["area"].map(label),
                "Measure": tracker["title"],
                "Carried out by": tracker["implemented_by"],
                "The article reports": tracker["status"].str.capitalize(),
                "Reported effect or assessment, by whom": tracker["reported_effect"].replace("", "not stated"),
            }
        )
        return "Reforms and measures, by area", frame, quotes_of

    def _remaining_table(self) -> tuple[str, pd.DataFrame, Callable]:
        remaining = metrics.remaining_work(self.timeline)
        names = self.full.actor_names()
        who = [
            metrics.speaker(actor, names, starts_a_sentence=True, statement=statement)
            for actor, statement in zip(remaining["actor_id"], remaining["statement"], strict=True)
        ]
        frame = pd.DataFrame({"Who": who, "What remains to be done": remaining["statement"]})
        return "What remains to be done", frame, lambda count: [[pair] for pair in _pairs(remaining, count)]


def _pairs(rows: pd.DataFrame, count: int) -> list[tuple[str, str]]:
    """The (source_id, quote) of the first ``count`` rows, taken as lists (iterating Arrow text is slow)."""
    return list(zip(rows["source_id"].head(count).tolist(), rows["quote"].head(count).tolist(), strict=True))


def build_report(**parameters) -> Report:
    """The report for the given parameters (see :class:`Report`)."""
    return Report(**parameters)
