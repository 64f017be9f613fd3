"""Each chart draws the marks its data calls for, says what it shows, and draws hostile text literally."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Annotation, Text

import analysis
from analysis import chart_layout, charts, load_timeline, metrics
from analysis.load import Timeline
from analysis.schema import TABLES_BY_NAME

SOURCE = "un-news-2017-04-19"
PLOTS = (charts.plot_timeline, charts.plot_human_cost, charts.plot_actor_matrix, charts.plot_reform_tracker)


# --- helpers -----------------------------------------------------------------------------------


def typed(table: str, rows: list[dict]) -> pd.DataFrame:
    """A frame with the loader's dtypes, built from the schema; absent fields are empty text."""
    spec = TABLES_BY_NAME[table]
    raw = pd.DataFrame(rows, columns=list(spec.field_names), dtype=object).fillna("")
    columns = {}
    for field in spec.fields:
        column = raw[field.name]
        if field.enum:
            columns[field.name] = pd.Categorical(column.where(column != ""), categories=list(field.values))
        elif field.type == "date":
            columns[field.name] = pd.to_datetime(column).astype("datetime64[ns]")
        elif field.type == "integer":
            columns[field.name] = pd.array([None if v == "" else int(v) for v in column], dtype="Int64")
        else:
            columns[field.name] = column.astype(str)
    return pd.DataFrame(columns)


def event(event_id: str, start: str, end: str | None = None, **fields) -> dict:
    end = end or start
    row = {
        "event_id": event_id,
        "title": event_id,
        "summary": "s",
        "category": "reform",
        "area": "posture",
        "start": start,
        "end": end,
        "date_precision": "day" if start == end else "range",
        "date_basis": "stated",
        "source_id": SOURCE,
        "quote": "q",
    }
    return row | fields


def tiny(events, actors=(), event_actors=(), figures=(), claims=(), source_title="A title") -> Timeline:
    source = {"source_id": SOURCE, "title": source_title, "published": "2017-04-19", "publisher": "UN News"}
    source |= {"kind": "news-article", "sha256": "0" * 64}
    return Timeline(
        sources=typed("sources", [source]),
        events=typed("events", list(events)),
        actors=typed("actors", [{"kind": "un-body", "source_id": SOURCE, "quote": "q"} | a for a in actors]),
        event_actors=typed("event_actors", list(event_actors)),
        figures=typed("figures", [{"rule": "r", "source_id": SOURCE, "quote": "q"} | f for f in figures]),
        claims=typed("claims", [{"source_id": SOURCE, "quote": "q"} | c for c in claims]),
    )


def texts(chart: charts.Chart) -> list[Text]:
    return [t for t in chart.figure.findobj(Text) if t.get_text()]


def all_text(chart: charts.Chart) -> str:
    """Every string drawn in the figure, wrapped lines joined back with spaces."""
    return " | ".join(t.get_text().replace("\n", " ") for t in texts(chart))


def with_gid(chart: charts.Chart, gid: str, kind=object) -> list:
    return [a for a in chart.figure.findobj(lambda a: a.get_gid() == gid) if isinstance(a, kind)]


def drawn_boxes(chart: charts.Chart):
    """Window extents (pixels) of the figure's own texts after a real Agg draw, tick labels aside."""
    canvas = FigureCanvasAgg(chart.figure)
    with matplotlib.rc_context({"text.parse_math": False}):
        canvas.draw()
    renderer = canvas.get_renderer()
    ticks = {id(t) for ax in chart.figure.axes for t in ax.get_xticklabels() + ax.get_yticklabels()}
    return [(t, t.get_window_extent(renderer)) for t in texts(chart) if id(t) not in ticks and t.get_visible()]


@pytest.fixture(scope="module")
def real() -> Timeline:
    return load_timeline()


@pytest.fixture(scope="module")
def crisis(real) -> Timeline:
    return metrics.filter_timeline(real, start="2016-07-01", end="2016-07-31")


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """No chart may leave a figure registered in pyplot's global state."""
    assert plt.get_fignums() == []
    yield
    assert plt.get_fignums() == []


# --- timeline ----------------------------------------------------------------------------------


def test_timeline_draws_one_span_per_event_hatched_where_not_stated(real):
    chart = charts.plot_timeline(real)
    spans = with_gid(chart, "event-span", Rectangle)
    assert len(spans) == 13
    assert sum(bool(s.get_hatch()) for s in spans) == (real.events["date_basis"] != "stated").sum() == 12
    assert with_gid(chart, "event-day") == []
    assert "13 events" in chart.title
    assert "1 dated as the article states, 6 inferred from the article's wording, 6 assumed." in chart.alt_text
    assert "8 events share the same window, 1 November 2016 – 19 April 2017" in chart.alt_text


def test_timeline_span_runs_from_first_to_last_possible_day(real):
    chart = charts.plot_timeline(real)
    juba = min(with_gid(chart, "event-span", Rectangle), key=lambda r: r.get_x())
    assert juba.get_x() == matplotlib.dates.date2num(pd.Timestamp("2016-07-08"))
    assert juba.get_width() == 5  # 8 to 12 July inclusive
    assert not juba.get_hatch()  # the article states these dates


def test_a_timeline_of_one_event_says_the_event(crisis):
    july = (pd.Timestamp("2016-07-01"), pd.Timestamp("2016-07-31"))
    fighting = metrics.filter_timeline(crisis, start=july[0], end=july[1], dates="within")
    assert charts.plot_timeline(fighting, july).title == "When the event happened, July 2016"
    assert charts.plot_timeline(crisis, july).title == "When the 2 events happened, July 2016 – April 2017"


def test_timeline_axis_is_cut_to_the_selection_and_arrows_mark_what_runs_beyond(crisis):
    # July 2016: the fighting is not squeezed beside the investigation, which runs on to April 2017.
    chart = charts.plot_timeline(crisis, (pd.Timestamp("2016-07-01"), pd.Timestamp("2016-07-31")))
    ax = chart.figure.axes[0]
    assert ax.get_xlim() == (
        matplotlib.dates.date2num(pd.Timestamp("2016-07-01")),
        matplotlib.dates.date2num(pd.Timestamp("2016-08-01")),
    )
    (arrow,) = with_gid(chart, "event-beyond", Line2D)
    assert arrow.get_marker() == ">" and arrow.get_xdata()[0] == ax.get_xlim()[1]
    assert chart.alt_text.endswith("The axis is cut to the months of the selection (to 31 July 2016): 1 event runs beyond it.")
    note = "The axis is cut to the months of the selection (to 31 Jul 2016); an arrow marks a bar that runs beyond it."
    assert note in all_text(chart)
    assert "8 Jul 2016 – 19 Apr 2017 · approximate, inferred" in all_text(chart)  # the row still gives its whole span


def test_a_selection_within_months_is_shown_on_whole_months_and_said_so(real):
    # From 15 March 2017: the axis starts on 1 March, so the follow-up mission (March) is drawn whole, not cut.
    shown = metrics.filter_timeline(real, start="2017-03-15")
    chart = charts.plot_timeline(shown, (pd.Timestamp("2017-03-15"), None))
    assert chart.figure.axes[0].get_xlim()[0] == matplotlib.dates.date2num(pd.Timestamp("2017-03-01"))
    beyond = len(with_gid(chart, "event-beyond", Line2D))
    starts_before = int((shown.events["start"] < pd.Timestamp("2017-03-01")).sum())
    assert beyond == starts_before == 9  # the investigation and the eight measures of the five months
    cut = "The axis is cut to the months of the selection (from 1 March 2017)"
    assert chart.alt_text.endswith(f"{cut}: 9 events run beyond it.")


def test_timeline_axis_of_an_open_or_wider_selection_is_not_cut(crisis):
    for window in [(None, None), (pd.Timestamp("2016-01-01"), pd.Timestamp("2018-12-31"))]:
        chart = charts.plot_timeline(crisis, window)
        assert with_gid(chart, "event-beyond") == [] and "The axis is cut" not in chart.alt_text
        assert chart.figure.axes[0].get_xlim()[1] == matplotlib.dates.date2num(pd.Timestamp("2017-05-01"))


def test_timeline_labels_every_event_its_dates_and_every_phase(real):
    chart = charts.plot_timeline(real)
    drawn = all_text(chart)
    for title in real.events["title"]:
        assert title in drawn
    for label in metrics.summarize_phases(real.events)["label"]:
        assert label in drawn
    assert "8–12 Jul 2016 · range, stated" in drawn
    assert "Mar 2017 · month, inferred" in drawn
    assert "Nov 2016 – 19 Apr 2017 · approximate, assumed" in drawn
    assert "Date inferred or assumed (hatched)" in drawn and "Date stated (solid)" in drawn


def test_timeline_filter_draws_fewer_marks(crisis):
    chart = charts.plot_timeline(crisis)
    assert len(with_gid(chart, "event-span")) == len(crisis.events) == 2
    assert "2 events" in chart.title and "2 events" in chart.alt_text


def test_timeline_single_days_are_markers_open_when_not_stated():
    timeline = tiny(
        [
            event("stated-day", "2017-01-05"),
            event("inferred-day", "2017-02-05", date_basis="inferred", date_note="n"),
            event("assumed-day", "2017-02-15", date_basis="assumed", date_note="n"),
            event("a-range", "2017-01-01", "2017-01-31", date_precision="month"),
        ]
    )
    chart = charts.plot_timeline(timeline)
    days = with_gid(chart, "event-day", Line2D)
    assert len(days) == 3 and len(with_gid(chart, "event-span")) == 1
    faces = sorted(str(day.get_markerfacecolor()) for day in days)
    assert faces == sorted([chart_layout.CATEGORY_STYLES["reform"][0], "white", "white"])
    assert "Single day (open: not stated)" in all_text(chart)
    assert "2 dated as the article states, 1 inferred from the article's wording, 1 assumed." in chart.alt_text


def test_timeline_labels_do_not_overlap_and_stay_on_the_page(real):
    chart = charts.plot_timeline(real)
    boxes = drawn_boxes(chart)
    width, height = chart.figure.bbox.width, chart.figure.bbox.height
    for _, box in boxes:
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height, box
    for index, (first, one) in enumerate(boxes):
        for second, other in boxes[index + 1 :]:
            assert not one.overlaps(other), (first.get_text(), second.get_text())


def test_timeline_height_grows_with_rows(real, crisis):
    full, small = charts.plot_timeline(real).figure, charts.plot_timeline(crisis).figure
    assert full.get_figwidth() == small.get_figwidth() == chart_layout.WIDTH_IN
    assert full.get_figheight() > small.get_figheight()


def test_every_chart_of_the_article_prints_legibly_in_one_part(real):
    for plot in (charts.plot_timeline, charts.plot_human_cost, charts.plot_actor_matrix, charts.plot_reform_tracker):
        chart = plot(real)
        assert chart.continued == () and chart_layout.prints_legibly(chart), plot.__name__
        # prints_legibly scales SMALL_PT: no text may be drawn smaller than that (tick labels included).
        FigureCanvasAgg(chart.figure).draw()
        sizes = {t.get_fontsize() for t in chart.figure.findobj(Text) if t.get_text() and t.get_visible()}
        assert min(sizes) == chart_layout.SMALL_PT, plot.__name__


def test_print_size_is_the_one_the_report_css_gives():
    css = (Path(analysis.__file__).parent / "templates" / "report" / "report.css").read_text(encoding="utf-8")
    page = re.search(r"@page \{[^}]*margin: (\d+)mm (\d+)mm", css)
    height = re.search(r"figure\.chart img \{[^}]*max-height: (\d+)mm", css)
    assert page and height
    assert pytest.approx((210 - 2 * int(page.group(2))) / 25.4) == chart_layout.PRINT_WIDTH_IN  # A4 less its sides
    assert pytest.approx(int(height.group(1)) / 25.4) == chart_layout.PRINT_HEIGHT_IN


def long_timeline(count: int) -> Timeline:
    """``count`` events with two-line titles, in two phases, each day its own."""
    title = "An event whose title is long enough to need two lines of the label column"
    kinds = ["violence", "reform"]
    return tiny(
        event(f"e{i:02d}", f"2016-{1 + i // 28:02d}-{1 + i % 28:02d}", title=f"{title} {i}", category=kinds[i * 2 // count])
        for i in range(count)
    )


def test_a_timeline_too_tall_for_a_page_is_drawn_in_parts_each_printing_legibly():
    chart = charts.plot_timeline(long_timeline(40))
    parts = (chart, *chart.continued)
    assert len(parts) >= 2
    drawn = [t.get_text().replace("\n", " ") for part in parts for t in texts(part) if t.get_text().startswith("An event")]
    title = "An event whose title is long enough to need two lines of the label column"
    assert drawn == [f"{title} {i}" for i in range(40)]  # in date order, part after part
    sizes = [len([t for t in texts(part) if t.get_text().startswith("An event")]) for part in parts]
    assert max(sizes) - min(sizes) <= 1  # evened out: no page for a row or two left over
    for number, part in enumerate(parts, start=1):
        assert chart_layout.prints_legibly(part)
        assert part.title == f"When the 40 events happened, January 2016 – February 2016 (part {number} of {len(parts)})"
        assert part.alt_text.count(f"Part {number} of {len(parts)} of the timeline") == 1
        assert part.figure.axes[0].get_xlim() == chart.figure.axes[0].get_xlim()  # one date axis for all
    assert chart.alt_text.startswith("Timeline of 40 events")  # the first part also describes the whole
    headings = [t.get_text() for part in parts[1:] for t in texts(part) if t.get_text().endswith("(continued)")]
    assert headings and all(" · 20 events (continued)" in heading for heading in headings)


def test_a_timeline_that_fits_a_page_is_one_part():
    chart = charts.plot_timeline(long_timeline(12))
    assert chart.continued == () and "part" not in chart.title and chart_layout.prints_legibly(chart)


def test_a_tracker_too_tall_to_print_legibly_counts_measures_instead():
    area = "protection-of-civilians"
    measures = [event(f"m{i:02d}", "2016-11-01", "2017-04-19", category="reform", area=area) for i in range(24)]
    chart = charts.plot_reform_tracker(tiny(measures))  # fewer than MAX_TRACKER_MEASURES
    assert "Too many measures for a row each on a page" in all_text(chart)
    assert chart_layout.prints_legibly(chart)


def test_timeline_of_100000_events_is_an_aggregate_drawn_quickly():
    n = 100_000
    rng = np.random.default_rng(7)
    starts = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D")
    events = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "title": [f"Event {i}" for i in range(n)],
            "category": np.array(["violence", "reform", "assessment"])[rng.integers(0, 3, n)],
            "start": starts,
            "end": starts,
            "date_basis": np.where(rng.random(n) < 0.25, "inferred", "stated"),
            "source_id": SOURCE,
        }
    )
    events["category"] = events["category"].astype(pd.CategoricalDtype(list(charts.CATEGORIES)))
    timeline = replace(tiny([event("x", "2017-01-01")]), events=events)
    chart = charts.plot_timeline(timeline)
    png = charts.to_png(chart, dpi=72)
    assert png.startswith(b"\x89PNG")
    assert len(texts(chart)) < 200
    assert "100,000 events" in chart.title and "per month" in chart.title
    assert "100,000 events" in chart.alt_text and "busiest month" in chart.alt_text
    bars = [p for p in chart.figure.findobj(Rectangle) if str(p.get_gid()).startswith("count-")]
    assert sum(bar.get_height() for bar in bars) == n
    assert with_gid(chart, "event-span") == []


# --- human cost --------------------------------------------------------------------------------


def test_human_cost_draws_open_ended_figures_as_arrows_to_the_edge(real):
    chart = charts.plot_human_cost(real)
    arrows = with_gid(chart, "figure-open-ended", Annotation)
    assert len(arrows) == 2
    assert with_gid(chart, "figure-range") == [] and with_gid(chart, "figure-best") == []
    ax = chart.figure.axes[0]
    assert sorted(arrow.xyann[0] for arrow in arrows) == [200, 201]  # each starts at its lower bound
    for arrow in arrows:
        assert arrow.xy[0] == ax.get_xlim()[1]  # and runs off to the edge: no upper end drawn
        assert arrow.arrow_patch.get_arrowstyle().__class__.__name__ == "CurveFilledB"  # a head at the open end
    assert ax.get_xlabel() == "people (lower bound)"


def test_human_cost_writes_the_articles_words_and_bounds(real):
    chart = charts.plot_human_cost(real)
    drawn = all_text(chart)
    assert "“Hundreds”" in drawn and "“more than 200”" in drawn
    assert "at least 200, no upper bound given" in drawn and "at least 201, no upper bound given" in drawn
    assert "“Hundreds” (at least 200, no upper bound given)" in chart.alt_text
    # In the time of the fighting: the article does not say the fighting killed them.
    assert "In the time of: Fighting between the SPLA and the SPLM/A-IO" in drawn
    assert "“more than 200” (at least 201, no upper bound given)" in chart.alt_text
    # A lower bound is never a bare number on the bar: "201" would read as a count.
    labels = [t.get_text() for t in chart.figure.axes[0].texts if t.get_text()]  # the arrows are empty annotations
    assert labels == ["at least 200", "at least 201"]
    assert chart.alt_text.startswith("2 reported figures, as lower bounds, never as exact counts:")


def test_human_cost_bounded_figure_is_a_range_with_its_best_estimate():
    timeline = tiny(
        [event("clash", "2017-01-05", category="violence", area="")],
        figures=[{"figure_id": "f", "event_id": "clash", "measure": "killed", "low": 10, "best": 15, "high": 20}],
    )
    chart = charts.plot_human_cost(timeline)
    (bar,) = with_gid(chart, "figure-range", Rectangle)
    assert (bar.get_x(), bar.get_width()) == (10, 10)
    (best,) = with_gid(chart, "figure-best", Line2D)
    assert list(best.get_xdata()) == [15]
    assert with_gid(chart, "figure-open-ended") == []
    assert chart.figure.axes[0].get_xlabel() == "people"
    assert "as ranges or lower bounds" in chart.alt_text


def test_human_cost_of_many_figures_is_their_spread_per_measure():
    lows = list(range(10, 210, 10))  # 20 figures of people killed, lower bounds 10 to 200, open-ended
    figures = [
        {"figure_id": f"f{i}", "event_id": "clash", "measure": "killed", "low": low, "qualifier": "more than x"}
        for i, low in enumerate(lows)
    ]
    chart = charts.plot_human_cost(tiny([event("clash", "2017-01-05", category="violence", area="")], figures=figures))
    (spread,) = with_gid(chart, "cost-spread", Line2D)
    assert list(spread.get_xdata()) == [10, 200]
    assert "20 reported figures, summarized per measure" in chart.alt_text and "median 105" in chart.alt_text
    assert "20 figures, 20 open-ended" in all_text(chart)
    assert with_gid(chart, "figure-open-ended") == []  # no arrow per figure


def test_human_cost_without_figures_says_so(real):
    chart = charts.plot_human_cost(metrics.filter_timeline(real, categories=["reform"]))
    assert "No figures reported in this selection" in all_text(chart)
    assert with_gid(chart, "figure-open-ended") == []


# --- actors x events ---------------------------------------------------------------------------


def test_actor_matrix_marks_each_role_with_its_own_shape(real):
    chart = charts.plot_actor_matrix(real)
    drawn = {role: with_gid(chart, f"role-{role}", Line2D) for role in chart_layout.ROLE_STYLES}
    counts = real.event_actors["role"].astype(str).value_counts()
    for role, lines in drawn.items():
        assert sum(len(line.get_xdata()) for line in lines) == counts.get(role, 0), role
    markers = {lines[0].get_marker() for lines in drawn.values() if lines}
    assert len(markers) == len([lines for lines in drawn.values() if lines])
    # The article names nobody for the weapons-free zone or the work on staff safety: 11 events have
    # rows, and the other 2 are said apart.
    assert chart.title.endswith("10 actors, 11 of the 13 events")
    assert "most involved: UNMISS, 6 events" in chart.alt_text
    assert chart.alt_text.startswith("10 actors have a role in 11 of the 13 events;")
    assert chart.alt_text.endswith("The article names nobody with a role in 2 events.")
    assert "The article names nobody with a role in 2 events." in all_text(chart)  # under the title


def test_actor_matrix_counts_every_event_when_each_names_an_actor(real):
    crisis = metrics.filter_timeline(real, "2016-07-01", "2016-07-31", [], [])
    chart = charts.plot_actor_matrix(crisis)
    assert chart.title.endswith("3 actors, 2 events")  # the fighting, and the investigation that began with it
    assert "of the" not in chart.alt_text and "names no actor" not in chart.alt_text


def test_actor_matrix_prefers_short_names_and_labels_every_role(real):
    drawn = all_text(charts.plot_actor_matrix(real))
    assert "UNMISS" in drawn and "United Nations peacekeeping mission in South Sudan" not in drawn
    assert "Department of Field Support" in drawn
    for role in ("Party", "Author", "Recipient", "Leader", "Implementer", "Subject"):
        assert role in drawn


def test_actor_matrix_labels_are_whole_and_do_not_overlap(real):
    chart = charts.plot_actor_matrix(real)
    boxes = [(t, box) for t, box in drawn_boxes(chart) if t.get_rotation() == 0]
    width, height = chart.figure.bbox.width, chart.figure.bbox.height
    for _, box in drawn_boxes(chart):
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height, box
    for index, (first, one) in enumerate(boxes):
        for second, other in boxes[index + 1 :]:
            assert not one.overlaps(other), (first.get_text(), second.get_text())
    upright = {t.get_text().replace("\n", " ") for t, _ in boxes}
    assert set(real.events["title"]) <= upright  # every event title across, whole
    rotated = sorted((t for t, _ in drawn_boxes(chart) if t.get_rotation() == 45), key=lambda t: t.get_position())
    assert [t.get_text().replace("\n", " ") for t in rotated][:3] == ["UNMISS", "António Guterres", "Nikki Haley"]
    assert len(rotated) == 10 and not any(t.get_text().endswith("…") for t in rotated)
    steps = np.diff([t.get_position()[0] for t in rotated])
    lines = max(t.get_text().count("\n") + 1 for t in rotated)
    # At 45 degrees, neighbours stand apart by the column step times sin 45: more than a label's lines.
    assert steps.min() * np.sqrt(0.5) > lines * chart_layout.SMALL_PT * chart_layout.LINE


def test_actor_matrix_marks_sit_on_their_event_s_row_and_their_actor_s_column(real):
    chart = charts.plot_actor_matrix(real)
    inches = chart.figure.dpi_scale_trans.inverted()
    row_of = {t.get_text().replace("\n", " "): t.get_position()[1] for t in texts(chart) if t.get_rotation() == 0}
    column_of = {t.get_text().replace("\n", " "): t.get_position()[0] for t in texts(chart) if t.get_rotation() == 45}
    marks = set()
    for role in chart_layout.ROLE_STYLES:
        for line in with_gid(chart, f"role-{role}", Line2D):
            for x, y in inches.transform(line.axes.transData.transform(line.get_xydata())):
                marks.add((role, round(float(x), 2), round(float(y), 2)))
    titles = real.events.set_index("event_id")["title"]
    names = chart_layout.actor_labels(real.actors)
    expected = {
        (str(link.role), round(column_of[names[link.actor_id]], 2), round(row_of[titles[link.event_id]], 2))
        for link in real.event_actors.itertuples()
    }
    assert marks == expected  # one role per cell here: each mark at its column's centre
    fighting = row_of["Fighting between the SPLA and the SPLM/A-IO"]
    assert ("party", round(column_of["SPLA"], 2), round(fighting, 2)) in marks


def matrix_of(event_count: int, actor_count: int) -> charts.Chart:
    """The actor matrix of events and actors with long titles and names, each event linked to one actor."""
    title = "An event whose title is long enough to need more than one line of the label column"
    days = [f"2016-01-{1 + i % 28:02d}" for i in range(event_count)]
    events = [event(f"e{i:02d}", day, day, title=f"{title} {i}") for i, day in enumerate(days)]
    name = "Department of an organisation with a name longer than any in the article"
    actors = [{"actor_id": f"a{j:02d}", "name": f"{name} {j}", "short_name": ""} for j in range(actor_count)]
    links = [{"event_id": f"e{i:02d}", "actor_id": f"a{i % actor_count:02d}", "role": "implementer"} for i in range(event_count)]
    return charts.plot_actor_matrix(tiny(events, actors, links))


@pytest.mark.parametrize(("count", "lines"), [(20, 2), (21, 1), (30, 1)])
def test_actor_matrix_rows_take_two_lines_up_to_20_events_then_one(count, lines):
    # A report prints a chart at most 210 mm tall: 30 rows of two lines would print too small to read.
    chart = matrix_of(count, 11)
    labels = [t.get_text() for t in texts(chart) if t.get_text().startswith("An event")]
    assert len(labels) == count and {label.count("\n") + 1 for label in labels} == {lines}
    assert all(label.endswith("…") for label in labels) == (lines == 1)
    assert chart_layout.prints_legibly(chart)


def test_actor_matrix_too_tall_to_print_legibly_counts_events_per_actor_instead():
    chart = matrix_of(36, 11)  # under MAX_MATRIX_EVENTS, but a row each would print below 6 pt
    assert len(chart.figure.axes[0].texts) > 0 and "events per actor and role" in chart.title
    assert any("Too many events for a row each on a page" in t.get_text() for t in texts(chart))
    assert chart_layout.prints_legibly(chart)
    assert not any(t.get_text().startswith("An event") for t in texts(chart))


def test_actor_matrix_shows_as_many_actors_as_leave_a_line_between_two_labels():
    chart = matrix_of(30, 40)  # 30 of the actors have a role: more than the columns that fit
    rotated = sorted((t for t, _ in drawn_boxes(chart) if t.get_rotation() == 45), key=lambda t: t.get_position())
    assert f"(the {len(rotated)} most involved of 30 actors)" in chart.title
    steps = np.diff([t.get_position()[0] for t in rotated])
    assert steps.min() * np.sqrt(0.5) > chart_layout.SMALL_PT * chart_layout.LINE
    assert len(rotated) >= 20  # not fewer than the room allows


def test_actor_matrix_filter_draws_fewer_marks(crisis):
    chart = charts.plot_actor_matrix(crisis)
    marks = sum(len(line.get_xdata()) for line in chart.figure.findobj(Line2D) if str(line.get_gid()).startswith("role-"))
    assert marks == 3
    assert "each has a role in 1 event" in chart.alt_text


# --- reform tracker ----------------------------------------------------------------------------


def test_reform_tracker_marks_status_per_measure(real):
    chart = charts.plot_reform_tracker(real)
    (effect,) = with_gid(chart, "status-effect", Line2D)
    (assessed,) = with_gid(chart, "status-assessed", Line2D)
    (none,) = with_gid(chart, "status-none", Line2D)
    # Effects: the weapons-free zone's drop in crime, the posture's "positive change" "as a result of" the
    # corrective actions; "significant work" and "important changes" only assess.
    assert (len(effect.get_xdata()), len(assessed.get_xdata()), len(none.get_xdata())) == (2, 4, 2)
    assert none.get_markerfacecolor() == "white"
    assert assessed.get_fillstyle() == "left" and assessed.get_markerfacecoloralt() == "white"
    drawn = all_text(chart)
    for area in ("Protection of civilians · 4 measures", "Crisis response", "Staff safety", "Posture"):
        assert area in drawn
    assert "UNMISS, troop and police contributing countries" in drawn
    # The article reports them, but does not tie each to the investigation: the title claims no cause.
    assert chart.title.startswith("Reforms and operations the article reports: 8 measures in 5 areas")
    assert chart.title.endswith("an effect reported for 2, an assessment alone for 4")
    assert chart.alt_text.startswith(
        "8 measures in 5 areas. An effect is reported for 2, an assessment but no effect for 4, and neither for 2. "
        "By area: Protection of civilians 4 (1 with an effect, 1 assessed),"
    )
    legend = [text.get_text() for text in chart.figure.legends[0].get_texts()]
    assert legend == ["Effect reported", "Assessed, no effect reported", "No effect or assessment reported"]


def test_reform_tracker_of_reforms_alone_has_an_effect_or_assessment_for_each(real):
    reforms = metrics.filter_timeline(real, None, None, [], ["reform"])
    chart = charts.plot_reform_tracker(reforms)
    assert "6 measures in 5 areas. An effect is reported for 2, an assessment but no effect for 4, and neither for 0." in (
        chart.alt_text
    )
    assert with_gid(chart, "status-none") == []


def test_reform_tracker_without_measures_says_so(crisis):
    chart = charts.plot_reform_tracker(crisis)
    assert "No reforms or operations in this selection" in all_text(chart)
    assert with_gid(chart, "status-none") == []


def staff_safety_measures(count: int, implemented_by_unmiss: int):
    """``count`` measures with no reported effect, the first ``implemented_by_unmiss`` of them by UNMISS."""
    events = [event(f"m{i}", "2017-01-01", "2017-01-31", area="staff-safety") for i in range(count)]
    actors = [{"actor_id": "unmiss", "name": "United Nations Mission in South Sudan", "short_name": "UNMISS"}]
    links = [{"event_id": f"m{i}", "actor_id": "unmiss", "role": "implementer"} for i in range(implemented_by_unmiss)]
    return tiny(events, actors, links)


def test_many_measures_and_events_become_counts():
    timeline = staff_safety_measures(45, 45)
    tracker = charts.plot_reform_tracker(timeline)
    assert [bar.get_width() for bar in with_gid(tracker, "status-none", Rectangle)] == [45]
    matrix = charts.plot_actor_matrix(timeline)
    assert "45 events" in matrix.title and "45" in [t.get_text() for t in texts(matrix)]
    assert len(texts(matrix)) < 20


def test_large_counts_in_words_have_thousands_separators():
    tracker = charts.plot_reform_tracker(staff_safety_measures(1200, 10))
    assert "neither for 1,200." in tracker.alt_text and "Staff safety 1,200 (0 with an effect, 0 assessed)" in tracker.alt_text


def test_counted_charts_say_which_events_name_no_actor_and_which_measures_no_effect():
    timeline = staff_safety_measures(45, 44)
    matrix = charts.plot_actor_matrix(timeline)
    assert matrix.title == "Who has a role in 44 of the 45 events: events per actor and role"
    assert matrix.alt_text == (
        "1 actor has a role in 44 of the 45 events. Roles: implementer 44. The article names nobody with a role in 1 event."
    )
    assert "The article names nobody with a role in 1 event." in all_text(matrix)
    tracker = charts.plot_reform_tracker(timeline)
    assert "45 measures in 1 area. An effect is reported for 0, an assessment but no effect for 0, and neither for 45." in (
        tracker.alt_text
    )
    assert [bar.get_width() for bar in with_gid(tracker, "status-effect", Rectangle)] == [0]


# --- all charts --------------------------------------------------------------------------------


@pytest.mark.parametrize("plot", PLOTS)
def test_every_chart_has_title_alt_text_and_source_note_on_the_figure(real, plot):
    chart = plot(real)
    assert chart.title and chart.title in all_text(chart).replace(" | ", " ")
    assert any(ch.isdigit() for ch in chart.alt_text)
    assert chart.source_note.startswith("Source: UN News, “Peacekeepers in South Sudan working")
    assert "19 April 2017" in chart.source_note
    assert chart.source_note in all_text(chart)
    assert chart.figure.get_figwidth() == chart_layout.WIDTH_IN


@pytest.mark.parametrize("plot", PLOTS)
def test_every_chart_says_when_the_selection_is_empty(real, plot):
    chart = plot(metrics.filter_timeline(real, start="2030-01-01"))
    assert "in this selection" in all_text(chart)
    assert charts.to_png(chart).startswith(b"\x89PNG")


@pytest.mark.parametrize("plot", PLOTS)
def test_to_png_is_byte_identical_across_calls_and_builds(real, plot):
    chart = plot(real)
    first, second = charts.to_png(chart), charts.to_png(chart)
    assert first == second
    assert charts.to_png(plot(real)) == first
    assert first.startswith(b"\x89PNG") and b"Software" not in first


@pytest.mark.parametrize("dpi", [72, 150])
@pytest.mark.parametrize("plot", PLOTS)
def test_to_png_is_what_matplotlib_draws_as_opaque_rgb(real, plot, dpi):
    from PIL import Image

    chart = plot(real)
    ours = Image.open(io.BytesIO(charts.to_png(chart, dpi=dpi)))
    reference = io.BytesIO()
    chart.figure.savefig(reference, format="png", dpi=dpi)
    theirs = Image.open(reference)
    assert ours.mode == "RGB" and ours.size == theirs.size
    assert ours.info["dpi"] == pytest.approx((dpi, dpi), abs=0.05)  # PNG stores whole pixels per metre
    assert ours.tobytes() == theirs.convert("RGB").tobytes()


HOSTILE = [
    "$5 to $10",
    "$\\frac{1$",
    "<script>alert(1)</script>",
    "*x* _y_",
    "שלום עולם",
    "zero\u200bwidth\u200djoin",
    "a\\n^{2}$",
]


def hostile_timeline() -> Timeline:
    events = [
        event(f"e{i}", f"2017-01-0{i + 1}", category="reform", area="staff-safety", title=text) for i, text in enumerate(HOSTILE)
    ]
    actors = [{"actor_id": f"a{i}", "name": text} for i, text in enumerate(HOSTILE)]
    links = [{"event_id": f"e{i}", "actor_id": f"a{i}", "role": "implementer"} for i in range(len(HOSTILE))]
    figures = [
        {"figure_id": f"f{i}", "event_id": f"e{i}", "measure": "killed", "low": 100, "qualifier": text}
        for i, text in enumerate(HOSTILE)
    ]
    claims = [
        {"claim_id": f"c{i}", "event_id": f"e{i}", "actor_id": f"a{i}", "kind": "effect", "statement": text}
        for i, text in enumerate(HOSTILE)
    ]
    return tiny(events, actors, links, figures, claims, source_title="$x$ <b>")


@pytest.mark.parametrize("plot", PLOTS)
def test_hostile_text_is_drawn_literally_and_never_as_math(plot):
    chart = plot(hostile_timeline())
    png = charts.to_png(chart)
    assert png.startswith(b"\x89PNG")
    drawn = all_text(chart)
    for text in HOSTILE:
        assert text in drawn, text
    assert "“$x$ <b>”" in chart.source_note and "“$x$ <b>”" in drawn
    for artist in texts(chart):
        if "$" in artist.get_text():
            assert artist.get_parse_math() is False, artist.get_text()


@pytest.mark.parametrize("plot", PLOTS)
def test_very_long_text_is_cut_with_an_ellipsis(plot):
    long = "Long " * 2_000 + "Unbroken" * 500
    timeline = tiny(
        [event("e", "2017-01-01", "2017-01-31", title=long, area="posture")],
        [{"actor_id": "a", "name": long}],
        [{"event_id": "e", "actor_id": "a", "role": "implementer"}],
        [{"figure_id": "f", "event_id": "e", "measure": "killed", "low": 5, "qualifier": long}],
        [{"claim_id": "c", "event_id": "e", "actor_id": "a", "kind": "effect", "statement": long}],
        source_title=long,
    )
    chart = plot(timeline)
    assert "…" in all_text(chart)
    assert max(len(t.get_text()) for t in texts(chart)) < 600
    assert charts.to_png(chart).startswith(b"\x89PNG")


def test_an_unbroken_string_wider_than_the_line_is_split_then_cut():
    lines = chart_layout.wrap("x" * 5_000, 1.0, chart_layout.BODY_PT, max_lines=2)
    assert len(lines) == 2 and lines[-1].endswith("…")
    assert all(chart_layout.text_width_in(line, chart_layout.BODY_PT) <= 1.0 for line in lines)


def greedy_wrap(text, width_in: float, size: float, max_lines: int = 2, weight: str = "normal") -> list[str]:
    """The plain greedy wrap, one measurement per word and per character cut: what wrap must equal."""
    clean = chart_layout.one_line(text)
    limit = max_lines * 200
    cut, clean = len(clean) > limit, clean[:limit]

    def fits(line: str) -> bool:
        return chart_layout.text_width_in(line, size, weight) <= width_in

    lines: list[str] = []
    current = ""
    for word in clean.split(" "):
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            continue
        lines += [current] if current else []
        while len(word) > 1 and not fits(word):
            keep = next(length for length in range(len(word) - 1, 0, -1) if fits(word[:length]) or length == 1)
            lines, word = [*lines, word[:keep]], word[keep:]
        current = word
        if len(lines) > max_lines:
            break
    lines += [current] if current else []
    if len(lines) <= max_lines and not cut:
        return lines
    kept = lines[max_lines - 1]
    shown = next(length for length in range(len(kept), -1, -1) if length == 0 or fits(kept[:length] + "…"))
    return [*lines[: max_lines - 1], kept[:shown].rstrip() + "…"]


words = st.sampled_from(
    ["a", "UNMISS", "peacekeepers", "x" * 40, "Juba,", "‘civilians’", "\u202eevil", "مدني", "1,000", "—", "\x08"]
)


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # random text: glyphs DejaVu lacks
@settings(max_examples=150, deadline=None)
@example(text="\x08 0", width_in=1.0, max_lines=1, weight="normal")  # a control character alone: an empty word
@given(
    text=st.lists(words, max_size=30).map(" ".join) | st.text(max_size=120),
    width_in=st.floats(0.3, 4.0),
    max_lines=st.integers(1, 4),
    weight=st.sampled_from(["normal", "bold"]),
)
def test_wrap_measures_less_but_breaks_lines_as_the_plain_greedy_wrap(text, width_in, max_lines, weight):
    assert chart_layout.wrap(text, width_in, chart_layout.BODY_PT, max_lines, weight) == greedy_wrap(
        text, width_in, chart_layout.BODY_PT, max_lines, weight
    )


def test_a_label_that_fits_is_measured_once(monkeypatch):
    measured = []
    real = chart_layout.text_width_in
    monkeypatch.setattr(chart_layout, "text_width_in", lambda *args: measured.append(args[0]) or real(*args))
    assert chart_layout.wrap("Peacekeepers in South Sudan", 4.0, chart_layout.BODY_PT) == ["Peacekeepers in South Sudan"]
    assert measured == ["Peacekeepers in South Sudan"]


def test_a_string_measured_again_is_not_shaped_again(monkeypatch):
    shaped = []
    real = chart_layout.text_to_path.get_text_width_height_descent
    monkeypatch.setattr(
        chart_layout.text_to_path,
        "get_text_width_height_descent",
        lambda text, *rest, **kw: shaped.append(text) or real(text, *rest, **kw),
    )
    chart_layout.text_width_in.cache_clear()
    first = chart_layout.text_width_in("Juba, July 2016", chart_layout.BODY_PT)
    assert chart_layout.text_width_in("Juba, July 2016", chart_layout.BODY_PT) == first
    assert chart_layout.text_width_in("Juba, July 2016", chart_layout.BODY_PT, "bold") > first
    assert shaped == ["Juba, July 2016", "Juba, July 2016"]  # regular once, bold once


def test_to_png_takes_the_size_matplotlib_draws_when_a_side_is_a_float_tick_short_of_a_pixel():
    # 0.82 in at 150 dpi is 122.99999999999999 px: matplotlib 3.11 draws 123 rows, plain truncation says 122.
    figure = matplotlib.figure.Figure(figsize=(chart_layout.WIDTH_IN, 0.82))
    assert int(0.82 * 150) == 122
    png = chart_layout.to_png(chart_layout.Chart(figure, "t", "a", "n"), dpi=150)
    FigureCanvasAgg(figure)
    figure.set_dpi(150)
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == figure.canvas.get_width_height(physical=True)
