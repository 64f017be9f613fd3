"""Read the timeline's files as text: size limit, UTF-8, header, CSV structure; every problem collected.

CSV files are parsed by pyarrow (all columns as text: "007" stays "007", "NA" stays "NA"), with the
physical line on which each row starts. When pyarrow refuses a file, the slower standard-library
parser runs once more to say exactly where and why.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from . import paths
from .errors import Problem, closest
from .limits import size_problem
from .quotes import excerpt
from .schema import Table

UNPARSED_NOTE = "this file's values are checked once it can be read"
# A rule broken on many rows is reported row by row up to this count, then summarized.
MAX_PROBLEMS_PER_RULE = 50
_BOM = b"\xef\xbb\xbf"
# Arrow's default allocator (mimalloc) hands freed memory back to the system at once, and the CSV
# reader allocates and frees block after block: with transparent huge pages each block then faults
# in afresh. The C library's allocator reuses it; on a 375 MB file, parsing took a third the time.
_CSV_MEMORY = pa.system_memory_pool()


@dataclass
class RawTable:
    """A CSV file read as text, with the physical line on which each row starts."""

    table: Table
    label: str
    frame: pd.DataFrame
    lines: np.ndarray

    def record(self, row: int) -> str:
        """How a problem names row ``row``: 'event "juba-fighting"', by its primary key."""
        key = excerpt("/".join(str(self.frame.iloc[row][name]) for name in self.table.primary_key))
        return f'{self.table.record} "{key}"' if key.strip("/") else f"{self.table.record} (no key)"


class Collector:
    """Gathers problems; reports the rows of a vectorized check, capped per rule."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, problem: Problem) -> None:
        """Keep one problem."""
        self.problems.append(problem)

    def rows(self, raw: RawTable, mask, field_name: str, message) -> None:
        """Add a problem for each row where ``mask`` holds; ``message(row_index)`` words it."""
        self.capped(
            raw.label,
            mask,
            lambda row: Problem(raw.label, message(row), line=int(raw.lines[row]), record=raw.record(row), field=field_name),
            field_name,
        )

    def capped(self, label: str, mask, problem, field_name: str | None = None) -> None:
        """Add ``problem(row_index)`` for the first rows where ``mask`` holds, then how many more there are."""
        flagged = np.flatnonzero(np.asarray(mask, dtype=bool))
        for row in flagged[:MAX_PROBLEMS_PER_RULE]:
            self.add(problem(row))
        if len(flagged) > MAX_PROBLEMS_PER_RULE:
            rest = len(flagged) - MAX_PROBLEMS_PER_RULE
            self.add(Problem(label, f"and {rest:,} more rows with the same problem", field=field_name))


def _readable(path: Path, label: str, collector: Collector, max_bytes: int | None) -> bool:
    """Whether ``path`` is a file within the size limit; if not, say why."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        collector.add(Problem(label, "file not found", missing_input=True))
        return False
    except OSError as error:
        collector.add(Problem(label, f"cannot read: {error.strerror}", missing_input=True))
        return False
    if path.is_dir():
        collector.add(Problem(label, "is a folder, expected a file", missing_input=True))
        return False
    problem = size_problem(size, label, max_bytes)
    if problem is not None:
        collector.add(problem)
        return False
    return True


def read_bytes(path: Path, label: str, collector: Collector, max_bytes: int | None) -> bytes | None:
    """The file's bytes, or None with the reason collected (missing, a folder, too large, unreadable)."""
    if not _readable(path, label, collector, max_bytes):
        return None
    try:
        return path.read_bytes()
    except OSError as error:
        collector.add(Problem(label, f"cannot read: {error.strerror}", missing_input=True))
        return None


def _read_head(path: Path, label: str, collector: Collector, max_bytes: int | None) -> bytes | None:
    """As ``read_bytes``, but only up to the first line break: Arrow streams the rest from the file.

    Reading a large file whole into one bytes object costs more than parsing it (every page of
    fresh memory faults in), so the body is read only when pyarrow refuses it, to say why.
    """
    if not _readable(path, label, collector, max_bytes):
        return None
    blocks = []
    try:
        with path.open("rb") as file:
            while block := file.read(2**16):
                blocks.append(block)
                if b"\n" in block:
                    break
    except OSError as error:
        collector.add(Problem(label, f"cannot read: {error.strerror}", missing_input=True))
        return None
    return b"".join(blocks)


def utf8_problems(data: bytes, label: str, limit: int = 10) -> list[Problem]:
    """Every place (up to ``limit``) where ``data`` is not valid UTF-8, as line and column."""
    problems = []
    offset = 0
    while len(problems) < limit:
        try:
            data[offset:].decode("utf-8")
            break
        except UnicodeDecodeError as error:
            position = offset + error.start
            line = data.count(b"\n", 0, position) + 1
            column = position - (data.rfind(b"\n", 0, position) + 1) + 1
            problems.append(Problem(label, f"not valid UTF-8 (byte 0x{data[position]:02X})", line=line, column=column))
            offset = position + max(1, error.end - error.start)
    return problems


def read_table(table: Table, path: Path, collector: Collector, max_bytes: int | None) -> RawTable | None:
    """The CSV file of ``table`` as text, its rows' physical lines, blank lines dropped; None if unreadable.

    Problems (size, encoding, header, structure, blank lines, no rows) go to ``collector``.
    """
    label = paths.display(path)
    data = _read_head(path, label, collector, max_bytes)  # the header line; pyarrow reads the rest
    if data is None:
        return None
    start = len(_BOM) if data.startswith(_BOM) else 0
    header_end = data.find(b"\n", start)
    header_bytes = data[start : header_end if header_end >= 0 else len(data)].rstrip(b"\r")
    if not header_bytes.strip():
        collector.add(Problem(label, "no header (the file is empty)", line=1))
        return None
    try:
        header = next(csv.reader([header_bytes.decode("utf-8")]))
    except UnicodeDecodeError:
        collector.problems.extend(utf8_problems(data[: header_end if header_end >= 0 else len(data)], label))
        return None
    if not _check_header(table, header, label, collector):
        return None
    # pyarrow parses in blocks of 1 MB and refuses a row longer than a block: then the file is one block.
    # Its streaming reader, not read_csv: read_csv takes SIGINT and SIGTERM for the read, passes a
    # stop on through a thread of its own and asks for it as the read ends, so a signal that comes in
    # the read's last moments is lost (a Ctrl-C, and the render went on to publish). Read this way,
    # the signal stays with Python's handler and is raised as the read returns.
    for whole in (False, True):
        try:
            with pa.OSFile(str(path)) as body:
                body.seek(start)
                block_size = body.size() - start + 1 if whole else None
                arrow = pacsv.open_csv(
                    body,
                    read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=block_size),
                    parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
                    convert_options=pacsv.ConvertOptions(
                        column_types={name: pa.large_string() for name in header},  # as pandas holds text
                        strings_can_be_null=False,
                        quoted_strings_can_be_null=False,
                        null_values=[],
                    ),
                    memory_pool=_CSV_MEMORY,
                ).read_all()
            break
        except pa.ArrowInvalid as error:
            if not whole and "straddl" in str(error):
                continue
            data = read_bytes(path, label, collector, max_bytes)
            if data is None:
                return None
            problems = utf8_problems(data, label) or _structure_problems(data[start:], header, label)
            problems = problems or [Problem(label, "cannot be parsed as CSV")]
            # Its values are not checked until it parses: say so, lest a fix seem to bring new problems.
            problems[-1] = replace(problems[-1], message=f"{problems[-1].message} ({UNPARSED_NOTE})")
            collector.problems.extend(problems)
            return None
        except OSError as error:  # the file changed or vanished while pyarrow read it
            collector.add(Problem(label, f"cannot read: {error.strerror or error}", missing_input=True))
            return None
    frame = arrow.to_pandas()
    newlines = np.zeros(arrow.num_rows, dtype=np.int64)
    for column in arrow.columns:
        if _may_hold_newline(column):  # counting is slow; most columns have no line break at all
            newlines += pc.count_substring(column, "\n").to_numpy(zero_copy_only=False)
    lines = 2 + np.arange(arrow.num_rows) + np.concatenate(([0], np.cumsum(newlines)[:-1]))
    raw = RawTable(table, label, frame[list(table.field_names)], lines)
    blank = (frame == "").all(axis=1).to_numpy() if len(frame.columns) else np.zeros(0, bool)
    if blank.any():
        collector.capped(label, blank, lambda row: Problem(label, "blank line (remove it)", line=int(lines[row])))
        keep = ~blank
        raw = RawTable(table, label, raw.frame[keep].reset_index(drop=True), lines[keep])
    if raw.frame.empty and not table.may_be_empty:
        collector.add(Problem(label, f"0 {table.name}: the timeline needs at least one", line=1))
    return raw


def _may_hold_newline(column: pa.ChunkedArray) -> bool:
    """False only if no "\n" byte is in the column's character data (scanned raw, at memory speed)."""
    for chunk in column.chunks:
        buffers = chunk.buffers()
        if len(buffers) != 3:
            return True
        if buffers[2] is not None and buffers[2].to_pybytes().find(b"\n") >= 0:
            return True
    return False


def _check_header(table: Table, header: list[str], label: str, collector: Collector) -> bool:
    before = len(collector.problems)
    expected = table.field_names
    for position, name in enumerate(header, start=1):
        if name != name.strip():
            collector.add(Problem(label, f"column {position} {name!r} has white space around its name", line=1))
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if name in seen:
            collector.add(Problem(label, f"duplicate column {name!r} (columns {seen[name]} and {position})", line=1))
        seen.setdefault(name, position)
    found = ", ".join(header)
    for name in expected:
        if name not in seen and name.strip() not in {h.strip() for h in header}:
            collector.add(Problem(label, f"missing column {name!r} (found: {found})", line=1, field=name))
    for name in header:
        if name.strip() not in expected:
            hint = closest(name.strip(), expected)
            suggestion = f"; did you mean {hint!r}?" if hint else ""
            collector.add(Problem(label, f"unexpected column {name!r}{suggestion} (expected: {', '.join(expected)})", line=1))
    return len(collector.problems) == before


def _structure_problems(data: bytes, header: list[str], label: str) -> list[Problem]:
    """Locate rows with the wrong number of fields, or an unclosed quote, with the csv module."""
    text = data.decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems: list[Problem] = []
    record_start = 1
    width = len(header)
    try:
        for row in reader:
            if reader.line_num > 1 and row and len(row) != width:
                unquoted = "; a value holding a comma must be in double quotes" if len(row) > width else ""
                problems.append(Problem(label, f"expected {width} fields, found {len(row)}{unquoted}", line=record_start))
            record_start = reader.line_num + 1
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            problems.append(Problem(label, "quoted field opened here is never closed", line=record_start))
        elif reader.line_num > record_start:  # a quote left open swallowed the line breaks up to the error
            where = f"quoted field opened here runs on to line {reader.line_num}, where the CSV breaks"
            problems.append(Problem(label, f"{where}: {error}", line=record_start))
        else:
            line = text.split("\n")[reader.line_num - 1].rstrip("\r")  # as csv counts lines: \n, not U+2028
            problems.append(_malformed_line(line, reader.line_num, header, label, error))
    return problems


def _malformed_line(line: str, number: int, header: list[str], label: str, error: csv.Error) -> Problem:
    """The problem of a line the csv module refused: where a quoted value closes before its field ends, if it does."""
    broken = _text_after_a_closing_quote(line)
    if broken is None:
        return Problem(label, f"malformed CSV: {error}", line=number)
    field, column = broken
    name = header[field] if field < len(header) else None
    return Problem(
        label,
        f"a quoted value ends before {line[column - 1]!r}: its closing quote is missing, or a quote inside it is not "
        'doubled ("")',
        line=number,
        column=column,
        field=name,
    )


def _text_after_a_closing_quote(line: str) -> tuple[int, int] | None:
    """(field index, 1-based column) of the first character after a quoted value's closing quote that is not a comma."""
    field, quoted, closed, at_start, index = 0, False, False, True, 0
    while index < len(line):
        char = line[index]
        if quoted:
            if char == '"' and line[index + 1 : index + 2] == '"':  # a doubled quote: one quote of the value
                index += 1
            elif char == '"':
                quoted, closed = False, True
        elif closed and char != ",":
            return field, index + 1
        elif char == ",":
            field, closed, at_start = field + 1, False, True
        else:
            quoted, at_start = char == '"' and at_start, False
        index += 1
    return None
