"""Parameters are checked before any kernel starts: names, types, dates, and the variants file."""

from __future__ import annotations

import shlex

import pytest

from analysis import ParameterError, paths
from analysis.errors import MAX_GUESSED_FROM, closest
from analysis.parameters import (
    SPECS,
    check_actors,
    check_notebook_parameters,
    check_parameters,
    load_variants,
    parse_assignment,
    render_command,
    select_variants,
)


def test_defaults_fill_every_declared_parameter():
    assert check_parameters({}) == {
        "title": "",
        "start": None,
        "end": None,
        "dates": "overlap",
        "actors": [],
        "categories": [],
        "data_dir": None,
    }


def test_the_notebook_declares_exactly_the_declared_parameters():
    check_notebook_parameters(paths.REPORT_NOTEBOOK)


def test_our_parameter_reading_agrees_with_papermill(tmp_path):
    import nbformat
    import papermill

    from analysis.parameters import notebook_parameter_names

    assert notebook_parameter_names(paths.REPORT_NOTEBOOK) == set(papermill.inspect_notebook(str(paths.REPORT_NOTEBOOK)))
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": kernelspec})
    cell = nbformat.v4.new_code_cell("a = 1\nb: int = 2\nc, d = 3, 4\nprint(a)")
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [nbformat.v4.new_code_cell("z = 0"), cell]
    path = tmp_path / "n.ipynb"
    nbformat.write(notebook, str(path))
    assert notebook_parameter_names(path) == {"a", "b"} == set(papermill.inspect_notebook(str(path)))


def test_unknown_parameter_suggests_the_close_name():
    with pytest.raises(ParameterError, match=r"unknown parameter 'titel' \(did you mean 'title'\?\); known: title, start"):
        parse_assignment("titel=x")


@pytest.mark.parametrize("text", ["false", "007", "Infinity", "null", "[1, 2]"])
def test_text_stays_text_exactly_as_typed(text):
    assert parse_assignment(f"title={text}") == ("title", text)
    assert check_parameters({"title": text})["title"] == text


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("start=03/04/2016", "parameter 'start' must be a date YYYY-MM-DD, got '03/04/2016'"),
        ("start=2016-02-30", "parameter 'start' is not a real date: '2016-02-30'"),
        ("end=yesterday", "parameter 'end' must be a date YYYY-MM-DD"),
        ("categories=violence,riots", "unknown category 'riots'"),
        ("actors=Guterres", "'Guterres' is not an id"),
        ("title= \t ", "parameter 'title' is white space alone: leave it empty for the default"),
    ],
)
def test_bad_values_are_refused(assignment, message):
    name, value = parse_assignment(assignment)
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_parameters({name: value})


def test_start_after_end_is_refused():
    with pytest.raises(ParameterError, match="start 2017-01-01 is after end 2016-01-01"):
        check_parameters({"start": "2017-01-01", "end": "2016-01-01"})


@pytest.mark.parametrize("value", [("a",), {"a"}, b"bytes", 7, 1.5, True, {"x": 1}])
def test_non_json_native_values_never_pass(value):
    with pytest.raises(ParameterError):
        check_parameters({"title": value})
    with pytest.raises(ParameterError):
        check_parameters({"actors": value})


@pytest.mark.parametrize("name", ["title\nimport os", "a=b", "Title", "", "1x"])
def test_hostile_or_malformed_names_are_refused(name):
    with pytest.raises(ParameterError):
        check_parameters({name: "x"})


def test_assignment_needs_an_equals_sign_and_a_name():
    with pytest.raises(ParameterError, match="-p expects NAME=VALUE"):
        parse_assignment("start")
    with pytest.raises(ParameterError, match="not a lowercase identifier"):
        parse_assignment("ti tle=x")


def test_empty_and_none_clear_dates_and_lists_split_on_commas():
    assert parse_assignment("start=") == ("start", None)
    assert parse_assignment("end=None") == ("end", None)
    assert parse_assignment("actors=guterres, haley") == ("actors", ["guterres", "haley"])
    assert parse_assignment("actors=") == ("actors", [])


def test_a_path_is_read_as_typed_and_empty_means_none_for_paths_and_dates():
    assert parse_assignment("data_dir= /tmp/my data ") == ("data_dir", " /tmp/my data ")
    assert parse_assignment("data_dir=none") == ("data_dir", None)
    assert parse_assignment("data_dir=./none") == ("data_dir", "./none")
    assert check_parameters({"data_dir": "", "start": "", "end": ""}) == check_parameters({})
    words = shlex.split(render_command("full", check_parameters({"data_dir": "none"})))
    assert words[-2:] == ["-p", "data_dir=./none"]


def test_shipped_variants_include_full_crisis_and_reforms():
    names = [variant.name for variant in load_variants()]
    assert {"full", "crisis", "reforms"} <= set(names)


def test_variant_selection_names_the_unknown_one():
    variants = load_variants()
    assert [v.name for v in select_variants(variants, ["crisis"])] == ["crisis"]
    with pytest.raises(ParameterError, match=r"unknown report 'crises' \(did you mean 'crisis'\?\)"):
        select_variants(variants, ["crises"])


def test_malformed_variants_file(tmp_path):
    from analysis import TimelineError

    bad = tmp_path / "reports.toml"
    bad.write_text('[[report]]\nname = "x"\nparameters = { start = "2016-01-01" \n', encoding="utf-8")
    with pytest.raises(TimelineError, match=r"reports.toml: not valid TOML: .*line 3"):
        load_variants(bad)
    bad.write_text('[[report]]\nname = "x"\nparameters = { stat = "2016-01-01" }\n', encoding="utf-8")
    with pytest.raises(ParameterError, match=r"report 'x': unknown parameter 'stat' \(did you mean 'start'\?\)"):
        load_variants(bad)
    bad.write_text('[[report]]\nname = "Bad Name"\n', encoding="utf-8")
    with pytest.raises(ParameterError, match="name must be a lowercase slug"):
        load_variants(bad)


def test_every_problem_of_a_variants_file_is_told_at_once(tmp_path):
    variants = tmp_path / "mine.toml"
    variants.write_text(
        "[[report]]\n"
        'name = "Guterres Only"\n'
        'parameters = { start = 2017-03-01, actors = "guterres", end = "2016-01-01" }\n'
        "[[report]]\n"
        'name = "ok"\n'
        'title = "  "\n'
        "[[report]]\n"
        'name = "ok"\n'
        "[[report]]\n"
        'title = "No name"\n',
        encoding="utf-8",
    )
    with pytest.raises(ParameterError) as caught:
        load_variants(variants)
    assert str(caught.value).splitlines() == [
        f"{variants}: report 1: name must be a lowercase slug, got 'Guterres Only'",
        f"{variants}: report 1: parameter 'start' must be text, got the TOML date 2017-03-01: write it in quotes",
        f"{variants}: report 1: parameter 'actors' must be a list of text, got 'guterres'",
        f"{variants}: report 'ok': parameter 'title' is white space alone: leave it empty for the default",
        f"{variants}: report 3: duplicate name 'ok'",
        f"{variants}: report 4: name is missing: give each report a name, a lowercase slug",
    ]


def test_every_spec_has_help():
    assert all(spec.help for spec in SPECS.values())


def test_the_render_command_names_a_variants_file_other_than_reports_toml(tmp_path):
    parameters = check_parameters({"title": "T"})
    every = "-p title=T -p start= -p end= -p dates=overlap -p actors= -p categories= -p data_dir="
    default = f"python -m analysis render --report full {every}"
    assert render_command("full", parameters) == default
    assert render_command("full", parameters, paths.VARIANTS_FILE) == default
    other = tmp_path / "my variants.toml"
    assert render_command("full", parameters, other).startswith(f"python -m analysis render --variants '{other}' --report full ")


def test_every_unknown_item_of_a_list_is_named():
    with pytest.raises(ParameterError, match=r"unknown categories 'violense' \(did you mean 'violence'\?\), 'reforms' "):
        check_parameters({"categories": ["violence", "violense", "reforms"]})
    with pytest.raises(ParameterError, match=r"'Guterres', 'UNMISS' are not ids .*; in lowercase: 'guterres', 'unmiss'"):
        check_parameters({"actors": ["Guterres", "UNMISS"]})
    with pytest.raises(ParameterError, match=r"unknown actors 'nobody', 'noone'; known: guterres, unmiss"):
        check_actors(["guterres", "nobody", "noone"], ["guterres", "unmiss"])
    with pytest.raises(ParameterError, match=r"unknown actor 'gutteres' \(did you mean 'guterres'\?\); known: guterres, unmiss"):
        check_actors(["gutteres"], ["guterres", "unmiss"])


def test_a_hint_names_the_closest_known_value_and_is_skipped_past_the_limit():
    assert closest("gutteres", ["guterres", "haley"]) == "guterres"
    assert closest("zzz", ["guterres", "haley"]) is None
    many = [f"actor-{number}" for number in range(MAX_GUESSED_FROM + 1)]
    assert closest("actor-1x", many) is None and closest("actor-1x", many[:MAX_GUESSED_FROM]) == "actor-1"
