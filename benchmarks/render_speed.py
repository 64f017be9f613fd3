"""Rendering speed, measured side by side in one run: our render against the naive chain and the in-process limit.

Every row is a whole cold process (as a user runs it), timed with a wall clock, repeated and
reported as the median. Rows, for the `full` report (HTML + PDF):

- in-process limit: a plain script drawing the same figures and page, no kernel, in one process
  (inprocess_report.py); for reference, also the same script with the charts shared with a forked
  process as a render shares them (not a target's yardstick);
- naive chain: `papermill` CLI, then `jupyter nbconvert --to html`, then the WeasyPrint CLI;
  with --naive-env VENV, also that chain with VENV's CLIs (for instance a venv that has the
  `jupyter` metapackage, as the brief's stack does: every nbformat import then costs 1 s more);
- ours: `python -m analysis render --report full --force`; with --naive-env, also with that
  venv's Python, so that each naive chain is compared with our render in its own environment;
and for the batch of declared variants, with --jobs 1 and 2, against the in-process limit for the
same parameter sets; the cached re-run (nothing changed); the full report of a synthetic
timeline of 100,000 events against the article's; the cost of `import analysis`; and what this
machine's CPUs do together: a CPU-bound loop alone, then as many at once as there are CPUs (on a
shared virtual machine two may do much less than twice the work of one).

Usage: python benchmarks/render_speed.py [--repeat N] [--naive-env VENV]
Writes benchmarks/results/render_speed.json and .png beside the printed table.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))

from analysis.parallel import available_cpus  # noqa: E402
from analysis.parameters import check_parameters, load_variants  # noqa: E402

NAIVE = "one report: naive chain"  # its rows: this venv's CLIs, and --naive-env's
OURS = "one report: ours (render, HTML + PDF)"
OURS_IN = "one report: ours, with the Python of"  # + --naive-env: the same render in that environment
SHARED_SCRIPT = "one report: the same script, charts on two CPUs (reference)"
ALONE = "machine: a CPU-bound loop, alone"
SIDE_BY_SIDE = "machine: one such loop per CPU, side by side"
REFERENCES = (SHARED_SCRIPT, ALONE, SIDE_BY_SIDE)  # measured for comparison, not ours
LOOP = "total = 0\nfor number in range(8_000_000):\n    total += number * number"

Samples = dict[str, list[float]]  # by row label, one per repeat


def children_cpu() -> float:
    """CPU seconds (user + system) of every ended process this one has waited for, and theirs in turn."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cwd: Path = REPO) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def side_by_side(python: str, processes: int) -> float:
    """Seconds until ``processes`` copies of LOOP, started together, have all ended."""
    started = time.perf_counter()
    running = [subprocess.Popen([python, "-c", LOOP]) for _ in range(processes)]
    if any(process.wait() for process in running):
        raise RuntimeError("the CPU-bound loop failed")
    return time.perf_counter() - started


def capacity(medians: dict[str, float], cpu_medians: dict[str, float]) -> float:
    """CPU seconds the machine gets through per second with every CPU busy: one loop per CPU, side by side.

    Measured as CPU time charged, as a render's is: a loop that shares the machine is charged more
    for the same work, so counting the work instead would count that slowdown twice.
    """
    return cpu_medians[SIDE_BY_SIDE] / medians[SIDE_BY_SIDE]


def export_seconds(out: Path) -> float:
    """The HTML and PDF export of the report just rendered into ``out``: one CPU's work, after the kernel's."""
    timings = json.loads((out / "full.manifest.json").read_text(encoding="utf-8"))["timings_s"]
    return timings["html"] + timings["pdf"]


# Four more variants besides the declared ones, so the batch has at least eight reports.
EXTRA_VARIANTS = """
[[report]]
name = "guterres"
title = "What the Secretary-General did"
parameters = { actors = ["guterres"] }

[[report]]
name = "measures"
title = "Reforms and operations"
parameters = { categories = ["reform", "operation"] }

[[report]]
name = "since-march-2017"
title = "From the follow-up mission on"
parameters = { start = "2017-03-01" }

[[report]]
name = "parties"
title = "The parties to the fighting"
parameters = { actors = ["spla", "splm-a-io"] }

[[report]]
name = "assessment"
title = "Assessments and the letter"
parameters = { categories = ["assessment", "communication"] }
"""


def write_variants(folder: Path) -> Path:
    """The declared variants plus EXTRA_VARIANTS, as one variants file."""
    path = folder / "variants.toml"
    path.write_text((REPO / "reports.toml").read_text(encoding="utf-8") + EXTRA_VARIANTS, encoding="utf-8")
    return path


def parameter_sets(variants_file: Path) -> list[dict]:
    """Each variant's parameters, as the notebook receives them."""
    return [check_parameters({"title": v.title, **v.parameters}) for v in load_variants(variants_file)]


def measure(repeat: int, naive_env: Path | None = None) -> tuple[Samples, Samples, Samples]:
    """Each row's wall seconds, the CPU seconds of all its processes, and for our one-report rows the
    seconds of their HTML and PDF export, by row label, one per repeat."""
    times: Samples = {}
    cpu: Samples = {}
    exports: Samples = {}
    python = str(BIN / "python")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        variants = write_variants(scratch)
        sets = parameter_sets(variants)
        batch = ["--variants", str(variants), "--force", "--out", str(out := scratch / "out")]
        out.mkdir()
        big, big_out = scratch / "big", scratch / "big-out"
        big_out.mkdir()
        subprocess.run(
            [python, "benchmarks/load_scale.py", "--events", "100000", "--write", str(big)],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        for _ in range(repeat):
            one, all_sets = ["--report", "full", "--force"], json.dumps(sets)
            ours_argv = ["-m", "analysis", "render", *one, "--out", str(out)]
            # A command to time, or a folder of CLIs to run the naive chain with.
            runs = {
                "one report: in-process limit": [python, "benchmarks/inprocess_report.py", str(scratch), json.dumps([{}])],
                SHARED_SCRIPT: [python, "benchmarks/inprocess_report.py", str(scratch), json.dumps([{}]), "shared"],
                OURS: [python, *ours_argv],
                f"{NAIVE} (papermill, nbconvert, weasyprint CLIs)": BIN,
                **(
                    {
                        f"{OURS_IN} {naive_env}": [str(naive_env / "bin" / "python"), *ours_argv],
                        f"{NAIVE}, the CLIs of {naive_env}": naive_env / "bin",
                    }
                    if naive_env is not None
                    else {}
                ),
                f"batch of {len(sets)}: in-process limit": [python, "benchmarks/inprocess_report.py", str(scratch), all_sets],
                f"batch of {len(sets)}: ours --jobs 1": [python, "-m", "analysis", "render", *batch, "--jobs", "1"],
                f"batch of {len(sets)}: ours --jobs 2": [python, "-m", "analysis", "render", *batch, "--jobs", "2"],
                f"batch of {len(sets)}: ours, cached re-run": [
                    python,
                    "-m",
                    "analysis",
                    "render",
                    "--variants",
                    str(variants),
                    "--out",
                    str(out),
                ],
            }
            runs["scale: full report of 100,000 synthetic events"] = [
                python,
                "-m",
                "analysis",
                "render",
                *one,
                "--data",
                str(big / "data"),
                "--out",
                str(big_out),
            ]
            runs["python -c 'import analysis'"] = [python, "-c", "import analysis"]
            runs["python -c 'pass' (interpreter start, subtracted above)"] = [python, "-c", "pass"]
            runs[ALONE] = functools.partial(side_by_side, python, 1)
            runs[SIDE_BY_SIDE] = functools.partial(side_by_side, python, available_cpus())
            for label, command in runs.items():
                cpu_before = children_cpu()
                if callable(command):
                    seconds = command()
                elif isinstance(command, Path):
                    seconds = naive_chain(scratch, command)
                else:
                    seconds = timed(command)
                times.setdefault(label, []).append(seconds)
                cpu.setdefault(label, []).append(children_cpu() - cpu_before)
                if label == OURS or label.startswith(OURS_IN):
                    exports.setdefault(label, []).append(export_seconds(out))
    return times, cpu, exports


def naive_chain(scratch: Path, bin_dir: Path) -> float:
    """The three CLIs from ``bin_dir``, one after the other."""
    executed, page, pdf = scratch / "naive.ipynb", scratch / "naive.html", scratch / "naive.pdf"
    started = time.perf_counter()
    subprocess.run(
        [str(bin_dir / "papermill"), "notebooks/report.ipynb", str(executed), "--cwd", "notebooks", "--no-progress-bar"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [str(bin_dir / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(executed), "--output", str(page)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    subprocess.run([str(bin_dir / "weasyprint"), str(page), str(pdf)], cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started


def limit_of(label: str, medians: dict[str, float]) -> float | None:
    """The in-process limit a row is measured against: one report's, the batch's, or none (the cached re-run's)."""
    group = "one report" if label.startswith("one report") else "batch" if label.startswith("batch") else None
    if group is None or label.endswith("cached re-run"):
        return None
    return next(v for k, v in medians.items() if k.startswith(group) and k.endswith("in-process limit"))


def same_environment_label(naive_label: str) -> str:
    """The row of our render in the environment a naive chain row ran in: this venv's, or --naive-env's."""
    other = naive_label.partition(", the CLIs of ")[2]
    return f"{OURS_IN} {other}" if other else OURS


def table(times: Samples, cpu: Samples, exports: Samples, cpus: int) -> tuple[str, dict]:
    medians = {label: statistics.median(values) for label, values in times.items()}
    cpu_medians = {label: statistics.median(values) for label, values in cpu.items()}
    export_medians = {label: statistics.median(values) for label, values in exports.items()}
    limit_one = medians["one report: in-process limit"]
    batch_limit = limit_of("batch", medians)
    lines = ["| run | median s | × its in-process limit |", "|---|---|---|"]
    for label, seconds in medians.items():
        limit = limit_of(label, medians)
        lines.append(f"| {label} | {seconds:.2f} | {f'{seconds / limit:.2f}' if limit else '–'} |")
    ours = medians[OURS]
    cached = next(v for k, v in medians.items() if k.endswith("cached re-run"))
    jobs2 = next(v for k, v in medians.items() if k.endswith("--jobs 2"))
    scale = medians["scale: full report of 100,000 synthetic events"]
    imported = medians["python -c 'import analysis'"] - next(v for k, v in medians.items() if k.startswith("python -c 'pass'"))
    targets = [
        ("one report ≤ 2.0× the in-process limit", ours / limit_one, ours / limit_one <= 2.0),
        *(
            (f"one report ≥ 3× faster than the {label[len('one report: ') :]} (ours in its environment)", ratio, ratio >= 3.0)
            for label, naive in medians.items()
            if label.startswith(NAIVE)
            for ratio in [naive / medians[same_environment_label(label)]]
        ),
        ("batch --jobs 2 ≤ 1.5× the in-process limit", jobs2 / batch_limit, jobs2 / batch_limit <= 1.5),
        ("cached re-run ≤ 0.5 s", cached, cached <= 0.5),
        ("100,000 events ≤ 3× the article's full report", scale / ours, scale / ours <= 3.0),
        ("import analysis ≤ 0.3 s (beyond interpreter start)", imported, imported <= 0.3),
    ]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {value:.2f} | {'yes' if ok else 'NO'} |" for name, value, ok in targets]
    # A render's processes cannot end sooner than their CPU time spread evenly over the CPUs. Ours
    # also export the HTML and PDF on one CPU once the kernel is done: the rest of their CPU time
    # has to fit in what is left, and no more than every CPU can run in it.
    together = capacity(medians, cpu_medians)

    def rate_outside_export(label: str, seconds: float) -> float:
        """CPU seconds a second the rest of ``label``'s CPU time needs to end within ``seconds``."""
        rest = seconds - export_medians[label]
        return math.inf if rest <= 0 else (cpu_medians[label] - export_medians[label]) / rest

    lines += [
        "",
        f"With every CPU busy, the machine got through {together:.2f} CPU s a second: a CPU-bound loop took "
        f"{medians[ALONE]:.2f} s alone, and {medians[SIDE_BY_SIDE]:.2f} s, charged {cpu_medians[SIDE_BY_SIDE]:.2f} CPU s "
        f"in all, as one of {cpus} side by side.",
        "",
        f"| one report | median s | CPU s, all its processes | least s on {cpus} CPUs (CPU s ÷ {cpus}) "
        "| HTML + PDF export s (one CPU) | CPU s a second outside the export |",
        "|---|---|---|---|---|---|",
    ]
    for label in medians:
        if label.startswith("one report"):
            seconds, cpu_seconds = medians[label], cpu_medians[label]
            row = f"| {label[len('one report: ') :]} | {seconds:.2f} | {cpu_seconds:.2f} | {cpu_seconds / cpus:.2f} "
            exported = label in export_medians
            row += f"| {export_medians[label]:.2f} | {rate_outside_export(label, seconds):.2f} |" if exported else "| – | – |"
            lines.append(row)
    lines.append("")
    for label, naive in medians.items():
        if label.startswith(NAIVE):
            ours = same_environment_label(label)
            needed, achieved = rate_outside_export(ours, naive / 3), rate_outside_export(ours, medians[ours])
            lines.append(
                f"3× faster than the {label[len('one report: ') :]} means ≤ {naive / 3:.2f} s. Ours in that environment "
                f"used {cpu_medians[ours]:.2f} CPU s, {export_medians[ours]:.2f} of them exporting on one CPU: the rest would "
                f"have to run at {needed:.2f} CPU s a second, on {cpus} CPUs (it ran at {achieved:.2f})."
            )
    return "\n".join(lines), medians


def save_chart(medians: dict[str, float], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 0.42 * len(medians) + 1.3))
    canvas = FigureCanvasAgg(figure)
    axes = figure.subplots()
    labels = list(medians)[::-1]
    values = [medians[label] for label in labels]
    # Okabe-Ito: the limits grey, our renders blue, the naive chain orange.
    colors = [
        "#999999" if "in-process limit" in label or label in REFERENCES else "#E69F00" if "naive" in label else "#0072B2"
        for label in labels
    ]
    bars = axes.barh(labels, values, color=colors)
    texts = []
    for label, value in zip(labels, values, strict=True):
        limit = limit_of(label, medians)
        ratio = f" ({value / limit:.2f}× its limit)" if limit and "in-process limit" not in label else ""
        if label.startswith("scale"):
            ratio = f" ({value / medians[OURS]:.2f}× the article's full report)"
        texts.append(f"{value:.2f} s{ratio}")
    annotations = axes.bar_label(bars, labels=texts, padding=3, fontsize=9)
    key = "grey: in-process limits and references, orange: naive chain, blue: ours"
    axes.set_xlabel(f"seconds (median, whole cold process)\n{key}")
    axes.set_title("Rendering speed, measured side by side in one run")
    figure.tight_layout()
    # Room for the longest label, which need not be on the longest bar: measured once drawn.
    axes.set_xlim(0, max(values) * 1.1)
    for _ in range(3):  # widening the axis shrinks a second of it: measure again
        renderer = canvas.get_renderer()
        right = max(axes.transData.inverted().transform(a.get_window_extent(renderer))[1][0] for a in annotations)
        axes.set_xlim(0, max(right * 1.03, max(values) * 1.1))
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-env", type=Path, help="a venv whose CLIs also run the naive chain (see benchmarks/README.md)")
    args = parser.parse_args()
    if args.naive_env is not None and not (args.naive_env / "bin" / "papermill").exists():
        parser.error(f"--naive-env {args.naive_env}: no bin/papermill there")
    times, cpu, exports = measure(args.repeat, args.naive_env)
    text, medians = table(times, cpu, exports, available_cpus())
    print(text)
    RESULTS.mkdir(exist_ok=True)
    results = {"seconds": times, "cpu_seconds": cpu, "export_seconds": exports, "medians": medians}
    (RESULTS / "render_speed.json").write_text(json.dumps(results, indent=2))
    save_chart(medians, RESULTS / "render_speed.png")
    print(f"\nsaved {RESULTS / 'render_speed.json'} and {RESULTS / 'render_speed.png'}")


if __name__ == "__main__":
    main()
