"""Helpers shared by the benchmarks: measuring in a fresh interpreter, and printing results."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 2**20
GIB = 2**30

# Runs in a fresh interpreter, so that nothing the parent did (generating data, earlier runs)
# shows in the child's time or memory. ru_maxrss is in KiB on Linux, and counts the memory of the
# process that forked the child too: keep the measuring parent small.
_CHILD = r"""
import json, resource, sys, time

import analysis
from analysis import load  # import pandas, pyarrow and the loader before the baseline is taken
from analysis.errors import TimelineError
from analysis.schema import TABLES

folder = sys.argv[1]
result = {"rss_before": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
cpu = time.process_time()
start = time.perf_counter()
try:
    timeline = analysis.load_timeline(folder, max_input_mb=None)
except TimelineError as error:
    result["seconds"] = time.perf_counter() - start
    result["ok"] = False
    result["problems"] = [
        {"path": p.path, "line": p.line, "record": p.record, "field": p.field, "text": str(p)}
        for p in error.problems
    ]
else:
    result["seconds"] = time.perf_counter() - start
    result["ok"] = True
    result["rows"] = {table.name: len(timeline.table(table.name)) for table in TABLES}
result["cpu"] = time.process_time() - cpu
result["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
try:  # Linux: the peak RSS of this process image alone, to cross-check ru_maxrss
    with open("/proc/self/status") as status:
        result["hwm"] = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmHWM:"))
except (OSError, StopIteration):
    result["hwm"] = None
print(json.dumps(result))
"""


@dataclass
class Run:
    """One load in a fresh interpreter."""

    seconds: float
    peak: int  # bytes: peak resident set size of the whole child process
    rss_before: int  # bytes: resident set size after imports, before loading
    ok: bool
    problems: list[dict]
    rows: dict[str, int]
    hwm: int | None = None  # bytes: VmHWM from /proc, where available
    cpu: float = 0.0  # seconds of CPU (user + system, all threads) during the load


def load_in_child(folder: Path) -> Run:
    """Time ``analysis.load_timeline(folder, max_input_mb=None)`` in a new Python process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED="0")
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({completed.returncode}):\n{completed.stderr}")
    data = json.loads(completed.stdout.strip().splitlines()[-1])
    return Run(
        seconds=data["seconds"],
        peak=data["peak"],
        rss_before=data["rss_before"],
        ok=data["ok"],
        problems=data.get("problems", []),
        rows=data.get("rows", {}),
        hwm=data.get("hwm"),
        cpu=data.get("cpu", 0.0),
    )


@dataclass
class Summary:
    label: str
    runs: list[Run]

    @property
    def median(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def best(self) -> float:
        return min(run.seconds for run in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(run.cpu for run in self.runs)

    @property
    def peak(self) -> int:
        return max(run.peak for run in self.runs)

    @property
    def rss_before(self) -> int:
        return int(statistics.median(run.rss_before for run in self.runs))


def measure(cases: list[tuple[str, Path]], repeat: int) -> list[Summary]:
    """Load each (label, folder) ``repeat`` times, taking the cases in turn so that a passing
    disturbance on the machine falls on all of them alike."""
    runs: dict[str, list[Run]] = {label: [] for label, _ in cases}
    for attempt in range(1, repeat + 1):
        for label, folder in cases:
            run = load_in_child(folder)
            hwm = f", VmHWM {run.hwm / MIB:,.0f} MiB" if run.hwm else ""
            outcome = "valid" if run.ok else f"{len(run.problems)} problem(s)"
            print(
                f"  run {attempt}/{repeat}, {label}: {run.seconds:.2f} s (CPU {run.cpu:.2f} s),"
                f" peak RSS {run.peak / MIB:,.0f} MiB{hwm} ({outcome})",
                flush=True,
            )
            runs[label].append(run)
    return [Summary(label, runs[label]) for label, _ in cases]


def verdict(value: float, target: float, unit: str) -> str:
    status = "target met" if value <= target else "TARGET MISSED"
    return f"{value:,.2f} {unit} / {target:g} {unit} = {value / target:.2f} of the target: {status}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
