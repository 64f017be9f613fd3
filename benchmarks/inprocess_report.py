"""The in-process limit: the same report parts, figures and HTML page drawn by a plain script, no kernel.

Used by render_speed.py as the yardstick for one report: it does the work a render must do (load
and validate the timeline, build the cited narrative, draw the four charts as PNG, write one HTML
page), and nothing a notebook pipeline adds (kernel, papermill, nbconvert, PDF). In one process,
as the issue defines the limit: the charts are drawn one after another, while a render shares them
with a forked process where a CPU is spare (analysis.parallel).
Usage: python benchmarks/inprocess_report.py OUT_DIR PARAMETER_SETS_JSON [shared]
(a JSON list of parameter dicts; report i is written to OUT_DIR/i.html; with "shared", the charts
are drawn as a render draws them, for reference)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from analysis.report import build_report


def write_report(target: Path, parameters: dict, shared: bool = False) -> None:
    report = build_report(**parameters)
    parts = [report.header(), report.summary(), report.charts(share=shared), report.sections()]
    parts += [report.table(name) for name in ("events", "human_cost", "reforms", "remaining")]
    parts += [report.method(), report.sources()]
    body = "\n".join(part.html for part in parts)
    target.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{body}</body></html>', "utf-8")


def main(argv: list[str]) -> None:
    out_dir, parameter_sets, shared = Path(argv[0]), json.loads(argv[1]), argv[2:] == ["shared"]
    for number, parameters in enumerate(parameter_sets):
        write_report(out_dir / f"{number}.html", parameters, shared)


if __name__ == "__main__":
    main(sys.argv[1:])
