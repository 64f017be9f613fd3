"""One function per chart: a Timeline in, a Chart (figure, title, alt text, source note) out; all chart style."""

from __future__ import annotations

import io
import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.textpath import text_to_path

from . import metrics
from .load import Timeline
from .schema import CATEGORIES, MEASURES, REFORM_AREAS, ROLES, label

# --- style, in one place -----------------------------------------------------------------------

# Okabe–Ito: told apart with the common colour-vision deficiencies. Hatching, marker shape or fill
# is always a second channel, so no chart depends on colour alone (or on a colour printer).
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
CATEGORY_STYLES = {  # category -> (colour, hatch for the aggregate view)
    "violence": (OKABE_ITO["vermillion"], ""),
    "investigation": (OKABE_ITO["blue"], "////"),
    "reform": (OKABE_ITO["bluish_green"], "...."),
    "operation": (OKABE_ITO["sky_blue"], "\\\\\\\\"),
    "assessment": (OKABE_ITO["orange"], "xxxx"),
    "communication": (OKABE_ITO["reddish_purple"], "oo"),
}
ROLE_STYLES = {  # role -> (marker, colour): shape and colour both tell the role
    "party": ("X", OKABE_ITO["vermillion"]),
    "subject": ("v", OKABE_ITO["reddish_purple"]),
    "implementer": ("o", OKABE_ITO["bluish_green"]),
    "leader": ("^", OKABE_ITO["orange"]),
    "author": ("s", OKABE_ITO["blue"]),
    "recipient": ("D", OKABE_ITO["sky_blue"]),
}
MEASURE_COLOURS = {"killed": OKABE_ITO["vermillion"], "raped": OKABE_ITO["reddish_purple"]}
EFFECT_COLOUR = OKABE_ITO["bluish_green"]
INK, MUTED, NEUTRAL, RULE, SHADE = "#222222", "#555555", "#777777", "#BBBBBB", "#F0F0F0"
INFERRED_HATCH = "////"

WIDTH_IN = 7.5  # an A4 page less 2.4 cm margins
MARGIN_IN = 0.25
TITLE_PT, BODY_PT, SMALL_PT = 11, 8, 7
LINE = 1.3 / 72  # inches of one line of text, per point of font size

# Above these counts one mark or label per item stops being readable (and 100,000 labels take
# minutes to draw), so the chart switches to an aggregate and says so in its title and alt text.
MAX_DETAILED_EVENTS = 60
MAX_MATRIX_EVENTS = 40
MAX_MATRIX_ACTORS = 40
MAX_TRACKER_MEASURES = 40
MAX_DETAILED_FIGURES = 12


@dataclass(frozen=True)
class Chart:
    """A drawn chart and the words that go with it."""

    figure: Figure
    title: str  # what the chart shows
    alt_text: str  # generated from the data: what it shows, with the numbers
    source_note: str  # where the data comes from; also printed under the chart


# --- text: measured, wrapped, always literal ---------------------------------------------------


@lru_cache(maxsize=16)
def _font(size: float, weight: str) -> FontProperties:
    return FontProperties(family="DejaVu Sans", size=size, weight=weight)


def _width_in(text: str, size: float, weight: str = "normal") -> float:
    width, _, _ = text_to_path.get_text_width_height_descent(text, _font(size, weight), ismath=False)
    # Agg's hinting draws text up to ~4 % wider than its outline at 150 dpi (measured): leave room.
    return width / 72 * 1.06


def _clean(text) -> str:
    """Data text as one line: white space runs as one space; control characters (no glyph) dropped."""
    spaced = " ".join(str(text).split())
    return "".join(char for char in spaced if unicodedata.category(char) != "Cc")


def _wrap(text, width_in: float, size: float, max_lines: int = 2, weight: str = "normal") -> list[str]:
    """Lines no wider than ``width_in`` as measured in the font; past ``max_lines``, cut with "…".

    Greedy: each line takes as many words as fit. A line's width grows with every word added, so
    the count that fits is found by halving (a handful of measurements per line, not one per word;
    each measurement shapes the text, about half a millisecond).
    """
    clean = _clean(text)
    # No line holds 200 characters at these sizes, so a longer tail could not show anyway; cutting
    # first keeps a megabyte of hostile text from costing one measurement per word.
    limit = max_lines * 200
    cut, clean = len(clean) > limit, clean[:limit]

    def fits(line: str) -> bool:
        return _width_in(line, size, weight) <= width_in

    words = clean.split(" ")
    lines: list[str] = []
    current = ""
    taken = 0
    while taken < len(words):

        def joined(count: int, start: int = taken, head: str = current) -> str:
            line = head
            for word in words[start : start + count]:  # as the greedy loop builds it: no space before a first ""
                line = f"{line} {word}" if line else word
            return line

        more = _longest_fitting_prefix(len(words) - taken, lambda count: fits(joined(count)))
        current, taken = joined(more), taken + more
        if taken == len(words):
            break
        word = words[taken]
        taken += 1
        if current:
            lines.append(current)
        while len(word) > 1 and not fits(word):  # a word wider than the line is split
            keep = max(1, _longest_fitting_prefix(len(word) - 1, lambda length, word=word: fits(word[:length])))
            lines.append(word[:keep])
            word = word[keep:]
        current = word
        if len(lines) > max_lines:
            break
    if current:
        lines.append(current)
    if len(lines) > max_lines or cut:
        lines = lines[:max_lines]
        last = lines[-1]
        last = last[: _longest_fitting_prefix(len(last), lambda length: fits(last[:length] + "…"))]
        lines[-1] = last.rstrip() + "…"
    return lines


def _longest_fitting_prefix(longest: int, fits) -> int:
    """The largest n in 0..``longest`` with ``fits(n)``, or 0; ``fits`` must hold for every n below one that fits."""
    if longest and fits(longest):  # the common case, a whole label on one line, in one measurement
        return longest
    low, high = 0, longest - 1
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def _text(target, x, y, lines, size=BODY_PT, color=INK, **kwargs):
    """Text drawn literally: parse_math=False, so "$5 to $10" or "\\frac" never become mathtext."""
    string = lines if isinstance(lines, str) else "\n".join(lines)
    return target.text(x, y, string, fontsize=size, color=color, parse_math=False, **kwargs)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun if number == 1 else noun + 's'}"


def _day(value, long: bool = False) -> str:
    return f"{value.day} {value:%B %Y}" if long else f"{value.day} {value:%b %Y}"


def _span(start, end, long: bool = False) -> str:
    """'8–12 Jul 2016', 'Mar 2017', '8 Jul – 19 Nov 2016', '1 Nov 2016 – 19 Apr 2017'."""
    month = "%B" if long else "%b"
    if start == end:
        return _day(start, long)
    if start.day == 1 and end == start + pd.offsets.MonthEnd(0):
        return f"{start:{month} %Y}"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{_day(end, long)}"
    if start.year == end.year:
        return f"{start.day} {start:{month}} – {_day(end, long)}"
    return f"{_day(start, long)} – {_day(end, long)}"


def _shorten(text, characters: int) -> str:
    """Data text as one line of at most ``characters``, cut with "…" (a long title must not hide the date)."""
    clean = _clean(text)
    return clean if len(clean) <= characters else clean[: characters - 1].rstrip() + "…"


def _source_note(timeline: Timeline, extra: str = "") -> str:
    """'Source: UN News, "<title>", 19 April 2017.' for the sources the shown events cite."""
    sources = timeline.sources[timeline.sources["source_id"].isin(timeline.events["source_id"].unique())]
    if sources.empty:
        sources = timeline.sources
    parts = [
        (f"{_clean(row.publisher)}, " if _clean(row.publisher) else "")
        + f'"{_shorten(row.title, 160)}", {_day(row.published, long=True)}'
        for row in sources.itertuples()
    ]
    return f"Source: {'; '.join(parts) or 'none recorded'}. {extra}".strip()


# --- figure scaffolding: everything laid out in inches -----------------------------------------


class _Page:
    """A figure of ``WIDTH_IN``: title and subtitle, a body ``body_in`` tall, a legend, the source note.

    Positions in the body are inches below its top, so rows of text and marks line up exactly.
    """

    def __init__(self, title: str, subtitle: str, source_note: str, body_in: float, legend_in: float = 0.0):
        usable = WIDTH_IN - 2 * MARGIN_IN
        title_lines = _wrap(title, usable, TITLE_PT, 2, "bold")
        subtitle_lines = _wrap(subtitle, usable, BODY_PT, 3) if subtitle else []
        note_lines = _wrap(source_note, usable, SMALL_PT, 3)
        title_in = len(title_lines) * TITLE_PT * LINE
        self.header_in = MARGIN_IN + title_in + len(subtitle_lines) * BODY_PT * LINE + 0.15
        self.body_in = body_in
        self.height = self.header_in + body_in + legend_in + len(note_lines) * SMALL_PT * LINE + 0.2
        self.figure = Figure(figsize=(WIDTH_IN, self.height), facecolor="white")
        inches = self.figure.dpi_scale_trans
        top = self.height - MARGIN_IN
        _text(self.figure, MARGIN_IN, top, title_lines, TITLE_PT, weight="bold", va="top", transform=inches)
        if subtitle_lines:
            below = top - title_in - 0.03
            _text(self.figure, MARGIN_IN, below, subtitle_lines, color=MUTED, va="top", transform=inches)
        _text(self.figure, MARGIN_IN, 0.12, note_lines, SMALL_PT, color=MUTED, va="bottom", transform=inches)

    def y(self, depth: float) -> float:
        """Figure inches (from the bottom) of a point ``depth`` inches below the body's top."""
        return self.height - self.header_in - depth

    def axes(self, left: float, right: float, bottom: float):
        """Axes from the body's top down to ``bottom``, between ``left`` and ``right`` inches across."""
        rect = (left / WIDTH_IN, self.y(bottom) / self.height, (right - left) / WIDTH_IN, bottom / self.height)
        ax = self.figure.add_axes(rect)
        ax.set_facecolor("none")  # the shaded bands behind the axes must show
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.tick_params(labelsize=SMALL_PT, colors=MUTED, length=3)
        return ax

    def text(self, x: float, depth: float, lines, size=BODY_PT, **kwargs):
        return _text(self.figure, x, self.y(depth), lines, size, transform=self.figure.dpi_scale_trans, **kwargs)

    def band(self, top: float, bottom: float, right: float = WIDTH_IN - MARGIN_IN) -> None:
        """A shaded band behind labels and marks alike, from the left margin to ``right``."""
        rectangle = Rectangle(
            (MARGIN_IN - 0.08, self.y(bottom)),
            right - MARGIN_IN + 0.16,
            bottom - top,
            transform=self.figure.dpi_scale_trans,
            facecolor=SHADE,
            edgecolor="none",
            zorder=-5,
        )
        self.figure.add_artist(rectangle)

    def legend(self, handles, depth: float, ncol: int) -> None:
        legend = self.figure.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(MARGIN_IN - 0.05, self.y(depth)),
            bbox_transform=self.figure.dpi_scale_trans,
            ncol=ncol,
            frameon=False,
            fontsize=SMALL_PT,
            handlelength=1.8,
            columnspacing=1.4,
            borderaxespad=0,
            borderpad=0,
        )
        for text in legend.get_texts():
            text.set_parse_math(False)


def _legend_in(entries: int, ncol: int) -> float:
    return math.ceil(entries / ncol) * 0.2 + 0.1


def _empty_chart(subject: str, message: str, source_note: str) -> Chart:
    title = f"{subject}: {message[0].lower()}{message[1:]}"
    page = _Page(title, "", source_note, body_in=1.0)
    page.text(WIDTH_IN / 2, 0.5, message, 10, color=MUTED, ha="center", va="center")
    return Chart(page.figure, title, f"{message}: nothing to chart.", source_note)


def _actor_labels(actors: pd.DataFrame) -> pd.Series:
    """actor_id -> the short name where the article gives one (UNMISS), else the name."""
    short = actors["short_name"].fillna("").map(_clean)
    return pd.Series(np.where(short != "", short, actors["name"].map(_clean)), index=actors["actor_id"])


class _DateLabels(ticker.Formatter):
    """Ticks 'Aug', '1 Aug' or '2016', with the year under the first tick and wherever it changes."""

    def format_ticks(self, values):
        dates = [mdates.num2date(value) for value in values]
        step = values[1] - values[0] if len(values) > 1 else 365
        labels = []
        for index, date in enumerate(dates):
            if step >= 360:
                labels.append(str(date.year))
                continue
            day = f"{date.day} " if step < 28 else ""
            new_year = index == 0 or date.year != dates[index - 1].year
            labels.append(f"{day}{date:%b}" + (f"\n{date.year}" if new_year else ""))
        return labels

    def __call__(self, value, pos=None):
        return self.format_ticks([value])[0]


def _date_axis(ax, first, last) -> None:
    """An x axis of dates from the start of ``first``'s month to the end of ``last``'s."""
    ax.set_xlim(mdates.date2num(first.to_period("M").to_timestamp()), mdates.date2num(last + pd.offsets.MonthBegin(1)))
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=4, maxticks=13))
    ax.xaxis.set_major_formatter(_DateLabels())
    ax.grid(axis="x", color=RULE, linewidth=0.5)
    ax.set_axisbelow(True)


def _lighter(colour: str, amount: float = 0.6) -> tuple[float, float, float]:
    return tuple(channel + (1 - channel) * amount for channel in mcolors.to_rgb(colour))


# --- 1. timeline -------------------------------------------------------------------------------


def plot_timeline(timeline: Timeline) -> Chart:
    """Every event on a date axis: one labelled row per event, rows grouped and shaded by phase.

    A range is a bar from the earliest to the latest possible day, a single day a diamond. Dates the
    article states are solid; dates inferred from its wording are hatched and lighter (an open
    diamond). Each row says its dates, precision and basis in words. Above ``MAX_DETAILED_EVENTS``
    events the chart counts events per month (or year) by category instead, and says so.

    Args:
        timeline: the timeline, usually filtered with ``metrics.filter_timeline``.

    Returns:
        The Chart; with no events, a chart that says so.
    """
    events = timeline.events
    note = _source_note(timeline, "Dates inferred where marked.")
    if events.empty:
        return _empty_chart("Timeline", "No events in this selection", note)
    if len(events) > MAX_DETAILED_EVENTS:
        return _plot_event_counts(events, note)

    phases = metrics.summarize_phases(events)
    by_id = events.set_index("event_id")
    label_w = 2.75
    rows, bands, depth = [], [], 0.0  # rows: (top, height, event, title lines); bands: (top, bottom, phase)
    for phase in phases.itertuples():
        top = depth
        depth += 0.3
        for event_id in phase.event_ids:
            title_lines = _wrap(by_id.loc[event_id, "title"], label_w, BODY_PT)
            height = (len(title_lines) * BODY_PT + SMALL_PT) * LINE + 0.1
            rows.append((depth, height, by_id.loc[event_id], title_lines))
            depth += height
        depth += 0.08
        bands.append((top, depth, phase))

    first, last = events["start"].min(), events["end"].max()
    period = f"{first:%B %Y}" + ("" if first.to_period("M") == last.to_period("M") else f" – {last:%B %Y}")
    title = f"When the {_count(len(events), 'event')} happened, {period}"
    windows = events.groupby(["start", "end"]).size().sort_values(ascending=False, kind="stable")
    (window_start, window_end), shared = windows.index[0], int(windows.iloc[0])
    shared_note = f"{shared} events share the same window, " if shared > 2 else ""
    subtitle = (
        "Grouped by phase, in date order. Bars run from the earliest to the latest possible day; hatched, "
        "lighter bars are dates inferred from the article's wording."
        + (f" {shared_note}{_span(window_start, window_end)}." if shared_note else "")
    )
    categories = [c for c in CATEGORIES if c in set(events["category"].astype(str))]
    has_day = bool((events["start"] == events["end"]).any())
    page = _Page(title, subtitle, note, depth + 0.45, _legend_in(len(categories) + 2 + has_day, 4))
    ax = page.axes(MARGIN_IN + label_w + 0.15, WIDTH_IN - MARGIN_IN - 0.1, depth)
    ax.set_ylim(depth, 0)
    ax.set_yticks([])
    _date_axis(ax, first, last)

    for top, bottom, phase in bands:
        if phase.Index % 2 == 0:
            page.band(top, bottom)
        header = _wrap(f"{phase.label} · {_count(phase.events, 'event')}", label_w, BODY_PT, 1, "bold")
        page.text(MARGIN_IN, top + 0.08, header, weight="bold", va="top")
    for top, height, event, title_lines in rows:
        basis = str(event["date_basis"])
        dates = f"{_span(event['start'], event['end'])} · {event['date_precision']}, {basis}"
        page.text(MARGIN_IN, top + 0.04, title_lines, va="top")
        page.text(MARGIN_IN, top + 0.04 + len(title_lines) * BODY_PT * LINE, dates, SMALL_PT, color=MUTED, va="top")
        _draw_event(ax, event, top + height / 2, basis == "inferred")

    handles = [Patch(facecolor=CATEGORY_STYLES[c][0], label=label(c)) for c in categories]
    handles += [
        Patch(facecolor=NEUTRAL, edgecolor=NEUTRAL, label="Date stated (solid)"),
        Patch(facecolor=_lighter(NEUTRAL), edgecolor=NEUTRAL, hatch=INFERRED_HATCH, label="Date inferred (hatched)"),
    ]
    if has_day:
        handles.append(Line2D([], [], marker="D", linestyle="none", color=NEUTRAL, label="Single day (open: inferred)"))
    page.legend(handles, depth + 0.45, ncol=4)

    inferred = int((events["date_basis"] == "inferred").sum())
    per_phase = ", ".join(f"{row.label} {row.events}" for row in phases.itertuples())
    alt = (
        f"Timeline of {_count(len(events), 'event')} from {_day(first, True)} to {_day(last, True)}, in "
        f"{_count(len(phases), 'phase')} ({per_phase}); {len(events) - inferred} dated as the article states, "
        f"{inferred} inferred from its wording."
        + (f" {shared_note}{_span(window_start, window_end, True)}." if shared_note else "")
    )
    return Chart(page.figure, title, alt, note)


def _draw_event(ax, event, y: float, inferred: bool) -> None:
    colour = CATEGORY_STYLES[str(event["category"])][0]
    start = mdates.date2num(event["start"])
    if event["start"] == event["end"]:
        ax.plot(
            [start + 0.5],
            [y],
            marker="D",
            markersize=7,
            linestyle="none",
            color=colour,
            markeredgewidth=1.5,
            markerfacecolor="white" if inferred else colour,
            gid="event-day",
            zorder=3,
        )
        return
    # ``end`` is the latest possible day itself, so the bar runs to the end of that day.
    width = mdates.date2num(event["end"]) + 1 - start
    ax.add_patch(
        Rectangle(
            (start, y - 0.09),
            width,
            0.18,
            linewidth=0.8,
            edgecolor=colour,
            gid="event-span",
            zorder=3,
            facecolor=_lighter(colour) if inferred else colour,
            hatch=INFERRED_HATCH if inferred else None,
        )
    )


def _plot_event_counts(events: pd.DataFrame, note: str) -> Chart:
    """The aggregate timeline: events per month (per year past ten years), stacked by category."""
    first, last = events["start"].min(), events["start"].max()
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    unit, freq = ("month", "M") if months <= 120 else ("year", "Y")
    periods = events["start"].dt.to_period(freq)
    counts = pd.crosstab(periods, events["category"].astype(str))
    counts = counts.reindex(pd.period_range(periods.min(), periods.max(), freq=freq), fill_value=0)
    categories = [c for c in CATEGORIES if c in counts.columns]
    title = f"{_count(len(events), 'event')}, too many to list one by one: events per {unit} by category"
    subtitle = f"Each event is counted in the {unit} of its earliest possible day."
    page = _Page(title, subtitle, note, 3.45, _legend_in(len(categories), 6))
    ax = page.axes(MARGIN_IN + 0.55, WIDTH_IN - MARGIN_IN - 0.1, 3.0)
    starts = mdates.date2num(counts.index.to_timestamp(how="start"))
    widths = (mdates.date2num(counts.index.to_timestamp(how="end")) - starts) * 0.85
    bottom = np.zeros(len(counts))
    for category in categories:
        colour, hatch = CATEGORY_STYLES[category]
        values = counts[category].to_numpy()
        ax.bar(
            starts,
            values,
            widths,
            bottom=bottom,
            align="edge",
            color=colour,
            edgecolor="white",
            linewidth=0.3,
            hatch=hatch,
            gid=f"count-{category}",
        )
        bottom += values
    _date_axis(ax, counts.index[0].to_timestamp(), counts.index[-1].to_timestamp(how="end").normalize())
    ax.set_ylabel(f"events per {unit}", fontsize=SMALL_PT, color=MUTED)
    ax.grid(axis="y", color=RULE, linewidth=0.5)
    handles = [Patch(facecolor=CATEGORY_STYLES[c][0], hatch=CATEGORY_STYLES[c][1], label=label(c)) for c in categories]
    page.legend(handles, 3.45, ncol=6)
    totals = counts.sum(axis=1)
    peak = totals.idxmax()
    inferred = int((events["date_basis"] == "inferred").sum())
    alt = (
        f"Aggregate view of {_count(len(events), 'event')} from {_day(first, True)} to "
        f"{_day(events['end'].max(), True)}, counted per {unit} of their earliest possible day and stacked by "
        f"category; the busiest {unit} is {peak.strftime('%B %Y' if unit == 'month' else '%Y')} with "
        f"{_count(int(totals.max()), 'event')}. {inferred:,} of the events have inferred dates."
    )
    return Chart(page.figure, title, alt, note)


# --- 2. human cost -----------------------------------------------------------------------------


def plot_human_cost(timeline: Timeline) -> Chart:
    """The reported figures as ranges or open-ended lower bounds, beside the article's own words.

    A figure with both bounds is a bar from low to high. One with only a lower bound ("Hundreds",
    "more than 200") starts at its low and fades out into an arrow: no upper bound and no invented
    count. A best estimate, where the article gives one, is a black diamond.

    Returns:
        The Chart; with no figures, one that says "No figures reported in this selection".
    """
    cost = metrics.human_cost(timeline)
    note = _source_note(timeline, "Numbers as the article words them; bounds as stored in figures.csv.")
    if cost.empty:
        return _empty_chart("Reported human cost", "No figures reported in this selection", note)
    if len(cost) > MAX_DETAILED_FIGURES:
        return _plot_cost_spread(cost, note)

    label_w, row_h = 2.5, 0.85
    depth = len(cost) * row_h
    measures = list(dict.fromkeys(MEASURES[m].rstrip(".").lower() for m in cost["measure"]))
    title = f"Reported human cost, as the article words it: {', '.join(measures)}"
    lower_bounds_only = bool((cost["is_open_ended"] & cost["low"].notna()).all())
    subtitle = (
        "No exact counts are given. Each bar starts at the lowest number the words allow; "
        "a fading arrow means no upper bound is given."
        if lower_bounds_only
        else "Bars run from the lowest to the highest number the words allow; an arrow means no upper bound."
    )
    page = _Page(title, subtitle, note, depth + 0.5)
    ax = page.axes(MARGIN_IN + label_w + 0.2, WIDTH_IN - MARGIN_IN - 0.15, depth)
    bounds = cost[["low", "best", "high"]].to_numpy(dtype=float, na_value=np.nan)
    xmax = _nice_ceiling(np.nanmax(bounds) * 1.4 if np.isfinite(bounds).any() else 10)
    ax.set_xlim(0, xmax)
    ax.set_ylim(depth, 0)
    ax.set_yticks([])
    ax.xaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))
    ax.grid(axis="x", color=RULE, linewidth=0.5)
    ax.set_axisbelow(True)
    ax.set_xlabel("people (lower bound)" if lower_bounds_only else "people", fontsize=SMALL_PT, color=MUTED)

    for index, figure in enumerate(cost.itertuples()):
        top = index * row_h
        if index % 2 == 0:
            page.band(top, top + row_h)
        blocks = [
            (_wrap(MEASURES[figure.measure].rstrip("."), label_w, BODY_PT, 1, "bold"), BODY_PT, "bold", INK),
            (_wrap(f"“{_clean(figure.qualifier)}”", label_w, BODY_PT, 1), BODY_PT, "normal", INK),
            (_wrap(_describe_bounds(figure), label_w, SMALL_PT, 1), SMALL_PT, "normal", MUTED),
            (_wrap(figure.event_title, label_w, SMALL_PT, 2), SMALL_PT, "normal", MUTED),
        ]
        depth_of_line = top + 0.06
        for lines, size, weight, colour in blocks:
            page.text(MARGIN_IN, depth_of_line, lines, size, weight=weight, color=colour, va="top")
            depth_of_line += len(lines) * size * LINE
        _draw_figure(ax, figure, top + row_h / 2, MEASURE_COLOURS[figure.measure], xmax)

    described = "; ".join(
        f"{MEASURES[f.measure].rstrip('.').lower()}: “{_clean(f.qualifier)}” ({_describe_bounds(f)})" for f in cost.itertuples()
    )
    alt = f"{_count(len(cost), 'reported figure')}, as ranges or lower bounds, never as exact counts: {described}."
    return Chart(page.figure, title, alt, note)


def _plot_cost_spread(cost: pd.DataFrame, note: str) -> Chart:
    """Too many figures for a row each: per measure, the spread of the lower bounds the words allow."""
    row_h, label_w = 0.55, 2.3
    measures = list(dict.fromkeys(cost["measure"]))
    depth = len(measures) * row_h
    title = f"Reported human cost: {_count(len(cost), 'figure')}, the spread of their lower bounds"
    subtitle = (
        "Too many figures to draw one by one. For each measure, the line runs from the smallest to the "
        "largest lower bound; the box holds the middle half, the tick is the median. No exact counts."
    )
    page = _Page(title, subtitle, note, depth + 0.5)
    ax = page.axes(MARGIN_IN + label_w + 0.2, WIDTH_IN - MARGIN_IN - 0.15, depth)
    ax.set_ylim(len(measures) - 0.5, -0.5)
    ax.set_yticks([])
    ax.grid(axis="x", color=RULE, linewidth=0.5)
    ax.set_axisbelow(True)
    ax.xaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))
    ax.set_xlabel("people (lower bound)", fontsize=SMALL_PT, color=MUTED)
    described = []
    for row, measure in enumerate(measures):
        rows = cost[cost["measure"] == measure]
        lows = rows["low"].dropna().to_numpy(dtype=float)
        open_ended = int(rows["is_open_ended"].sum())
        name = MEASURES[measure].rstrip(".")
        page.text(MARGIN_IN, (row + 0.3) * row_h, [name], BODY_PT, weight="bold", va="center")
        page.text(
            MARGIN_IN,
            (row + 0.7) * row_h,
            [f"{len(rows):,} figures, {open_ended:,} open-ended"],
            SMALL_PT,
            color=MUTED,
            va="center",
        )
        colour = MEASURE_COLOURS[measure]
        if len(lows):
            low, q1, median, q3, high = np.percentile(lows, [0, 25, 50, 75, 100])
            ax.plot([low, high], [row, row], color=colour, linewidth=1.2, gid="cost-spread")
            ax.add_patch(Rectangle((q1, row - 0.18), max(q3 - q1, 1e-9), 0.36, facecolor=_lighter(colour), edgecolor=colour))
            ax.plot([median, median], [row - 0.18, row + 0.18], color=colour, linewidth=2)
            described.append(
                f"{name.lower()}: {len(rows):,} figures, lower bounds {low:,.0f} to {high:,.0f}, median {median:,.0f}"
            )
        else:
            described.append(f"{name.lower()}: {len(rows):,} figures with no lower bound")
    alt = f"{_count(len(cost), 'reported figure')}, summarized per measure, never as exact counts: {'; '.join(described)}."
    return Chart(page.figure, title, alt, note)


def _describe_bounds(figure) -> str:
    open_ended = figure.is_open_ended and pd.notna(figure.low)
    return figure.bounds + (", no upper bound given" if open_ended else "")


def _draw_figure(ax, figure, y: float, colour: str, xmax: float) -> None:
    if pd.notna(figure.high):
        low = 0 if pd.isna(figure.low) else int(figure.low)
        ax.add_patch(Rectangle((low, y - 0.1), int(figure.high) - low, 0.2, facecolor=colour, gid="figure-range", zorder=3))
    elif pd.notna(figure.low):
        # "At least": fade from the lower bound towards the edge and end in an arrow, never a top.
        low = int(figure.low)
        fade = np.zeros((1, 256, 4))
        fade[..., :3] = mcolors.to_rgb(colour)
        fade[..., 3] = np.linspace(0.75, 0.0, 256)
        ax.imshow(fade, extent=(low, xmax, y + 0.1, y - 0.1), aspect="auto", interpolation="bilinear", zorder=2)
        arrow = {
            "arrowstyle": "-|>",
            "mutation_scale": 12,
            "linewidth": 1.2,
            "color": colour,
            "shrinkA": 0,
            "shrinkB": 0,
        }
        ax.annotate("", (xmax, y), xytext=(low, y), arrowprops=arrow, gid="figure-open-ended", zorder=3)
        ax.plot([low, low], [y - 0.14, y + 0.14], color=colour, linewidth=2.5, gid="figure-low", zorder=3)
        _text(ax, low, y - 0.16, f"{low:,}", SMALL_PT, ha="center", va="bottom")
    if pd.notna(figure.best):
        ax.plot([int(figure.best)], [y], marker="D", color=INK, linestyle="none", gid="figure-best", zorder=4)


def _nice_ceiling(value: float) -> float:
    """The smallest round number (1, 1.5, 2 … 8 × 10^k) at or above ``value``: a tidy axis end."""
    magnitude = 10 ** math.floor(math.log10(max(value, 1)))
    return next(step * magnitude for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if step * magnitude >= value)


# --- 3. actors x events ------------------------------------------------------------------------


def plot_actor_matrix(timeline: Timeline) -> Chart:
    """Who took part in which event: actors as rows, events as columns in date order.

    Each cell is marked by the actor's role, with a distinct shape and colour per role. Actors go by
    their short name where the article gives one. Above ``MAX_MATRIX_EVENTS`` events the columns
    become roles and each cell counts events; above ``MAX_MATRIX_ACTORS`` actors only the most
    involved are shown. Both are said in the title.

    Returns:
        The Chart; with nobody involved, one that says so.
    """
    events = timeline.events
    links = timeline.event_actors[timeline.event_actors["event_id"].isin(events["event_id"])]
    note = _source_note(timeline)
    if links.empty:
        return _empty_chart("Actors and events", "No actors involved in this selection", note)
    names = _actor_labels(timeline.actors)
    involved = set(links["actor_id"].unique())
    order = [actor for actor in timeline.actors["actor_id"] if actor in involved]
    involvement = links.groupby("actor_id")["event_id"].nunique().reindex(order)
    most_involved = set(involvement.sort_values(ascending=False, kind="stable").index[:MAX_MATRIX_ACTORS])
    shown = [actor for actor in order if actor in most_involved]
    role_counts = links["role"].astype(str).value_counts()
    present = [role for role in ROLES if role in role_counts]
    most = involvement[involvement == involvement.max()]
    who = "each takes part in" if len(most) == len(order) else f"most involved: {', '.join(names[most.index])},"
    alt = (
        f"{_count(len(order), 'actor')} take part in {_count(len(events), 'event')}; {who} "
        f"{_count(int(most.iloc[0]), 'event')}. Roles: {', '.join(f'{r} {role_counts[r]}' for r in present)}."
    )
    detailed = len(events) <= MAX_MATRIX_EVENTS
    if detailed:
        title = f"Who took part in which event: {_count(len(order), 'actor')}, {_count(len(events), 'event')}"
        subtitle = "Events left to right in date order; each mark is the actor's role in that event."
        roles = metrics.actor_roles(timeline)
        # actor_roles names its rows by actor name, which two actors may share; its rows are in `order`.
        roles.index = pd.Index(order)
        headings = list(events.set_index("event_id").loc[roles.columns, "title"])
    else:
        # metrics.actor_roles builds one column per event, too slow at this size; count links instead.
        title = f"Who took part in the {_count(len(events), 'event')}: events per actor and role"
        subtitle = "Too many events for one column each: each cell counts the events in which the actor had that role."
        counts = pd.crosstab(links["actor_id"], links["role"].astype(str))
        headings = [label(role) for role in present]
    if len(shown) < len(order):
        title += f" (the {len(shown)} most involved of {len(order)} actors)"

    label_w, row_h = 1.95, 0.3
    depth = len(shown) * row_h
    plot_left = MARGIN_IN + label_w + 0.1
    column_w = min(1.2, (WIDTH_IN - MARGIN_IN - 0.1 - plot_left) / len(headings))
    plot_right = plot_left + column_w * len(headings)
    # Wide columns take their heading upright and wrapped, narrow ones on one line at 45 degrees.
    upright = column_w >= 0.9
    if upright:
        column_labels = [_wrap(h, column_w - 0.1, SMALL_PT, 4) for h in headings]
        footer = max(len(lines) for lines in column_labels) * SMALL_PT * LINE + 0.35
    else:
        column_labels = [_wrap(h, 2.2, SMALL_PT, 1) for h in headings]
        footer = max(_width_in(lines[0], SMALL_PT) for lines in column_labels if lines) * math.sqrt(0.5) + 0.35
    page = _Page(title, subtitle, note, depth + footer, _legend_in(len(present), 6) if detailed else 0.0)
    ax = page.axes(plot_left, plot_right, depth)
    ax.axis("off")
    ax.set_xlim(0, len(headings))
    ax.set_ylim(len(shown), 0)
    for row, actor in enumerate(shown):
        if row % 2 == 0:
            page.band(row * row_h, (row + 1) * row_h, right=plot_right)
        text = _wrap(names[actor], label_w, BODY_PT)
        page.text(MARGIN_IN, (row + 0.5) * row_h, text, BODY_PT if len(text) == 1 else SMALL_PT, va="center")
    for column, lines in enumerate(column_labels):
        ax.axvline(column, color=RULE, linewidth=0.4, zorder=0)
        x = plot_left + (column + 0.5) * column_w
        if upright:
            page.text(x, depth + 0.08, lines, SMALL_PT, ha="center", va="top")
        else:
            page.text(x, depth + 0.08, lines, SMALL_PT, rotation=45, ha="right", va="top", rotation_mode="anchor")

    if not detailed:
        for column, role in enumerate(present):
            for row, actor in enumerate(shown):
                if counts.at[actor, role]:
                    _text(ax, column + 0.5, row + 0.5, f"{counts.at[actor, role]:,}", SMALL_PT, ha="center", va="center")
        return Chart(page.figure, title, alt, note)
    points: dict[str, list[tuple[float, float]]] = {role: [] for role in present}
    for row, actor in enumerate(shown):
        for column, cell in enumerate(roles.loc[actor]):
            marks = cell.split(", ") if cell else []
            for place, role in enumerate(marks):  # two roles in one cell sit side by side
                points[role].append((column + 0.5 + (place - (len(marks) - 1) / 2) * 0.3, row + 0.5))
    for role, xy in points.items():
        marker, colour = ROLE_STYLES[role]
        xs, ys = zip(*xy, strict=True)
        ax.plot(xs, ys, marker=marker, color=colour, linestyle="none", markersize=7, gid=f"role-{role}")
    handles = [
        Line2D([], [], marker=ROLE_STYLES[r][0], color=ROLE_STYLES[r][1], linestyle="none", label=label(r)) for r in present
    ]
    page.legend(handles, depth + footer, ncol=6)
    return Chart(page.figure, title, alt, note)


# --- 4. reform tracker -------------------------------------------------------------------------


def plot_reform_tracker(timeline: Timeline) -> Chart:
    """The reforms and operations by area: what was done, by whom, and whether an effect is reported.

    A table-like chart: rows grouped under their area, a status mark (filled: an effect is
    reported; open: no effect stated), the measure, its implementer and the reported effect in
    short text. Above ``MAX_TRACKER_MEASURES`` measures it counts measures per area by status.

    Returns:
        The Chart; with no reforms or operations, one that says so.
    """
    tracker = metrics.reform_tracker(timeline)
    note = _source_note(timeline, "Effects are as the article reports them.")
    if tracker.empty:
        return _empty_chart("Reform tracker", "No reforms or operations in this selection", note)
    has_effect = tracker["reported_effect"].str.strip() != ""
    areas = [a for a in REFORM_AREAS if a in set(tracker["area"].unique())]
    in_area = {a: tracker["area"] == a for a in areas}
    per_area = ", ".join(f"{label(a)} {m.sum()} ({(has_effect & m).sum()} with effect or assessment)" for a, m in in_area.items())
    alt = (
        f"{_count(len(tracker), 'measure')} in {_count(len(areas), 'area')}: an effect or assessment is reported for "
        f"{has_effect.sum()} and none is stated for {(~has_effect).sum()}. By area: {per_area}."
    )
    title = (
        f"What changed after the investigation: {_count(len(tracker), 'measure')} in "
        f"{_count(len(areas), 'area')}, {has_effect.sum()} with a reported effect or assessment"
    )
    if len(tracker) > MAX_TRACKER_MEASURES:
        return _plot_tracker_counts(has_effect, in_area, title, alt, note)

    actors = _actor_labels(timeline.actors)
    links = timeline.event_actors[timeline.event_actors["role"] == "implementer"]
    implementers = links.groupby("event_id")["actor_id"].agg(lambda ids: ", ".join(actors[i] for i in ids))
    left = {"status": MARGIN_IN, "measure": MARGIN_IN + 0.3, "by": MARGIN_IN + 2.7, "effect": MARGIN_IN + 4.2}
    width = {"measure": 2.25, "by": 1.35, "effect": WIDTH_IN - MARGIN_IN - left["effect"]}
    layout, depth = [], 0.3  # (top, height, area or None, measure, wrapped texts, has effect)
    for area in areas:
        layout.append((depth, 0.28, area, None, None, None))
        depth += 0.28
        for position, measure in tracker[in_area[area]].iterrows():
            effect = bool(has_effect[position])
            said = measure["reported_effect"] if effect else "No effect stated."
            texts = {
                "measure": _wrap(measure["title"], width["measure"], BODY_PT, 3),
                "by": _wrap(implementers.get(measure["event_id"], "not stated"), width["by"], SMALL_PT, 4),
                "effect": _wrap(said, width["effect"], SMALL_PT, 4),
            }
            points = max(len(texts["measure"]) * BODY_PT + SMALL_PT, *(len(texts[k]) * SMALL_PT for k in ("by", "effect")))
            layout.append((depth, points * LINE + 0.12, None, measure, texts, effect))
            depth += points * LINE + 0.12
    subtitle = "Grouped by area. Status: filled circle, an effect or assessment is reported; open circle, none stated."
    page = _Page(title, subtitle, note, depth + 0.15, _legend_in(2, 2))
    ax = page.axes(0, WIDTH_IN, depth)
    ax.axis("off")
    ax.set_xlim(0, WIDTH_IN)
    ax.set_ylim(depth, 0)
    inside = {"xmin": MARGIN_IN / WIDTH_IN, "xmax": 1 - MARGIN_IN / WIDTH_IN, "color": RULE}
    for key, heading in (("measure", "Measure"), ("by", "Implemented by"), ("effect", "Reported effect")):
        page.text(left[key], 0.05, heading, SMALL_PT, weight="bold", color=MUTED, va="top")
    ax.axhline(0.27, linewidth=0.6, **inside)
    marks: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    shaded = False
    for top, height, area, measure, texts, effect in layout:
        if area is not None:
            heading = f"{label(area)} · {_count(in_area[area].sum(), 'measure')}"
            page.text(MARGIN_IN, top + 0.07, heading, weight="bold", va="top")
            ax.axhline(top + height, linewidth=0.4, **inside)
            shaded = False
            continue
        if shaded:
            page.band(top, top + height)
        shaded = not shaded
        marks[effect].append((left["status"] + 0.1, top + 0.04 + BODY_PT * LINE / 2))
        page.text(left["measure"], top + 0.04, texts["measure"], va="top")
        kind_depth = top + 0.04 + len(texts["measure"]) * BODY_PT * LINE
        page.text(left["measure"], kind_depth, measure["category"], SMALL_PT, color=MUTED, va="top")
        page.text(left["by"], top + 0.05, texts["by"], SMALL_PT, va="top")
        style = {"color": INK} if effect else {"color": MUTED, "style": "italic"}
        page.text(left["effect"], top + 0.05, texts["effect"], SMALL_PT, va="top", **style)
    for effect, xy in marks.items():
        if xy:
            xs, ys = zip(*xy, strict=True)
            colour = EFFECT_COLOUR if effect else MUTED
            ax.plot(
                xs,
                ys,
                marker="o",
                markersize=8,
                linestyle="none",
                color=colour,
                markeredgewidth=1.5,
                markerfacecolor=colour if effect else "white",
                gid="status-effect" if effect else "status-none",
            )
    handles = [
        Line2D([], [], marker="o", linestyle="none", color=EFFECT_COLOUR, label="Effect or assessment reported"),
        Line2D([], [], marker="o", linestyle="none", color=MUTED, markerfacecolor="white", label="No effect stated"),
    ]
    page.legend(handles, depth + 0.15, ncol=2)
    return Chart(page.figure, title, alt, note)


def _plot_tracker_counts(has_effect: pd.Series, in_area: dict, title: str, alt: str, note: str) -> Chart:
    """The aggregate tracker: measures per area, split by whether an effect is reported."""
    row_h = 0.35
    depth = len(in_area) * row_h
    page = _Page(title, "Too many measures to list: measures per area by status.", note, depth + 0.45, _legend_in(2, 2))
    ax = page.axes(MARGIN_IN + 1.9, WIDTH_IN - MARGIN_IN - 0.2, depth)
    ax.set_ylim(len(in_area) - 0.5, -0.5)
    ax.set_yticks([])
    with_effect = np.array([(has_effect & mask).sum() for mask in in_area.values()])
    without = np.array([(~has_effect & mask).sum() for mask in in_area.values()])
    rows = np.arange(len(in_area))
    ax.barh(rows, with_effect, 0.6, color=EFFECT_COLOUR, gid="status-effect")
    ax.barh(rows, without, 0.6, left=with_effect, color="white", edgecolor=MUTED, hatch="////", gid="status-none")
    ax.set_xlabel("measures", fontsize=SMALL_PT, color=MUTED)
    ax.xaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))
    for row, area in enumerate(in_area):
        page.text(MARGIN_IN, (row + 0.5) * row_h, label(area), va="center")
    handles = [
        Patch(facecolor=EFFECT_COLOUR, label="Effect or assessment reported"),
        Patch(facecolor="white", edgecolor=MUTED, hatch="////", label="No effect stated"),
    ]
    page.legend(handles, depth + 0.45, ncol=2)
    return Chart(page.figure, title, alt, note)


# --- output ------------------------------------------------------------------------------------


def to_png(chart: Chart, dpi: int = 150) -> bytes:
    """The chart as PNG bytes. The same chart always gives the same bytes (no software or date stamp).

    Args:
        chart: a Chart from one of the plot functions.
        dpi: pixels per inch; the figure is ``WIDTH_IN`` inches wide.
    """
    from PIL import Image

    pixels = io.BytesIO()
    # Tick labels are created while drawing, outside the plot functions: keep them literal too.
    with matplotlib.rc_context({"text.parse_math": False}):
        chart.figure.savefig(pixels, format="rgba", dpi=dpi)
    # The size Agg draws at: the figure's inches times the dpi, truncated (as matplotlib's renderer does).
    size = tuple(int(side) for side in chart.figure.get_size_inches() * dpi)
    if len(pixels.getbuffer()) != 4 * size[0] * size[1]:
        raise RuntimeError(f"matplotlib drew {len(pixels.getbuffer())} bytes, not a {size[0]}x{size[1]} RGBA image")
    drawn = Image.frombuffer("RGBA", size, pixels.getbuffer(), "raw", "RGBA", 0, 1)
    # Saved as RGB on white: the figures are opaque anyway, and WeasyPrint must split an alpha
    # channel off every RGBA image (a tenth of a full report's PDF time).
    opaque = Image.new("RGB", size, "white")
    opaque.paste(drawn, mask=drawn.getchannel("A"))
    png = io.BytesIO()
    opaque.save(png, format="png", dpi=(dpi, dpi))
    return png.getvalue()
