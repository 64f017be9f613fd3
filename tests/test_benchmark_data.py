"""The benchmarks' synthetic timelines are valid by every rule the loader holds the real one to, and
their one-error copy breaks exactly the rule it says: a benchmark of data the loader refuses would
measure a refusal, not a load."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

from analysis import TimelineError, load_timeline


def test_the_synthetic_timeline_is_valid_and_its_one_error_copy_has_one_error(tmp_path):
    script = REPO / "benchmarks" / "load_scale.py"
    subprocess.run([sys.executable, str(script), "--events", "3000", "--write", str(tmp_path)], check=True, capture_output=True)
    timeline = load_timeline(tmp_path / "data")
    assert len(timeline.events) == 3000
    assert set(timeline.events["date_basis"]) == {"stated", "inferred"}  # both kinds of date rule are exercised
    assert (timeline.events["date_text"] == "last month").any() and len(timeline.figures) > 0
    info = json.loads((tmp_path / "generated.json").read_text(encoding="utf-8"))
    broken = tmp_path / "broken"
    shutil.copytree(tmp_path / "data", broken)
    shutil.copyfile(tmp_path / "events-one-error.csv", broken / "timeline" / "events.csv")
    with pytest.raises(TimelineError) as caught:
        load_timeline(broken)
    (problem,) = caught.value.problems
    assert info["error_message"] in str(problem) and problem.line == info["error_line"]
