"""Hostile inputs are refused fast and in bounded memory (FAULTS.md cases 16 and 17), measured side by side.

Each case is a whole cold command, as a user runs it, timed with a wall clock and repeated; the
table gives the median, the peak memory of the command's process, and the ratio to the same
command on the shipped data (13 events), measured in the same run:

- case 16: reports.toml with a key given twice, and nested 100,000 arrays deep (the TOML bomb),
  read by `python -m analysis render` (refused before any kernel starts);
- case 17: events.csv made 200 MB (sparse: refused from its size, before it is read), given one
  5 MB cell (valid, read in full), and given 1,000,000 duplicate event-actor rows (one problem
  reported, with the count of the rows like it), each checked by `python -m analysis validate`.

The tests check what each case prints and that nothing changes; the speed and memory live here.
Usage: python benchmarks/hostile_inputs.py [--repeat N]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import MIB, ROOT, markdown_table

# Runs one command as its only child, so that the children's ru_maxrss is that command's peak.
_MEASURE = r"""
import json, resource, subprocess, sys, time
began = time.perf_counter()
code = subprocess.run(sys.argv[1:], capture_output=True).returncode
seconds = time.perf_counter() - began
print(json.dumps({"code": code, "seconds": seconds, "peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}))
"""
# The targets of FAULTS.md: "each fails in under 1 s with bounded memory" (16); "fast, no OOM" (17),
# read here as at most 30 s and 1 GiB for the largest case, the million rows.
SECOND_TARGETS = {"16": 1.0, "17": 30.0}
PEAK_TARGET = 2**30


def measure(argv: list[str]) -> dict:
    completed = subprocess.run([sys.executable, "-c", _MEASURE, *argv], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(completed.stdout)


def prepare(scratch: Path) -> dict[str, tuple[str, list[str], int]]:
    """The cases: label -> (FAULTS.md case, command, the exit code it must give)."""
    python = sys.executable

    def data_copy(name: str) -> Path:
        folder = scratch / name
        shutil.copytree(ROOT / "data", folder)
        return folder

    def render_with(variants_text: str, name: str) -> list[str]:
        variants = scratch / f"{name}.toml"
        variants.write_text(variants_text, encoding="utf-8")
        out = scratch / f"{name}-out"
        out.mkdir()
        return [python, "-m", "analysis", "render", "--variants", str(variants), "--out", str(out), "--format", "html"]

    huge = data_copy("huge")
    with (huge / "timeline" / "events.csv").open("r+b") as handle:
        handle.truncate(200 * MIB)
    big_cell = data_copy("big-cell")
    events = big_cell / "timeline" / "events.csv"
    rows = list(csv.DictReader(io.StringIO(events.read_text(encoding="utf-8"))))
    rows[0]["summary"] = "word " * 2**20
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    events.write_text(table.getvalue(), encoding="utf-8")
    many = data_copy("many-rows")
    pairs = many / "timeline" / "event_actors.csv"
    lines = pairs.read_text(encoding="utf-8").split("\n")
    pairs.write_text("\n".join([lines[0], *[lines[1]] * 1_000_000]) + "\n", encoding="utf-8")
    validate = [python, "-m", "analysis", "validate", "--data"]
    return {
        "shipped data: validate (reference)": ("", [*validate, str(ROOT / "data")], 0),
        "shipped reports.toml: render refused at once (reference)": (
            "",
            [python, "-m", "analysis", "render", "--report", "no-such-report", "--out", str(scratch)],
            64,
        ),
        "16: reports.toml with a duplicate key": ("16", render_with('[[report]]\nname = "a"\nname = "b"\n', "duplicate"), 65),
        "16: reports.toml nested 100,000 deep": ("16", render_with("x = " + "[" * 100_000 + "]" * 100_000 + "\n", "bomb"), 65),
        "17: events.csv of 200 MB": ("17", [*validate, str(huge)], 65),
        "17: one 5 MB cell": ("17", [*validate, str(big_cell)], 0),
        # Each row carries its quote: the file is over the default size limit, which would refuse it unread.
        "17: 1,000,000 duplicate rows": ("17", [*validate, str(many), "--max-input-mb", "1024"], 65),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hostile-inputs-") as folder:
        cases = prepare(Path(folder))
        runs: dict[str, list[dict]] = {label: [] for label in cases}
        for attempt in range(1, args.repeat + 1):  # the cases take turns, so a passing disturbance falls on all alike
            for label, (_, argv, code) in cases.items():
                run = measure(argv)
                if run["code"] != code:
                    raise SystemExit(f"{label}: exit {run['code']}, expected {code}")
                print(f"  run {attempt}/{args.repeat}, {label}: {run['seconds']:.2f} s, peak {run['peak'] / MIB:,.0f} MiB")
                runs[label].append(run)
    medians = {label: statistics.median(run["seconds"] for run in found) for label, found in runs.items()}
    peaks = {label: max(run["peak"] for run in found) for label, found in runs.items()}
    reference = medians["shipped data: validate (reference)"]
    rows, missed = [], 0
    for label, (case, _, _) in cases.items():
        if case:
            met = medians[label] <= SECOND_TARGETS[case] and peaks[label] <= PEAK_TARGET
            missed += not met
            verdict = f"≤ {SECOND_TARGETS[case]:g} s and ≤ 1 GiB: {'yes' if met else 'NO'}"
        else:
            verdict = "–"
        ratio = f"{medians[label] / reference:.2f}"
        rows.append([label, f"{medians[label]:.2f}", ratio, f"{peaks[label] / MIB:,.0f}", verdict])
    print()
    print(markdown_table(["case", "median s", "× validating the shipped data", "peak MiB", "target met"], rows))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
