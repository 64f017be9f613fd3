"""What every chart shares: its style, its text (measured, wrapped, always literal), its page laid out in inches, its PNG."""

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
from matplotlib.patches import Rectangle
from matplotlib.textpath import text_to_path

from .load import Timeline
from .narrative import format_day, source_credit
from .quotes import excerpt

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
UNSTATED_HATCH = "////"

WIDTH_IN = 7.5  # an A4 page less 2.4 cm margins
MARGIN_IN = 0.25
TITLE_PT, BODY_PT, SMALL_PT = 11, 8, 7
LINE = 1.3 / 72  # inches of one line of text, per point of font size
# On paper (report.css) a chart is scaled down to the A4 text column and to at most 210 mm tall;
# no chart text may then print smaller than MIN_PRINTED_PT. A chart that would be taller than
# MAX_HEIGHT_IN is drawn in parts, a page each (the timeline), or in its aggregate form (see prints_legibly).
PRINT_WIDTH_IN, PRINT_HEIGHT_IN = 174 / 25.4, 210 / 25.4
MIN_PRINTED_PT = 6.0
MAX_HEIGHT_IN = PRINT_HEIGHT_IN * SMALL_PT / MIN_PRINTED_PT


@dataclass(frozen=True)
class Chart:
    """A drawn chart and the words that go with it."""

    figure: Figure
    title: str  # what the chart shows
    alt_text: str  # generated from the data: what it shows, with the numbers
    source_note: str  # where the data comes from; also printed under the chart
    empty: bool = False  # nothing to show: a report says so in a line instead of showing the figure
    continued: tuple[Chart, ...] = ()  # its further parts, where one page cannot hold it legibly


# --- text: measured, wrapped, always literal ---------------------------------------------------


@lru_cache(maxsize=16)
def _font(size: float, weight: str) -> FontProperties:
    return FontProperties(family="DejaVu Sans", size=size, weight=weight)


# A report measures the same strings again (70 of the full report's 381 measurements: labels that
# recur from chart to chart, and the halving's probes), and each measurement shapes the text anew.
@lru_cache(maxsize=4096)
def text_width_in(text: str, size: float, weight: str = "normal") -> float:
    """Inches ``text`` takes on one line in DejaVu Sans at ``size`` points, with room for Agg's hinting."""
    width, _, _ = text_to_path.get_text_width_height_descent(text, _font(size, weight), ismath=False)
    # Agg's hinting draws text up to ~4 % wider than its outline at 150 dpi (measured): leave room.
    return width / 72 * 1.06


def one_line(text) -> str:
    """Data text as one line: white space runs as one space; control characters (no glyph) dropped."""
    spaced = " ".join(str(text).split())
    return "".join(char for char in spaced if unicodedata.category(char) != "Cc")


def wrap(text, width_in: float, size: float, max_lines: int = 2, weight: str = "normal") -> list[str]:
    """Lines no wider than ``width_in`` as measured in the font; past ``max_lines``, cut with "…".

    Greedy: each line takes as many words as fit. A line's width grows with every word added, so
    the count that fits is found by halving (a handful of measurements per line, not one per word;
    each measurement shapes the text, about half a millisecond).
    """
    clean = one_line(text)
    # No line holds 200 characters at these sizes, so a longer tail could not show anyway; cutting
    # first keeps a megabyte of hostile text from costing one measurement per word.
    limit = max_lines * 200
    cut, clean = len(clean) > limit, clean[:limit]

    def fits(line: str) -> bool:
        return text_width_in(line, size, weight) <= width_in

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


def draw_text(target, x, y, lines, size=BODY_PT, color=INK, **kwargs):
    """Text drawn literally: parse_math=False, so "$5 to $10" or "\\frac" never become mathtext."""
    string = lines if isinstance(lines, str) else "\n".join(lines)
    return target.text(x, y, string, fontsize=size, color=color, parse_math=False, **kwargs)


def day_label(value, long: bool = False) -> str:
    """'8 Jul 2016', or with ``long`` '8 July 2016', as the report's text writes a day."""
    return format_day(value) if long else f"{value.day} {value:%b %Y}"


def span_label(start, end, long: bool = False) -> str:
    """'8–12 Jul 2016', 'Mar 2017', '8 Jul – 19 Nov 2016', '1 Nov 2016 – 19 Apr 2017'."""
    month = "%B" if long else "%b"
    if start == end:
        return day_label(start, long)
    if start.day == 1 and end == start + pd.offsets.MonthEnd(0):
        return f"{start:{month} %Y}"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{day_label(end, long)}"
    if start.year == end.year:
        return f"{start.day} {start:{month}} – {day_label(end, long)}"
    return f"{day_label(start, long)} – {day_label(end, long)}"


def sources_note(timeline: Timeline, extra: str = "") -> str:
    """'Source: UN News, "<title>", 19 April 2017.' for the sources the shown events cite."""
    sources = timeline.sources[timeline.sources["source_id"].isin(timeline.events["source_id"].unique())]
    if sources.empty:
        sources = timeline.sources
    parts = [  # a long title is cut: it must not hide the date
        source_credit(one_line(row.publisher), excerpt(one_line(row.title), 160), row.published) for row in sources.itertuples()
    ]
    return f"Source: {'; '.join(parts) or 'none recorded'}. {extra}".strip()


# --- figure scaffolding: everything laid out in inches -----------------------------------------


class Page:
    """A figure of ``WIDTH_IN``: title and subtitle, a body ``body_in`` tall, a legend, the source note.

    Positions in the body are inches below its top, so rows of text and marks line up exactly.
    """

    def __init__(self, title: str, subtitle: str, source_note: str, body_in: float, legend_in: float = 0.0):
        title_lines, subtitle_lines, note_lines, self.header_in, foot_in = self._layout(title, subtitle, source_note)
        self.body_in = body_in
        self.height = self.header_in + body_in + legend_in + foot_in
        self.figure = Figure(figsize=(WIDTH_IN, self.height), facecolor="white")
        inches = self.figure.dpi_scale_trans
        top = self.height - MARGIN_IN
        draw_text(self.figure, MARGIN_IN, top, title_lines, TITLE_PT, weight="bold", va="top", transform=inches)
        if subtitle_lines:
            below = top - len(title_lines) * TITLE_PT * LINE - 0.03
            draw_text(self.figure, MARGIN_IN, below, subtitle_lines, color=MUTED, va="top", transform=inches)
        draw_text(self.figure, MARGIN_IN, 0.12, note_lines, SMALL_PT, color=MUTED, va="bottom", transform=inches)

    @staticmethod
    def _layout(title: str, subtitle: str, source_note: str) -> tuple[list[str], list[str], list[str], float, float]:
        """The page's words in lines, and the inches they take above the body and below the legend."""
        usable = WIDTH_IN - 2 * MARGIN_IN
        title_lines = wrap(title, usable, TITLE_PT, 2, "bold")
        subtitle_lines = wrap(subtitle, usable, BODY_PT, 4) if subtitle else []
        note_lines = wrap(source_note, usable, SMALL_PT, 3)
        header_in = MARGIN_IN + (len(title_lines) * TITLE_PT + len(subtitle_lines) * BODY_PT) * LINE + 0.15
        return title_lines, subtitle_lines, note_lines, header_in, len(note_lines) * SMALL_PT * LINE + 0.2

    @classmethod
    def room_in(cls, title: str, subtitle: str, source_note: str, legend_in: float = 0.0) -> float:
        """The tallest body a page of these words can have and still print legibly (``MAX_HEIGHT_IN``)."""
        *_, header_in, foot_in = cls._layout(title, subtitle, source_note)
        return MAX_HEIGHT_IN - (header_in + legend_in + foot_in)

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
        """Literal text (``draw_text``) at ``x`` inches across, ``depth`` inches below the body's top."""
        return draw_text(self.figure, x, self.y(depth), lines, size, transform=self.figure.dpi_scale_trans, **kwargs)

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
        """The figure's legend in ``ncol`` columns, its top ``depth`` inches below the body's top (labels literal)."""
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


def printed_pt(chart: Chart, size: float = SMALL_PT) -> float:
    """The size text of ``size`` points in the chart prints at, once scaled to the page (report.css)."""
    width_in, height_in = chart.figure.get_size_inches()
    return size * min(1.0, PRINT_WIDTH_IN / width_in, PRINT_HEIGHT_IN / height_in)


def prints_legibly(chart: Chart) -> bool:
    """Whether the chart's smallest text prints at ``MIN_PRINTED_PT`` or more: it is not taller than ``MAX_HEIGHT_IN``."""
    return printed_pt(chart) >= MIN_PRINTED_PT


def legend_height_in(entries: int, ncol: int) -> float:
    """Inches a figure legend of ``entries`` in ``ncol`` columns takes (Page.legend's layout)."""
    return math.ceil(entries / ncol) * 0.2 + 0.1


def empty_chart(subject: str, message: str, source_note: str) -> Chart:
    """A chart that says, in its figure, title and alt text, that there is nothing to show."""
    title = f"{subject}: {message[0].lower()}{message[1:]}"
    page = Page(title, "", source_note, body_in=1.0)
    page.text(WIDTH_IN / 2, 0.5, message, 10, color=MUTED, ha="center", va="center")
    return Chart(page.figure, title, f"{message}: nothing to chart.", source_note, empty=True)


def actor_labels(actors: pd.DataFrame) -> pd.Series:
    """actor_id -> the short name where the article gives one (UNMISS), else the name."""
    short = actors["short_name"].fillna("").map(one_line)
    return pd.Series(np.where(short != "", short, actors["name"].map(one_line)), index=actors["actor_id"])


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


def axis_days(first, last) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last day a date axis from ``first`` to ``last`` shows: whole months."""
    return first.to_period("M").to_timestamp(), last.to_period("M").to_timestamp() + pd.offsets.MonthEnd(0)


def date_axis(ax, first, last) -> None:
    """An x axis of dates from the start of ``first``'s month to the end of ``last``'s (``axis_days``)."""
    axis_first, axis_last = axis_days(first, last)
    ax.set_xlim(mdates.date2num(axis_first), mdates.date2num(axis_last + pd.Timedelta(days=1)))
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=4, maxticks=13))
    ax.xaxis.set_major_formatter(_DateLabels())
    ax.grid(axis="x", color=RULE, linewidth=0.5)
    ax.set_axisbelow(True)


def lighter(colour: str, amount: float = 0.6) -> tuple[float, float, float]:
    """``colour`` mixed with white, ``amount`` of the way (the look of a date the article does not state)."""
    return tuple(channel + (1 - channel) * amount for channel in mcolors.to_rgb(colour))


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
    # The size Agg drew at is the figure's inches times the dpi, truncated; but a height a float tick
    # short of a whole pixel is rounded up (matplotlib 3.11) or not (earlier): read it from the bytes.
    width_in, height_in = chart.figure.get_size_inches()
    width = int(width_in * dpi + 1e-8)
    height, leftover = divmod(len(pixels.getbuffer()), 4 * width)
    if leftover or abs(height - height_in * dpi) > 1:
        raise RuntimeError(f"matplotlib drew {len(pixels.getbuffer())} bytes, not a {width}-pixel-wide RGBA image of the figure")
    size = (width, height)
    drawn = Image.frombuffer("RGBA", size, pixels.getbuffer(), "raw", "RGBA", 0, 1)
    # Saved as RGB on white: the figures are opaque anyway, and WeasyPrint must split an alpha
    # channel off every RGBA image (a tenth of a full report's PDF time).
    opaque = Image.new("RGB", size, "white")
    opaque.paste(drawn, mask=drawn.getchannel("A"))
    png = io.BytesIO()
    opaque.save(png, format="png", dpi=(dpi, dpi))
    return png.getvalue()
