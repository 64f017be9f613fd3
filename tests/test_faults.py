"""Every case of shared/FAULTS.md: the message, the exit code, and the invariants after the failure.

The invariants (FAULTS.md §2), checked by ``assert_invariants``: the previously published report is
byte-identical, no staging or temp file is left (only an explicit ``failed-*/`` folder), no kernel
or kernel factory started by the run is left, and the output lock is free (a second render can take it).

Cases 1-22 need no kernel: they run the real command line in a subprocess against an output folder
that already holds a good published report, and also check that no kernel was started. Cases 23-32
run tiny purpose-built notebooks (``paths.REPORT_NOTEBOOK`` monkeypatched in-process, or by a small
driver script in a subprocess where a signal or a second process is needed). Cases 18 and 19 (hostile
text rendered literally) are in test_hostile.py; the validation rules themselves, message by message,
are in test_load.py and test_parameters.py, which these tests do not repeat.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import ctypes
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
import pyarrow.csv
import pytest
from conftest import REPO, DataCopy, planted_sitecustomize

from analysis import cli as cli_module
from analysis import outputs, paths
from analysis import render as render_module
from analysis.cli import main as cli_main
from analysis.errors import RenderError
from analysis.kernel_factory import FACTORY_MODULE, PARENT_PID_VARIABLE
from analysis.parameters import load_variants
from analysis.reading import Collector, read_table
from analysis.render import output_lock, render
from analysis.schema import EVENTS
from analysis.startup import Terminated, stop_signal

# --- invariants -----------------------------------------------------------------------------------


def published(out: Path) -> dict[str, bytes]:
    """Every file directly in the output folder (the report's files, index.html, the empty lock file)."""
    return {path.name: path.read_bytes() for path in sorted(out.iterdir()) if path.is_file()}


def leftovers(out: Path) -> list[str]:
    """Staging folders, temp files and any folder that is not an explicit failed-*/ one."""
    return sorted(
        path.name
        for path in out.iterdir()
        if path.name.startswith((".staging-", ".index-", ".write-test-"))
        or (path.is_dir() and not path.name.startswith("failed-"))
    )


def is_kernel(process: psutil.Process) -> bool:
    """An ipykernel launched by jupyter_client, or one forked by the kernel factory.

    A forked kernel keeps the factory's command line; a program that the factory's imports run (as
    `uname -p` was run when the factory imported debugpy) is not a kernel.
    """
    if "ipykernel_launcher" in " ".join(process.cmdline()):
        return True
    parent = process.parent()
    return parent is not None and is_factory(parent) and is_factory(process)


def is_factory(process: psutil.Process) -> bool:
    return FACTORY_MODULE in " ".join(process.cmdline())


def kernels_of(pids: set[int]) -> list[psutil.Process]:
    """Live kernels and kernel factories started by one of ``pids``: as descendants, or by the pid they record.

    A launched kernel records its render in JPY_PARENT_PID, a factory (whose environment its forked
    kernels show too) in ANALYSIS_KERNEL_FACTORY_PARENT. Other people's kernels are never counted.
    """
    found = []
    for process in psutil.process_iter(["status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE or not (is_kernel(process) or is_factory(process)):
                continue
            parents = {parent.pid for parent in process.parents()}
            environment = process.environ()
        except psutil.Error:
            continue
        recorded = {environment.get("JPY_PARENT_PID", ""), environment.get(PARENT_PID_VARIABLE, "")}
        if parents & pids or {str(pid) for pid in pids} & recorded:
            found.append(process)
    return found


def assert_no_kernels(pids: set[int], grace: float = 3.0) -> None:
    deadline = time.monotonic() + grace
    while kernels_of(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert kernels_of(pids) == [], "a kernel or kernel factory was left running"


def assert_lock_free(out: Path) -> None:
    assert (out / ".render.lock").read_bytes() == b"", "the lock file keeps a pid: the render did not release it"
    with output_lock(out):  # raises RenderError (75) if another process still holds it
        pass


def assert_invariants(out: Path, before: dict[str, bytes], pids: set[int] | None = None, lock: bool = True) -> None:
    assert published(out) == before, "a previously published file changed"
    assert leftovers(out) == []
    assert_no_kernels(pids or {os.getpid()})
    if lock:
        assert_lock_free(out)


@pytest.mark.slow
def test_the_kernel_check_sees_a_live_kernel_and_its_end():
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel()
    try:
        assert len(kernels_of({os.getpid()})) == 1
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert_no_kernels({os.getpid()})


@pytest.mark.slow
def test_the_kernel_check_sees_a_forked_kernel_and_its_factory(tmp_path):
    from analysis.kernel_factory import KernelFactory
    from analysis.kernels import WarmKernel

    factory = KernelFactory("python3")
    kernel = WarmKernel(tmp_path, factory)
    try:
        found = kernels_of({os.getpid()})
        assert sorted(process.pid for process in found) == sorted([factory.process.pid, kernel.manager.provisioner.pid])
        assert [process.pid for process in found if is_kernel(process)] == [kernel.manager.provisioner.pid]
    finally:
        kernel.shutdown()
        factory.close()
    assert_no_kernels({os.getpid()})


@pytest.mark.slow
def test_the_kernel_check_does_not_count_a_program_the_factory_runs(tmp_path, monkeypatch):
    # Importing debugpy in the factory ran `uname -p`, which a clean-clone CI run counted as a kernel.
    from analysis.kernel_factory import KernelFactory

    planted = f"import subprocess, sys\nif {FACTORY_MODULE!r} in sys.orig_argv:\n    subprocess.Popen(['sleep', '30'])\n"
    monkeypatch.setenv("PYTHONPATH", planted_sitecustomize(tmp_path, planted))
    factory = KernelFactory("python3")
    try:
        deadline = time.monotonic() + 30
        while not (children := psutil.Process(factory.process.pid).children()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [child.name() for child in children] == ["sleep"]
        assert not is_kernel(children[0])
    finally:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(factory.process.pid).children():
                child.kill()
        factory.close()
    assert_no_kernels({os.getpid()})


# --- running the command line -----------------------------------------------------------------------


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    pid: int
    kernels_seen: int  # kernels (launched or forked) seen under the command while it ran (polled every 50 ms)


def start(argv: list[str], log_dir: Path, env: dict | None = None) -> tuple[subprocess.Popen, Path, Path]:
    """Start a command in its own session with SIGINT at its default (a background shell may ignore it)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = log_dir / f"out-{time.monotonic_ns()}", log_dir / f"err-{time.monotonic_ns()}"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    return process, stdout, stderr


def finish(started: tuple[subprocess.Popen, Path, Path], timeout: float = 180) -> Run:
    process, stdout, stderr = started
    began, seen = time.monotonic(), set()
    while process.poll() is None:
        if time.monotonic() - began > timeout:
            process.kill()
            pytest.fail(f"{process.args} did not finish in {timeout} s")
        try:
            for child in psutil.Process(process.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if is_kernel(child):
                        seen.add(child.pid)
        except psutil.Error:  # it ended between poll() and here
            pass
        time.sleep(0.05)
    return Run(
        process.returncode,
        stdout.read_text(encoding="utf-8"),
        stderr.read_text(encoding="utf-8"),
        process.pid,
        len(seen),
    )


def analysis_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "analysis", *args]


# A driver for what the command line cannot do by itself: render another notebook, read another
# variants file, or be slow at a chosen step. It sets paths or wraps a function, then runs cli.main.
DRIVER = """
import json, os, sys, threading, time
from pathlib import Path
from analysis import cli, paths, render

config = json.loads(sys.argv[1])
if "notebook" in config:
    paths.REPORT_NOTEBOOK = Path(config["notebook"])
if "variants" in config:
    paths.VARIANTS_FILE = Path(config["variants"])
if "stall_export" in config or "stall_warm_up" in config:
    # The PDF export hangs: the report's own, after the notebook ran and the HTML was made (in the
    # main thread), or the exporters' warm-up while the notebook runs (in a background thread).
    export_pdf = render.export_pdf

    def stalled_export(page):
        in_main = threading.current_thread() is threading.main_thread()
        marker = config.get("stall_export" if in_main else "stall_warm_up")
        if marker:
            Path(marker).touch()
            time.sleep(60)
        return export_pdf(page)

    render.export_pdf = stalled_export
if "stall_fork" in config:
    # The first kernel takes 2 s to come from the factory: inside jupyter_client's launch, in its event loop.
    from analysis import kernel_factory

    fork = kernel_factory.KernelFactory.fork

    def slow_fork(self, *args, **kwargs):
        if not Path(config["stall_fork"]).exists():
            Path(config["stall_fork"]).write_text(threading.current_thread().name)
            time.sleep(2)
        return fork(self, *args, **kwargs)

    kernel_factory.KernelFactory.fork = slow_fork
if "no_factory" in config:  # no kernel factory starts: every kernel is launched the usual way
    from analysis import kernel_factory

    kernel_factory.start_factory = lambda *args, **kwargs: None
if "forks_fail" in config:  # every forked kernel fails to start: each job retries with a launched one
    launch_kernel = render.launch_kernel

    def failing_fork(cwd, factory=None, environment=None):
        if factory is not None:
            return RuntimeError("Kernel didn't respond in 60 seconds (injected)")
        return launch_kernel(cwd, factory, environment)

    render.launch_kernel = failing_fork
if "stall_publish" in config:  # publishing the HTML takes 3 s
    replace = os.replace

    def slow_replace(source, target):
        if ".staging-" in str(source) and str(target).endswith(".html"):
            Path(config["stall_publish"]).touch()
            time.sleep(3)
        return replace(source, target)

    os.replace = slow_replace
if "drop_interrupt" in config:
    # Ctrl-C lands in a weakref callback, where Python drops the KeyboardInterrupt ("Exception ignored
    # in ...") and carries on: in a sequence as its data files are made, in a --jobs render's parent
    # as it starts waiting for its workers. Not in a worker (which imports this file too).
    import multiprocessing, signal, weakref

    def drop_interrupt_then(function):
        def dropped(*args, **kwargs):
            if multiprocessing.parent_process() is None and not Path(config["drop_interrupt"]).exists():
                class Referent:
                    pass

                referent = Referent()
                reference = weakref.ref(referent, lambda ref: signal.getsignal(signal.SIGINT)(signal.SIGINT, None))
                del referent  # the callback runs now, while ``reference`` lives
                Path(config["drop_interrupt"]).touch()
            return function(*args, **kwargs)

        return dropped

    import concurrent.futures

    render._prepare_data = drop_interrupt_then(render._prepare_data)
    concurrent.futures.wait = drop_interrupt_then(concurrent.futures.wait)
if "lose_ctrl_c" in config:
    # A Ctrl-C reaches the whole process group while the render checks its inputs, and the render's
    # own is lost (as one was when pyarrow took SIGINT while it read a CSV file): blocked here.
    import multiprocessing, signal

    check_before_kernels = render._check_before_kernels

    def losing_ctrl_c(*args, **kwargs):
        if multiprocessing.parent_process() is None:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            os.killpg(0, signal.SIGINT)
            time.sleep(2)  # the idle workers end
            Path(config["lose_ctrl_c"]).touch()
        return check_before_kernels(*args, **kwargs)

    render._check_before_kernels = losing_ctrl_c
if __name__ == "__main__":  # --jobs workers import this file again, as multiprocessing's spawn does
    sys.exit(cli.main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("driver") / "driver.py"
    path.write_text(DRIVER, encoding="utf-8")
    return path


def driver_argv(driver: Path, config: dict, *args: str) -> list[str]:
    return [sys.executable, str(driver), json.dumps(config), *args]


def run_in_process(capsys, *argv: str) -> tuple[int, str]:
    """cli.main in this process (for monkeypatched notebooks), which puts back the signal handlers it found."""
    code = cli_main(list(argv))
    return code, capsys.readouterr().err


# --- a good published report, and tiny notebooks -------------------------------------------------------


@pytest.fixture(scope="module")
def good_report(tmp_path_factory) -> Path:
    """One good 'crisis' report (HTML, notebook, data, manifest, index), rendered once for the module."""
    out = tmp_path_factory.mktemp("good-report")
    render(names=["crisis"], out_dir=out, formats=("html",))
    return out


@pytest.fixture
def out(good_report, tmp_path) -> Path:
    """A fresh output folder holding a copy of the good published report."""
    folder = tmp_path / "out"
    shutil.copytree(good_report, folder)
    return folder


def tiny_notebook(folder: Path, *sources: str, tags: list[str] | None = None) -> Path:
    """The report notebook's parameters cell, then the given code cells (the last tagged ``tags``)."""
    real = nbformat.read(str(REPO / "notebooks" / "report.ipynb"), as_version=4)
    notebook = nbformat.v4.new_notebook(metadata=real.metadata)
    notebook.cells = [real.cells[0], *(nbformat.v4.new_code_cell(source) for source in sources)]
    if tags:
        notebook.cells[-1].metadata["tags"] = tags
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.ipynb"
    nbformat.write(notebook, str(path))
    return path


def edit_cells(data: DataCopy, table: str, key: str, value: str, **changes: str) -> int:
    """Set fields of the row whose ``key`` is ``value`` (rewritten by the csv module); its line number."""
    path = data.csv(table)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    fields = list(rows[0])
    for row in rows:
        if row[key] == value:
            row.update(changes)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return data.line_of(table, value + ",")


# --- cases 1-19: bad input, through the command line, no kernel -------------------------------------------


def refused_by_cli(
    data_root: Path, out: Path, code: int, *messages: str, tmp_path: Path, render_too: bool = True, env: dict | None = None
) -> None:
    """``validate`` and ``render`` both exit ``code`` with every message, start no kernel, change nothing."""
    before = published(out)
    commands = [analysis_argv("validate", "--data", str(data_root))]
    if render_too:
        commands.append(
            analysis_argv("render", "--data", str(data_root), "--out", str(out), "--report", "crisis", "--format", "html")
        )
    runs = [finish(started) for started in [start(argv, tmp_path / "logs", env) for argv in commands]]
    for run in runs:
        assert run.code == code, run.stderr
        assert "Traceback" not in run.stderr
        for message in messages:
            assert message in run.stderr, (message, run.stderr)
        assert run.kernels_seen == 0
    assert_invariants(out, before, pids={run.pid for run in runs})


def test_case_01_row_with_an_extra_field(data_copy, out, tmp_path):
    line = data_copy.line_of("events", "juba-fighting,")
    lines = data_copy.lines("events")
    lines[line - 1] += ",EXTRA"
    data_copy.write_lines("events", lines)
    width = len(EVENTS.fields)
    refused_by_cli(data_copy.root, out, 65, f"events.csv:{line}: expected {width} fields, found {width + 1}", tmp_path=tmp_path)


def test_case_02_unterminated_quote(data_copy, out, tmp_path):
    lines = data_copy.lines("events")
    original = lines[1]
    lines[1] = '"' + original.replace('"', "")  # opened, and nothing on its own line closes it
    data_copy.write_lines("events", lines)
    # Later quotes in the file close it: the break shows on line 3, but the message points at line 2.
    refused_by_cli(data_copy.root, out, 65, "events.csv:2: quoted field opened here runs on to line 3", tmp_path=tmp_path)
    lines = data_copy.lines("event_actors")
    data_copy.write_lines("event_actors", [*lines, '"juba-fighting,spla,party'])  # no quote after it closes it
    data_copy.write_lines("events", [original if line.startswith('"') else line for line in data_copy.lines("events")])
    message = f"event_actors.csv:{len(lines) + 1}: quoted field opened here is never closed"
    refused_by_cli(data_copy.root, out, 65, message, tmp_path=tmp_path)


def toml_variants(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "variants.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def render_with_variants(driver: Path, variants: Path, out: Path, tmp_path: Path) -> Run:
    argv = driver_argv(driver, {"variants": str(variants)}, "render", "--out", str(out), "--format", "html")
    return finish(start(argv, tmp_path / "logs"))


def test_case_03_malformed_toml_the_yaml_analog(driver, out, tmp_path):
    # The project reads no YAML; its one configuration file is reports.toml. tomllib gives line and column.
    before = published(out)
    for text, message in [
        ('[[report]]\nname = "crisis"\nparameters = { start = "2016-07-01"\n', "Unclosed inline table (at line 3, column 36)"),
        ("[[report]]\nname =\n", "Invalid value (at line 2, column 7)"),
    ]:
        run = render_with_variants(driver, toml_variants(tmp_path, text), out, tmp_path)
        assert run.code == 65 and "Traceback" not in run.stderr, run.stderr
        assert "1 problem in the report variants file:" in run.stderr, run.stderr
        assert "variants.toml: not valid TOML: " + message in run.stderr
        assert run.kernels_seen == 0
    assert_invariants(out, before)


def test_case_04_empty_file_and_header_only(data_copy, out, tmp_path):
    data_copy.csv("events").write_text("", encoding="utf-8")
    refused_by_cli(data_copy.root, out, 65, "events.csv:1: no header (the file is empty)", tmp_path=tmp_path)
    data_copy.csv("events").write_text(DataCopy(tmp_path / "fresh").lines("events")[0] + "\n", encoding="utf-8")
    refused_by_cli(data_copy.root, out, 65, "events.csv:1: 0 events: the timeline needs at least one", tmp_path=tmp_path)


def test_case_04_decision_other_tables_may_be_empty(data_copy, tmp_path):
    # Only events must have rows: an article may name no figure and make no claim.
    for table in ("figures", "claims"):
        data_copy.csv(table).write_text(data_copy.lines(table)[0] + "\n", encoding="utf-8")
    run = finish(start(analysis_argv("validate", "--data", str(data_copy.root)), tmp_path / "logs"))
    assert run.code == 0 and "0 figures, 0 claims" in run.stdout, run.stderr


@pytest.mark.parametrize(
    ("header_edit", "message"),
    [
        ((",end,", ","), "events.csv:1: missing column 'end' (found: event_id, title, summary,"),
        (("event_id,title,", "event_id ,title,"), "events.csv:1: column 1 'event_id ' has white space around its name"),
        (("event_id,title,summary,", "event_id,title,title,"), "events.csv:1: duplicate column 'title' (columns 2 and 3)"),
    ],
    ids=["missing-end", "spaced-name", "duplicate-name"],
)
def test_case_05_header_missing_spaced_or_duplicate_column(data_copy, out, tmp_path, header_edit, message):
    # White space around a column name is refused, not stripped: the file says what it means.
    data_copy.replace("events", *header_edit)
    refused_by_cli(data_copy.root, out, 65, message, tmp_path=tmp_path)


def test_case_06_wrong_type_in_a_number_column_and_in_the_toml(data_copy, driver, out, tmp_path):
    line = data_copy.line_of("figures", "juba-killed,")
    data_copy.replace("figures", "killed,200,,", "killed,heavy,,")
    refused_by_cli(
        data_copy.root,
        out,
        65,
        f"figures.csv:{line}: figure \"juba-killed\": 'heavy' is not a whole number (field low)",
        tmp_path=tmp_path,
    )
    # TOML analog of `title: [a, b]`: a usage error (64) naming the file, the report and the key.
    before = published(out)
    for text, message in [
        ('[[report]]\nname = "crisis"\ntitle = ["a", "b"]\n', "variants.toml: report 'crisis': title must be text"),
        (
            '[[report]]\nname = "crisis"\nparameters = { start = ["a"] }\n',
            "variants.toml: report 'crisis': parameter 'start' must be text, got list ['a']",
        ),
    ]:
        run = render_with_variants(driver, toml_variants(tmp_path, text), out, tmp_path)
        assert run.code == 64 and message in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert_invariants(out, before)


def test_case_07_impossible_date(data_copy, out, tmp_path):
    line = data_copy.line_of("events", "juba-fighting,")
    data_copy.replace("events", "2016-07-08,2016-07-12,range", "2016-02-30,2016-07-12,range")
    message = f"events.csv:{line}: event \"juba-fighting\": '2016-02-30' is not a real date (field start)"
    refused_by_cli(data_copy.root, out, 65, message, tmp_path=tmp_path)


def test_case_08_ambiguous_date_and_unquoted_toml_date(data_copy, driver, out, tmp_path):
    line = data_copy.line_of("events", "juba-fighting,")
    data_copy.replace("events", "2016-07-08,2016-07-12,range", "03/04/2016,2016-07-12,range")
    message = f"events.csv:{line}: event \"juba-fighting\": '03/04/2016' is not YYYY-MM-DD (ambiguous: day 03 of month 04"
    refused_by_cli(data_copy.root, out, 65, message, tmp_path=tmp_path)
    # An unquoted TOML date is a datetime.date, not text: refused, never converted.
    before = published(out)
    variants = toml_variants(tmp_path, '[[report]]\nname = "crisis"\nparameters = { start = 2016-07-01 }\n')
    run = render_with_variants(driver, variants, out, tmp_path)
    assert run.code == 64, run.stderr
    assert "report 'crisis': parameter 'start' must be text, got the TOML date 2016-07-01: write it in quotes" in run.stderr
    assert_invariants(out, before)


def test_case_09_end_before_start(data_copy, out, tmp_path):
    line = data_copy.line_of("events", "juba-fighting,")
    data_copy.replace("events", "2016-07-08,2016-07-12,range", "2016-07-08,2016-07-01,range")
    message = f'events.csv:{line}: event "juba-fighting": end 2016-07-01 is before start 2016-07-08 (field end)'
    refused_by_cli(data_copy.root, out, 65, message, tmp_path=tmp_path)


def test_case_10_duplicate_id(data_copy, out, tmp_path):
    lines = data_copy.lines("events")
    lines.insert(len(lines) - 1, lines[1])
    data_copy.write_lines("events", lines)
    message = f'events.csv:{len(lines) - 1}: event "juba-fighting": duplicate event_id (first defined at line 2) (field event_id)'
    refused_by_cli(data_copy.root, out, 65, message, tmp_path=tmp_path)


def test_case_11_unknown_actor(data_copy, out, tmp_path):
    line = data_copy.line_of("event_actors", "juba-fighting,spla,")
    data_copy.replace("event_actors", "juba-fighting,spla,party", "juba-fighting,a9,party")
    message = f"event_actors.csv:{line}: event-actor \"juba-fighting/a9/party\": actor_id 'a9' not found in actors.csv"
    refused_by_cli(data_copy.root, out, 65, message, "(known: cammaert, contributing-countries,", tmp_path=tmp_path)


QUOTE = "Hundreds of people were killed and more than 200 raped during that time period."


@pytest.mark.parametrize(
    ("quote", "difference"),
    [
        (QUOTE.replace("200 raped", "200\u00a0raped"), "the quote has U+00A0 NO-BREAK SPACE"),
        (QUOTE.replace("time period", "time-period"), "the quote has U+002D HYPHEN-MINUS ('-') where the source has U+0020"),
        (QUOTE.replace("period.", "period\u2026"), "the quote has U+2026 HORIZONTAL ELLIPSIS"),
    ],
    ids=["nbsp", "hyphen", "ellipsis"],
)
def test_case_12_quote_not_verbatim(data_copy, out, tmp_path, quote, difference):
    # Curly versus straight quotes and NFC versus NFD are in test_load.py, message for message.
    line = data_copy.line_of("figures", "juba-killed,")
    data_copy.replace("figures", QUOTE, quote)
    message = f'figures.csv:{line}: figure "juba-killed": quote '
    article_lines = (data_copy.root / "sources" / "un-news-2017-04-19.md").read_text(encoding="utf-8").split("\n")
    (number,) = [n for n, text in enumerate(article_lines, start=1) if QUOTE in text]
    column = article_lines[number - 1].index(QUOTE) + 1
    character = next(i for i, (a, b) in enumerate(zip(quote, QUOTE, strict=False), start=1) if a != b)
    where = f"the closest passage, at line {number}:{column}, differs at character {character} of the quote: "
    refused_by_cli(data_copy.root, out, 65, message, where + difference, tmp_path=tmp_path)


def test_case_12_decision_white_space_runs_are_one_space(data_copy, tmp_path):
    # The article is Markdown wrapped at any column: a run of ASCII white space (an extra space, a line
    # break) matches any other run. Nothing else is normalized (data/README.md, analysis/quotes.py).
    data_copy.replace("figures", QUOTE, '"' + QUOTE.replace("200 raped", "200\n  raped") + '"')
    run = finish(start(analysis_argv("validate", "--data", str(data_copy.root)), tmp_path / "logs"))
    assert run.code == 0, run.stderr


def test_case_13_source_file_missing(data_copy, out, tmp_path):
    (data_copy.root / "sources" / "un-news-2017-04-19.md").unlink()
    refused_by_cli(
        data_copy.root, out, 66, "un-news-2017-04-19.md: file not found (referenced by ", "sources.csv:2)", tmp_path=tmp_path
    )


def test_case_14_latin1_byte_is_located_and_a_bom_is_accepted(data_copy, out, tmp_path):
    line = data_copy.line_of("actors", "guterres,")
    path = data_copy.csv("actors")
    original = path.read_bytes()
    path.write_bytes(original.replace("António".encode(), "Ant\xf3nio".encode("latin-1")))
    refused_by_cli(data_copy.root, out, 65, f"actors.csv:{line}:13: not valid UTF-8 (byte 0xF3)", tmp_path=tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + original)
    run = finish(start(analysis_argv("validate", "--data", str(data_copy.root)), tmp_path / "logs"))
    assert run.code == 0, run.stderr


def test_case_15_coercion_traps_round_trip_as_text(data_copy, tmp_path):
    from analysis import load_timeline

    data_copy.replace("actors", "cammaert,Patrick Cammaert,,person,", "007,NA,None,person,")
    data_copy.replace("event_actors", "cammaert", "007")
    edit_cells(data_copy, "actors", "actor_id", "dfs", short_name="NO", role="012")
    edit_cells(data_copy, "actors", "actor_id", "007", role="null")
    run = finish(start(analysis_argv("validate", "--data", str(data_copy.root)), tmp_path / "logs"))
    assert run.code == 0 and run.kernels_seen == 0, run.stderr
    actors = load_timeline(data_copy.root).actors.set_index("actor_id")
    assert (actors.loc["007", "name"], actors.loc["007", "short_name"], actors.loc["007", "role"]) == ("NA", "None", "null")
    assert (actors.loc["dfs", "short_name"], actors.loc["dfs", "role"]) == ("NO", "012")


def test_case_16_toml_duplicate_key_and_nesting_bomb(driver, out, tmp_path):
    # YAML aliases and tags do not exist in TOML; its duplicate keys do, and deep nesting is its bomb.
    before = published(out)
    for text, message in [
        ('[[report]]\nname = "crisis"\nname = "full"\n', "not valid TOML: Cannot overwrite a value (at line 3, column 14)"),
        ("x = " + "[" * 100_000 + "]" * 100_000 + "\n", "not valid TOML: arrays or tables nested too deeply"),
    ]:
        run = render_with_variants(driver, toml_variants(tmp_path, text), out, tmp_path)
        assert run.code == 65 and message in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert_invariants(out, before)


def test_case_16_yaml_style_tags_in_toml_are_plain_text(tmp_path):
    sentinel = tmp_path / "SENTINEL"
    payload = f"!!python/object/apply:os.system ['touch {sentinel}']"
    (variant,) = load_variants(toml_variants(tmp_path, f'[[report]]\nname = "crisis"\ntitle = "{payload}"\n'))
    assert variant.title == payload
    assert not sentinel.exists()


OPEN_LOGGER = """
import os, sys

def _log_opens(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):  # not an open(fd)
        if os.path.realpath(args[0]) == os.environ["WATCHED_FILE"]:
            with open(os.environ["OPEN_LOG"], "a") as log:
                log.write("opened\\n")

sys.addaudithook(_log_opens)
"""


def test_case_17_huge_file_is_refused_before_parsing(data_copy, out, tmp_path):
    events = data_copy.csv("events")
    opens = tmp_path / "opens.log"
    env = {
        **os.environ,
        "PYTHONPATH": planted_sitecustomize(tmp_path / "site", OPEN_LOGGER),
        "WATCHED_FILE": os.path.realpath(events),
        "OPEN_LOG": str(opens),
    }
    # Controls: with a file of normal size, validate and render each open it, and the hook sees it.
    control_out = tmp_path / "control-out"
    control_out.mkdir()
    for argv in (
        analysis_argv("validate", "--data", str(data_copy.root)),
        analysis_argv("render", "--data", str(data_copy.root), "--out", str(control_out), "--report", "crisis", "--format=html"),
    ):
        assert finish(start(argv, tmp_path / "logs", env)).code == 0
        assert opens.read_text() != "", argv
        opens.unlink()
    with events.open("r+b") as handle:
        handle.truncate(200 * 2**20)  # sparse: 200 MB that cost nothing to write and must never be read
    refused_by_cli(data_copy.root, out, 65, "events.csv: is 200.0 MB; the limit is 100 MB (", tmp_path=tmp_path, env=env)
    assert not opens.exists()  # refused from its size alone: never opened, so never read or parsed


def test_case_17_a_huge_file_among_the_sources_is_refused_by_render_before_it_is_hashed(data_copy, out, tmp_path):
    stray = data_copy.root / "sources" / "notes.bin"  # no row cites it, but a render hashes every input
    with stray.open("wb") as handle:
        handle.truncate(200 * 2**20)
    opens = tmp_path / "opens.log"
    env = {
        **os.environ,
        "PYTHONPATH": planted_sitecustomize(tmp_path / "site", OPEN_LOGGER),
        "WATCHED_FILE": os.path.realpath(stray),
        "OPEN_LOG": str(opens),
    }
    before = published(out)
    argv = analysis_argv("render", "--data", str(data_copy.root), "--out", str(out), "--report", "crisis", "--format", "html")
    run = finish(start(argv, tmp_path / "logs", env))
    assert run.code == 65 and "Traceback" not in run.stderr, run.stderr
    assert "notes.bin: is 200.0 MB; the limit is 100 MB (a render's limit is fixed: see the README, Size limit)" in run.stderr
    assert not opens.exists() and run.kernels_seen == 0
    assert_invariants(out, before, pids={run.pid})


def test_case_17_five_megabyte_cell_and_the_limit_option(data_copy, tmp_path):
    edit_cells(data_copy, "events", "event_id", "juba-fighting", summary="word " * 2**20)
    run = finish(start(analysis_argv("validate", "--data", str(data_copy.root)), tmp_path / "logs"))
    assert run.code == 0, run.stderr  # its speed: benchmarks/hostile_inputs.py
    run = finish(start(analysis_argv("validate", "--data", str(data_copy.root), "--max-input-mb", "1"), tmp_path / "logs"))
    assert run.code == 65 and "events.csv: is 5.0 MB; the limit is 1 MB (set --max-input-mb)" in run.stderr
    for bad in ("0", "-1", "nan", "inf"):
        run = finish(start(analysis_argv("validate", "--max-input-mb", bad), tmp_path / "logs"))
        assert run.code == 64 and f"--max-input-mb must be a positive number, got {bad}" in run.stderr, run.stderr


def test_case_17_a_million_duplicate_rows_are_one_problem_and_a_count(data_copy, tmp_path):
    lines = data_copy.lines("event_actors")
    data_copy.csv("event_actors").write_text("\n".join([lines[0], *[lines[1]] * 1_000_000]) + "\n", encoding="utf-8")
    # Each row carries its quote: 211 MB, over the default size limit, which would refuse the file unread.
    argv = analysis_argv("validate", "--data", str(data_copy.root), "--max-input-mb", "1024")
    run = finish(start(argv, tmp_path / "logs"))
    assert run.code == 65, run.stderr  # its speed and memory: benchmarks/hostile_inputs.py
    assert "duplicate event_id/actor_id/role (first defined at line 2)" in run.stderr
    assert "and 999,949 more rows with the same problem" in run.stderr


# --- cases 20-22: parameters, before any kernel ------------------------------------------------------------
# test_parameters.py checks each refusal message in-process; here the command line's exit code and the
# invariants, the payloads that must never run, and what papermill's own CLI does with the same text.


def refused_render(out: Path, tmp_path: Path, code: int, message: str, *args: str) -> None:
    before = published(out)
    run = finish(start(analysis_argv("render", "--out", str(out), "--report", "crisis", "--format", "html", *args), tmp_path))
    assert run.code == code and message in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert run.kernels_seen == 0
    assert_invariants(out, before, pids={run.pid})


def test_case_20_unknown_parameter(out, tmp_path):
    refused_render(out, tmp_path, 64, "unknown parameter 'titel' (did you mean 'title'?); known: title, start", "-p", "titel=x")


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("start=notadate", "parameter 'start' must be a date YYYY-MM-DD, got 'notadate'"),
        ("categories=false", "unknown category 'false'"),
        ("actors=007", "unknown actor '007'"),
    ],
)
def test_case_21_wrong_parameter_type(out, tmp_path, assignment, message):
    refused_render(out, tmp_path, 64, message, "-p", assignment)


def test_case_21_papermill_cli_coerces_text_and_we_do_not(tmp_path):
    import papermill

    from analysis.parameters import check_parameters, parse_assignment

    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "P"}})
    notebook.cells = [nbformat.v4.new_code_cell('show = True\nid = ""\ntitle = ""', metadata={"tags": ["parameters"]})]
    nbformat.write(notebook, str(tmp_path / "in.ipynb"))
    argv = ["papermill", "--prepare-only", str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb")]
    argv += ["-p", "show", "false", "-p", "id", "007", "-p", "title", "Infinity"]
    result = subprocess.run([str(Path(sys.executable).parent / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    injected = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4).cells[1].source
    assert 'show = "false"' in injected  # a non-empty string: truthy, the opposite of what was meant
    assert "id = 7\n" in injected  # the leading zeros are gone
    assert "title = float('inf')" in injected  # a float, not the word
    # Ours keeps text as text (see also test_parameters.test_text_stays_text_exactly_as_typed), and
    # papermill, given only JSON-native values, injects the same text back.
    checked = check_parameters(dict(parse_assignment(f"title={text}") for text in ["Infinity"]))
    ours = papermill.parameterize.parameterize_notebook(papermill.iorw.load_notebook_node(str(paths.REPORT_NOTEBOOK)), checked)
    namespace: dict = {}
    exec(ours.cells[1].source, namespace)
    assert namespace["title"] == "Infinity"


SENTINEL_PAYLOAD = "__import__('pathlib').Path({path!r}).touch()"


def test_case_22_hostile_parameter_names_never_run(out, tmp_path):
    import papermill

    from analysis import ParameterError
    from analysis.parameters import check_parameters

    sentinel = tmp_path / "SENTINEL"
    name = f"title\n{SENTINEL_PAYLOAD.format(path=str(sentinel))}\nx"
    # papermill alone injects the name as code: executing its parameters cell creates the sentinel.
    notebook = papermill.iorw.load_notebook_node(str(paths.REPORT_NOTEBOOK))
    namespace: dict = {}
    for cell in papermill.parameterize.parameterize_notebook(notebook, {name: "v"}).cells[:2]:
        exec(cell.source, namespace)  # the parameters cell, then papermill's injected one, as a kernel would
    assert sentinel.exists()
    sentinel.unlink()
    refused_render(out, tmp_path, 64, "is not a lowercase identifier", "-p", f"{name}=v")
    refused_render(out, tmp_path, 64, "unknown parameter 'a'", "-p", "a=b=c")
    for hostile in (name, "ti=tle", "title =x"):
        with pytest.raises(ParameterError, match="is not a lowercase identifier"):
            check_parameters({hostile: "v"})
    assert not sentinel.exists()


def test_case_22_hostile_values_stay_text_or_are_refused(driver, out, tmp_path):
    import papermill

    from analysis.parameters import check_parameters

    sentinel = tmp_path / "SENTINEL"
    value = f'x"""\n{SENTINEL_PAYLOAD.format(path=str(sentinel))}\n"""'
    checked = check_parameters({"title": value})
    notebook = papermill.iorw.load_notebook_node(str(paths.REPORT_NOTEBOOK))
    namespace: dict = {}
    exec(papermill.parameterize.parameterize_notebook(notebook, checked).cells[1].source, namespace)
    assert namespace["title"] == value and not sentinel.exists()
    # YAML's !!omap has a TOML analog, an inline table; tuples, sets and bytes are in test_parameters.py.
    before = published(out)
    variants = toml_variants(tmp_path, '[[report]]\nname = "crisis"\ntitle = { omap = 1 }\n')
    run = render_with_variants(driver, variants, out, tmp_path)
    assert run.code == 64 and "report 'crisis': title must be text" in run.stderr, run.stderr
    assert_invariants(out, before)


# --- cases 23-32: execution, output and the machine ------------------------------------------------------------


@pytest.fixture
def notebook_with(monkeypatch, tmp_path):
    """Make render() use a tiny notebook with the given code cells."""

    def use(*sources: str, tags: list[str] | None = None) -> Path:
        path = tiny_notebook(tmp_path / "notebook", *sources, tags=tags)
        monkeypatch.setattr(paths, "REPORT_NOTEBOOK", path)
        return path

    return use


def render_in_process(capsys, out: Path, *args: str) -> tuple[int, str]:
    return run_in_process(capsys, "render", "--report", "crisis", "--out", str(out), "--force", *args)


@pytest.mark.slow
def test_case_23_a_cell_raises(capsys, notebook_with, out):
    before = published(out)
    notebook_with("x = 1", "raise ValueError('bad data in cell')")
    code, stderr = render_in_process(capsys, out, "--format", "html")
    assert code == 70
    assert "report 'crisis': notebook " in stderr and "cell 3 (In [4]) raised ValueError: bad data in cell" in stderr
    failed = nbformat.read(str(out / "failed-crisis" / "crisis.ipynb"), as_version=4)
    assert failed.metadata.papermill.exception is True
    assert any("An Exception was encountered at" in "".join(cell.source) for cell in failed.cells)  # papermill's banner
    assert_invariants(out, before)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cells", "tags", "message"),
    [
        (["import sys\nsys.exit(0)", "y = 2"], None, "cell 2 raised SystemExit: 0"),
        (["x = 1", "y = 2"], ["skip-execution"], "incomplete run: cell 3 never executed"),
    ],
    ids=["sys-exit", "cell-never-ran"],
)
def test_case_24_run_that_stops_early_is_not_a_success(capsys, notebook_with, out, cells, tags, message):
    # papermill returns normally in both; success is taken from the notebook: every code cell ran, none failed.
    before = published(out)
    notebook_with(*cells, tags=tags)
    code, stderr = render_in_process(capsys, out, "--format", "html")
    assert code == 70 and message in stderr, stderr
    executed = nbformat.read(str(out / "failed-crisis" / "crisis.ipynb"), as_version=4)
    assert executed.cells[-1].execution_count is None  # the last cell never ran
    assert_invariants(out, before)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "kernel died while running cell 2 (possibly out of memory)"),
        (
            "import resource\nresource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))\nblock = bytearray(4 * 2**30)",
            "cell 2 (In [3]) raised MemoryError",
        ),
    ],
    ids=["sigkill", "memory-bomb"],
)
def test_case_25_kernel_crash(capsys, notebook_with, out, cell, message):
    before = published(out)
    notebook_with(cell, "y = 2")
    code, stderr = render_in_process(capsys, out, "--format", "html")
    assert code == 70 and message in stderr, stderr
    assert_invariants(out, before)


@pytest.mark.slow
def test_case_26_cell_timeout(capsys, notebook_with, out):
    before = published(out)
    notebook_with("x = 1", "import time\ntime.sleep(3600)")
    code, stderr = render_in_process(capsys, out, "--format", "html", "--timeout", "2")
    assert code == 70 and "cell 3 timed out after 2 s; the kernel was shut down" in stderr, stderr
    assert_invariants(out, before, pids={os.getpid()})


@pytest.mark.slow
def test_case_26_a_timeout_is_told_in_one_line(driver, out, tmp_path):
    config = {"notebook": str(tiny_notebook(tmp_path / "notebook", "import time\ntime.sleep(3600)"))}
    run = finish(
        start(
            driver_argv(driver, config, "render", "--report", "crisis", "--out", str(out), "--format", "html", "--timeout", "2"),
            tmp_path,
        )
    )
    assert run.code == 70, run.stderr
    # Only ours: not nbclient's "Timeout waiting for execute reply (2s)." before it.
    assert run.stderr.startswith("report 'crisis': notebook ") and len(run.stderr.splitlines()) == 1, run.stderr


def test_case_26_timeout_must_be_positive(out, tmp_path):
    # papermill reads a timeout of 0 as "no limit": refused.
    refused_render(out, tmp_path, 64, "--timeout must be at least 1 second, got 0", "--timeout", "0")


def kernelspec(folder: Path, argv: list[str]) -> Path:
    """A JUPYTER_PATH folder whose python3 kernel runs ``argv``; it comes before the installed one."""
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "broken", "language": "python"}))
    return folder


@pytest.mark.slow
def test_case_27_kernel_program_missing(capsys, monkeypatch, notebook_with, out, tmp_path):
    before = published(out)
    notebook_with("x = 1")
    monkeypatch.setenv("JUPYTER_PATH", str(kernelspec(tmp_path / "jupyter", ["/nonexistent/python", "-f", "{connection_file}"])))
    code, stderr = render_in_process(capsys, out, "--format", "html")
    assert code == 69 and "kernel 'python3' cannot start: /nonexistent/python: No such file or directory" in stderr, stderr
    assert_invariants(out, before)


@pytest.mark.slow
def test_case_27_kernel_not_found(capsys, monkeypatch, notebook_with, out):
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def no_kernel(self, name):
        raise NoSuchKernel(name)

    before = published(out)
    notebook_with("x = 1")
    monkeypatch.setattr(KernelSpecManager, "get_kernel_spec", no_kernel)
    code, stderr = render_in_process(capsys, out, "--format", "html")
    assert code == 69 and "kernel 'python3' not found: is ipykernel installed?" in stderr, stderr
    assert_invariants(out, before)


@pytest.mark.slow
def test_case_27_kernel_does_not_start_in_time_is_retried_once(capsys, monkeypatch, notebook_with, out, tmp_path):
    before = published(out)
    notebook_with("x = 1")
    launches = tmp_path / "launches"
    program = f"open({str(launches)!r}, 'a').write('x'); import time; time.sleep(60)  # never-starting-kernel"
    monkeypatch.setenv(
        "JUPYTER_PATH", str(kernelspec(tmp_path / "jupyter", [sys.executable, "-c", program, "{connection_file}"]))
    )
    monkeypatch.setattr(render_module, "KERNEL_START_TIMEOUT", 2)
    code, stderr = render_in_process(capsys, out, "--format", "html")
    assert code == 75 and "kernel did not start (tried twice): Kernel didn't respond in 2 seconds" in stderr, stderr
    assert launches.read_text() == "xx"
    assert_invariants(out, before)
    assert not [p for p in psutil.process_iter(["cmdline"]) if "never-starting-kernel" in " ".join(p.info["cmdline"] or [])]


def test_case_28_output_folder_missing(tmp_path):
    run = finish(start(analysis_argv("render", "--report", "crisis", "--out", str(tmp_path / "absent")), tmp_path / "logs"))
    assert run.code == 73 and "the folder does not exist" in run.stderr and run.kernels_seen == 0, run.stderr
    assert not (tmp_path / "absent").exists()


def test_case_28_output_path_is_a_folder(out, tmp_path):
    # Found before the kernel starts: os.replace would otherwise fail only at publishing, after the run.
    (out / "crisis.html").unlink()
    (out / "crisis.html").mkdir()
    before = published(out)
    run = finish(start(analysis_argv("render", "--report", "crisis", "--out", str(out), "--force"), tmp_path / "logs"))
    assert run.code == 73 and f"cannot create output {out / 'crisis.html'}: it is a folder" in run.stderr, run.stderr
    assert run.kernels_seen == 0 and (out / "crisis.html").is_dir()
    (out / "crisis.html").rmdir()
    assert_invariants(out, before, pids={run.pid})


@pytest.fixture
def mount_tmpfs(tmp_path):
    """Mount a tmpfs (root only; chmod means nothing to root); unmounted after the test."""
    mounted = []

    def mount(folder: Path, size: int) -> Path:
        folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.decode().strip()}); needs root and CAP_SYS_ADMIN")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_case_28_read_only_output_folder(good_report, mount_tmpfs, tmp_path):
    out = mount_tmpfs(tmp_path / "ro", 16 * 2**20)
    for path in good_report.iterdir():
        shutil.copy2(path, out / path.name)
    subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
    before = published(out)
    run = finish(start(analysis_argv("render", "--report", "crisis", "--out", str(out), "--force"), tmp_path / "logs"))
    assert run.code == 73 and f"cannot create output in {out}/: Read-only file system" in run.stderr, run.stderr
    assert run.kernels_seen == 0
    assert_invariants(out, before, pids={run.pid}, lock=False)  # a read-only folder cannot be locked at all


@pytest.mark.slow
def test_case_29_disk_full_while_the_notebook_is_written(capsys, good_report, mount_tmpfs, notebook_with, tmp_path):
    used = sum(path.stat().st_size for path in good_report.iterdir())
    out = mount_tmpfs(tmp_path / "small", (used // 4096 + 40) * 4096)  # the good report and 160 KB more
    for path in good_report.iterdir():
        shutil.copy2(path, out / path.name)
    before = published(out)
    notebook_with("print('x' * 400_000)")  # the executed notebook outgrows the free space
    code, stderr = render_in_process(capsys, out, "--format", "html")
    assert code == 74 and "report 'crisis': notebook " in stderr and "no space left while writing crisis.ipynb" in stderr
    assert not (out / "failed-crisis").exists()  # a truncated notebook is not worth keeping
    assert_invariants(out, before)


@pytest.mark.slow
def test_case_29_disk_full_while_the_pdf_is_written(capsys, monkeypatch, notebook_with, out):
    write_bytes = Path.write_bytes

    def full_disk(self, data):
        if self.suffix == ".pdf":
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_bytes(self, data)

    before = published(out)
    notebook_with("x = 1")
    monkeypatch.setattr(Path, "write_bytes", full_disk)
    code, stderr = render_in_process(capsys, out, "--format", "html,pdf")
    assert code == 74 and "no space left while writing crisis.pdf" in stderr, stderr
    assert_invariants(out, before)


def interrupt(driver: Path, config: dict, out: Path, tmp_path: Path, marker: Path, signum: int, *args: str) -> Run:
    """Start a render through the driver, wait for ``marker``, send ``signum`` to the render process only."""
    argv = driver_argv(driver, config, "render", "--report", "crisis", "--out", str(out), "--force", *args)
    started = start(argv, tmp_path / "logs")
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert started[0].poll() is None, started[2].read_text()
        assert time.monotonic() < deadline, "the render never reached the step to interrupt"
        time.sleep(0.05)
    started[0].send_signal(signum)
    return finish(started, timeout=60)


SIGNALS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code", "word"), SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_case_30_interrupted_while_the_first_kernel_starts(driver, out, tmp_path, signum, code, word):
    # The kernel is launched in a thread that never takes the signal; the factory is stopped, so the
    # launch ends at once and no kernel is started without it instead.
    before = published(out)
    marker = tmp_path / "forking"
    run = interrupt(driver, {"stall_fork": str(marker)}, out, tmp_path, marker, signum, "--format", "html")
    assert marker.read_text() != "MainThread"  # where a signal could land inside jupyter_client's event loop
    assert run.code == code and run.stderr.strip() == word, run.stderr  # one message, no traceback
    assert run.kernels_seen == 0
    assert_invariants(out, before, pids={run.pid})


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code", "word"), SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_case_30_interrupted_while_the_notebook_runs(driver, out, tmp_path, signum, code, word):
    before = published(out)
    marker = tmp_path / "running"
    notebook = tiny_notebook(
        tmp_path / "notebook", f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()\ntime.sleep(60)"
    )
    run = interrupt(driver, {"notebook": str(notebook)}, out, tmp_path, marker, signum, "--format", "html")
    assert run.code == code and run.stderr.strip() == word, run.stderr  # one message: no "Kernel died" from papermill
    assert_invariants(out, before, pids={run.pid})


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code", "word"), SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("step", ["stall_export", "stall_warm_up"])
def test_case_30_interrupted_while_exporting(driver, out, tmp_path, signum, code, word, step):
    # stall_export: the report's own PDF export hangs. stall_warm_up: the notebook has run and its
    # export waits for the exporters' warm-up, which hangs; the executed job's staging must go too.
    before = published(out)
    marker = tmp_path / step
    config = {"notebook": str(tiny_notebook(tmp_path / "notebook", "x = 1")), step: str(marker)}
    run = interrupt(driver, config, out, tmp_path, marker, signum, "--format", "html,pdf")
    assert run.code == code and run.stderr.strip() == word, run.stderr  # one message, no traceback
    assert_invariants(out, before, pids={run.pid})


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code", "word"), SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_case_30_interrupted_while_publishing(driver, out, tmp_path, signum, code, word):
    # Each rename is atomic, so every file is the old or the new one, whole. The manifest goes last: a set
    # cut in the middle (here: the notebook new, the rest old) no longer matches it, so it is not "up to date".
    before = published(out)
    marker = tmp_path / "publishing"
    config = {"notebook": str(tiny_notebook(tmp_path / "notebook", "x = 1")), "stall_publish": str(marker)}
    run = interrupt(driver, config, out, tmp_path, marker, signum, "--format", "html")
    assert run.code == code and run.stderr.strip() == word, run.stderr  # one message, no traceback
    after = published(out)
    assert after["crisis.ipynb"] != before["crisis.ipynb"] and complete("crisis.ipynb", after["crisis.ipynb"])
    assert {name: data for name, data in after.items() if name != "crisis.ipynb"} == {
        name: data for name, data in before.items() if name != "crisis.ipynb"
    }
    manifest = json.loads(after["crisis.manifest.json"])
    assert not outputs.is_current(out / "crisis.manifest.json", manifest["cache_key"], out)
    assert leftovers(out) == []
    assert_no_kernels({run.pid})
    assert_lock_free(out)


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2", "4"])
def test_case_30_a_ctrl_c_python_drops_still_interrupts(driver, out, tmp_path, jobs):
    # The KeyboardInterrupt is lost where it landed; the flag the CLI's handler set stops the render
    # at its next wait, and nothing of "Exception ignored" is printed.
    before = published(out)
    marker, ran_to_the_end = tmp_path / "dropped", tmp_path / "slept"
    notebook = tiny_notebook(
        tmp_path / "notebook", f"import pathlib, time\ntime.sleep(20)\npathlib.Path({str(ran_to_the_end)!r}).touch()"
    )
    config = {"notebook": str(notebook), "drop_interrupt": str(marker)}
    argv = driver_argv(driver, config, "render", "--out", str(out), "--force", "--jobs", jobs, "--format", "html")
    started, mark = start_jobs(argv, tmp_path)
    run = finish(started, timeout=120)
    assert marker.exists()
    assert run.code == 130 and run.stderr.strip() == "interrupted", run.stderr  # the dropped one is not printed
    assert not ran_to_the_end.exists(), "the render ran its notebooks to the end instead of stopping"
    assert_batch_left_nothing(out, before, run, mark)


@pytest.mark.slow
def test_jobs_a_ctrl_c_that_only_the_workers_saw_interrupts_the_batch(driver, out, tmp_path):
    before = published(out)
    marker = tmp_path / "lost"
    argv = driver_argv(driver, {"lose_ctrl_c": str(marker)}, "render", "--out", str(out), "--force", "--jobs", "4")
    started, mark = start_jobs([*argv, "--format", "html"], tmp_path)
    run = finish(started, timeout=60)
    assert marker.exists()
    assert run.code == 130 and run.stderr.strip() == "interrupted", run.stderr
    assert_batch_left_nothing(out, before, run, mark)


def drop(signum: int) -> None:
    """The command line's handler for ``signum`` runs, and its exception is lost, as Python loses one in a weakref callback."""
    with contextlib.suppress(KeyboardInterrupt, Terminated):
        signal.getsignal(signum)(signum, None)


@pytest.mark.parametrize(("signum", "code", "word"), SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("failure", ["worker gone", "reported error"])
def test_case_30_a_failure_after_a_dropped_signal_is_reported_as_the_signal(monkeypatch, capsys, signum, code, word, failure):
    # With --jobs the workers get a Ctrl-C too and end: the render then fails, on the pool or with its
    # own message (here the render itself is replaced, so that the failure comes right after the signal).
    from concurrent.futures.process import BrokenProcessPool

    def render(**kwargs):
        drop(signum)
        if failure == "worker gone":
            raise BrokenProcessPool("A child process terminated abruptly, the process pool is not usable anymore")
        raise RenderError("a --jobs worker process ended unexpectedly (killed, or out of memory?)", 70)

    monkeypatch.setattr(render_module, "render", render)
    assert run_in_process(capsys, "render") == (code, f"{word}\n")


@pytest.mark.parametrize(("signum", "code", "word"), SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_case_30_a_command_that_ends_well_after_a_dropped_signal_says_so(monkeypatch, capsys, signum, code, word):
    def validate(args):
        drop(signum)
        return 0

    monkeypatch.setattr(cli_module, "_validate", validate)
    assert run_in_process(capsys, "validate") == (code, f"{word}\n")


def test_case_30_without_a_signal_a_failure_is_reported_as_itself(monkeypatch, capsys):
    def render(**kwargs):
        raise RenderError("cannot create output in out/: the folder does not exist", 73)

    monkeypatch.setattr(render_module, "render", render)
    assert run_in_process(capsys, "render") == (73, "cannot create output in out/: the folder does not exist\n")


def test_case_30_the_command_line_puts_back_the_signal_handlers_it_found(monkeypatch, capsys):
    # A background job's SIGINT is ignored and must stay so; after main() nothing of it is left in
    # this process: handlers, unraisable hook, the signal it saw (which a later render() would obey).
    seen = {}

    def validate(args):
        seen["SIGINT"], seen["SIGTERM"] = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        drop(signal.SIGTERM)
        return 0

    monkeypatch.setattr(cli_module, "_validate", validate)
    previous = {
        signum: signal.signal(signum, handler)
        for signum, handler in [(signal.SIGINT, signal.SIG_IGN), (signal.SIGTERM, signal.SIG_DFL)]
    }
    hook = sys.unraisablehook
    try:
        assert run_in_process(capsys, "validate") == (143, "terminated\n")
        assert seen["SIGINT"] is signal.SIG_IGN and seen["SIGTERM"] is not signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert sys.unraisablehook is hook
        assert stop_signal() is None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class SigAction(ctypes.Structure):
    """Linux's struct sigaction, as glibc lays it out on x86-64 and arm64."""

    _fields_ = [
        ("handler", ctypes.c_void_p),
        ("mask", ctypes.c_ubyte * 128),
        ("flags", ctypes.c_int),
        ("restorer", ctypes.c_void_p),
    ]


def stop_handler_addresses() -> tuple[int, int]:
    """Where this process's code for SIGINT and SIGTERM is, below Python's signal module."""
    libc, addresses = ctypes.CDLL(None, use_errno=True), []
    for signum in (signal.SIGINT, signal.SIGTERM):
        action = SigAction()
        if libc.sigaction(signum, None, ctypes.byref(action)) != 0:
            raise OSError(ctypes.get_errno(), "sigaction")
        addresses.append(action.handler)
    return tuple(addresses)


def stop_handlers_seen_during(read: Callable[[], object]) -> tuple[object, collections.Counter]:
    """What ``read()`` returns, and the SIGINT and SIGTERM handlers a watching thread saw meanwhile, with how often."""
    seen: collections.Counter = collections.Counter()
    failures: list[BaseException] = []
    done = threading.Event()

    def watch() -> None:
        try:
            while not done.is_set():
                seen[stop_handler_addresses()] += 1
        except BaseException as error:  # raised below, in the test's thread
            failures.append(error)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = read()
    finally:
        done.set()
        watcher.join(timeout=10)
    if failures:
        raise failures[0]
    assert seen.total() > 100, "the read was too quick to watch"
    return result, seen


# Python's own handlers for both: pyarrow takes only those (a background job inherits SIGINT ignored).
STOP_HANDLERS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: lambda signum, frame: None}


def test_case_30_a_csv_read_leaves_stop_signals_to_python(tmp_path):
    # pyarrow's read_csv takes SIGINT and SIGTERM for the read, to cancel it, and loses a signal that
    # comes as the read ends: of Ctrl-Cs sent as a render read its data, about 1 in 60 was lost and
    # the report rendered and published with exit 0. Our reads leave both with Python's handlers,
    # whichever they are (the command line's, a worker's, a notebook's): seen here below Python.
    lines = (paths.DATA_DIR / "timeline" / "events.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    big = tmp_path / "events.csv"
    big.write_text(lines[0] + "".join(lines[1:]) * 4000, encoding="utf-8")
    previous = {signum: signal.signal(signum, handler) for signum, handler in STOP_HANDLERS.items()}
    try:
        pythons = stop_handler_addresses()
        raw, seen = stop_handlers_seen_during(lambda: read_table(EVENTS, big, Collector(), max_bytes=None))
        assert set(seen) == {pythons}
        shipped = read_table(EVENTS, paths.DATA_DIR / "timeline" / "events.csv", Collector(), max_bytes=None)
        assert len(raw.frame) == 4000 * len(shipped.frame)
        # pyarrow's read_csv on the same file, to show that the watcher sees pyarrow's handlers.
        _, seen = stop_handlers_seen_during(lambda: pyarrow.csv.read_csv(big))
        assert set(seen) - {pythons}, "pyarrow's read_csv no longer takes the stop signals: this test proves nothing"
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def test_case_30_python_m_exits_with_its_code_after_a_ctrl_c_caught_inside_exec(tmp_path):
    # CPython 3.11 remembers a KeyboardInterrupt raised inside exec()'d source (dataclasses exec their
    # methods while a module imports) even once caught, and ends `python -m` by SIGINT instead. Here
    # main() is the interrupted render that caught it and returns 130.
    (tmp_path / "caught_inside_exec.py").write_text(
        "from analysis import cli\n"
        "try:\n"
        "    exec('raise KeyboardInterrupt')\n"
        "except KeyboardInterrupt:\n"
        "    pass\n"
        "cli.main = lambda argv=None: 130\n"
        "cli.run()\n",
        encoding="utf-8",
    )
    result = subprocess.run([sys.executable, "-m", "caught_inside_exec"], cwd=tmp_path, capture_output=True, timeout=60)
    assert result.returncode == 130, result


def test_case_30_ctrl_c_while_the_command_line_starts(monkeypatch, capsys):
    # Building the parser imports modules (parameters, tomllib): a Ctrl-C there is handled like any other.
    def interrupted_parser():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "build_parser", interrupted_parser)
    assert run_in_process(capsys, "render") == (130, "interrupted\n")


def test_case_30_ctrl_c_while_python_m_imports_the_command_line(tmp_path):
    # `python -m analysis`, with a Ctrl-C landing inside exec()'d source while it imports analysis.cli,
    # as in a dataclass of one of its imports (planted by a sitecustomize module, which Python imports first).
    planted = """
        import sys

        class InterruptTheImport:
            def find_spec(self, name, path=None, target=None):
                if name == "analysis.cli":
                    exec("raise KeyboardInterrupt")

        sys.meta_path.insert(0, InterruptTheImport())
        """
    result = subprocess.run(
        [sys.executable, "-m", "analysis", "validate"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": planted_sitecustomize(tmp_path, planted)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (130, "interrupted\n")


def complete(name: str, data: bytes) -> bool:
    """Whether a published file, as one read saw it, is whole: JSON parses, the HTML page is closed."""
    if name.endswith((".ipynb", ".json")):
        try:
            json.loads(data)
        except ValueError:
            return False
        return True
    return data.startswith(b"<!DOCTYPE html>") and data.rstrip().endswith(b"</html>")


@pytest.mark.slow
def test_case_31_two_renders_to_the_same_output(out, tmp_path):
    names = ["crisis.html", "crisis.ipynb", "crisis.manifest.json"]
    before = published(out)
    argv = analysis_argv("render", "--report", "crisis", "--format", "html", "--force", "--out", str(out))
    starts = [start(argv, tmp_path / "logs") for _ in range(2)]
    reads, failures = 0, 0
    while any(started[0].poll() is None for started in starts):
        for name in names:
            reads += 1
            failures += not complete(name, (out / name).read_bytes())
    runs = sorted((finish(started) for started in starts), key=lambda run: run.code)
    assert [run.code for run in runs] == [0, 75], [run.stderr for run in runs]
    assert f"is being rendered by pid {runs[0].pid}; try again when it finishes" in runs[1].stderr
    assert reads > 100 and failures == 0
    after = published(out)
    assert after["crisis.manifest.json"] != before["crisis.manifest.json"]  # the files were replaced while read
    assert all(complete(name, after[name]) for name in names)
    assert leftovers(out) == []
    assert_no_kernels({run.pid for run in runs})
    assert_lock_free(out)


def test_case_31_a_refused_render_leaves_the_holders_pid(out, tmp_path):
    before = published(out)
    argv = analysis_argv("render", "--report", "crisis", "--format", "html", "--force", "--out", str(out))
    with output_lock(out):
        for _ in range(2):  # the second is told the same: the first refusal did not erase the pid
            run = finish(start(argv, tmp_path / "logs"))
            assert run.code == 75 and f"is being rendered by pid {os.getpid()}; try again" in run.stderr, run.stderr
            assert run.kernels_seen == 0
    assert_invariants(out, before)


@pytest.mark.slow
def test_case_31_four_renders_to_four_outputs_at_once(tmp_path):
    outs = [tmp_path / f"out{number}" for number in range(4)]
    for folder in outs:
        folder.mkdir()
    starts = [
        start(analysis_argv("render", "--report", "crisis", "--format", "html", "--out", str(folder)), tmp_path / "logs")
        for folder in outs
    ]
    runs = [finish(started) for started in starts]
    assert [run.code for run in runs] == [0, 0, 0, 0], [run.stderr for run in runs]
    pages = {(folder / "crisis.html").read_bytes() for folder in outs}
    assert len(pages) == 1  # byte-stable, whoever ran beside it
    for folder in outs:
        files = published(folder)
        assert leftovers(folder) == [] and all(
            complete(name, files[name]) for name in ("crisis.html", "crisis.ipynb", "index.html")
        )
        assert_lock_free(folder)
    assert_no_kernels({run.pid for run in runs})


def test_case_32_pdf_library_missing_publishes_nothing(capsys, monkeypatch, out):
    # All or nothing: with PDF asked for and WeasyPrint missing, the HTML is not published either. It is
    # found before any kernel starts.
    before = published(out)
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # `import weasyprint` now raises ImportError
    launched = []
    monkeypatch.setattr(render_module, "launch_kernel", lambda *args: launched.append(args) or RuntimeError("no kernel"))
    code, stderr = render_in_process(capsys, out, "--format", "html,pdf")
    assert code == 69 and "PDF export needs WeasyPrint and its Pango library: weasyprint is not installed" in stderr, stderr
    assert launched == []  # refused before any kernel was asked for
    assert_invariants(out, before)
    assert run_in_process(capsys, "render", "--report", "crisis", "--out", str(out), "--format", "html")[0] == 0


@pytest.mark.slow
def test_case_32_pdf_export_failing_after_the_run_publishes_nothing(capsys, monkeypatch, notebook_with, out):
    from analysis import RenderError

    def broken(page):
        raise RenderError("PDF export needs WeasyPrint and its Pango library: libpango not found", 69)

    before = published(out)
    notebook_with("x = 1")
    monkeypatch.setattr(render_module, "export_pdf", broken)
    code, stderr = render_in_process(capsys, out, "--format", "html,pdf")
    assert code == 69 and "libpango not found" in stderr, stderr
    assert_invariants(out, before)


# --- with --jobs: the same cases, two notebooks at once in the render (--jobs 2), or in worker processes
# with their own kernel factories (--jobs 4: two workers, one running two notebooks at once, one one) --------
#
# Workers start before the checks. Whatever ends the batch (bad input, Ctrl-C, SIGTERM), nothing may be
# left: no worker, factory or kernel. They are found by a mark in the environment, which they all inherit,
# since a worker's factory records the worker (not the render) as its parent.

RENDER_MARK = "ANALYSIS_TEST_RENDER_MARK"


def marked(mark: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error):
            if process.info["status"] != psutil.STATUS_ZOMBIE and process.environ().get(RENDER_MARK) == mark:
                found.append(process)
    return found


def assert_nothing_left_of(mark: str, grace: float = 3.0) -> None:
    deadline = time.monotonic() + grace
    while marked(mark) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [process.cmdline() for process in marked(mark)] == [], "a worker, factory or kernel was left running"


def assert_batch_left_nothing(out: Path, before: dict[str, bytes], run: Run, mark: str) -> None:
    """The four invariants, and no worker, factory or kernel of the batch still running."""
    assert_invariants(out, before, pids={run.pid})
    assert_nothing_left_of(mark)


def start_jobs(argv: list[str], tmp_path: Path) -> tuple[tuple[subprocess.Popen, Path, Path], str]:
    mark = f"{os.getpid()}-{time.monotonic_ns()}"
    return start(argv, tmp_path / "logs", env={**os.environ, RENDER_MARK: mark}), mark


def worker_processes_of(render: subprocess.Popen) -> list[psutil.Process]:
    return [child for child in psutil.Process(render.pid).children() if "spawn_main" in " ".join(child.cmdline())]


def start_jobs_running_notebooks(
    driver: Path, out: Path, tmp_path: Path, jobs: str, config: dict | None = None
) -> tuple[tuple[subprocess.Popen, Path, Path], str]:
    """A --jobs render of the three reports with notebooks that sleep, returned once two are in one at once."""
    markers = tmp_path / "running"
    markers.mkdir()
    notebook = tiny_notebook(
        tmp_path / "notebook",
        "import os, pathlib, time\n"
        "at_once = os.environ.get('ANALYSIS_REPORTS_AT_ONCE')\n"
        f"pathlib.Path({str(markers)!r}, f'{{os.getpid()}}-{{at_once}}').touch()\ntime.sleep(60)",
    )
    config = {"notebook": str(notebook), **(config or {})}
    argv = driver_argv(driver, config, "render", "--out", str(out), "--force", "--jobs", jobs)
    started, mark = start_jobs([*argv, "--format", "html"], tmp_path)
    deadline = time.monotonic() + 120
    while len(list(markers.iterdir())) < 2:
        assert started[0].poll() is None, started[2].read_text()
        assert time.monotonic() < deadline, "two notebooks never ran at once"
        time.sleep(0.05)
    # Every kernel knows how many reports run at once (so it draws its charts alone); --jobs 2 needs no worker.
    assert {marker.name.split("-")[1] for marker in markers.iterdir()} == {str(min(int(jobs), 3))}
    assert len(worker_processes_of(started[0])) == (0 if jobs == "2" else 2)
    return started, mark


# A notebook that fails at once for the crisis variant (by its title in reports.toml) and sleeps for the others.
CRISIS_FAILS_THE_OTHERS_SLEEP = (
    "import time\nif title == 'The fighting of 8 to 12 July 2016':\n    raise ValueError('bad data')\ntime.sleep(60)"
)


@pytest.mark.slow
def test_jobs_bad_input_found_after_the_workers_started_leaves_nothing(out, tmp_path):
    before = published(out)
    variants = tmp_path / "variants.toml"
    variants.write_text(
        '[[report]]\nname = "crisis"\ntitle = "Crisis"\n\n[[report]]\nname = "full"\ntitle = "Full"\n\n'
        '[[report]]\nname = "other"\ntitle = "Other"\nparameters = { actors = ["nobody"] }\n',
        encoding="utf-8",
    )
    argv = analysis_argv("render", "--variants", str(variants), "--out", str(out), "--force", "--jobs", "4")
    started, mark = start_jobs(argv, tmp_path)
    run = finish(started)
    assert run.code == 64 and "report 'other': unknown actor 'nobody'" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert run.kernels_seen == 0
    assert_batch_left_nothing(out, before, run, mark)


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["2", "4"])
@pytest.mark.parametrize(
    ("signum", "code", "word", "to_group"),
    [*((signum, code, word, False) for signum, code, word in SIGNALS), (signal.SIGINT, 130, "interrupted", True)],
    ids=["SIGINT", "SIGTERM", "Ctrl-C, to every process"],
)
def test_jobs_interrupted_while_the_notebooks_run(driver, out, tmp_path, signum, code, word, to_group, jobs):
    # Every notebook running must stop at once, not after its share.
    before = published(out)
    started, mark = start_jobs_running_notebooks(driver, out, tmp_path, jobs)
    process = started[0]
    if to_group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    run = finish(started, timeout=60)
    assert run.code == code and run.stderr.strip() == word, run.stderr  # one message: no traceback, no "Kernel died"
    assert_batch_left_nothing(out, before, run, mark)


@pytest.mark.slow
@pytest.mark.parametrize("kernels", ["no_factory", "forks_fail"], ids=["launched", "retried after a failed start"])
def test_jobs_2_stops_kernels_the_factory_did_not_fork(driver, out, tmp_path, kernels):
    # Killing the factory kills the kernels it forked; these the render must kill itself, at once.
    before = published(out)
    started, mark = start_jobs_running_notebooks(driver, out, tmp_path, "2", {kernels: True})
    started[0].send_signal(signal.SIGINT)
    run = finish(started, timeout=20)  # the notebooks would sleep for a minute
    assert run.code == 130 and run.stderr.strip().endswith("interrupted"), run.stderr
    assert "Traceback" not in run.stderr
    assert_batch_left_nothing(out, before, run, mark)


@pytest.mark.slow
@pytest.mark.parametrize("kernels", ["no_factory", "forks_fail"], ids=["launched", "retried after a failed start"])
def test_jobs_2_a_failing_notebook_stops_one_the_factory_did_not_fork(driver, out, tmp_path, kernels):
    before = published(out)
    notebook = tiny_notebook(tmp_path / "notebook", CRISIS_FAILS_THE_OTHERS_SLEEP)
    config = {"notebook": str(notebook), kernels: True}
    argv = driver_argv(driver, config, "render", "--out", str(out), "--force", "--jobs", "2", "--format", "html")
    started, mark = start_jobs(argv, tmp_path)
    run = finish(started, timeout=45)  # the other notebook would sleep for a minute
    assert run.code == 70 and "raised ValueError: bad data" in run.stderr, run.stderr
    assert_batch_left_nothing(out, before, run, mark)


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["2", "4"])
def test_jobs_a_failing_notebook_stops_the_batch(driver, out, tmp_path, jobs):
    # crisis fails at once; the other reports are still running (beside it, or in the other worker)
    # and must be stopped, not finished: the batch fails as a sequence would, and only the failed
    # notebook is kept.
    before = published(out)
    notebook = tiny_notebook(tmp_path / "notebook", CRISIS_FAILS_THE_OTHERS_SLEEP)
    argv = driver_argv(driver, {"notebook": str(notebook)}, "render", "--out", str(out), "--force", "--jobs", jobs)
    started, mark = start_jobs([*argv, "--format", "html"], tmp_path)
    run = finish(started, timeout=60)
    assert run.code == 70, run.stderr
    assert "report 'crisis': notebook " in run.stderr and "raised ValueError: bad data" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert (out / "failed-crisis" / "crisis.ipynb").is_file()
    assert_batch_left_nothing(out, before, run, mark)


@pytest.mark.slow
def test_jobs_a_worker_killed_stops_the_batch(driver, out, tmp_path):
    # A worker killed (as the out-of-memory killer would) cannot clean up: the render stops the other
    # one, removes what the dead one staged, and says what happened.
    before = published(out)
    started, mark = start_jobs_running_notebooks(driver, out, tmp_path, "4")
    worker_processes_of(started[0])[0].kill()
    run = finish(started, timeout=60)
    assert run.code == 70, run.stderr
    assert run.stderr.strip() == "a --jobs worker process ended unexpectedly (killed, or out of memory?)", run.stderr
    assert_batch_left_nothing(out, before, run, mark)


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["2", "4"])
def test_jobs_render_killed_leaves_nothing(driver, out, tmp_path, jobs):
    # SIGKILL cannot be handled by the render: its factory and kernels, or its workers, learn of its end
    # from Linux, stop, clean up, exit.
    before = published(out)
    started, mark = start_jobs_running_notebooks(driver, out, tmp_path, jobs)
    started[0].kill()
    assert finish(started, timeout=60).code == -signal.SIGKILL
    assert_nothing_left_of(mark, grace=10)
    lock = ".render.lock"  # keeps the killed render's pid; free all the same, as the kernel released it
    assert {name: data for name, data in published(out).items() if name != lock} == {
        name: data for name, data in before.items() if name != lock
    }
    if jobs == "4":
        assert leftovers(out) == []  # the workers cleaned up
    else:  # the render itself was running the notebooks: its staging folders are left for the next render
        assert all(name.startswith(".staging-") for name in leftovers(out)), leftovers(out)
    with output_lock(out):
        assert leftovers(out) == []


@pytest.mark.slow
def test_jobs_a_killed_render_s_workers_hold_its_lock_until_they_end(driver, out, tmp_path):
    # A worker can still be exporting, or publishing, when its render is killed: no other render may
    # take the folder until it has stopped. Stopped here (SIGSTOP), the workers cannot yet act on the
    # SIGTERM Linux sends them when the render dies.
    before = published(out)
    started, mark = start_jobs_running_notebooks(driver, out, tmp_path, "4")
    workers = worker_processes_of(started[0])
    for worker in workers:
        worker.suspend()
    try:
        staged = leftovers(out)
        assert staged and all(name.startswith(".staging-") for name in staged), staged
        lock = str(out / ".render.lock")
        assert all(lock in {file.path for file in worker.open_files()} for worker in workers)
        assert not any(lock in {file.path for file in child.open_files()} for w in workers for child in w.children())
        started[0].kill()
        assert finish(started, timeout=60).code == -signal.SIGKILL
        refusal = f"is being rendered by pid {started[0].pid}; try again"
        with pytest.raises(RenderError, match=refusal) as refused, output_lock(out):
            pass
        assert refused.value.exit_code == 75
        assert leftovers(out) == staged  # not removed under the workers
    finally:
        for worker in workers:
            worker.resume()
    assert_nothing_left_of(mark, grace=10)
    with output_lock(out):
        assert leftovers(out) == []
    assert {name: data for name, data in published(out).items() if name != ".render.lock"} == {
        name: data for name, data in before.items() if name != ".render.lock"
    }


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 0.6, 1.0], ids=lambda delay: f"Ctrl-C after {delay} s")
def test_jobs_interrupted_while_starting(out, tmp_path, delay):
    # Somewhere in the start: the parent's checks, a worker's or a factory's own start-up. Nowhere may
    # a traceback be printed or a process be left.
    before = published(out)
    argv = analysis_argv("render", "--out", str(out), "--force", "--jobs", "4", "--format", "html")
    started, mark = start_jobs(argv, tmp_path)
    time.sleep(delay)
    os.killpg(started[0].pid, signal.SIGINT)
    run = finish(started, timeout=60)
    assert run.code == 130 and "interrupted" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert_batch_left_nothing(out, before, run, mark)
