"""The real timeline loads with exact dtypes; each broken input names its file, line and field."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis import TimelineError, load_timeline, quantities, relative_dates
from analysis.load import _whole_numbers
from analysis.quotes import SourceText, quotation_marks_problem
from analysis.reading import MAX_PROBLEMS_PER_RULE, UNPARSED_NOTE
from analysis.schema import TABLES

ARTICLE = Path(__file__).resolve().parent.parent / "data" / "sources" / "un-news-2017-04-19.md"


def problems_of(data_dir, **kwargs) -> list[str]:
    with pytest.raises(TimelineError) as caught:
        load_timeline(data_dir, **kwargs)
    return [str(p) for p in caught.value.problems]


# The words of the article that place the Juba fighting, which its own quote does not.
JUBA_WORDS = "the violence in Juba in July 2016"


def only_problem(data_dir, **kwargs) -> str:
    problems = problems_of(data_dir, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


# --- the real timeline -------------------------------------------------------------------------


def test_real_timeline_loads_with_exact_dtypes():
    timeline = load_timeline()
    for table in TABLES:
        frame = timeline.table(table.name)
        assert list(frame.columns) == list(table.field_names)
        for spec in table.fields:
            dtype = frame[spec.name].dtype
            if spec.type == "date":
                assert dtype == "datetime64[ns]", spec.name
            elif spec.type == "integer":
                assert dtype == "Int64", spec.name
            elif spec.enum:
                assert isinstance(dtype, pd.CategoricalDtype), spec.name
                assert list(dtype.categories) == list(spec.values)
            else:
                assert pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype), spec.name


def test_real_timeline_has_the_articles_events_and_figures():
    timeline = load_timeline()
    events = timeline.events.set_index("event_id")
    fighting = events.loc["juba-fighting"]
    assert (fighting["start"], fighting["end"]) == (pd.Timestamp("2016-07-08"), pd.Timestamp("2016-07-12"))
    assert fighting["date_basis"] == "stated"
    mission = events.loc["follow-up-mission"]
    assert (mission["start"], mission["end"], mission["date_precision"]) == (
        pd.Timestamp("2017-03-01"),
        pd.Timestamp("2017-03-31"),
        "month",
    )
    assert mission["date_basis"] == "inferred" and "last month" in mission["date_note"]
    figures = timeline.figures.set_index("figure_id")
    assert figures.loc["juba-killed", "qualifier"] == "Hundreds"
    assert figures.loc["juba-killed", "low"] == 200  # the least the plural "Hundreds" allows
    assert pd.isna(figures.loc["juba-killed", "best"]) and pd.isna(figures.loc["juba-killed", "high"])
    assert figures.loc["juba-raped", "low"] == 201 and pd.isna(figures.loc["juba-raped", "high"])


def test_every_quote_is_in_the_article_checked_independently():
    # An independent, simpler check than analysis.quotes: strip link markup, squeeze white space.
    article = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", ARTICLE.read_text(encoding="utf-8"))
    article = " ".join(article.split())
    timeline = load_timeline()
    checked = 0
    for table in TABLES:
        for spec in table.fields:
            if spec.verbatim:
                for value in timeline.table(table.name)[spec.name]:
                    if value:
                        assert " ".join(value.split()) in article, (table.name, spec.name, value)
                        checked += 1
    assert checked >= 30


def test_inferred_dates_all_explain_themselves():
    events = load_timeline().events
    inferred = events[events["date_basis"] == "inferred"]
    assert len(inferred) > 0
    assert (inferred["date_note"].str.len() > 20).all()


# SHA-256 of ../shared/source-article.md as given to the project; the input must never change.
ARTICLE_SHA256 = "9fb19459f29d340d24ad7a9fa6749031e951ce8867f640377807d1864b6dad9b"


def test_source_file_is_the_article_as_given():
    assert hashlib.sha256(ARTICLE.read_bytes()).hexdigest() == ARTICLE_SHA256
    shared = Path(__file__).resolve().parents[2] / "shared" / "source-article.md"
    if shared.exists():  # beside a checkout in the workplace and in CI
        assert ARTICLE.read_bytes() == shared.read_bytes()


# --- text stays text ---------------------------------------------------------------------------


def test_identifiers_and_na_like_text_round_trip_exactly(data_copy):
    data_copy.replace("actors", "cammaert,Patrick Cammaert,,person,", "007,NA,None,person,")
    data_copy.replace("event_actors", "cammaert", "007")
    actors = load_timeline(data_copy.root).actors.set_index("actor_id")
    assert actors.loc["007", "name"] == "NA"
    assert actors.loc["007", "short_name"] == "None"


def test_utf8_with_bom_is_accepted(data_copy):
    path = data_copy.csv("events")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert len(load_timeline(data_copy.root).events) == 13


# --- one broken fixture per rule ---------------------------------------------------------------


def test_extra_field(data_copy):
    line = data_copy.line_of("event_actors", "juba-fighting,spla,")
    data_copy.replace("event_actors", "juba-fighting,spla,party", "juba-fighting,spla,party,EXTRA")
    expected = f"event_actors.csv:{line}: expected 5 fields, found 6; a value holding a comma must be in double quotes"
    assert only_problem(data_copy.root).endswith(f"{expected} ({UNPARSED_NOTE})")


def test_missing_field(data_copy):
    line = data_copy.line_of("event_actors", "juba-fighting,spla,")
    data_copy.replace("event_actors", "juba-fighting,spla,party,", "juba-fighting,spla,")
    assert only_problem(data_copy.root).endswith(f"event_actors.csv:{line}: expected 5 fields, found 4 ({UNPARSED_NOTE})")


@pytest.mark.parametrize(
    ("line_text", "column", "field"),
    [
        ('dismounted-patrols,unmiss,"implementer"x,', 40, "role"),  # text after a closing quote: the x
        ('dismounted-patrols,unmiss,implementer,"a ""quoted"" word"!', 58, "source_id"),  # doubled quotes are one quote
    ],
)
def test_a_quoted_value_that_closes_too_early_is_located_to_its_field(data_copy, line_text, column, field):
    lines = data_copy.lines("event_actors")
    data_copy.write_lines("event_actors", [*lines[:-1], line_text, lines[-1]])
    problem = only_problem(data_copy.root)
    assert problem.startswith(f"{data_copy.csv('event_actors')}:{len(lines)}:{column}: a quoted value ends before ")
    assert "its closing quote is missing, or a quote inside it is not doubled" in problem
    assert problem.endswith(f"({UNPARSED_NOTE}) (field {field})")


def test_unterminated_quote(data_copy):
    lines = data_copy.lines("event_actors")
    data_copy.write_lines("event_actors", [*lines, '"juba-fighting,spla,party'])  # no quote after it closes it
    problem = only_problem(data_copy.root)
    assert problem.endswith(f"event_actors.csv:{len(lines) + 1}: quoted field opened here is never closed ({UNPARSED_NOTE})")


def test_empty_file_and_header_only(data_copy):
    data_copy.csv("claims").write_text("", encoding="utf-8")
    data_copy.csv("events").write_text(data_copy.lines("events")[0] + "\n", encoding="utf-8")
    problems = problems_of(data_copy.root)
    assert any(p.endswith("claims.csv:1: no header (the file is empty)") for p in problems), problems
    assert any(p.endswith("events.csv:1: 0 events: the timeline needs at least one") for p in problems), problems


def test_header_missing_extra_duplicate_and_spaced_columns(data_copy):
    data_copy.replace("event_actors", "event_id,actor_id,role", "event_id, actor_id,event_id")
    problems = problems_of(data_copy.root)
    assert any("event_actors.csv:1: column 2 ' actor_id' has white space around its name" in p for p in problems)
    assert any("event_actors.csv:1: duplicate column 'event_id' (columns 1 and 3)" in p for p in problems)
    assert any(
        "event_actors.csv:1: missing column 'role' (found: event_id,  actor_id, event_id, source_id, quote) (field role)" in p
        for p in problems
    ), problems


def test_unexpected_column(data_copy):
    data_copy.replace("event_actors", "event_id,actor_id,role", "event_id,actor_id,rol")
    problems = problems_of(data_copy.root)
    assert any("event_actors.csv:1: unexpected column 'rol'; did you mean 'role'?" in p for p in problems), problems


def test_end_before_start(data_copy):
    line = data_copy.line_of("events", "special-investigation,")
    data_copy.replace("events", "2016-07-08,2017-04-19,approximate", "2016-07-08,2016-07-01,approximate")
    assert only_problem(data_copy.root).endswith(
        f'events.csv:{line}: event "special-investigation": end 2016-07-01 is before start 2016-07-08 (field end)'
    )


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        ("2017-07-08,2017-07-12", [("start", "the year of start 2017-07-08"), ("end", "the year of end 2017-07-12")]),
        ("2016-06-08,2016-07-12", [("start", "the month of start 2016-06-08")]),
        ("2016-07-08,2016-07-13", [("end", "the day of end 2016-07-13")]),
        ("2016-07-09,2016-08-12", [("start", "the day of start 2016-07-09"), ("end", "the month of end 2016-08-12")]),
    ],
)
def test_a_stated_date_must_be_in_the_words_of_its_date_text(data_copy, dates, expected):
    # The fighting's dates are stated: "between 8 and 12 July 2016".
    line = data_copy.line_of("events", "juba-fighting,")
    data_copy.replace("events", "2016-07-08,2016-07-12,range", f"{dates},range")
    problems = [problem for problem in problems_of(data_copy.root) if "after its source" not in problem]
    prefix = f"events.csv:{line}: event \"juba-fighting\": date_basis is stated but date_text 'between 8 and 12 July 2016'"
    assert len(problems) == len(expected), problems
    for problem, (field, what) in zip(problems, expected, strict=True):
        assert problem.endswith(f"{prefix} does not give {what} (field {field})"), problem


PRECISION_WRONG = {
    "month": ("date_precision", "names 2 days: precision month needs no day"),
    "day": ("date_precision", "names 2 days: precision day needs one day"),
}


@pytest.mark.parametrize(
    ("dates", "precision", "expected"),
    [
        # "between 8 and 12 July 2016" names two days: only a range of them, or bounds within its year, are its words.
        ("2016-07-01,2016-07-31", "month", [PRECISION_WRONG["month"]]),
        (
            "2016-06-01,2016-06-30",
            "month",
            [
                PRECISION_WRONG["month"],
                ("start", "does not give the month of start 2016-06-01"),
                ("end", "does not give the month of end 2016-06-30"),
            ],
        ),
        ("2016-01-01,2016-12-31", "approximate", []),
        ("2015-01-01,2016-12-31", "approximate", [("start", "does not give the year of start 2015-01-01")]),
        ("2016-07-12,2016-07-12", "day", [PRECISION_WRONG["day"]]),
        (
            "2016-07-09,2016-07-09",
            "day",
            [
                PRECISION_WRONG["day"],
                ("start", "does not give the day of start 2016-07-09"),
                ("end", "does not give the day of end 2016-07-09"),
            ],
        ),
    ],
)
def test_what_a_stated_date_s_words_must_name_depends_on_its_precision(data_copy, dates, precision, expected):
    line = data_copy.line_of("events", "juba-fighting,")
    data_copy.replace("events", "2016-07-08,2016-07-12,range", f"{dates},{precision}")
    if not expected:
        load_timeline(data_copy.root)
        return
    prefix = f"events.csv:{line}: event \"juba-fighting\": date_basis is stated but date_text 'between 8 and 12 July 2016'"
    problems = problems_of(data_copy.root)
    assert len(problems) == len(expected), problems
    for problem, (field, what) in zip(problems, expected, strict=True):
        assert problem.endswith(f"{prefix} {what} (field {field})"), problem


def test_a_stated_date_needs_the_article_s_words(data_copy):
    line = data_copy.line_of("events", "juba-fighting,")
    data_copy.replace("events", "range,stated,,between 8 and 12 July 2016,", "range,stated,,,")
    assert only_problem(data_copy.root).endswith(
        f'events.csv:{line}: event "juba-fighting": date_basis is stated but date_text is empty: '
        "give the article's words for the time (field date_text)"
    )


def test_an_event_starting_after_its_source_s_publication_is_told_once(data_copy):
    line = data_copy.line_of("events", "more-to-be-done,")
    data_copy.replace("events", "assessment,,2017-04-01,2017-04-19,approximate", "assessment,,2017-04-20,2017-04-21,approximate")
    assert only_problem(data_copy.root).endswith(  # its end is later still, and not told again
        f"events.csv:{line}: event \"more-to-be-done\": start 2017-04-20 is after its source 'un-news-2017-04-19' was "
        "published (2017-04-19): the timeline holds what the article reports (field start)"
    )


def test_a_header_only_sources_file_is_told_not_crashed_on(data_copy):
    data_copy.write_lines("sources", [data_copy.lines("sources")[0], ""])
    problems = problems_of(data_copy.root)
    assert problems[0].endswith("sources.csv:1: 0 sources: the timeline needs at least one")
    assert all("after its source" not in problem for problem in problems)  # no source: nothing to compare with


def test_white_space_alone_in_a_stated_date_s_words_is_told_once(data_copy):
    data_copy.replace("events", "range,stated,,between 8 and 12 July 2016,", "range,stated,,   ,")
    assert only_problem(data_copy.root).endswith("only white space: there are no words to find in the source (field date_text)")


def test_no_event_is_after_its_source_s_publication(data_copy):
    line = data_copy.line_of("events", "more-to-be-done,")
    data_copy.replace("events", "assessment,,2017-04-01,2017-04-19,approximate", "assessment,,2017-04-01,2017-04-20,approximate")
    assert only_problem(data_copy.root).endswith(
        f"events.csv:{line}: event \"more-to-be-done\": end 2017-04-20 is after its source 'un-news-2017-04-19' was "
        "published (2017-04-19): the timeline holds what the article reports (field end)"
    )


def test_impossible_date(data_copy):
    line = data_copy.line_of("events", "juba-fighting,")
    data_copy.replace("events", "2016-07-08,2016-07-12,range", "2016-02-30,2016-07-12,range")
    assert only_problem(data_copy.root).endswith(
        f"events.csv:{line}: event \"juba-fighting\": '2016-02-30' is not a real date (field start)"
    )


def test_non_iso_date_is_never_guessed(data_copy):
    line = data_copy.line_of("events", "juba-fighting,")
    data_copy.replace("events", "2016-07-08,2016-07-12,range", "03/04/2016,2016-07-12,range")
    message = only_problem(data_copy.root)
    assert message.startswith(f"{data_copy.csv('events')}:{line}:") or f"events.csv:{line}:" in message
    assert "'03/04/2016' is not YYYY-MM-DD (ambiguous" in message and message.endswith("(field start)")


def test_enum(data_copy):
    line = data_copy.line_of("events", "juba-fighting,")
    data_copy.replace("events", ",violence,", ",violense,")
    message = only_problem(data_copy.root)
    assert f"events.csv:{line}: event \"juba-fighting\": 'violense' is not one of:" in message
    assert "did you mean 'violence'?" in message and message.endswith("(field category)")


def test_required_field(data_copy):
    line = data_copy.line_of("actors", "guterres,")
    data_copy.replace("actors", "guterres,António Guterres,", "guterres,,")
    assert only_problem(data_copy.root).endswith(f'actors.csv:{line}: actor "guterres": required value is missing (field name)')


def test_integer_type_and_minimum(data_copy):
    line = data_copy.line_of("figures", "juba-killed,")
    data_copy.replace("figures", "killed,200,,", "killed,heavy,-5,")
    problems = problems_of(data_copy.root)
    assert f"figures.csv:{line}: figure \"juba-killed\": 'heavy' is not a whole number (field low)" in "\n".join(problems)
    assert f'figures.csv:{line}: figure "juba-killed": -5 is below the minimum 0 (field best)' in "\n".join(problems)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("٥", "'٥' is not a whole number"),  # an Arabic-Indic digit: no CSV reader takes it for 5
        ("９２", "'９２' is not a whole number"),  # full-width digits
        ("9223372036854775808", "9223372036854775808 is too large for a whole number (from -9223372036854775808 to "),
        ("-9223372036854775809", "-9223372036854775809 is too large for a whole number"),
        ("9" * 10_000, "9" * 59 + "… is too large for a whole number"),  # more digits than Python reads: shown cut
    ],
)
def test_whole_numbers_are_ascii_digits_within_64_bits(data_copy, value, message):
    line = data_copy.line_of("figures", "juba-killed,")
    data_copy.replace("figures", "killed,200,,", f"killed,200,{value},")
    problem = only_problem(data_copy.root)
    assert f'figures.csv:{line}: figure "juba-killed": {message}' in problem, problem
    assert problem.endswith("(field best)") and len(problem) < 400, problem


def test_whole_numbers_are_read_exactly_minus_zero_as_zero():
    column = pd.Series(["-0", "0200", "9223372036854775807", "-9223372036854775808", "", "x"], dtype="string[pyarrow]")
    numbers = _whole_numbers(column, np.array([True, True, True, True, False, False]))
    assert numbers.dtype == "Int64" and numbers.tolist()[:4] == [0, 200, 2**63 - 1, -(2**63)]
    assert numbers.isna().tolist() == [False] * 4 + [True] * 2


def test_a_long_value_is_shown_cut_in_its_problem_and_its_record(data_copy):
    long_id = "a" * 100_000
    data_copy.replace("events", "juba-fighting,", f"{long_id},")
    data_copy.replace("events", ",violence,", ",x" + "y" * 100_000 + ",")
    problems = problems_of(data_copy.root)
    assert problems and all(len(problem) < 600 for problem in problems), [len(problem) for problem in problems]
    assert any(f"event \"{'a' * 59}…\": 'x{'y' * 58}…' is not one of:" in problem for problem in problems), problems


def test_a_date_in_another_script_s_digits_is_not_yyyy_mm_dd(data_copy):
    line = data_copy.line_of("events", "juba-fighting,")
    data_copy.replace("events", "2016-07-08", "٢٠١٦-٠٧-٠٨")
    problem = only_problem(data_copy.root)
    assert problem.endswith(f"events.csv:{line}: event \"juba-fighting\": '٢٠١٦-٠٧-٠٨' is not YYYY-MM-DD (field start)")


def test_low_best_high_order(data_copy):
    line = data_copy.line_of("figures", "juba-raped,")
    data_copy.replace("figures", "raped,201,,", "raped,201,150,")
    problems = problems_of(data_copy.root)
    assert problems[0].endswith(
        f'figures.csv:{line}: figure "juba-raped": low 201 is greater than best 150 (rule low <= best <= high) (field best)'
    )
    assert len(problems) == 2 and "best 150 is not what the qualifier 'more than 200' allows: empty" in problems[1]


@pytest.mark.parametrize(
    ("figure", "old", "new", "problem"),
    [
        (
            "juba-raped",
            "raped,201,,,more than 200",
            "raped,199,,,more than 200",
            "low 199 is not what the qualifier 'more than 200' allows: 201 "
            "('more than N' means at least N + 1, with no best estimate or upper bound) (field low)",
        ),
        (
            "juba-killed",
            "killed,200,,,Hundreds",
            "killed,200,,5000,Hundreds",
            "high 5,000 is not what the qualifier 'Hundreds' allows: empty "
            "('Hundreds' means at least 200, the least the plural allows, with no best estimate or upper bound) (field high)",
        ),
        (
            "juba-killed",
            "killed,200,,,Hundreds",
            "killed,,,,Hundreds",
            "low empty is not what the qualifier 'Hundreds' allows: 200",
        ),
    ],
)
def test_a_figure_s_numbers_are_what_its_words_allow(data_copy, figure, old, new, problem):
    line = data_copy.line_of("figures", f"{figure},")
    data_copy.replace("figures", old, new)
    assert f'figures.csv:{line}: figure "{figure}": {problem}' in only_problem(data_copy.root)


@pytest.mark.parametrize(
    ("words", "bounds"),
    [
        ("Hundreds", (200, None, None)),
        ("more  than 200", (201, None, None)),  # spacing aside
        ("Over 1,500", (1501, None, None)),
        ("at least 12", (12, None, None)),
        ("fewer than 10", (None, None, 9)),
        ("up to 40", (None, None, 40)),
        ("some 300", (None, 300, None)),
        ("250", (250, 250, 250)),
        ("tens of thousands", (20_000, None, None)),
        ("hundreds of people", None),
        ("1,50", None),
        ("9" * 19, None),  # past a 64-bit integer: no rule reads it
        ("more than", None),
    ],
)
def test_the_numbers_each_wording_allows(words, bounds):
    reading = quantities.allowed(words)
    assert (reading and reading[0]) == bounds


def test_a_figure_worded_as_no_rule_knows_is_refused(data_copy):
    line = data_copy.line_of("figures", "juba-killed,")
    data_copy.replace(
        "figures", "killed,200,,,Hundreds,", "killed,200,,,Hundreds of people,"
    )  # verbatim, but not a number's words
    problem = only_problem(data_copy.root)
    assert f"figures.csv:{line}: figure \"juba-killed\": 'Hundreds of people' is a wording with no rule" in problem
    assert "(the rules know: N; more than N / over N; at least N;" in problem and problem.endswith("(field qualifier)")


@pytest.mark.parametrize(
    ("words", "published", "days"),
    [
        ("last month", "2017-04-19", ("2017-03-01", "2017-03-31")),
        ("last month", "2017-01-05", ("2016-12-01", "2016-12-31")),  # across a year
        ("Over the last five months", "2017-04-19", ("2016-11-01", "2017-04-19")),
        ("in the past 14 months", "2017-04-19", ("2016-02-01", "2017-04-19")),
        ("for April", "2017-04-19", ("2017-04-01", "2017-04-19")),  # no later than the day of publication
        ("in December", "2017-04-19", ("2016-12-01", "2016-12-31")),  # the latest December
        ("earlier this month", "2017-04-19", ("2017-04-01", "2017-04-19")),
        ("last year", "2017-04-19", ("2016-01-01", "2016-12-31")),
        ("yesterday", "2017-03-01", ("2017-02-28", "2017-02-28")),
        ("in July 2016", "2017-04-19", None),  # a year named: a stated date, not a relative one
        ("after the fighting", "2017-04-19", None),
    ],
)
def test_the_days_each_relative_wording_allows(words, published, days):
    reading = relative_dates.days_allowed(words, date.fromisoformat(published))
    assert (reading and tuple(day.isoformat() for day in reading[0])) == days


@pytest.mark.parametrize(
    ("event", "old", "new", "problem"),
    [
        (
            "follow-up-mission",
            "2017-03-01,2017-03-31",
            "2017-02-01,2017-02-28",
            "start 2017-02-01 is not what date_text 'last month' gives in a source published 2017-04-19: 2017-03-01 "
            "('last month' is the calendar month before the source's) (field start)",
        ),
        (
            "sg-letter",
            "2017-04-01,2017-04-19",
            "2017-04-01,2017-04-18",
            "end 2017-04-18 is not what date_text 'for April' gives in a source published 2017-04-19: 2017-04-19",
        ),
    ],
)
def test_an_inferred_date_is_the_days_its_words_give(data_copy, event, old, new, problem):
    line = data_copy.line_of("events", f"{event},")
    lines = data_copy.lines("events")
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new)
    data_copy.write_lines("events", lines)
    problems = problems_of(data_copy.root)
    assert any(f'events.csv:{line}: event "{event}": {problem}' in found for found in problems), problems


ARTICLE_TEXT = SourceText(ARTICLE.read_text(encoding="utf-8"), "article")
ZONE_QUOTE = (  # a clause of the article, with the words of the Secretary-General that it quotes
    "which he said “has contributed to a significant drop in reported crime and violence, including sexual and "
    "gender-based violence.”"
)


@pytest.mark.parametrize(
    ("sentence", "problem"),
    [
        ("The zone “has contributed to a significant drop in reported crime and violence”.", None),
        ("The zone “has contributed to a […] drop in reported crime”.", None),  # our elision, in brackets
        ("The zone has been useful.", None),
        ("The zone has contributed to a drop.", "“has contributed to a” are words the source quotes: put them in"),
        ("The zone “has contributed to a big drop”.", "are not the quote's: 'has contributed to a big drop' is not there"),
        ("The zone “has contributed to a drop in reported crime and violence”.", "'has contributed to a drop in"),
        ("The zone “has contributed.", "its quotation marks do not pair"),
        ("The zone” has contributed “to”.", "its quotation marks do not pair"),
    ],
)
def test_quotation_marks_take_the_quote_s_words_and_mark_someone_s_own(sentence, problem):
    found = quotation_marks_problem(sentence, ARTICLE_TEXT, ZONE_QUOTE)
    assert found is None if problem is None else problem in found, found


@pytest.mark.parametrize(
    ("table", "key", "field", "old", "new", "problem"),
    [
        (
            "claims",
            "weapons-free-zone-effect",
            "statement",
            "zone “has contributed to a significant drop in reported crime and violence, including sexual and "
            "gender-based violence.”",
            "zone has contributed to a significant drop in reported crime and violence, including sexual and "
            "gender-based violence.",
            "“has contributed to a” are words the source quotes: put them in quotation marks (field statement)",
        ),
        (
            "events",
            "posture-corrective-actions",
            "summary",
            "a “positive change” in the operations",
            "a “positive turn” in the operations",
            "are not the quote's: 'positive turn' is not there (field summary)",
        ),
        (
            "events",
            "reform-staff-safety",
            "title",
            "Work on the safety and security of staff",
            "Work to increase staff safety and security",
            "“increase staff safety and” are words the source quotes: put them in quotation marks (field title)",
        ),
        (  # case and separators aside: the fast first pass finds what the exact check refuses
            "events",
            "reform-staff-safety",
            "title",
            "Work on the safety and security of staff",
            "Work to INCREASE Staff—safety and security",
            "“increase staff safety and” are words the source quotes: put them in quotation marks (field title)",
        ),
        (
            "events",
            "weapons-free-zone",
            "date_note",
            "It names it “[i]n particular”",
            "It names it “in particular”",  # the article's "In": a title or note quotes the source anywhere, exactly
            "are not the source's: 'in particular' is not there (field date_note)",
        ),
    ],
)
def test_a_summary_or_statement_marks_what_it_quotes(data_copy, table, key, field, old, new, problem):
    line = data_copy.line_of(table, f"{key},")
    data_copy.replace(table, old, new)
    found = only_problem(data_copy.root)
    assert f"{table}.csv:{line}: " in found and f": {field} '" in found and found.endswith(problem), found


def test_inferred_date_without_note(data_copy):
    lines = data_copy.lines("events")
    number = data_copy.line_of("events", "follow-up-mission,")
    lines[number - 1] = re.sub(r',month,inferred,"[^"]*",', ",month,inferred,,", lines[number - 1])
    data_copy.write_lines("events", lines)
    assert only_problem(data_copy.root).endswith(
        f'events.csv:{number}: event "follow-up-mission": date_basis is inferred but date_note does not say how (field date_note)'
    )


def test_assumed_date_without_note(data_copy):
    number = data_copy.line_of("events", "dismounted-patrols,")
    lines = data_copy.lines("events")
    lines[number - 1] = re.sub(r',approximate,assumed,"[^"]*",', ",approximate,assumed,,", lines[number - 1])
    data_copy.write_lines("events", lines)
    assert only_problem(data_copy.root).endswith(
        f'events.csv:{number}: event "dismounted-patrols": date_basis is assumed but date_note does not say why (field date_note)'
    )


@pytest.mark.parametrize(
    ("location", "location_quote", "expected"),
    [
        (
            "Juba",
            "",
            "location 'Juba' is not found in the quote; where another sentence of the source names the place, "
            "put its words in location_quote (field location)",
        ),
        ("Malakal", JUBA_WORDS, "location 'Malakal' is not found in location_quote (field location_quote)"),
        ("", JUBA_WORDS, "location_quote is given but location is empty (field location_quote)"),
        ("Jub", JUBA_WORDS, "location 'Jub' is not found in location_quote (field location_quote)"),
        (
            "Sudan",
            "South Sudan",
            "the quote names location 'Sudan' itself: location_quote is only for a place it does not name (field location_quote)",
        ),
        ("Juba", " \t ", "only white space: there are no words to find in the source (field location_quote)"),
    ],
    ids=[
        "place-not-in-quote",
        "place-not-in-location-quote",
        "location-quote-without-place",
        "part-of-a-word",
        "location-quote-where-the-quote-names-the-place",
        "white-space-alone",
    ],
)
def test_a_place_must_be_the_sources_words(data_copy, location, location_quote, expected):
    number = data_copy.line_of("events", "juba-fighting,")
    data_copy.replace("events", f",Juba,{JUBA_WORDS},", f",{location},{location_quote},")
    assert only_problem(data_copy.root).endswith(f'events.csv:{number}: event "juba-fighting": {expected}')


def test_a_location_quote_is_checked_verbatim(data_copy):
    data_copy.replace("events", f",Juba,{JUBA_WORDS},", ",Juba,the fighting in Juba in July 2016,")
    message = only_problem(data_copy.root)
    assert "quote 'the fighting in Juba in July 2016' not found verbatim" in message
    assert message.endswith("(field location_quote)")


def test_a_place_the_quote_names_needs_no_location_quote(data_copy):
    data_copy.replace("events", ",within the POC sites,", ",POC sites,")
    events = load_timeline(data_copy.root).events.set_index("event_id")
    assert events.loc["cordon-and-search", "location"] == "POC sites"
    assert events.loc["cordon-and-search", "location_quote"] == ""


def test_precision_day_and_month_are_consistent(data_copy):
    data_copy.replace("events", "2017-03-01,2017-03-31,month", "2017-03-01,2017-04-30,month")
    data_copy.replace("events", "2016-07-08,2016-07-12,range", "2016-07-08,2016-07-12,day")
    problems = "\n".join(problems_of(data_copy.root))
    assert "precision is month but 2017-03-01 to 2017-04-30 is not one whole month (field date_precision)" in problems
    assert "precision is day but start 2016-07-08 and end 2016-07-12 differ (field date_precision)" in problems


def test_duplicate_key(data_copy):
    lines = data_copy.lines("claims")
    first = data_copy.line_of("claims", "positive-change,")
    lines.insert(len(lines) - 1, lines[first - 1])
    data_copy.write_lines("claims", lines)
    assert only_problem(data_copy.root).endswith(
        f'claims.csv:{len(lines) - 1}: claim "positive-change": '
        f"duplicate claim_id (first defined at line {first}) (field claim_id)"
    )


def test_dangling_foreign_key(data_copy):
    line = data_copy.line_of("event_actors", "juba-fighting,spla,")
    data_copy.replace("event_actors", "juba-fighting,spla,party", "juba-fighting,a9,party")
    message = only_problem(data_copy.root)
    assert f"event_actors.csv:{line}: event-actor \"juba-fighting/a9/party\": actor_id 'a9' not found in actors.csv" in message
    assert message.endswith("(field actor_id)")


def test_invalid_identifier(data_copy):
    data_copy.replace("actors", "\nguterres,", "\nGuterres Two,")
    problems = "\n".join(problems_of(data_copy.root))
    assert "'Guterres Two' is not a valid id (lowercase letters, digits and single hyphens) (field actor_id)" in problems


@pytest.mark.parametrize(
    ("replacement", "expected"),
    [
        ("Hundreds of people were killed and more than 200 raped during that time period.", None),
        (
            "Hundreds of people were killed and more than 200 raped during that time-period.",
            "differs at character 72 of the quote: "
            "the quote has U+002D HYPHEN-MINUS ('-') where the source has U+0020 SPACE (' ')",
        ),
        (
            "Hundreds of people were killed and more than\u00a0200 raped during that time period.",
            "the quote has U+00A0 NO-BREAK SPACE",
        ),
        (
            "Hundreds of people were killed and more than 200 raped during that time period...",
            "the quote has U+002E FULL STOP ('.') where the source has U+0020 SPACE",
        ),
        ("Hundreds of people were killed and more than 200\n raped   during that time period.", None),
    ],
    ids=["exact", "hyphen", "nbsp", "dots", "whitespace-is-free"],
)
def test_quote_must_be_verbatim(data_copy, replacement, expected):
    original = "Hundreds of people were killed and more than 200 raped during that time period."
    data_copy.replace("figures", original, f'"{replacement}"' if "\n" in replacement else replacement)
    if expected is None:
        load_timeline(data_copy.root)
        return
    message = only_problem(data_copy.root)
    line = data_copy.line_of("figures", "juba-killed,")
    assert f'figures.csv:{line}: figure "juba-killed": quote ' in message
    assert "closest passage, at line 15:" in message and expected in message and message.endswith("(field quote)")


def test_required_text_of_white_space_alone_is_refused(data_copy):
    line = data_copy.line_of("figures", "juba-killed,")
    original = "Hundreds of people were killed and more than 200 raped during that time period."
    data_copy.replace("figures", original, '" \t "')
    data_copy.replace("events", "Fighting between the SPLA and the SPLM/A-IO,", "  ,")
    assert problems_of(data_copy.root) == [
        f'{data_copy.csv("events")}:2: event "juba-fighting": required value is white space alone (field title)',
        f'{data_copy.csv("figures")}:{line}: figure "juba-killed": required value is white space alone (field quote)',
    ]


def test_curly_versus_straight_quote(data_copy):
    data_copy.replace("claims", ",the letter noted a “positive change”", ',the letter noted a ""positive change""')  # the quote
    message = only_problem(data_copy.root)
    assert "the quote has U+0022 QUOTATION MARK ('\"') where the source has U+201C LEFT DOUBLE QUOTATION MARK" in message
    assert "(field quote)" in message


def test_decomposed_accent_is_reported(data_copy):
    data_copy.replace("actors", "Secretary-General António Guterres has", "Secretary-General Anto\u0301nio Guterres has")
    message = only_problem(data_copy.root)
    assert "the quote has U+006F LATIN SMALL LETTER O ('o') where the source has U+00F3" in message


def test_missing_source_file(data_copy):
    (data_copy.root / "sources" / "un-news-2017-04-19.md").unlink()
    with pytest.raises(TimelineError) as caught:
        load_timeline(data_copy.root)
    message = "\n".join(map(str, caught.value.problems))
    assert "un-news-2017-04-19.md: file not found (referenced by " in message and "sources.csv:2)" in message
    assert caught.value.exit_code == 66


def test_edited_source_is_detected(data_copy):
    path = data_copy.root / "sources" / "un-news-2017-04-19.md"
    path.write_bytes(path.read_bytes().replace(b"Hundreds", b"Thousands"))
    problems = "\n".join(problems_of(data_copy.root))
    assert 'sources.csv:2: source "un-news-2017-04-19":' in problems
    assert "the source text changed (field sha256)" in problems
    assert "figures.csv:" in problems and "(field qualifier)" in problems


def test_non_utf8_bytes_are_located(data_copy):
    line = data_copy.line_of("actors", "guterres,")
    path = data_copy.csv("actors")
    path.write_bytes(path.read_bytes().replace("António".encode(), "Ant\xf3nio".encode("latin-1")))
    problems = problems_of(data_copy.root)
    assert len(problems) == 2, problems  # the name and the quote
    assert problems[0].endswith(f"actors.csv:{line}:13: not valid UTF-8 (byte 0xF3)")


def test_blank_line_is_reported(data_copy):
    lines = data_copy.lines("event_actors")
    lines.insert(2, "")
    data_copy.write_lines("event_actors", lines)
    assert only_problem(data_copy.root).endswith("event_actors.csv:3: blank line (remove it)")


def test_blank_lines_past_the_cap_are_counted_not_dropped(data_copy):
    lines = data_copy.lines("actors")
    data_copy.write_lines("actors", lines[:2] + [""] * (MAX_PROBLEMS_PER_RULE + 30) + lines[2:])
    problems = problems_of(data_copy.root)
    assert len(problems) == MAX_PROBLEMS_PER_RULE + 1, problems[-3:]
    assert problems[-2].endswith(f"actors.csv:{MAX_PROBLEMS_PER_RULE + 2}: blank line (remove it)")
    assert problems[-1].endswith("actors.csv: and 30 more rows with the same problem")


def test_size_limit_is_checked_before_parsing(data_copy):
    path = data_copy.csv("events")
    path.write_bytes(path.read_bytes() + b"x" * (2 * 2**20))
    message = only_problem(data_copy.root, max_input_mb=1)
    assert "events.csv: is 2.0 MB; the limit is 1 MB (set --max-input-mb)" in message


def test_a_size_limit_under_a_tenth_of_a_megabyte_is_said_in_bytes(data_copy):
    size = data_copy.csv("events").stat().st_size
    problems = "\n".join(problems_of(data_copy.root, max_input_mb=0.001))  # 1,048 bytes: every file is over
    assert f"events.csv: is {size:,} bytes; the limit is 1,048 bytes (set --max-input-mb)" in problems


def test_every_problem_is_collected_before_failing(data_copy):
    data_copy.replace("events", ",violence,", ",violense,")
    data_copy.replace("figures", "raped,201,,", "raped,199,,")
    data_copy.replace("event_actors", "juba-fighting,spla,party", "juba-fighting,a9,party")
    problems = problems_of(data_copy.root)
    assert len(problems) == 3
    assert {p.split(":")[0].rsplit("/", 1)[-1] for p in problems} == {"events.csv", "figures.csv", "event_actors.csv"}


def test_physical_lines_count_newlines_inside_quoted_fields(data_copy):
    data_copy.replace(
        "actors",
        "guterres,António Guterres,,un-official,Secretary-General,",
        'guterres,António Guterres,,un-official,"Secretary-\nGeneral",',
    )
    data_copy.replace("actors", "cammaert,Patrick Cammaert,,person,", "cammaert,Patrick Cammaert,,persn,")
    line = data_copy.line_of("actors", "cammaert,")
    assert f"actors.csv:{line}: actor \"cammaert\": 'persn'" in only_problem(data_copy.root)


def test_missing_timeline_folder(tmp_path):
    with pytest.raises(TimelineError) as caught:
        load_timeline(tmp_path / "nowhere")
    assert caught.value.exit_code == 66
    assert "timeline folder not found" in str(caught.value)


def test_dates_outside_the_supported_range_are_reported_not_crashed(data_copy):
    line = data_copy.line_of("events", "juba-fighting,")
    data_copy.replace("events", "2016-07-08,2016-07-12,range", "1008-11-01,2016-07-12,range")
    assert only_problem(data_copy.root).endswith(
        f"events.csv:{line}: event \"juba-fighting\": '1008-11-01' is outside the supported range "
        "1678-01-01 to 2261-12-31 (field start)"
    )


def test_distinct_rows_are_the_distinct_combinations_in_order_of_first_appearance(data_copy):
    from analysis.load import _Codes, _distinct_rows
    from analysis.reading import Collector, read_table
    from analysis.schema import EVENTS

    lines = data_copy.lines("events")
    data_copy.write_lines("events", lines[:1] + lines[1:4] + lines[1:])  # three rows repeated first: read, not validated
    raw = read_table(EVENTS, data_copy.csv("events"), Collector(), None)
    names = ("location", "quote", "location_quote")
    combinations, row_combination = _distinct_rows(raw, names, _Codes({"events": raw}))
    expected = list(raw.frame[list(names)].drop_duplicates().itertuples(index=False, name=None))
    assert combinations == expected and len(expected) < len(raw.frame)
    assert [combinations[k] for k in row_combination] == list(raw.frame[list(names)].itertuples(index=False, name=None))


def test_the_validation_message_is_what_validate_prints(data_copy):
    assert analysis.validation_message(data_copy.root) == (
        "timeline valid: 1 source, 13 events, 11 actors, 16 event-actors, 2 figures, 9 claims; every quote found verbatim in "
        "its source"
    )
    data_copy.replace("events", ",violence,", ",violense,")
    message = analysis.validation_message(data_copy.root)
    assert message.startswith("1 problem in the timeline:\n") and "'violense' is not one of" in message
