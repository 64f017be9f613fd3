"""Property-based tests: whatever goes into a CSV cell or a parameter, the answer is a value or a located error.

Any text or bytes written into any cell of the real timeline either loads (text fields give back exactly
what was written) or raises TimelineError whose every problem names the file and a line, and the field
or the column; never another exception, never a hang (hypothesis' deadline). Any parameter names and
values either pass the checker and come back JSON-native, or raise ParameterError.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shlex
from pathlib import Path

import pandas as pd
import pytest
from conftest import DATA, DataCopy
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analysis import ParameterError, TimelineError, load_timeline
from analysis.cli import build_parser
from analysis.parameters import PARAMETERS, SPECS, check_parameters, parse_assignment, render_command
from analysis.schema import CATEGORIES, TABLES, TABLES_BY_NAME

# Modest counts (each example loads the whole timeline); the deadline turns a hang into a failure.
SETTINGS = settings(max_examples=120, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(SETTINGS, max_examples=50)

# Every cell of the real data, as (table, row, field).
ROWS = {table.name: list(csv.DictReader((DATA / "timeline" / table.path).open(encoding="utf-8", newline=""))) for table in TABLES}
CELLS = [(table.name, row, spec.name) for table in TABLES for row in range(len(ROWS[table.name])) for spec in table.fields]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> DataCopy:
    """One copy of data/ for the module; each example rewrites one file and puts it back."""
    return DataCopy(tmp_path_factory.mktemp("properties") / "data")


def csv_bytes(table: str, row: int, field: str, value: str) -> bytes:
    """The table as the csv module writes it, with one cell set to ``value``.

    Every field is quoted: with minimal quoting the csv module leaves a lone "\r" bare when lines end
    in "\n", and every reader takes that for a line break.
    """
    rows = [dict(r) for r in ROWS[table]]
    rows[row][field] = value
    buffer = io.StringIO(newline="")
    fields = list(TABLES_BY_NAME[table].field_names)
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8", errors="surrogatepass")  # a lone surrogate becomes invalid UTF-8


def load_with(data: DataCopy, table: str, content: bytes):
    """Load the timeline with ``table``'s file replaced by ``content``; the file is restored after."""
    path = data.csv(table)
    original = path.read_bytes()
    path.write_bytes(content)
    try:
        return load_timeline(data.root)
    finally:
        path.write_bytes(original)


STRUCTURE = ("expected ", "blank line", "quoted field opened here", "no header", "malformed CSV", "missing column")


def assert_located(error: TimelineError, structure: bool = False) -> None:
    """Every problem names its file and line, and the field or column (or, for bytes, what breaks the CSV)."""
    assert error.problems
    for problem in error.problems:
        # The broken file, or a file whose check it broke (a key another table refers to, a source's digest).
        assert Path(problem.path).suffix in {".csv", ".md"}, problem
        if problem.message.startswith("and ") and "more rows with the same problem" in problem.message:
            assert problem.field, problem  # the summary line after the first rows of one rule
            continue
        if problem.missing_input:  # a source file that is not there has no line: it names the one citing it
            assert "(referenced by " in problem.message and ".csv:" in problem.message, problem
            continue
        assert problem.line is not None, problem
        assert problem.field or problem.column or (structure and problem.message.startswith(STRUCTURE)), problem


def check_text_in_cell(data: DataCopy, cell: tuple[str, int, str], value: str) -> None:
    table, row, field = cell
    try:
        timeline = load_with(data, table, csv_bytes(table, row, field, value))
    except TimelineError as error:
        assert_located(error)
        return
    spec = TABLES_BY_NAME[table].field(field)
    loaded = timeline.table(table)[field].iloc[row]
    if spec.enum:  # a category: empty is missing, anything else must be one of the allowed values
        assert (pd.isna(loaded) and value == "") or loaded == value
    elif spec.type == "string":
        assert loaded == value


@SETTINGS
@example(cell=("events", 7, "date_text"), value="²")  # a digit to str.isdigit, not to int(): it crashed a rule
@given(cell=st.sampled_from(CELLS), value=st.text())
def test_any_text_in_any_cell_loads_exactly_or_is_located(data, cell, value):
    check_text_in_cell(data, cell, value)


@FEWER
@given(
    cell=st.sampled_from(CELLS),
    value=st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from('",\n\r\x00\ufeff\u2028')),
)
def test_quotes_commas_line_breaks_and_nul_round_trip(data, cell, value):
    check_text_in_cell(data, cell, value)


@FEWER
@given(cell=st.sampled_from(CELLS), value=st.text(min_size=1).map(lambda text: text[:1] + "\ud800" + text[1:]))
def test_a_lone_surrogate_is_invalid_utf8_with_line_and_column(data, cell, value):
    table, row, field = cell
    with pytest.raises(TimelineError) as caught:
        load_with(data, table, csv_bytes(table, row, field, value))
    assert_located(caught.value)
    assert any("not valid UTF-8 (byte 0xED)" in problem.message for problem in caught.value.problems)


@settings(SETTINGS, max_examples=80)
@given(cell=st.sampled_from(CELLS), raw=st.binary(), append=st.booleans())
def test_any_bytes_in_a_cell_or_after_it_load_or_are_located(data, cell, raw, append):
    table, row, field = cell
    marker = "zzcellzz"
    original = ROWS[table][row][field]
    content = csv_bytes(table, row, field, original + marker if append else marker)
    try:
        load_with(data, table, content.replace(marker.encode(), raw, 1))
    except TimelineError as error:
        assert_located(error, structure=True)


@FEWER
@given(raw=st.binary(), table=st.sampled_from([table.name for table in TABLES]))
def test_any_bytes_appended_to_a_file_load_or_are_located(data, raw, table):
    try:
        load_with(data, table, data.csv(table).read_bytes() + raw)
    except TimelineError as error:
        assert_located(error, structure=True)


# --- parameters ------------------------------------------------------------------------------------

ANY_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.binary()
    | st.dates()
    | st.sampled_from(["2016-07-01", "2017-04-19", "", "none", *CATEGORIES, "guterres", "within", "overlap"]),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.frozensets(st.text(), max_size=3),
    max_leaves=8,
)
NAMES = st.sampled_from([spec.name for spec in PARAMETERS]) | st.text() | st.integers() | st.none()


def assert_json_native(checked: dict) -> None:
    assert set(checked) == set(SPECS)
    text = json.dumps(checked, allow_nan=False)  # no tuple, set, bytes, date, NaN or infinity survives
    assert json.loads(text) == checked
    for value in checked.values():
        assert value is None or isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


VALID_PARAMETERS = {"title": "A title", "start": "2016-07-01", "actors": ["guterres"]}
VALID_ASSIGNMENT = "title=A title"


@SETTINGS
@example(values=VALID_PARAMETERS)
@given(values=st.dictionaries(NAMES, ANY_VALUE, max_size=4))
def test_any_parameters_pass_as_json_or_raise_parameter_error(values):
    try:
        checked = check_parameters(values)
    except ParameterError as error:  # refused: then the message names what it refused
        assert values != VALID_PARAMETERS, error  # a checker refusing everything fails here
        named = any(repr(name) in str(error) for name in values)
        assert named or ({"start", "end"} <= values.keys() and " is after end " in str(error)), str(error)
        return
    assert_json_native(checked)
    for name, value in values.items():
        if isinstance(value, str) and SPECS[name].kind in {"text", "path", "date"}:
            # Text is never changed, only accepted or refused; an empty date or path means none.
            assert checked[name] == (None if SPECS[name].kind in {"path", "date"} and value == "" else value)


@SETTINGS
@example(text=VALID_ASSIGNMENT)
@given(text=st.text())
def test_any_command_line_assignment_passes_as_json_or_raises_parameter_error(text):
    try:
        checked = check_parameters(dict([parse_assignment(text)]))
    except ParameterError as error:
        assert text != VALID_ASSIGNMENT, error  # refused: then the message names the assignment or its name
        name = text.partition("=")[0]
        assert any(said in str(error) for said in (repr(text), repr(name), repr(name.strip()))), str(error)
        return
    assert_json_native(checked)
    name, _, raw = text.partition("=")
    if SPECS[name.strip()].kind == "text":
        assert checked[name.strip()] == raw


SLUGS = st.from_regex(r"[a-z0-9]+(-[a-z0-9]+)*", fullmatch=True)
CHECKED_PARAMETERS = st.fixed_dictionaries(
    {
        "title": st.text().filter(lambda title: title == "" or title.strip()),  # white space alone is refused
        "start": st.none() | st.dates().map(str),
        "end": st.none() | st.dates().map(str),
        "dates": st.sampled_from(SPECS["dates"].choices),
        "actors": st.lists(SLUGS, max_size=3),
        "categories": st.lists(st.sampled_from(list(CATEGORIES)), max_size=3),
        "data_dir": st.none()
        | st.sampled_from(["/tmp/my data", "/tmp/it's; $(rm -rf ~)", "relative/dir", " padded dir ", "None", "  "])
        | st.text(min_size=1),
    }
).filter(lambda parameters: not (parameters["start"] and parameters["end"] and parameters["start"] > parameters["end"]))

# What a variant in reports.toml may declare by the time the command is run: some of the parameters.
DECLARED_BY_A_VARIANT = CHECKED_PARAMETERS.flatmap(
    lambda values: st.sets(st.sampled_from(sorted(values))).map(lambda names: {name: values[name] for name in names})
)


@SETTINGS
@example(
    parameters={**check_parameters({}), "title": "It's 'quoted'\n$HOME", "actors": ["unmiss", "spla"]},
    declared={"start": "2016-07-01", "categories": ["violence"]},
)
@given(parameters=CHECKED_PARAMETERS, declared=DECLARED_BY_A_VARIANT)
def test_the_command_in_a_report_s_footer_renders_the_same_parameters(parameters, declared):
    # The shell splits it back into exactly these words, the command line reads them as these values,
    # and whatever the variant declares by then, render()'s merge gives these parameters again.
    words = shlex.split(render_command("full", parameters))
    assert words[:6] == ["python", "-m", "analysis", "render", "--report", "full"]
    args = build_parser().parse_args(words[3:])
    assert args.report == ["full"]
    overrides = dict(parse_assignment(text) for text in args.parameters)
    expected = check_parameters(parameters)
    if expected["data_dir"] and expected["data_dir"].lower() == "none":
        expected["data_dir"] = f"./{expected['data_dir']}"  # the same folder, which "none" alone would not name
    assert check_parameters({**declared, **overrides}) == expected


def test_floats_that_json_cannot_hold_are_refused():
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(ParameterError):
            check_parameters({"title": value})
