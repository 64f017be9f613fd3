"""How long loading and validating a large timeline takes, and how much memory it needs.

Generates a clearly synthetic timeline of N events (default 1,000,000) in a temporary folder laid
out like data/, then times ``analysis.load_timeline(folder, max_input_mb=None)`` in fresh
processes, next to the shipped data/ for reference, and against the targets (<= 5 s and
<= 2 GiB peak RSS for 1,000,000 events). A second variant with one broken event near the end of
events.csv checks that the error is reported at the right physical line, and times that too.

    .venv/bin/python benchmarks/load_scale.py [--events N] [--repeat R]
    .venv/bin/python benchmarks/load_scale.py --write DIR [--events N]   # only generate, to profile

The data is generated in a separate process: the measuring parent stays small, because a child
process's ru_maxrss on Linux starts from the RSS of the process that forked it.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis import paths, relative_dates  # noqa: E402
from analysis.schema import (  # noqa: E402
    ACTOR_KINDS,
    CATEGORIES,
    CLAIM_KINDS,
    DATE_PRECISIONS,
    MEASURES,
    REFORM_AREAS,
    ROLES,
    TABLES_BY_NAME,
)
from benchmarks.common import GIB, MIB, ROOT, markdown_table, measure, verdict  # noqa: E402

TARGET_EVENTS = 1_000_000
TARGET_SECONDS = 5.0
TARGET_BYTES = 2 * GIB
ACTOR_COUNT = 40
ACTORS_PER_EVENT = 2
EVENTS_PER_FIGURE = 10
EVENTS_PER_CLAIM = 10
# One inferred event in this many has a two-line date_note, so physical lines and rows differ.
MULTILINE_NOTE_EVERY = 97
STATED_SHARE = 0.3
SEED = 20170419
ONE_ERROR_CSV = "events-one-error.csv"
INFO_JSON = "generated.json"


def _read(table: str) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(paths.timeline_dir(paths.DATA_DIR) / f"{table}.csv", dtype=str, keep_default_na=False)


def _cycle(values, count: int):
    import numpy as np

    values = np.asarray(list(values), dtype=object)
    return values[np.arange(count) % len(values)]


def _ids(prefix: str, count: int):
    import numpy as np
    import pandas as pd

    width = len(str(max(count - 1, 0)))
    return (prefix + pd.Series(np.arange(count)).astype(str).str.zfill(width)).to_numpy(dtype=object)


def _frame(table: str, columns: dict) -> pd.DataFrame:
    """A frame with exactly the schema's columns, in the schema's order."""
    import pandas as pd

    names = TABLES_BY_NAME[table].field_names
    missing, extra = set(names) - set(columns), set(columns) - set(names)
    if missing or extra:
        raise RuntimeError(f"{table}: generator out of step with the schema (missing {missing}, extra {extra})")
    return pd.DataFrame({name: columns[name] for name in names})


def generate(count: int) -> dict[str, pd.DataFrame]:
    """A synthetic but valid timeline of ``count`` events, quoting the real article."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    sources = _read("sources")
    if len(sources) != 1:
        raise RuntimeError("the benchmark expects exactly one shipped source")
    source_id = sources["source_id"].iat[0]
    real_events, real_actors = _read("events"), _read("actors")
    real_claims, real_figures = _read("claims"), _read("figures")

    # Events: real quotes with their own date_text, location and location_quote, cycling; everything else synthetic.
    event_ids = _ids("synthetic-event-", count)
    pick = np.arange(count) % len(real_events)
    categories = np.array(list(CATEGORIES), dtype=object)[rng.integers(0, len(CATEGORIES), count)]
    areas = np.array(list(REFORM_AREAS), dtype=object)[rng.integers(0, len(REFORM_AREAS), count)]
    areas = np.where(np.isin(categories, ["reform", "operation"]), areas, "")
    first, last = np.datetime64("2005-01-01"), np.datetime64("2017-04-19")
    start = first + rng.integers(0, (last - first).astype(int) - 400, count).astype("timedelta64[D]")
    precisions = np.array(list(DATE_PRECISIONS), dtype=object)[rng.integers(0, len(DATE_PRECISIONS), count)]
    end = start + rng.integers(1, 60, count).astype("timedelta64[D]")  # range
    end = np.where(precisions == "day", start, end)
    approximate = precisions == "approximate"
    end = np.where(approximate, start + rng.integers(0, 400, count).astype("timedelta64[D]"), end)
    month = precisions == "month"
    month_start = start.astype("datetime64[M]")
    start = np.where(month, month_start.astype("datetime64[D]"), start)
    end = np.where(month, (month_start + 1).astype("datetime64[D]") - 1, end)
    # A stated date must be in its date_text's words, which are the article's: a share of the rows take
    # the article's one stated date, with its words; the others are inferred, with a note.
    fighting = real_events[real_events["date_basis"] == "stated"].iloc[0]
    stated = rng.random(count) < STATED_SHARE
    start = np.where(stated, np.datetime64(fighting["start"]), start)
    end = np.where(stated, np.datetime64(fighting["end"]), end)
    precisions = np.where(stated, fighting["date_precision"], precisions)
    date_text = np.where(stated, fighting["date_text"], real_events["date_text"].to_numpy(dtype=object)[pick])
    # Inferred from relative words ("last month"): the days the words give from the source's day, as the loader requires.
    published = date.fromisoformat(sources["published"].iat[0])
    for words in set(real_events["date_text"]):
        reading = relative_dates.days_allowed(words, published)
        if reading is None:
            continue
        (first_day, last_day), _ = reading
        rows = ~stated & (date_text == words)
        start = np.where(rows, np.datetime64(first_day), start)
        end = np.where(rows, np.datetime64(last_day), end)
        month_end = calendar.monthrange(first_day.year, first_day.month)[1]
        whole_month = first_day.day == 1 and last_day == first_day.replace(day=month_end)
        precisions = np.where(rows, "month" if whole_month else "approximate", precisions)
    multiline = np.arange(count) % MULTILINE_NOTE_EVERY == 0
    one_line = "Synthetic benchmark row: date inferred for the benchmark."
    notes = np.where(stated, "", np.where(multiline, "Synthetic benchmark row:\ndate inferred over two lines.", one_line))
    events = _frame(
        "events",
        {
            "event_id": event_ids,
            "title": "Synthetic event " + pd.Series(event_ids).str.rsplit("-", n=1).str[-1],
            "summary": "Synthetic benchmark row; not an event of the article.",
            "category": categories,
            "area": areas,
            "start": np.datetime_as_string(start, unit="D"),
            "end": np.datetime_as_string(end, unit="D"),
            "date_precision": precisions,
            "date_basis": np.where(stated, "stated", "inferred"),
            "date_note": notes,
            "date_text": date_text,
            "location": real_events["location"].to_numpy(dtype=object)[pick],
            "location_quote": real_events["location_quote"].to_numpy(dtype=object)[pick],
            "source_id": source_id,
            "quote": real_events["quote"].to_numpy(dtype=object)[pick],
        },
    )

    actor_ids = _ids("synthetic-actor-", ACTOR_COUNT)
    actors = _frame(
        "actors",
        {
            "actor_id": actor_ids,
            "name": "Synthetic actor " + pd.Series(actor_ids).str.rsplit("-", n=1).str[-1],
            "short_name": "",
            "kind": _cycle(ACTOR_KINDS, ACTOR_COUNT),
            "role": "",
            "source_id": source_id,
            "quote": _cycle(real_actors["quote"], ACTOR_COUNT),
        },
    )

    # Two distinct actors per event, so (event_id, actor_id, role) stays unique.
    links = count * ACTORS_PER_EVENT
    link_event = np.repeat(np.arange(count), ACTORS_PER_EVENT)
    link_actor = (link_event + np.tile(np.arange(ACTORS_PER_EVENT), count)) % ACTOR_COUNT
    event_actors = _frame(
        "event_actors",
        {
            "event_id": event_ids[link_event],
            "actor_id": actor_ids[link_actor],
            "role": np.array(list(ROLES), dtype=object)[rng.integers(0, len(ROLES), links)],
            "source_id": source_id,
            "quote": _cycle(_read("event_actors")["quote"], links),
        },
    )

    figure_count = count // EVENTS_PER_FIGURE
    figure_pick = np.arange(figure_count) % len(real_figures)
    figures = _frame(
        "figures",
        {
            "figure_id": _ids("synthetic-figure-", figure_count),
            "event_id": event_ids[np.arange(figure_count) * EVENTS_PER_FIGURE],
            "measure": _cycle(MEASURES, figure_count),
            # The numbers must be what the qualifier's words allow (analysis/quantities.py): the real row's.
            "low": real_figures["low"].to_numpy(dtype=object)[figure_pick],
            "best": real_figures["best"].to_numpy(dtype=object)[figure_pick],
            "high": real_figures["high"].to_numpy(dtype=object)[figure_pick],
            "qualifier": real_figures["qualifier"].to_numpy(dtype=object)[figure_pick],
            "rule": "Synthetic benchmark row: the numbers its qualifier's words allow, as in the real row it copies.",
            "source_id": source_id,
            "quote": real_figures["quote"].to_numpy(dtype=object)[figure_pick],
        },
    )

    claim_count = count // EVENTS_PER_CLAIM
    claims = _frame(
        "claims",
        {
            "claim_id": _ids("synthetic-claim-", claim_count),
            "event_id": event_ids[np.arange(claim_count) * EVENTS_PER_CLAIM + 1],
            "actor_id": actor_ids[np.arange(claim_count) % ACTOR_COUNT],
            "kind": _cycle(CLAIM_KINDS, claim_count),
            "statement": "Synthetic benchmark claim; not a claim of the article.",
            "source_id": source_id,
            "quote": _cycle(real_claims["quote"], claim_count),
        },
    )
    return {
        "sources": sources,
        "events": events,
        "actors": actors,
        "event_actors": event_actors,
        "figures": figures,
        "claims": claims,
    }


def write_table(folder: Path, name: str, frame: pd.DataFrame) -> Path:
    path = paths.timeline_dir(folder) / f"{name}.csv"
    frame.to_csv(path, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL, encoding="utf-8")
    return path


def write_timeline(folder: Path, tables: dict[str, pd.DataFrame]) -> None:
    if paths.DATA_DIR.resolve() in (folder.resolve(), *folder.resolve().parents):
        raise RuntimeError(f"refusing to write synthetic data inside {paths.DATA_DIR}")
    paths.timeline_dir(folder).mkdir(parents=True)
    paths.sources_dir(folder).mkdir(parents=True)
    source_id = tables["sources"]["source_id"].iat[0]
    original = paths.source_file(paths.DATA_DIR, source_id)
    copy = paths.source_file(folder, source_id)
    shutil.copyfile(original, copy)
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    if digest != tables["sources"]["sha256"].iat[0]:
        raise RuntimeError(f"{original} does not match its recorded SHA-256")
    for name, frame in tables.items():
        write_table(folder, name, frame)


def break_one_event(events: pd.DataFrame) -> tuple[pd.DataFrame, int, str]:
    """Copy of ``events`` with one event, near the end, ending 3 days before it starts.

    The event is one whose date no other rule ties to its words: inferred, from words no rule of
    relative_dates reads (a stated date, or one from "last month", would break a second rule).

    Returns the frame, the physical line of the broken row in events.csv, and the expected message.
    """
    import numpy as np

    published = date(2017, 4, 19)  # any day: only whether a rule reads the words matters
    row = next(
        row
        for row in range(max(0, len(events) - 7), -1, -1)
        if events.at[row, "date_basis"] == "inferred"
        and relative_dates.days_allowed(events.at[row, "date_text"], published) is None
    )
    broken = events.copy()
    start = np.datetime64(broken.at[row, "start"])
    new_end = str(start - np.timedelta64(3, "D"))
    broken.at[row, "end"] = new_end
    broken.at[row, "date_precision"] = "approximate"  # so end-before-start is the only rule broken
    newlines = sum(events[name].iloc[:row].str.count("\n").sum() for name in events.columns)
    line = 2 + row + int(newlines)  # line 1 is the header
    message = f'event "{broken.at[row, "event_id"]}": end {new_end} is before start {broken.at[row, "start"]} (field end)'
    return broken, line, message


def write_synthetic(root: Path, count: int) -> dict:
    """Write the timeline to ``root/data``, its one-error events.csv beside it, and what was made."""
    started = time.perf_counter()
    folder = root / "data"
    tables = generate(count)
    write_timeline(folder, tables)
    broken, line, message = break_one_event(tables["events"])
    broken.to_csv(root / ONE_ERROR_CSV, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL, encoding="utf-8")
    timeline = paths.timeline_dir(folder)
    info = {
        "folder": str(folder),
        "seconds": time.perf_counter() - started,
        "events_mb": (timeline / "events.csv").stat().st_size / MIB,
        "total_mb": sum(path.stat().st_size for path in timeline.iterdir()) / MIB,
        "rows": {name: len(frame) for name, frame in tables.items()},
        "error_line": line,
        "error_message": message,
    }
    (root / INFO_JSON).write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info


def describe(info: dict) -> str:
    rows = info["rows"]
    return (
        f"Generated {rows['events']:,} synthetic events in {info['seconds']:.1f} s under {info['folder']}: "
        f"events.csv {info['events_mb']:,.1f} MB, all tables {info['total_mb']:,.1f} MB "
        f"({rows['event_actors']:,} event-actors, {rows['figures']:,} figures, "
        f"{rows['claims']:,} claims, {rows['actors']} actors)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=TARGET_EVENTS, help="number of synthetic events (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="loads per case, each in a fresh process (default 3)")
    parser.add_argument(
        "--write",
        type=Path,
        metavar="DIR",
        help="only generate: write DIR/data (a timeline) and DIR/events-one-error.csv, keep them, and exit",
    )
    args = parser.parse_args(argv)
    if args.events < 10 or args.repeat < 1:
        parser.error("--events must be at least 10 and --repeat at least 1")
    n = args.events
    if args.write is not None:
        print(describe(write_synthetic(args.write, n)))
        return 0

    root = Path(tempfile.mkdtemp(prefix="unmiss-load-scale-"))
    try:
        # Generate in another process, so that this one stays small (see the module docstring).
        subprocess.run(
            [sys.executable, __file__, "--write", str(root), "--events", str(n)],
            check=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        info = json.loads((root / INFO_JSON).read_text(encoding="utf-8"))
        folder = Path(info["folder"])
        # The one-error variant: the same files (hard links), but for the broken events.csv.
        broken = root / "data-one-error"
        shutil.copytree(folder, broken, copy_function=os.link)
        os.replace(root / ONE_ERROR_CSV, paths.timeline_dir(broken) / "events.csv")
        os.sync()  # write the new files out now, not in the background of the measurements

        print("Measuring (each load in a fresh process):", flush=True)
        shipped, synthetic, erroneous = measure(
            [("data/ (shipped)", paths.DATA_DIR), (f"{n:,} events", folder), (f"{n:,} events, one error", broken)],
            args.repeat,
        )
        failures = [run for run in synthetic.runs if not run.ok]
        if failures:
            print("The synthetic timeline should be valid, but:", file=sys.stderr)
            for problem in failures[0].problems[:20]:
                print(f"  {problem['text']}", file=sys.stderr)
            return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)

    expected = f"events.csv:{info['error_line']}: {info['error_message']}"
    problems = erroneous.runs[0].problems
    sane = (
        all(not run.ok for run in erroneous.runs)
        and len(problems) == 1
        and problems[0]["line"] == info["error_line"]
        and problems[0]["text"].endswith("/" + expected)
    )

    print()
    print("## Sanity check: one broken event near the end of events.csv")
    print(f"expected: .../{expected}")
    for problem in problems[:5]:
        print(f"reported: {problem['text']}")
    print("TimelineError names the right physical line: " + ("yes" if sane else "NO"))

    print()
    print(f"## Targets (defined for {TARGET_EVENTS:,} events; this run has {n:,})")
    for label, summary in (("valid", synthetic), ("one error", erroneous)):
        print(f"{label:>9}: load time, median: {verdict(summary.median, TARGET_SECONDS, 's')}")
        print(f"{label:>9}: peak RSS:          {verdict(summary.peak / GIB, TARGET_BYTES / GIB, 'GiB')}")
    ratio = synthetic.median / shipped.median if shipped.median else float("inf")
    print(f"{n:,} events take {ratio:,.0f} times as long as the shipped timeline")

    rows = []
    shipped_events = shipped.runs[0].rows.get("events", 0)
    for summary, label, size in (
        (shipped, f"data/ (shipped, {shipped_events} events)", None),
        (synthetic, f"{n:,} events", info["events_mb"]),
        (erroneous, f"{n:,} events with one error", info["events_mb"]),
    ):
        problems = len(summary.runs[0].problems)
        outcome = "valid" if all(run.ok for run in summary.runs) else f"TimelineError, {problems} problem"
        rows.append(
            [
                label,
                f"{size:,.0f}" if size is not None else "<0.1",
                f"{summary.median:.2f}",
                f"{summary.best:.2f}",
                f"{summary.cpu:.2f}",
                f"{summary.rss_before / MIB:,.0f}",
                f"{summary.peak / MIB:,.0f}",
                outcome,
            ]
        )
    print()
    print(f"## Results ({args.repeat} loads per case, each in a fresh process)")
    print()
    print(
        markdown_table(
            ["case", "events.csv MB", "median s", "best s", "CPU s", "RSS before load MiB", "peak RSS MiB", "outcome"],
            rows,
        )
    )
    return 0 if sane else 1


if __name__ == "__main__":
    sys.exit(main())
