"""The command line: exit codes, one-line summary, every problem, never a traceback."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def run(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_help_lists_commands_and_exit_codes():
    result = run("--help")
    assert result.returncode == 0
    assert "validate" in result.stdout and "65  input data invalid" in result.stdout


def test_validate_shipped_data_prints_one_line():
    result = run("validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith("timeline valid: 13 events")


def test_validate_broken_data_prints_every_problem_and_exits_65(data_copy):
    data_copy.replace("events", ",violence,", ",violense,")
    data_copy.replace("figures", "raped,201,,", "raped,201,150,")
    result = run("validate", "--data", str(data_copy.root))
    assert result.returncode == 65
    assert "Traceback" not in result.stderr
    assert "2 problems in the timeline" in result.stderr
    assert "(field category)" in result.stderr and "(field best)" in result.stderr


def test_validate_missing_folder_exits_66(tmp_path):
    result = run("validate", "--data", str(tmp_path / "absent"))
    assert result.returncode == 66
    assert "timeline folder not found" in result.stderr and "Traceback" not in result.stderr


def test_validate_structurally_broken_csv_has_no_traceback(data_copy):
    data_copy.csv("events").write_bytes(b'event_id,title\n"unclosed,\xff\n')
    result = run("validate", "--data", str(data_copy.root))
    assert result.returncode == 65
    assert "Traceback" not in result.stderr and "events.csv" in result.stderr


def test_unknown_command_is_a_usage_error():
    result = run("frobnicate")
    assert result.returncode == 64
    assert "invalid choice" in result.stderr
