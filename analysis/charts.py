"""One function per chart: a Timeline in, a Chart (figure, title, alt text, source note) out.

What the charts share (style, text, page layout, PNG output) is in ``chart_layout``.
"""

from __future__ import annotations

import math
from dataclasses import replace

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib import ticker
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from . import metrics
from .chart_layout import (
    BODY_PT,
    CATEGORY_STYLES,
    EFFECT_COLOUR,
    INK,
    LINE,
    MARGIN_IN,
    MEASURE_COLOURS,
    MUTED,
    NEUTRAL,
    ROLE_STYLES,
    RULE,
    SHADE,
    SMALL_PT,
    UNSTATED_HATCH,
    WIDTH_IN,
    Chart,
    Page,
    actor_labels,
    axis_days,
    date_axis,
    day_label,
    draw_text,
    empty_chart,
    legend_height_in,
    lighter,
    one_line,
    prints_legibly,
    sources_note,
    span_label,
    text_width_in,
    to_png,
    wrap,
)
from .load import Timeline
from .narrative import counted
from .schema import CATEGORIES, MEASURES, REFORM_AREAS, ROLES, label

__all__ = ["Chart", "plot_actor_matrix", "plot_human_cost", "plot_reform_tracker", "plot_timeline", "to_png"]

# Above these counts a chart is not drawn item by item at all (100,000 labels take minutes to draw):
# it switches to an aggregate and says so in its title and alt text. Below them it may still switch,
# where a row per item would be too tall to print legibly (chart_layout.prints_legibly); the timeline
# is then drawn in parts instead.
MAX_DETAILED_EVENTS = 60
MAX_MATRIX_EVENTS = 40
MAX_MATRIX_ACTORS = 40
MAX_TRACKER_MEASURES = 40
MAX_DETAILED_FIGURES = 12


# --- 1. timeline -------------------------------------------------------------------------------


def plot_timeline(timeline: Timeline, window: tuple = (None, None)) -> Chart:
    """Every event on a date axis: one labelled row per event, rows grouped and shaded by phase.

    A range is a bar from the earliest to the latest possible day, a single day a diamond. Dates the
    article states are solid; dates inferred from its wording or assumed are hatched and lighter (an
    open diamond). Each row says its dates, precision and basis in words. Rows too many to print
    legibly on one page are drawn in parts, a page each (``Chart.continued``). Above
    ``MAX_DETAILED_EVENTS`` events the chart counts events per month (or year) by category instead,
    and says so.

    Args:
        timeline: the timeline, usually filtered with ``metrics.filter_timeline``.
        window: the selection's first and last day (None: open), as filtered. The axis shows no more
            than it, so that a month's events are not squeezed beside one that runs on for a year: a
            bar cut at the axis's edge ends in an arrow, and its row gives its whole span.

    Returns:
        The Chart; with no events, a chart that says so.
    """
    events = timeline.events
    note = sources_note(timeline, "Dates inferred or assumed where marked.")
    if events.empty:
        return empty_chart("Timeline", "No events in this selection", note)
    if len(events) > MAX_DETAILED_EVENTS:
        return _plot_event_counts(events, note)
    return _plot_event_rows(events, window, note)


# The detailed timeline's rows, in inches: a phase's heading, the space under its last row, and
# the space around an event's lines.
PHASE_HEADING_IN, PHASE_END_IN, ROW_PADDING_IN = 0.28, 0.06, 0.07
TIMELINE_LABEL_IN = 2.75
AXIS_IN = 0.45  # under the rows: the date axis


def _plot_event_rows(events: pd.DataFrame, window: tuple, note: str) -> Chart:
    """The detailed timeline (plot_timeline): a labelled row per event, in as many parts as it takes
    for each to print legibly on a page (``Chart.continued``); a phase cut between two parts says so."""
    phases = metrics.summarize_phases(events)
    by_id = events.set_index("event_id")
    first, last = events["start"].min(), events["end"].max()
    shown_first = first if window[0] is None else max(first, pd.Timestamp(window[0]))
    shown_last = last if window[1] is None else min(last, pd.Timestamp(window[1]))
    period = f"{first:%B %Y}" + ("" if first.to_period("M") == last.to_period("M") else f" – {last:%B %Y}")
    title = f"When {'the event' if len(events) == 1 else 'the ' + counted(len(events), 'event')} happened, {period}"
    windows = events.groupby(["start", "end"]).size().sort_values(ascending=False, kind="stable")
    (window_start, window_end), shared = windows.index[0], int(windows.iloc[0])
    shared_note = f"{shared} events share the same window, " if shared > 2 else ""
    axis_first, axis_last = axis_days(shown_first, shown_last)  # whole months: what the axis draws
    clipped = first < axis_first or last > axis_last

    def axis_note(long: bool) -> str:
        ends = [f"from {day_label(axis_first, long)}"] if first < axis_first else []
        ends += [f"to {day_label(axis_last, long)}"] if last > axis_last else []
        return f" The axis is cut to the months of the selection ({' '.join(ends)})"

    subtitle = (
        "Grouped by phase, in date order. Bars run from the earliest to the latest possible day (for an assumed "
        "date, the period it is placed in); hatched, lighter bars are dates inferred from the article's wording or assumed."
        + (f" {shared_note}{span_label(window_start, window_end)}." if shared_note else "")
        + (f"{axis_note(False)}; an arrow marks a bar that runs beyond it." if clipped else "")
    )
    categories = [c for c in CATEGORIES if c in set(events["category"].astype(str))]
    has_day = bool((events["start"] == events["end"]).any())
    legend_in = legend_height_in(len(categories) + 2 + has_day, 4)

    rows = []  # (phase, its rows placed before, event, title lines, height), in order
    for phase in phases.itertuples():
        for placed, event_id in enumerate(phase.event_ids):
            event = by_id.loc[event_id]
            title_lines = wrap(event["title"], TIMELINE_LABEL_IN, BODY_PT)
            rows.append((phase, placed, event, title_lines, (len(title_lines) * BODY_PT + SMALL_PT) * LINE + ROW_PADDING_IN))
    # The longest title a part can have ("part 10 of 10") bounds the room its rows have.
    room = Page.room_in(f"{title} (part 10 of 10)", subtitle, note, legend_in) - AXIS_IN
    parts = _fill_parts(rows, room)
    if len(parts) > 1:  # as few parts, but evened out: not a page for the one row left over
        low, high = 0.0, room
        for _ in range(30):
            middle = (low + high) / 2
            low, high = (low, middle) if len(_fill_parts(rows, middle)) <= len(parts) else (middle, high)
        parts = _fill_parts(rows, high)

    per_phase = ", ".join(f"{row.label} {row.events}" for row in phases.itertuples())
    beyond = int(((events["start"] < axis_first) | (events["end"] > axis_last)).sum())
    alt = (
        f"Timeline of {counted(len(events), 'event')} from {day_label(first, True)} to {day_label(last, True)}, in "
        f"{counted(len(phases), 'phase')} ({per_phase}); {metrics.dating_phrase(events)}."
        + (f" {shared_note}{span_label(window_start, window_end, True)}." if shared_note else "")
        + (f"{axis_note(True)}: {counted(beyond, 'event')} {'runs' if beyond == 1 else 'run'} beyond it." if clipped else "")
    )
    drawn = []
    for number, blocks in enumerate(parts, start=1):
        if len(parts) == 1:
            part_title, part_alt = title, alt
        else:
            part_title = f"{title} (part {number} of {len(parts)})"
            shown = sum(len(rows) for _, _, rows in blocks)
            in_phases = "; ".join(f"{phase.label}{', continued' if continued else ''}" for phase, continued, _ in blocks)
            part_alt = f"Part {number} of {len(parts)} of the timeline: {counted(shown, 'event')} ({in_phases})."
            if number == 1:  # the parts are the pages of a printed report; the page on screen shows them in turn
                part_alt = f"{alt} Drawn in {len(parts)} parts, so that each prints legibly on a page. {part_alt}"
        figure = _draw_event_rows(blocks, (part_title, subtitle, note), (shown_first, shown_last), categories, has_day)
        drawn.append(Chart(figure, part_title, part_alt, note))
    return replace(drawn[0], continued=tuple(drawn[1:]))


def _fill_parts(rows: list[tuple], room: float) -> list[list[tuple]]:
    """Rows into parts in order, each part's rows and phase headings at most ``room`` inches (at least one row).

    A part is a list of (phase, continued, [(event, title lines, height)]): a phase cut between two
    parts is ``continued`` in the second.
    """
    parts: list[list[tuple]] = [[]]
    depth, block = 0.0, None
    for phase, placed, event, title_lines, height in rows:
        heading = 0.0 if block is not None and block[0] is phase else PHASE_HEADING_IN + PHASE_END_IN
        if parts[-1] and depth + heading + height > room:
            parts.append([])
            depth, block, heading = 0.0, None, PHASE_HEADING_IN + PHASE_END_IN
        if block is None or block[0] is not phase:
            block = (phase, placed > 0, [])
            parts[-1].append(block)
        block[2].append((event, title_lines, height))
        depth += heading + height
    return parts


def _draw_event_rows(blocks: list[tuple], words: tuple[str, str, str], shown: tuple, categories: list, has_day: bool):
    """One part of the detailed timeline: its phases' rows (``blocks``) on a page of ``words`` (title, subtitle, note)."""
    rows, bands, depth = [], [], 0.0  # rows: (top, height, event, title lines); bands: (top, bottom, phase, continued)
    for phase, continued, phase_rows in blocks:
        top = depth
        depth += PHASE_HEADING_IN
        for event, title_lines, height in phase_rows:
            rows.append((depth, height, event, title_lines))
            depth += height
        depth += PHASE_END_IN
        bands.append((top, depth, phase, continued))
    page = Page(*words, depth + AXIS_IN, legend_height_in(len(categories) + 2 + has_day, 4))
    ax = page.axes(MARGIN_IN + TIMELINE_LABEL_IN + 0.15, WIDTH_IN - MARGIN_IN - 0.1, depth)
    ax.set_ylim(depth, 0)
    ax.set_yticks([])
    date_axis(ax, *shown)

    for top, bottom, phase, continued in bands:
        shaded = phase.Index % 2 == 0
        if shaded:
            page.band(top, bottom)
        heading = f"{phase.label} · {counted(phase.events, 'event')}{' (continued)' if continued else ''}"
        # No mark shares a heading's line: it may run on over the dates, hiding their grid lines.
        lines = wrap(heading, WIDTH_IN - 2 * MARGIN_IN, BODY_PT, 1, "bold")
        backing = {"facecolor": SHADE if shaded else "white", "edgecolor": "none", "pad": 1}
        page.text(MARGIN_IN, top + 0.08, lines, weight="bold", va="top", bbox=backing)
    for top, height, event, title_lines in rows:
        basis = str(event["date_basis"])
        dates = f"{span_label(event['start'], event['end'])} · {event['date_precision']}, {basis}"
        page.text(MARGIN_IN, top + 0.03, title_lines, va="top")
        page.text(MARGIN_IN, top + 0.03 + len(title_lines) * BODY_PT * LINE, dates, SMALL_PT, color=MUTED, va="top")
        _draw_event(ax, event, top + height / 2, basis != "stated")
        _mark_beyond_the_axis(ax, event, top + height / 2)

    handles = [Patch(facecolor=CATEGORY_STYLES[c][0], label=label(c)) for c in categories]
    handles += [
        Patch(facecolor=NEUTRAL, edgecolor=NEUTRAL, label="Date stated (solid)"),
        Patch(facecolor=lighter(NEUTRAL), edgecolor=NEUTRAL, hatch=UNSTATED_HATCH, label="Date inferred or assumed (hatched)"),
    ]
    if has_day:
        handles.append(Line2D([], [], marker="D", linestyle="none", color=NEUTRAL, label="Single day (open: not stated)"))
    page.legend(handles, depth + AXIS_IN, ncol=4)
    return page.figure


def _mark_beyond_the_axis(ax, event, y: float) -> None:
    """An arrowhead at the axis's edge where the event's span runs on beyond it (the bar itself is cut there)."""
    left, right = ax.get_xlim()
    colour = CATEGORY_STYLES[str(event["category"])][0]
    for edge, marker, beyond in (
        (left, "<", mdates.date2num(event["start"]) < left),
        (right, ">", mdates.date2num(event["end"]) + 1 > right),
    ):
        if beyond:
            ax.plot([edge], [y], marker=marker, markersize=7, color=colour, linestyle="none", clip_on=False, gid="event-beyond")


def _draw_event(ax, event, y: float, not_stated: bool) -> None:
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
            markerfacecolor="white" if not_stated else colour,
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
            facecolor=lighter(colour) if not_stated else colour,
            hatch=UNSTATED_HATCH if not_stated else None,
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
    title = f"{counted(len(events), 'event')}, too many to list one by one: events per {unit} by category"
    subtitle = f"Each event is counted in the {unit} of its earliest possible day."
    page = Page(title, subtitle, note, 3.45, legend_height_in(len(categories), 6))
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
    date_axis(ax, counts.index[0].to_timestamp(), counts.index[-1].to_timestamp(how="end").normalize())
    ax.set_ylabel(f"events per {unit}", fontsize=SMALL_PT, color=MUTED)
    ax.grid(axis="y", color=RULE, linewidth=0.5)
    handles = [Patch(facecolor=CATEGORY_STYLES[c][0], hatch=CATEGORY_STYLES[c][1], label=label(c)) for c in categories]
    page.legend(handles, 3.45, ncol=6)
    totals = counts.sum(axis=1)
    peak = totals.idxmax()
    alt = (
        f"Aggregate view of {counted(len(events), 'event')} from {day_label(first, True)} to "
        f"{day_label(events['end'].max(), True)}, counted per {unit} of their earliest possible day and stacked by "
        f"category; the busiest {unit} is {peak.strftime('%B %Y' if unit == 'month' else '%Y')} with "
        f"{counted(int(totals.max()), 'event')}. Dates: {metrics.dating_phrase(events)}."
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
    note = sources_note(timeline, "Numbers as the article words them; bounds as the timeline records them.")
    if cost.empty:
        return empty_chart("Reported human cost", "No figures reported in this selection", note)
    if len(cost) > MAX_DETAILED_FIGURES:
        return _plot_cost_spread(cost, note)
    chart = _plot_cost_rows(cost, note)
    return chart if prints_legibly(chart) else _plot_cost_spread(cost, note)


def _plot_cost_rows(cost: pd.DataFrame, note: str) -> Chart:
    """The detailed human cost: a row per figure, with the article's words (plot_human_cost)."""
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
    page = Page(title, subtitle, note, depth + 0.5)
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
            (wrap(MEASURES[figure.measure].rstrip("."), label_w, BODY_PT, 1, "bold"), BODY_PT, "bold", INK),
            (wrap(f"“{one_line(figure.qualifier)}”", label_w, BODY_PT, 1), BODY_PT, "normal", INK),
            (wrap(_describe_bounds(figure), label_w, SMALL_PT, 1), SMALL_PT, "normal", MUTED),
            (wrap(f"In the time of: {figure.event_title}", label_w, SMALL_PT, 2), SMALL_PT, "normal", MUTED),
        ]
        depth_of_line = top + 0.06
        for lines, size, weight, colour in blocks:
            page.text(MARGIN_IN, depth_of_line, lines, size, weight=weight, color=colour, va="top")
            depth_of_line += len(lines) * size * LINE
        _draw_figure(ax, figure, top + row_h / 2, MEASURE_COLOURS[figure.measure], xmax)

    described = "; ".join(
        f"{MEASURES[f.measure].rstrip('.').lower()}: “{one_line(f.qualifier)}” ({_describe_bounds(f)})" for f in cost.itertuples()
    )
    forms = "lower bounds" if lower_bounds_only else "ranges or lower bounds"
    alt = f"{counted(len(cost), 'reported figure')}, as {forms}, never as exact counts: {described}."
    return Chart(page.figure, title, alt, note)


def _plot_cost_spread(cost: pd.DataFrame, note: str) -> Chart:
    """Too many figures for a row each: per measure, the spread of the lower bounds the words allow."""
    row_h, label_w = 0.55, 2.3
    measures = list(dict.fromkeys(cost["measure"]))
    depth = len(measures) * row_h
    title = f"Reported human cost: {counted(len(cost), 'figure')}, the spread of their lower bounds"
    subtitle = (
        "Too many figures for a row each on a page. For each measure, the line runs from the smallest to the "
        "largest lower bound; the box holds the middle half, the tick is the median. No exact counts."
    )
    page = Page(title, subtitle, note, depth + 0.5)
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
            ax.add_patch(Rectangle((q1, row - 0.18), max(q3 - q1, 1e-9), 0.36, facecolor=lighter(colour), edgecolor=colour))
            ax.plot([median, median], [row - 0.18, row + 0.18], color=colour, linewidth=2)
            described.append(
                f"{name.lower()}: {len(rows):,} figures, lower bounds {low:,.0f} to {high:,.0f}, median {median:,.0f}"
            )
        else:
            described.append(f"{name.lower()}: {len(rows):,} figures with no lower bound")
    alt = f"{counted(len(cost), 'reported figure')}, summarized per measure, never as exact counts: {'; '.join(described)}."
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
        draw_text(ax, low, y - 0.16, f"at least {low:,}", SMALL_PT, ha="left", va="bottom")  # never a count on its own
    if pd.notna(figure.best):
        ax.plot([int(figure.best)], [y], marker="D", color=INK, linestyle="none", gid="figure-best", zorder=4)


def _nice_ceiling(value: float) -> float:
    """The smallest round number (1, 1.5, 2 … 8 × 10^k) at or above ``value``: a tidy axis end."""
    magnitude = 10 ** math.floor(math.log10(max(value, 1)))
    return next(step * magnitude for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if step * magnitude >= value)


# --- 3. actors x events ------------------------------------------------------------------------


def plot_actor_matrix(timeline: Timeline) -> Chart:
    """Who has a role in which event (a subject or recipient too): events as rows in date order, actors as columns.

    Each cell is marked by the actor's role, with a distinct shape and colour per role. Event titles
    read across, in up to two lines for up to 20 events and in one beyond (cut with "…" if longer);
    actors go by their short name where the article gives one. Above ``MAX_MATRIX_EVENTS`` events
    the rows become the actors and the columns their roles, and each cell counts events. Only the
    most involved actors are shown where there are more than fit: ``MAX_MATRIX_ACTORS`` rows, or as
    many columns as leave a line of text between two at 45 degrees. Both are said in the title. The
    rows become the actors too where a row per event would not print legibly on a page.

    Returns:
        The Chart; with nobody involved, one that says so.
    """
    chart = _plot_actor_matrix(timeline, detailed=len(timeline.events) <= MAX_MATRIX_EVENTS)
    return chart if prints_legibly(chart) else _plot_actor_matrix(timeline, detailed=False)


def _plot_actor_matrix(timeline: Timeline, detailed: bool) -> Chart:
    """plot_actor_matrix, with a row per event (``detailed``) or per actor."""
    events = timeline.events
    links = timeline.event_actors[metrics.isin_text(timeline.event_actors["event_id"], events["event_id"])]
    note = sources_note(timeline)
    if links.empty:
        return empty_chart("Actors and events", "No actors involved in this selection", note)
    names = actor_labels(timeline.actors)
    involved = set(links["actor_id"].unique())
    order = [actor for actor in timeline.actors["actor_id"] if actor in involved]
    involvement = links.groupby("actor_id")["event_id"].nunique().reindex(order)
    label_w = 2.6 if detailed else 1.95
    plot_left = MARGIN_IN + label_w + 0.1
    room = WIDTH_IN - MARGIN_IN - 0.1 - plot_left
    most_columns = int(room * math.sqrt(0.5) / (SMALL_PT * LINE))  # the narrowest a 45-degree label allows
    limit = min(MAX_MATRIX_ACTORS, most_columns) if detailed else MAX_MATRIX_ACTORS
    most_involved = set(involvement.sort_values(ascending=False, kind="stable").index[:limit])
    shown = [actor for actor in order if actor in most_involved]
    role_counts = links["role"].astype(str).value_counts()
    present = [role for role in ROLES if role in role_counts]
    most = involvement[involvement == involvement.max()]
    most_events = counted(int(most.iloc[0]), "event")
    if len(order) == 1:
        spread = ""
    elif len(most) == len(order):
        spread = f"; each has a role in {most_events}"
    else:
        spread = f"; most involved: {', '.join(names[most.index])}, {most_events}"
    # An event for which the article names nobody is counted apart, not as one taken part in.
    linked = links["event_id"].nunique()
    nobody = len(events) - linked
    some_events = f"{linked:,} of the {counted(len(events), 'event')}" if nobody else counted(len(events), "event")
    nobody_named = f" The article names nobody with a role in {counted(nobody, 'event')}." if nobody else ""
    alt = (
        f"{counted(len(order), 'actor')} {'has' if len(order) == 1 else 'have'} a role in {some_events}{spread}. "
        f"Roles: {', '.join(f'{r} {role_counts[r]}' for r in present)}.{nobody_named}"
    )
    if detailed:
        title = f"Who has a role in which event: {counted(len(order), 'actor')}, {some_events}"
        subtitle = f"Events top to bottom in date order; each mark is the actor's role in that event.{nobody_named}"
        roles = metrics.actor_roles(timeline)
        # actor_roles names its rows by actor name, which two actors may share; its rows are in `order`.
        roles.index = pd.Index(order)
        row_names = list(events.set_index("event_id").loc[roles.columns, "title"])
        headings = [names[actor] for actor in shown]
    else:
        # metrics.actor_roles builds one column per event, too slow at this size; count links instead.
        title = f"Who has a role in {some_events if nobody else f'the {some_events}'}: events per actor and role"
        subtitle = "Too many events for a row each on a page: each cell counts the events in which the actor had that role."
        subtitle += nobody_named
        counts = pd.crosstab(links["actor_id"], links["role"].astype(str))
        row_names = [names[actor] for actor in shown]
        headings = [label(role) for role in present]
    if len(shown) < len(order):
        title += f" (the {len(shown):,} most involved of {len(order):,} actors)"

    # Up to 20 rows, a label may take two lines; past that, one, in shorter rows: 40 rows then still
    # print at a readable size on one page (chart_layout.PRINT_HEIGHT_IN).
    lines_per_row = 2 if len(row_names) <= 20 else 1
    row_h = 0.3 if lines_per_row == 2 else 0.18
    depth = len(row_names) * row_h
    column_w = min(1.2, room / len(headings))
    plot_right = plot_left + column_w * len(headings)
    # Wide columns take their heading upright and wrapped; narrow ones at 45 degrees, in as many
    # lines as the gap between two columns holds (at least one: see most_columns), each at most 2.6 in.
    upright = column_w >= 0.9
    if upright:
        column_labels = [wrap(h, column_w - 0.1, SMALL_PT, 4) for h in headings]
        below = 0.08
        footer = max(len(lines) for lines in column_labels) * SMALL_PT * LINE + 0.35
    else:
        gap = column_w * math.sqrt(0.5)
        column_labels = [wrap(h, 2.6, SMALL_PT, max(1, int(gap / (SMALL_PT * LINE)))) for h in headings]
        widest = max(text_width_in(line, SMALL_PT) for lines in column_labels for line in lines)
        thickest = max(len(lines) for lines in column_labels) * SMALL_PT * LINE
        below = 0.08 + thickest / 2 * math.sqrt(0.5)  # a label's top corner stays under the last row
        footer = below + (widest + thickest / 2) * math.sqrt(0.5) + 0.27
    page = Page(title, subtitle, note, depth + footer, legend_height_in(len(present), 6) if detailed else 0.0)
    ax = page.axes(plot_left, plot_right, depth)
    ax.axis("off")
    ax.set_xlim(0, len(headings))
    ax.set_ylim(len(row_names), 0)
    # One size for every row: the body's if each label fits on one line in it, else the smaller.
    size = BODY_PT if all(len(wrap(name, label_w, BODY_PT)) == 1 for name in row_names) else SMALL_PT
    for row, name in enumerate(row_names):
        if row % 2 == 0:
            page.band(row * row_h, (row + 1) * row_h, right=plot_right)
        page.text(MARGIN_IN, (row + 0.5) * row_h, wrap(name, label_w, size, lines_per_row), size, va="center")
    for column, lines in enumerate(column_labels):
        ax.axvline(column, color=RULE, linewidth=0.4, zorder=0)
        x = plot_left + (column + 0.5) * column_w
        if upright:
            page.text(x, depth + below, lines, SMALL_PT, ha="center", va="top")
        else:
            # Centred across its column's line, a label of two lines stays clear of its neighbours.
            page.text(x, depth + below, lines, SMALL_PT, rotation=45, ha="right", va="center", rotation_mode="anchor")

    if not detailed:
        for column, role in enumerate(present):
            for row, actor in enumerate(shown):
                if counts.at[actor, role]:
                    draw_text(ax, column + 0.5, row + 0.5, f"{counts.at[actor, role]:,}", SMALL_PT, ha="center", va="center")
        return Chart(page.figure, title, alt, note)
    points: dict[str, list[tuple[float, float]]] = {role: [] for role in present}
    for column, actor in enumerate(shown):
        for row, cell in enumerate(roles.loc[actor]):
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


EFFECT, ASSESSED, NOTHING = metrics.TRACKER_STATUSES
# How each status is marked (the gid names its marks, for tests and SVG).
STATUS_MARKS = {
    EFFECT: {"color": EFFECT_COLOUR, "fillstyle": "full", "gid": "status-effect"},
    ASSESSED: {"color": EFFECT_COLOUR, "fillstyle": "left", "markerfacecoloralt": "white", "gid": "status-assessed"},
    NOTHING: {"color": MUTED, "fillstyle": "full", "markerfacecolor": "white", "gid": "status-none"},
}


def _without_gid(style: dict) -> dict:
    return {key: value for key, value in style.items() if key != "gid"}


def plot_reform_tracker(timeline: Timeline) -> Chart:
    """The reforms and operations by area: what was done, by whom, and what the article reports of it.

    A table-like chart: rows grouped under their area, a status mark (filled: an effect is reported;
    half-filled: an assessment, but no effect; open: nothing), the measure, its implementer and the
    reported effect or assessment in short text. Above ``MAX_TRACKER_MEASURES`` measures, or where a
    row each would not print legibly on a page, it counts measures per area by status.

    Returns:
        The Chart; with no reforms or operations, one that says so.
    """
    tracker = metrics.reform_tracker(timeline)
    note = sources_note(timeline, "Effects and assessments are as the article reports them.")
    if tracker.empty:
        return empty_chart("Reform tracker", "No reforms or operations in this selection", note)
    status = tracker["status"]
    areas = [a for a in REFORM_AREAS if a in set(tracker["area"].unique())]
    in_area = {a: tracker["area"] == a for a in areas}
    total = {kind: int((status == kind).sum()) for kind in STATUS_MARKS}
    per_area = ", ".join(
        f"{label(a)} {m.sum():,} ({(m & (status == EFFECT)).sum():,} with an effect, "
        f"{(m & (status == ASSESSED)).sum():,} assessed)"
        for a, m in in_area.items()
    )
    alt = (
        f"{counted(len(tracker), 'measure')} in {counted(len(areas), 'area')}. An effect is reported for "
        f"{total[EFFECT]:,}, an assessment but no effect for {total[ASSESSED]:,}, and neither for {total[NOTHING]:,}. "
        f"By area: {per_area}."
    )
    title = (
        f"Reforms and operations the article reports: {counted(len(tracker), 'measure')} in "
        f"{counted(len(areas), 'area')}, an effect reported for {total[EFFECT]:,}, an assessment alone for {total[ASSESSED]:,}"
    )
    if len(tracker) > MAX_TRACKER_MEASURES:
        return _plot_tracker_counts(status, in_area, title, alt, note)
    chart = _plot_tracker_rows(timeline, tracker, in_area, (title, alt, note))
    return chart if prints_legibly(chart) else _plot_tracker_counts(status, in_area, title, alt, note)


def _plot_tracker_rows(timeline: Timeline, tracker: pd.DataFrame, in_area: dict, words: tuple[str, str, str]) -> Chart:
    """The detailed tracker (plot_reform_tracker): a row per measure under its area; ``words``: title, alt text, note."""
    title, alt, note = words
    actors = actor_labels(timeline.actors)
    links = metrics.tracker_implementers(timeline)
    implementers = links.groupby("event_id")["actor_id"].agg(lambda ids: ", ".join(actors[i] for i in ids))
    left = {"status": MARGIN_IN, "measure": MARGIN_IN + 0.3, "by": MARGIN_IN + 2.7, "effect": MARGIN_IN + 4.2}
    width = {"measure": 2.25, "by": 1.35, "effect": WIDTH_IN - MARGIN_IN - left["effect"]}
    layout, depth = [], 0.3  # (top, height, area or None, measure, wrapped texts)
    for area in in_area:
        layout.append((depth, 0.28, area, None, None))
        depth += 0.28
        for _, measure in tracker[in_area[area]].iterrows():
            said = measure["reported_effect"] if measure["status"] != NOTHING else "No effect or assessment reported."
            texts = {
                "measure": wrap(measure["title"], width["measure"], BODY_PT, 3),
                "by": wrap(implementers.get(measure["event_id"], "not stated"), width["by"], SMALL_PT, 4),
                "effect": wrap(said, width["effect"], SMALL_PT, 5),
            }
            points = max(len(texts["measure"]) * BODY_PT + SMALL_PT, *(len(texts[k]) * SMALL_PT for k in ("by", "effect")))
            layout.append((depth, points * LINE + 0.12, None, measure, texts))
            depth += points * LINE + 0.12
    subtitle = (
        "Grouped by area. Status: filled circle, an effect is reported; half-filled, an assessment but no effect; "
        "open circle, neither."
    )
    page = Page(title, subtitle, note, depth + 0.15, legend_height_in(3, 3))
    ax = page.axes(0, WIDTH_IN, depth)
    ax.axis("off")
    ax.set_xlim(0, WIDTH_IN)
    ax.set_ylim(depth, 0)
    inside = {"xmin": MARGIN_IN / WIDTH_IN, "xmax": 1 - MARGIN_IN / WIDTH_IN, "color": RULE}
    headings = {"measure": "Measure", "by": "Implemented by", "effect": "Reported effect or assessment"}
    for key, heading in headings.items():
        page.text(left[key], 0.05, heading, SMALL_PT, weight="bold", color=MUTED, va="top")
    ax.axhline(0.27, linewidth=0.6, **inside)
    marks: dict[str, list[tuple[float, float]]] = {kind: [] for kind in STATUS_MARKS}
    shaded = False
    for top, height, area, measure, texts in layout:
        if area is not None:
            heading = f"{label(area)} · {counted(in_area[area].sum(), 'measure')}"
            page.text(MARGIN_IN, top + 0.07, heading, weight="bold", va="top")
            ax.axhline(top + height, linewidth=0.4, **inside)
            shaded = False
            continue
        if shaded:
            page.band(top, top + height)
        shaded = not shaded
        marks[measure["status"]].append((left["status"] + 0.1, top + 0.04 + BODY_PT * LINE / 2))
        page.text(left["measure"], top + 0.04, texts["measure"], va="top")
        kind_depth = top + 0.04 + len(texts["measure"]) * BODY_PT * LINE
        page.text(left["measure"], kind_depth, label(measure["category"]), SMALL_PT, color=MUTED, va="top")
        page.text(left["by"], top + 0.05, texts["by"], SMALL_PT, va="top")
        style = {"color": MUTED, "style": "italic"} if measure["status"] == NOTHING else {"color": INK}
        page.text(left["effect"], top + 0.05, texts["effect"], SMALL_PT, va="top", **style)
    for kind, xy in marks.items():
        if xy:
            xs, ys = zip(*xy, strict=True)
            ax.plot(xs, ys, marker="o", markersize=8, linestyle="none", markeredgewidth=1.5, **STATUS_MARKS[kind])
    handles = [
        Line2D([], [], marker="o", linestyle="none", markeredgewidth=1.5, label=kind.capitalize(), **_without_gid(style))
        for kind, style in STATUS_MARKS.items()
    ]
    page.legend(handles, depth + 0.15, ncol=3)
    return Chart(page.figure, title, alt, note)


def _plot_tracker_counts(status: pd.Series, in_area: dict, title: str, alt: str, note: str) -> Chart:
    """The aggregate tracker: measures per area, split by what the article reports of them."""
    row_h = 0.35
    depth = len(in_area) * row_h
    subtitle = "Too many measures for a row each on a page: measures per area by status."
    page = Page(title, subtitle, note, depth + 0.45, legend_height_in(3, 3))
    ax = page.axes(MARGIN_IN + 1.9, WIDTH_IN - MARGIN_IN - 0.2, depth)
    ax.set_ylim(len(in_area) - 0.5, -0.5)
    ax.set_yticks([])
    rows = np.arange(len(in_area))
    looks = {
        EFFECT: {"facecolor": EFFECT_COLOUR},
        ASSESSED: {"facecolor": lighter(EFFECT_COLOUR), "edgecolor": EFFECT_COLOUR},
        NOTHING: {"facecolor": "white", "edgecolor": MUTED, "hatch": "////"},
    }
    left = np.zeros(len(in_area))
    for kind, look in looks.items():
        counts = np.array([((status == kind) & mask).sum() for mask in in_area.values()])
        ax.barh(rows, counts, 0.6, left=left, gid=STATUS_MARKS[kind]["gid"], **look)
        left += counts
    ax.set_xlabel("measures", fontsize=SMALL_PT, color=MUTED)
    ax.xaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))
    for row, area in enumerate(in_area):
        page.text(MARGIN_IN, (row + 0.5) * row_h, label(area), va="center")
    handles = [Patch(label=kind.capitalize(), **look) for kind, look in looks.items()]
    page.legend(handles, depth + 0.45, ncol=3)
    return Chart(page.figure, title, alt, note)
