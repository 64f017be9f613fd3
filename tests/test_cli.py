"""The command line: exit codes, one-line summary, every problem, never a traceback."""

from __future__ import annotations

import gc
import shlex
import subprocess
import sys

import pandas as pd
from bs4 import BeautifulSoup
from conftest import DATA, REPO, DataCopy

from analysis import startup


def run(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_help_lists_commands_and_exit_codes():
    result = run("--help")
    assert result.returncode == 0
    assert "validate" in result.stdout and "65  input data invalid" in result.stdout


def test_render_help_lists_the_shipped_actor_ids():
    lines = run("render", "--help").stdout.splitlines()
    actors = next(number for number, line in enumerate(lines) if line.startswith("  actors "))
    ids = lines[actors + 1].strip().removeprefix("(actor ids of the shipped data: ").removesuffix(")").split(", ")
    assert ids == pd.read_csv(DATA / "timeline" / "actors.csv")["actor_id"].tolist()


def test_validate_shipped_data_prints_one_line():
    result = run("validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert result.stdout == (
        "timeline valid: 1 source, 13 events, 11 actors, 16 event-actors, 2 figures, 9 claims; "
        "every quote found verbatim in its source\n"
    )


def test_report_given_twice_renders_both_and_each_once(tmp_path):
    # --format is read whatever its case
    result = run("render", "--report", "crisis", "--report", "reforms", "crisis", "--format", "HTML", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["crisis", "reforms"]
    assert sorted(path.suffix for path in tmp_path.glob("crisis.*")) == [".csv", ".html", ".ipynb", ".json", ".json"]


def test_validate_broken_data_prints_every_problem_and_exits_65(data_copy):
    data_copy.replace("events", ",violence,", ",violense,")
    data_copy.replace("figures", "raped,201,,", "raped,199,,")
    result = run("validate", "--data", str(data_copy.root))
    assert result.returncode == 65
    assert "Traceback" not in result.stderr
    assert "2 problems in the timeline" in result.stderr
    assert "(field category)" in result.stderr and "(field low)" in result.stderr


def test_validate_missing_folder_exits_66(tmp_path):
    result = run("validate", "--data", str(tmp_path / "absent"))
    assert result.returncode == 66
    assert "timeline folder not found" in result.stderr and "Traceback" not in result.stderr


def test_validate_structurally_broken_csv_has_no_traceback(data_copy):
    data_copy.csv("events").write_bytes(b'event_id,title\n"unclosed,\xff\n')
    result = run("validate", "--data", str(data_copy.root))
    assert result.returncode == 65
    assert "Traceback" not in result.stderr and "events.csv" in result.stderr


def test_a_missing_variants_file_is_named_as_such_not_as_the_timeline(tmp_path):
    result = run("render", "--variants", str(tmp_path / "absent.toml"), "--out", str(tmp_path))
    assert result.returncode == 66
    assert result.stderr == f"1 problem in the report variants file:\n{tmp_path / 'absent.toml'}: file not found\n"


def test_unknown_command_is_a_usage_error():
    result = run("frobnicate")
    assert result.returncode == 64
    assert "invalid choice" in result.stderr


def test_garbage_collection_resumes_only_from_its_own_pause():
    frozen_before = gc.get_freeze_count()
    try:
        gc.disable()  # as a program that imports the package may have chosen
        with startup.garbage_collection_paused():
            startup.resume_garbage_collection()
            assert not gc.isenabled()
        assert not gc.isenabled()
        assert gc.get_freeze_count() == frozen_before  # nothing frozen outside the render's own pause
        gc.enable()
        with startup.garbage_collection_paused():
            assert not gc.isenabled()
            imported = [[] for _ in range(1000)]  # as an import makes objects that stay
            startup.resume_garbage_collection()
            assert gc.isenabled()
            assert gc.get_freeze_count() >= frozen_before + len(imported)  # out of every later collection
        with startup.garbage_collection_paused():
            pass  # a render refused, or cached, before its imports were done
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


def test_the_footer_command_renders_a_data_folder_with_spaces_at_its_ends_again(tmp_path):
    data = DataCopy(tmp_path / " my data ").root
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    result = run("render", "--report", "crisis", "--format", "html", "--data", str(data), "--out", str(first))
    assert result.returncode == 0, result.stderr
    footer = BeautifulSoup((first / "crisis.html").read_text(encoding="utf-8"), "html.parser").find("footer")
    words = shlex.split(footer.find("code").get_text())
    assert words[-1] == f"data_dir={data}"
    result = run(*words[3:], "--format", "html", "--out", str(second))
    assert result.returncode == 0, result.stderr
    assert (first / "crisis.html").read_bytes() == (second / "crisis.html").read_bytes()


def test_a_relative_data_folder_is_taken_from_where_it_was_given(tmp_path):
    # The kernel runs in notebooks/: a relative folder from -p counts from the working folder, one
    # from a variants file from that file's folder, and the report's command names it whole.
    DataCopy(tmp_path / "none")
    (tmp_path / "variants").mkdir()
    DataCopy(tmp_path / "variants" / "copy")
    variants = tmp_path / "variants" / "reports.toml"
    variants.write_text('[[report]]\nname = "copy"\nparameters = { data_dir = "copy" }\n', encoding="utf-8")
    for name, args, folder in [
        ("crisis", ["--report", "crisis", "-p", "data_dir=./none"], tmp_path / "none"),
        ("copy", ["--variants", str(variants)], tmp_path / "variants" / "copy"),
    ]:
        out = tmp_path / f"out-{name}"
        out.mkdir()
        result = run("render", *args, "--format", "html", "--out", str(out), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        page = out / f"{name}.html"
        command = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").find("footer").find("code").get_text()
        assert shlex.split(command)[-1] == f"data_dir={folder}"


def test_an_empty_selection_is_rendered_with_a_warning(tmp_path):
    result = run(
        "render", "--report", "crisis", "-p", "start=2020-01-01", "-p", "end=", "--format", "html", "--out", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "warning: report 'crisis': no event matches its parameters. "
        "Selection: events whose earliest possible day is on or after 1 January 2020 (0 of 13 events).\n"
    )
    assert (tmp_path / "crisis.html").read_text(encoding="utf-8").count("No events match this selection.") == 1


def test_the_actor_ids_are_read_only_when_the_help_is_shown():
    script = (
        "import sys\n"
        "opened = []\n"
        "sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == 'open' else None)\n"
        "from analysis import cli\n"
        "cli.main(['schema', '--check'])\n"
        "print([path for path in opened if path.endswith('actors.csv')])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


def test_every_mistaken_parameter_name_is_told_at_once(tmp_path):
    result = run("render", "--report", "crisis", "-p", "titel=x", "-p", "strat=2016-01-01", "--out", str(tmp_path))
    assert result.returncode == 64, result.stderr
    assert result.stderr.splitlines() == [
        "unknown parameter 'titel' (did you mean 'title'?); known: title, start, end, dates, actors, categories, data_dir",
        "unknown parameter 'strat' (did you mean 'start'?); known: title, start, end, dates, actors, categories, data_dir",
    ]


def test_every_variant_s_unknown_actors_are_told_at_once(tmp_path):
    variants = tmp_path / "mine.toml"
    variants.write_text(
        '[[report]]\nname = "a"\nparameters = { actors = ["nobody"] }\n'
        '[[report]]\nname = "b"\nparameters = { actors = ["gutteres", "unmiss"] }\n',
        encoding="utf-8",
    )
    result = run("render", "--variants", str(variants), "--out", str(tmp_path))
    assert result.returncode == 64, result.stderr
    assert [line.split(";")[0] for line in result.stderr.splitlines()] == [
        "report 'a': unknown actor 'nobody'",
        "report 'b': unknown actor 'gutteres' (did you mean 'guterres'?)",
    ]


def test_a_parameter_given_twice_is_refused_not_overwritten(tmp_path):
    result = run("render", "--report", "full", "-p", "actors=guterres", "-p", "actors=haley", "--out", str(tmp_path))
    assert result.returncode == 64
    assert result.stderr.strip() == "-p actors is given twice ('actors=guterres', 'actors=haley'): give it once"
    assert list(tmp_path.iterdir()) == []


def test_a_mistaken_override_is_told_once_not_for_every_variant(tmp_path):
    result = run("render", "-p", "start=2016-02-30", "--out", str(tmp_path))
    assert result.returncode == 64, result.stderr
    assert result.stderr == "parameter 'start' is not a real date: '2016-02-30'\n"
