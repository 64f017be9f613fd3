"""Validate and type the timeline; collect every problem before raising.

The tables, read as text by ``reading``, are checked column by column with vectorized operations
(fields, keys, dates, bounds, verbatim quotes), and only then typed.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import paths, quantities, relative_dates
from .errors import Problem, TimelineError, closest
from .limits import DEFAULT_MAX_INPUT_MB, max_bytes_of
from .quotes import SourceText, excerpt, normalize_quote, quotation_marks_problem
from .reading import Collector, RawTable, read_bytes, read_table, utf8_problems
from .schema import DATE_PATTERN, TABLES, TABLES_BY_NAME, Field

EARLIEST_DAY = pd.Timestamp("1678-01-01")
LATEST_DAY = pd.Timestamp("2261-12-31")
_AMBIGUOUS_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})")
_SOURCE_ID = re.compile(TABLES_BY_NAME["sources"].field("source_id").pattern)


@dataclass
class Timeline:
    """The validated, typed timeline: one DataFrame per table, plus the source texts."""

    sources: pd.DataFrame
    events: pd.DataFrame
    actors: pd.DataFrame
    event_actors: pd.DataFrame
    figures: pd.DataFrame
    claims: pd.DataFrame
    source_texts: dict[str, str] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)

    def actor_names(self) -> pd.Series:
        """actor_id -> the actor's full name."""
        return self.actors.set_index("actor_id")["name"]


def valid_message(timeline: Timeline) -> str:
    """'timeline valid: 1 source, 13 events, …; every quote found verbatim in its source'."""
    from .narrative import counted  # narrative builds on this module

    counts = ", ".join(counted(len(timeline.table(table.name)), table.record) for table in TABLES)
    return f"timeline valid: {counts}; every quote found verbatim in its source"


def validation_message(data_dir: str | Path | None = None, *, max_input_mb: float | None = DEFAULT_MAX_INPUT_MB) -> str:
    """What ``python -m analysis validate`` prints, as text for a notebook: that the timeline is valid, or
    every problem found."""
    try:
        return valid_message(load_timeline(data_dir, max_input_mb=max_input_mb))
    except TimelineError as error:
        return str(error)


def load_timeline(data_dir: str | Path | None = None, *, max_input_mb: float | None = DEFAULT_MAX_INPUT_MB) -> Timeline:
    """Load and validate the timeline under ``data_dir`` (default: the repository's ``data/``).

    Args:
        data_dir: a folder holding ``timeline/`` (the CSV files) and ``sources/`` (the texts).
        max_input_mb: refuse any input file larger than this before parsing it; None for no limit.

    Returns:
        A :class:`Timeline` with dates as datetimes, enums as categoricals and text as strings.

    Raises:
        TimelineError: with every problem found, each naming file, line, record and field.
    """
    data_dir = Path(data_dir) if data_dir is not None else paths.DATA_DIR
    max_bytes = max_bytes_of(max_input_mb)
    collector = Collector()
    timeline_dir = paths.require_timeline_dir(data_dir)
    raws: dict[str, RawTable] = {}
    for table in TABLES:
        raw = read_table(table, timeline_dir / table.path, collector, max_bytes)
        if raw is not None:
            raws[table.name] = raw
    parsed: dict[tuple[str, str], pd.Series] = {}
    codes = _Codes(raws)
    for raw in raws.values():
        _check_fields(raw, collector, parsed, codes)
        _check_primary_key(raw, collector, codes)
    for raw in raws.values():
        _check_foreign_keys(raw, raws, collector, codes)
    _check_event_dates(raws.get("events"), parsed, collector)
    _check_stated_dates(raws.get("events"), parsed, collector, codes)
    _check_events_not_after_their_source(raws.get("events"), raws.get("sources"), parsed, collector, codes)
    _check_inferred_dates(raws.get("events"), raws.get("sources"), parsed, collector, codes)
    _check_event_locations(raws.get("events"), collector, codes)
    _check_figure_bounds(raws.get("figures"), parsed, collector)
    _check_figures_follow_their_words(raws.get("figures"), parsed, collector, codes)
    texts = _read_sources(data_dir, raws.get("sources"), collector, max_bytes)
    for raw in raws.values():
        _check_verbatim(raw, texts, collector, codes)
        _check_quotation_marks(raw, texts, collector, codes)
    if collector.problems:
        raise TimelineError(collector.problems)
    frames = {name: _typed(raw, parsed) for name, raw in raws.items()}
    return Timeline(
        **frames,
        source_texts={source_id: text.original for source_id, text in texts.items()},
    )


def _check_fields(raw: RawTable, collector: Collector, parsed: dict, codes: _Codes) -> None:
    frame = raw.frame
    for spec in raw.table.fields:
        column = frame[spec.name]
        present = (column != "").to_numpy()
        if spec.required:
            collector.rows(raw, ~present, spec.name, lambda row: "required value is missing")
        if spec.required and spec.type == "string" and not (spec.pattern or spec.enum):  # free text; others say why
            # A match per row, not trimmed copies of the text: a million quotes would double the memory.
            words = pc.match_substring_regex(pa.array(column), r"[^ \t\n\r\f\v]").to_numpy(zero_copy_only=False)
            blank = present & ~words
            collector.rows(raw, blank, spec.name, lambda row: "required value is white space alone")
        values = column.array  # positional, read only for the rows reported
        if spec.pattern:
            indices, distinct = codes.text(raw.table.name, spec.name)  # each distinct value matched once
            bad = present & ~distinct.str.fullmatch(spec.pattern).to_numpy(dtype=bool)[indices]
            collector.rows(raw, bad, spec.name, lambda row: _pattern_message(spec, values[row]))
        if spec.enum:
            bad = present & ~column.isin(spec.values).to_numpy()
            collector.rows(raw, bad, spec.name, lambda row: _enum_message(spec, values[row]))
        if spec.type == "integer":
            # ASCII digits only: Python's \d would take "٥" or "９", which no CSV reader reads as a number.
            whole = column.str.fullmatch(r"-?[0-9]+").to_numpy(dtype=bool)
            collector.rows(raw, present & ~whole, spec.name, lambda row: f"{excerpt(values[row])!r} is not a whole number")
            too_large = _beyond_int64(column, whole)
            collector.rows(
                raw, too_large, spec.name, lambda row: f"{excerpt(values[row])} is too large for a whole number {_INT64_RANGE}"
            )
            numbers = _whole_numbers(column, whole & ~too_large)
            if spec.minimum is not None:
                below = (numbers < spec.minimum).fillna(False).to_numpy(dtype=bool)
                collector.rows(raw, below, spec.name, lambda row: f"{values[row]} is below the minimum {spec.minimum}")
            parsed[(raw.table.name, spec.name)] = numbers
        if spec.type == "date":
            indices, distinct = codes.text(raw.table.name, spec.name)  # each distinct day parsed once
            distinct_iso = distinct.str.fullmatch(DATE_PATTERN).to_numpy(dtype=bool)
            iso = distinct_iso[indices]
            collector.rows(raw, present & ~iso, spec.name, lambda row: _date_format_message(values[row]))
            # Coercion here is deliberate and never silent: every value it turns into NaT is reported.
            distinct_dates = pd.to_datetime(
                distinct.where((distinct != "").to_numpy() & distinct_iso), format="%Y-%m-%d", errors="coerce"
            )
            dates = pd.Series(distinct_dates.to_numpy()[indices], index=column.index, name=column.name)
            unreal = present & iso & dates.isna().to_numpy()
            collector.rows(raw, unreal, spec.name, lambda row: f"{values[row]!r} is not a real date")
            # Days are stored as datetime64[ns], whose range ends are pandas' own limits.
            outside = (dates.notna() & ((dates < EARLIEST_DAY) | (dates > LATEST_DAY))).to_numpy()
            collector.rows(
                raw,
                outside,
                spec.name,
                lambda row: f"{values[row]!r} is outside the supported range {EARLIEST_DAY:%Y-%m-%d} to {LATEST_DAY:%Y-%m-%d}",
            )
            parsed[(raw.table.name, spec.name)] = dates.where(~outside).astype("datetime64[ns]")


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT64_RANGE = f"(from {_INT64_MIN} to {_INT64_MAX})"


def _beyond_int64(column: pd.Series, whole: np.ndarray) -> np.ndarray:
    """Rows whose whole number a 64-bit integer cannot hold: only those of 19 to 20 characters are read in Python
    (longer ones cannot fit, and Python refuses to read more than 4,300 digits)."""
    lengths = column.str.len().to_numpy()
    beyond = whole & (lengths > 20)
    values = column.array
    for row in np.flatnonzero(whole & (lengths >= 19) & (lengths <= 20)):
        beyond[row] = not _INT64_MIN <= int(values[row]) <= _INT64_MAX
    return beyond


def _whole_numbers(column: pd.Series, readable: np.ndarray) -> pd.Series:
    """The readable rows' numbers as Int64, the others missing; parsed by Arrow, exactly (pandas goes through
    floats, which cannot hold every 64-bit integer)."""
    numbers = pc.cast(pc.if_else(readable, _arrow(column), pa.scalar(None, pa.string())), pa.int64())
    values = numbers.fill_null(0).to_numpy(zero_copy_only=False)
    missing = numbers.is_null().to_numpy(zero_copy_only=False)
    return pd.Series(pd.arrays.IntegerArray(values, missing), index=column.index, name=column.name)


def _pattern_message(spec: Field, value: str) -> str:
    value = excerpt(value)
    if spec.name.endswith("_id"):
        return f"{value!r} is not a valid id (lowercase letters, digits and single hyphens)"
    if spec.name == "sha256":
        return f"{value!r} is not a SHA-256 digest (64 lowercase hex digits)"
    return f"{value!r} does not match the pattern {spec.pattern}"


def _enum_message(spec: Field, value: str) -> str:
    hint = closest(value, spec.values)
    suggestion = f" (did you mean {hint!r}?)" if hint else ""
    return f"{excerpt(value)!r} is not one of: {', '.join(spec.values)}{suggestion}"


def _date_format_message(value: str) -> str:
    ambiguous = _AMBIGUOUS_DATE.fullmatch(value)
    if ambiguous:
        first, second, year = ambiguous.groups()
        return (
            f"{value!r} is not YYYY-MM-DD (ambiguous: day {first} of month {second}, "
            f"or month {first} day {second}, of {year}); write it as YYYY-MM-DD"
        )
    return f"{excerpt(value)!r} is not YYYY-MM-DD"


def _check_primary_key(raw: RawTable, collector: Collector, codes: _Codes) -> None:
    key = list(raw.table.primary_key)
    frame = raw.frame
    if _all_distinct(raw, codes):
        return
    complete = (frame[key] != "").all(axis=1).to_numpy()
    duplicated = frame.duplicated(subset=key, keep="first").to_numpy() & complete
    if not duplicated.any():
        return
    # The line of each key's first row, for all rows at once: a loop over a million duplicates took minutes.
    group = frame.groupby(key, sort=False).ngroup().to_numpy()
    first_line = pd.Series(raw.lines).groupby(group).transform("min").to_numpy()
    collector.rows(
        raw,
        duplicated,
        "/".join(key),
        lambda row: f"duplicate {'/'.join(key)} (first defined at line {first_line[row]})",
    )


class _Codes:
    """Text columns dictionary-encoded once (in Arrow), for the checks of keys, references and patterns.

    ``codes(table, field)`` gives one integer per row and the distinct values they index. Columns
    joined by foreign keys are encoded together, so equal text has equal codes in every table.
    """

    def __init__(self, raws: dict[str, RawTable]) -> None:
        self._raws = raws
        self._root: dict[tuple[str, str], tuple[str, str]] = {}
        for raw in raws.values():
            for foreign_key in raw.table.foreign_keys:
                if foreign_key.table in raws:
                    (child,), (parent,) = foreign_key.fields, foreign_key.reference
                    a, b = self._find((raw.table.name, child)), self._find((foreign_key.table, parent))
                    if a != b:
                        self._root[a] = b
        self._done: dict[tuple[str, str], tuple[np.ndarray, pa.Array]] = {}

    def _find(self, column: tuple[str, str]) -> tuple[str, str]:
        while column in self._root:
            column = self._root[column]
        return column

    def __call__(self, table: str, field: str) -> tuple[np.ndarray, pa.Array]:
        if (table, field) not in self._done:
            root = self._find((table, field))
            members = [(table, field)] + [c for c in self._root if c != (table, field) and self._find(c) == root]
            if root not in members:
                members.append(root)
            columns = [self._raws[name].frame[column] for name, column in members]
            indices, distinct = _dictionary_encode(columns)
            offset = 0
            for member, column in zip(members, columns, strict=True):
                self._done[member] = (indices[offset : offset + len(column)], distinct)
                offset += len(column)
        return self._done[(table, field)]

    def text(self, table: str, field: str) -> tuple[np.ndarray, pd.Series]:
        """As calling it, with the distinct values as a Series of the column's own dtype."""
        indices, distinct = self(table, field)
        return indices, distinct.to_pandas().astype(self._raws[table].frame[field].dtype)


def _dictionary_encode(columns: list[pd.Series]) -> tuple[np.ndarray, pa.Array]:
    """Codes for the rows of ``columns`` one after the other, and the distinct values they index."""
    chunks = []
    for column in columns:
        array = pa.array(column)  # zero-copy where pandas holds the text in Arrow
        chunks += array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    kind = chunks[0].type if chunks else pa.large_string()
    encoded = pc.dictionary_encode(pa.chunked_array([chunk.cast(kind) for chunk in chunks], type=kind))
    if encoded.num_chunks == 0:
        return np.zeros(0, dtype=np.int32), pa.array([], type=kind)
    distinct = encoded.chunk(0).dictionary
    # Arrow gives every chunk the one dictionary of the whole; should it not, encode a single array.
    if any(_memory(chunk.dictionary) != _memory(distinct) for chunk in encoded.chunks):
        encoded = pc.dictionary_encode(pa.concat_arrays([chunk.cast(kind) for chunk in chunks]))
        return encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary
    indices = np.concatenate([chunk.indices.to_numpy(zero_copy_only=False) for chunk in encoded.chunks])
    return indices, distinct


def _memory(array: pa.Array) -> tuple:
    """Where an Arrow array's data lies: the same for two views of the very same array."""
    return tuple(None if b is None else b.address for b in array.buffers()), array.offset, len(array)


def _all_distinct(raw: RawTable, codes: _Codes) -> bool:
    """True if no two rows have the same key: a fast path, before pandas finds the duplicates."""
    group = np.zeros(len(raw.frame), dtype=np.int64)
    size = 1
    for name in raw.table.primary_key:
        indices, distinct = codes(raw.table.name, name)
        count = max(len(distinct), 1)
        if size * count >= 2**62:
            return False
        group = group * count + indices
        size *= count
    group.sort()
    return not (group[1:] == group[:-1]).any()


def _check_foreign_keys(raw: RawTable, raws: dict[str, RawTable], collector: Collector, codes: _Codes) -> None:
    for foreign_key in raw.table.foreign_keys:
        parent = raws.get(foreign_key.table)
        if parent is None:
            continue
        (child_field,), (parent_field,) = foreign_key.fields, foreign_key.reference
        column = raw.frame[child_field]
        known = parent.frame[parent_field]
        parent_codes, distinct = codes(parent.table.name, parent_field)
        known_codes = np.zeros(len(distinct), dtype=bool)
        known_codes[parent_codes] = True
        dangling = (column != "").to_numpy() & ~known_codes[codes(raw.table.name, child_field)[0]]
        if not dangling.any():
            continue
        values = column.array
        known_ids = sorted(_arrow(known).unique().to_pylist())

        def message(row: int) -> str:
            value = values[row]
            hint = closest(value, known_ids)
            suggestion = f"; did you mean {hint!r}?" if hint else ""
            listed = ", ".join(map(excerpt, known_ids[:10])) + (", …" if len(known_ids) > 10 else "")
            return f"{child_field} {excerpt(value)!r} not found in {parent.table.path}{suggestion} (known: {listed})"

        collector.rows(raw, dangling, child_field, message)


def _arrow(column: pd.Series) -> pa.Array:
    """A text column as one Arrow array (zero-copy where pandas already holds it in Arrow)."""
    array = pa.array(column)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _check_event_dates(raw: RawTable | None, parsed: dict, collector: Collector) -> None:
    if raw is None:
        return
    frame = raw.frame
    start, end = parsed[("events", "start")], parsed[("events", "end")]
    backwards = (end < start).to_numpy(dtype=bool)
    collector.rows(raw, backwards, "end", lambda row: f"end {frame['end'].iat[row]} is before start {frame['start'].iat[row]}")
    precision = frame["date_precision"]
    day = (precision == "day").to_numpy() & (start != end).to_numpy(dtype=bool) & ~backwards
    collector.rows(
        raw,
        day,
        "date_precision",
        lambda row: f"precision is day but start {frame['start'].iat[row]} and end {frame['end'].iat[row]} differ",
    )
    whole_month = ((start.dt.day == 1) & (end == start + pd.offsets.MonthEnd(0)) & (start.dt.month == end.dt.month)).to_numpy(
        dtype=bool
    )
    month = (precision == "month").to_numpy() & start.notna().to_numpy() & end.notna().to_numpy() & ~whole_month
    collector.rows(
        raw,
        month,
        "date_precision",
        lambda row: f"precision is month but {frame['start'].iat[row]} to {frame['end'].iat[row]} is not one whole month",
    )
    basis = frame["date_basis"]
    no_note = (basis.isin(("inferred", "assumed")) & (frame["date_note"].str.strip() == "")).to_numpy()
    says = {"inferred": "how", "assumed": "why"}
    collector.rows(
        raw, no_note, "date_note", lambda row: f"date_basis is {basis.iat[row]} but date_note does not say {says[basis.iat[row]]}"
    )


_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_TIME_WORD = re.compile(r"[A-Za-z]+|[0-9]+")  # English month names and ASCII digits: "²" is no day


def _time_words(text: str) -> dict[str, set[int]]:
    """The years (four digits), months (English names) and days (one or two digits) that words for a time name."""
    words = _TIME_WORD.findall(text)
    return {
        "year": {int(word) for word in words if word.isdigit() and len(word) == 4},
        "month": {_MONTHS[word.lower()] for word in words if word.lower() in _MONTHS},
        "day": {int(word) for word in words if word.isdigit() and len(word) <= 2},
    }


def _check_stated_dates(raw: RawTable | None, parsed: dict, collector: Collector, codes: _Codes) -> None:
    """A date the article states is in its words: date_text names the year of start and end, and, as the
    precision requires, their month and day. Without this, a mistyped stated date would pass as the article's.

    Each distinct date_text is read once (they are the article's words, so few); the rows are checked
    against what their text names as arrays.
    """
    if raw is None:
        return
    frame = raw.frame
    stated = (frame["date_basis"] == "stated").to_numpy(dtype=bool)
    if not stated.any():
        return
    text_codes, distinct = codes.text("events", "date_text")
    named = [_time_words(text) for text in distinct.tolist()]
    empty = stated & (frame["date_text"] == "").to_numpy(dtype=bool)
    collector.rows(
        raw, empty, "date_text", lambda row: "date_basis is stated but date_text is empty: give the article's words for the time"
    )
    blank = (frame["date_text"].str.strip() == "").to_numpy(dtype=bool)  # white space alone: the verbatim rule tells it
    precision = frame["date_precision"]
    required = {
        "year": np.ones(len(frame), dtype=bool),
        "month": precision.isin(["day", "range", "month"]).to_numpy(dtype=bool),
        "day": precision.isin(["day", "range"]).to_numpy(dtype=bool),
    }
    # The precision must be the words': a single day names one day, a range two or more, a month none.
    days_named = np.array([len(words["day"]) for words in named], dtype=np.int64)[text_codes]
    fits = {"day": days_named == 1, "range": days_named >= 2, "month": days_named == 0}
    needs = {"day": "one day", "range": "two days or more", "month": "no day"}
    unfit = np.zeros(len(frame), dtype=bool)
    for kind, fitting in fits.items():
        unfit |= (precision == kind).to_numpy(dtype=bool) & ~fitting
    collector.rows(
        raw,
        stated & ~blank & unfit,
        "date_precision",
        lambda row: (
            f"date_basis is stated but date_text {excerpt(frame['date_text'].iat[row])!r} names "
            f"{days_named[row]} day{'' if days_named[row] == 1 else 's'}: precision {precision.iat[row]} needs "
            f"{needs[precision.iat[row]]}"
        ),
    )
    codes_key = text_codes.astype(np.int64) * 10_000  # (text, value) as one integer: values are below 10,000
    for name in ("start", "end"):
        days = parsed[("events", name)]
        missing = {}
        for part, needed in required.items():
            allowed = [code * 10_000 + value for code, words in enumerate(named) for value in words[part]]
            values = getattr(days.dt, part).fillna(0).to_numpy(dtype=np.int64)
            missing[part] = needed & ~np.isin(codes_key + values, np.array(allowed, dtype=np.int64))
        checked = stated & ~blank & days.notna().to_numpy(dtype=bool)
        wrong = checked & (missing["year"] | missing["month"] | missing["day"])

        def message(row: int, name: str = name, days: pd.Series = days, missing: dict = missing) -> str:
            what = " or ".join(part for part in required if missing[part][row])
            return (
                f"date_basis is stated but date_text {excerpt(frame['date_text'].iat[row])!r} does not give "
                f"the {what} of {name} {days.iat[row]:%Y-%m-%d}"
            )

        collector.rows(raw, wrong, name, message)


def _published_day_of_each_event(parsed: dict, codes: _Codes) -> np.ndarray:
    """The day each event's source was published (datetime64[ns]; NaT where no such source is known)."""
    # The foreign key encodes both source_id columns together: a code is a source, in either table.
    event_codes, distinct = codes("events", "source_id")
    source_codes, _ = codes("sources", "source_id")
    published_by_code = np.full(len(distinct), np.datetime64("NaT"), dtype="datetime64[ns]")
    # Written last to first, so that a duplicated source's first row wins (the duplicate is reported already).
    published_by_code[source_codes[::-1]] = parsed[("sources", "published")].to_numpy()[::-1]
    return published_by_code[event_codes]


def _check_inferred_dates(
    raw: RawTable | None, sources: RawTable | None, parsed: dict, collector: Collector, codes: _Codes
) -> None:
    """An inferred date whose words a rule of relative_dates knows is the days they give from its source's day.

    Each distinct (date_text, publication day) is read once; words no rule knows are left to the date_note.
    """
    if raw is None or sources is None:
        return
    frame = raw.frame
    inferred = (frame["date_basis"] == "inferred").to_numpy(dtype=bool) & (frame["date_text"] != "").to_numpy(dtype=bool)
    if not inferred.any():
        return
    text_codes, distinct = codes.text("events", "date_text")
    published = _published_day_of_each_event(parsed, codes)
    rows = np.flatnonzero(inferred & ~np.isnat(published))
    # (text, day) as one integer: the supported days (1677 to 2262) are fewer than a million apart.
    keys = text_codes[rows].astype(np.int64) * 1_000_000 + published[rows].astype("datetime64[D]").astype(np.int64) % 1_000_000
    _, first, pair_of_row = np.unique(keys, return_index=True, return_inverse=True)
    texts = distinct.tolist()
    readings = [
        relative_dates.days_allowed(texts[text_codes[rows[row]]], pd.Timestamp(published[rows[row]]).date()) for row in first
    ]
    for position, name in enumerate(("start", "end")):
        days = parsed[("events", name)]
        expected = np.array(
            [np.datetime64("NaT") if reading is None else np.datetime64(reading[0][position]) for reading in readings],
            dtype="datetime64[ns]",
        )[pair_of_row]
        wrong = np.zeros(len(frame), dtype=bool)
        wrong[rows] = ~np.isnat(expected) & (days.to_numpy()[rows] != expected)  # NaT days: reported already
        wrong &= days.notna().to_numpy()

        def message(row: int, position=position, name=name, days=days) -> str:
            allowed_days, rule = readings[pair_of_row[np.searchsorted(rows, row)]]
            return (
                f"{name} {days.iat[row]:%Y-%m-%d} is not what date_text {excerpt(frame['date_text'].iat[row])!r} gives "
                f"in a source published {pd.Timestamp(published[row]):%Y-%m-%d}: {allowed_days[position]:%Y-%m-%d} ({rule})"
            )

        collector.rows(raw, wrong, name, message)


def _check_events_not_after_their_source(
    raw: RawTable | None, sources: RawTable | None, parsed: dict, collector: Collector, codes: _Codes
) -> None:
    """No event starts or ends after its source was published: the timeline holds what the article reports."""
    if raw is None or sources is None:
        return
    day = _published_day_of_each_event(parsed, codes)
    source_ids = raw.frame["source_id"]
    start, end = parsed[("events", "start")].to_numpy(), parsed[("events", "end")].to_numpy()
    late_start = start > day  # NaT compares False: a missing day is reported already
    for field_name, late, days in (("start", late_start, start), ("end", (end > day) & ~late_start, end)):
        collector.rows(
            raw,
            late,
            field_name,
            lambda row, field_name=field_name, days=days: (
                f"{field_name} {pd.Timestamp(days[row]):%Y-%m-%d} is after its source {source_ids.iat[row]!r} was "
                f"published ({pd.Timestamp(day[row]):%Y-%m-%d}): the timeline holds what the article reports"
            ),
        )


def _check_event_locations(raw: RawTable | None, collector: Collector, codes: _Codes) -> None:
    """A stated place must be the source's words: in the quote, or, where the quote does not name it, in location_quote."""
    if raw is None:
        return
    combinations, row_combination = _distinct_rows(raw, ("location", "quote", "location_quote"), codes)
    failures: dict[str, dict[int, str]] = {"location": {}, "location_quote": {}}
    for position, (location, quote, given) in enumerate(combinations):
        place, quote, location_quote = (normalize_quote(value) for value in (location, quote, given))
        if given and not location_quote:
            continue  # white space alone: the verbatim check refuses it
        if location_quote and not place:
            failures["location_quote"][position] = "location_quote is given but location is empty"
        elif location_quote and not _names(location_quote, place):
            failures["location_quote"][position] = f"location {excerpt(place)!r} is not found in location_quote"
        elif location_quote and _names(quote, place):
            failures["location_quote"][position] = (
                f"the quote names location {excerpt(place)!r} itself: location_quote is only for a place it does not name"
            )
        elif place and not location_quote and not _names(quote, place):
            failures["location"][position] = (
                f"location {excerpt(place)!r} is not found in the quote; where another sentence of the source names "
                "the place, put its words in location_quote"
            )
    for name, messages in failures.items():
        _report_combinations(raw, collector, name, row_combination, messages)


def _names(text: str, place: str) -> bool:
    """Whether ``text`` holds ``place`` as whole words: "Juba" is in "in Juba." but "Jub" is not."""
    return re.search(rf"(?<!\w){re.escape(place)}(?!\w)", text) is not None


def _check_figure_bounds(raw: RawTable | None, parsed: dict, collector: Collector) -> None:
    if raw is None:
        return
    bounds = {name: parsed[("figures", name)] for name in ("low", "best", "high")}
    for smaller, larger in (("low", "best"), ("best", "high"), ("low", "high")):
        above = (bounds[smaller] > bounds[larger]).fillna(False).to_numpy(dtype=bool)
        collector.rows(
            raw,
            above,
            larger,
            lambda row, s=smaller, g=larger: (
                f"{s} {bounds[s].iat[row]} is greater than {g} {bounds[g].iat[row]} (rule low <= best <= high)"
            ),
        )


def _check_figures_follow_their_words(raw: RawTable | None, parsed: dict, collector: Collector, codes: _Codes) -> None:
    """Low, best and high are what the figure's qualifier allows (quantities.WORDINGS), each wording read once."""
    if raw is None:
        return
    indices, distinct = codes.text("figures", "qualifier")
    readings = [quantities.allowed(words) for words in distinct.tolist()]
    qualifiers = raw.frame["qualifier"].array
    unknown = np.array([reading is None for reading in readings], dtype=bool)[indices] & (raw.frame["qualifier"] != "").to_numpy()
    collector.rows(
        raw,
        unknown,
        "qualifier",
        lambda row: (
            f"{excerpt(qualifiers[row])!r} is a wording with no rule for the numbers it allows "
            f"(the rules know: {quantities.KNOWN_FORMS}; a new wording needs its own in analysis/quantities.py)"
        ),
    )
    for position, name in enumerate(("low", "best", "high")):
        expected = pd.array([None if reading is None else reading[0][position] for reading in readings], dtype="Int64")[indices]
        numbers = parsed[("figures", name)]
        missing = numbers.isna().to_numpy()
        unreadable = missing & (raw.frame[name] != "").to_numpy()  # reported as such already
        same = numbers.fillna(0).to_numpy() == expected.fillna(0).to_numpy(dtype="int64")  # exact: no floats
        differs = (missing != expected.isna()) | (~missing & ~same)
        wrong = differs & ~unknown & ~unreadable & (raw.frame["qualifier"] != "").to_numpy()

        def message(row: int, position=position, name=name, numbers=numbers) -> str:
            bounds, rule = readings[indices[row]]
            value, wanted = numbers.iat[row], bounds[position]
            shown = "empty" if pd.isna(value) else f"{value:,}"
            return (
                f"{name} {shown} is not what the qualifier {excerpt(qualifiers[row])!r} allows: "
                f"{'empty' if wanted is None else f'{wanted:,}'} ({rule})"
            )

        collector.rows(raw, wrong, name, message)


def _read_sources(data_dir: Path, raw: RawTable | None, collector: Collector, max_bytes: int | None) -> dict[str, SourceText]:
    texts: dict[str, SourceText] = {}
    if raw is None:
        return texts
    ids, digests = raw.frame["source_id"].to_numpy(), raw.frame["sha256"].to_numpy()
    for row, source_id in enumerate(ids):
        # An id the pattern check refused is never made a path: it may hold a NUL or lead out of sources/.
        if not _SOURCE_ID.fullmatch(source_id):
            continue
        path = paths.source_file(data_dir, source_id)
        label = paths.display(path)
        before = len(collector.problems)
        data = read_bytes(path, label, collector, max_bytes)
        if data is None:
            where = f" (referenced by {raw.label}:{raw.lines[row]})"
            collector.problems[before:] = [
                replace(problem, message=problem.message + where) for problem in collector.problems[before:]
            ]
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digests[row] and digest != digests[row]:
            collector.add(
                Problem(
                    raw.label,
                    f"{label} has SHA-256 {digest}, not the recorded {digests[row]}: the source text changed",
                    line=int(raw.lines[row]),
                    record=raw.record(row),
                    field="sha256",
                )
            )
        utf8 = utf8_problems(data, label)
        if utf8:
            collector.problems.extend(utf8)
            continue
        texts[source_id] = SourceText(data.decode("utf-8-sig"), label)
    return texts


def _check_verbatim(raw: RawTable, texts: dict[str, SourceText], collector: Collector, codes: _Codes) -> None:
    verbatim = [spec for spec in raw.table.fields if spec.verbatim]
    if not verbatim:
        return
    for spec in verbatim:
        name = spec.name
        pairs, row_pair = _distinct_rows(raw, ("source_id", name), codes)
        failures: dict[int, str] = {}
        for position, (source_id, value) in enumerate(pairs):
            text = texts.get(source_id)
            if text is None or value == "":
                continue
            if not normalize_quote(value):
                if not spec.required:  # a required one is refused as such
                    failures[position] = "only white space: there are no words to find in the source"
                continue
            divergence = text.find_divergence(value)
            if divergence:
                failures[position] = divergence
        _report_combinations(raw, collector, name, row_pair, failures)


def _check_quotation_marks(raw: RawTable, texts: dict[str, SourceText], collector: Collector, codes: _Codes) -> None:
    """Our words mark what they take of the source (quotes.quotation_marks_problem).

    Arrow first finds, with each source's ``quoted_runs_pattern``, the rows that hold a quotation mark or
    a run of someone's words; only those are checked exactly, each distinct (source, quote, text) once.
    """
    specs = [spec for spec in raw.table.fields if spec.quotes_from]
    if not specs:
        return
    source_codes, source_ids = codes(raw.table.name, "source_id")
    patterns = {
        code: texts[source_id].quoted_runs_pattern()
        for code, source_id in enumerate(source_ids.to_pylist())
        if source_id in texts
    }

    def candidates(spec: Field) -> np.ndarray:
        column = _arrow(raw.frame[spec.name])
        found = np.zeros(len(raw.frame), dtype=bool)
        for code, pattern in patterns.items():
            found |= pc.match_substring_regex(column, pattern).to_numpy(zero_copy_only=False) & (source_codes == code)
        return found

    # Arrow lets go of the GIL as it scans: the columns are scanned side by side, a million rows each.
    with ThreadPoolExecutor(max_workers=2) as pool:
        scanned = list(pool.map(candidates, specs))
    for spec, found_rows in zip(specs, scanned, strict=True):
        rows = np.flatnonzero(found_rows)
        if not len(rows):
            continue
        found = [raw.frame[name].array[rows] for name in ("source_id", "quote", spec.name)]  # three columns, not the frame
        keys = dict(zip(rows.tolist(), zip(*found, strict=True), strict=True))
        failures: dict[tuple[str, str, str], str] = {}
        for source_id, quote, words in set(keys.values()):
            row_quote = quote if spec.quotes_from == "quote" else None
            if row_quote is not None and (not quote or texts[source_id].find_divergence(quote) is not None):
                continue  # the quote's own problem is reported already
            problem = quotation_marks_problem(words, texts[source_id], row_quote)
            if problem:
                failures[(source_id, quote, words)] = f"{spec.name} {excerpt(words)!r}: {problem}"
        failed = np.zeros(len(raw.frame), dtype=bool)
        failed[rows] = [key in failures for key in keys.values()]
        collector.rows(raw, failed, spec.name, lambda row, keys=keys, failures=failures: failures[keys[row]])


def _distinct_rows(raw: RawTable, names: tuple[str, ...], codes: _Codes) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """The distinct combinations of the named fields' values, and for each row the position of its own."""
    key = np.zeros(len(raw.frame), dtype=np.int64)
    size = 1  # how many values key can take
    columns = []
    for name in names:
        indices, distinct = codes(raw.table.name, name)
        count = max(len(distinct), 1)
        if size * count >= 2**62:  # renumbered first, so that the product stays within int64
            key, taken = pd.factorize(key)
            size = max(len(taken), 1)
        key = key * count + indices
        size *= count
        columns.append((indices, distinct))
    key, _ = pd.factorize(key)  # numbered in order of first appearance
    # A combination appears first where the running maximum of the numbers grows.
    first_rows = np.flatnonzero(np.diff(np.maximum.accumulate(key), prepend=-1) > 0)
    values = [distinct.take(pa.array(indices[first_rows])).to_pylist() for indices, distinct in columns]
    return list(zip(*values, strict=True)), key


def _report_combinations(raw: RawTable, collector: Collector, name: str, row_combination: np.ndarray, messages: dict) -> None:
    """A problem for every row whose combination (a position from ``_distinct_rows``) has a message."""
    if messages:
        failed = np.isin(row_combination, list(messages))
        collector.rows(raw, failed, name, lambda row: messages[row_combination[row]])


def _typed(raw: RawTable, parsed: dict) -> pd.DataFrame:
    columns = {}
    for spec in raw.table.fields:
        column = raw.frame[spec.name]
        if (raw.table.name, spec.name) in parsed:
            columns[spec.name] = parsed[(raw.table.name, spec.name)]
        elif spec.enum:
            columns[spec.name] = pd.Series(_categorical(column, list(spec.values)), index=column.index)
        else:
            columns[spec.name] = column
    return pd.DataFrame(columns)


def _categorical(column: pd.Series, categories: list[str]) -> pd.Categorical:
    """``pd.Categorical(column.where(column != ""), categories)``, the text encoded once in Arrow."""
    encoded = pc.dictionary_encode(_arrow(column))
    positions = pd.Index(categories).get_indexer(encoded.dictionary.to_pylist())  # "" and others: -1
    codes = positions[encoded.indices.to_numpy(zero_copy_only=False)]
    return pd.Categorical.from_codes(codes, categories=categories)
