"""Render report variants: check parameters, execute the notebook, export HTML and PDF, publish atomically.

Each variant is executed by papermill in a fresh kernel into a private staging folder inside the
output folder, checked (every code cell ran, no error), exported, and only then moved into place
with ``os.replace``, file by file, the manifest last. A failed, interrupted or concurrent render
therefore never leaves a half-written file or replaces a good report. Unchanged inputs are not
rendered again (the manifest records a hash of every input).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from . import paths
from .errors import (
    EXIT_CANT_CREATE,
    EXIT_SOFTWARE,
    EXIT_TEMPFAIL,
    EXIT_UNAVAILABLE,
    ParameterError,
    RenderError,
)
from .exports import check_pdf_engine, export_html, export_pdf, strip_volatile, timelinejs
from .kernel_factory import KernelFactory, running_factory
from .kernels import KERNEL_NAME, WarmKernel, register_engine
from .limits import DEFAULT_CELL_TIMEOUT, refuse_oversized
from .outputs import (
    cache_key,
    check_out_dir,
    input_files,
    is_current,
    output_lock,
    package_versions,
    publish,
    sha256_of,
    update_index,
    write_error,
    write_file,
)
from .parallel import kernel_environment
from .parameters import (
    DEFAULT_TITLE,
    FORMATS,
    Variant,
    check_actors,
    check_notebook_parameters,
    check_parameters,
    load_variants,
    render_command,
    select_variants,
)
from .startup import garbage_collection_paused, resume_garbage_collection
from .workers import Worker, ended_by_ctrl_c, worker_pool, worker_processes

log = logging.getLogger(__name__)

# The main thread waits in slices this long: a signal that Linux hands to another thread is only
# handled once the main thread runs Python again, and ``stopped()`` is asked (a --jobs worker's stop
# request, or a signal whose exception Python dropped).
SIGNAL_CHECK_SECONDS = 0.2
# A process exports the HTML and PDF of this many notebooks executing at once: two kernels' work
# keeps one exporter busy (a batch of 8 on two CPUs: 7.3 s, against 8.5 s for two processes of one
# notebook each, which import everything twice).
REPORTS_PER_PROCESS = 2
KERNEL_START_TIMEOUT = 60
# What jupyter_client raises when a kernel fails before it runs anything; worth one retry, as
# kernels started at once can race for the same free ports.
_KERNEL_START_FAILURES = ("Kernel didn't respond", "Kernel died before replying")


def _processes_for(at_once: int) -> int:
    """How many processes export ``at_once`` notebooks running together: the render alone, or workers."""
    return math.ceil(at_once / REPORTS_PER_PROCESS)


@dataclass
class RenderResult:
    """What ``render`` did for one variant: its files, whether it was up to date, and how long its steps took."""

    name: str
    outputs: list[Path]
    skipped: bool
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


# --- executing and checking the notebook ------------------------------------------------------------


def launch_kernel(
    cwd: Path, factory: KernelFactory | None = None, environment: dict[str, str] | None = None
) -> WarmKernel | Exception:
    """A kernel started now (forked by ``factory`` if given), or the error its start raised, reported where used."""
    try:
        return WarmKernel(cwd, factory, environment)
    except Exception as error:  # mapped to a clear message and exit code by _execute
        return error


def _execute(
    notebook: Path,
    target: Path,
    parameters: dict,
    timeout: int,
    progress: bool,
    kernel,
    on_start: Callable[[], None],
    cancelled: threading.Event,
    relaunch: Callable[[], object],
):
    """Run the notebook in ``kernel`` (from launch_kernel), calling ``on_start()`` as it starts; a kernel that
    does not start is retried once with ``relaunch()`` (unforked).

    Not retried once ``cancelled`` is set: the render was interrupted and killed the kernel itself.
    """
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from papermill.exceptions import PapermillExecutionError

    for attempt in (1, 2):
        try:
            if attempt == 2:
                kernel = relaunch()
            if isinstance(kernel, Exception):
                raise kernel
            on_start()
            executed = papermill.execute_notebook(
                str(notebook),
                str(target),
                parameters=parameters,
                km=kernel.manager,
                engine_name=register_engine(),
                # No cwd: papermill would chdir this whole process while the main thread exports and
                # publishes. Every kernel is started in the project's notebooks folder instead.
                progress_bar=progress,
                log_output=False,
                execution_timeout=timeout,
                start_timeout=KERNEL_START_TIMEOUT,
            )
            break
        except PapermillExecutionError as error:
            raise RenderError(
                f"cell {error.cell_index} (In [{error.exec_count}]) raised {error.ename}: {error.evalue}", EXIT_SOFTWARE
            ) from None
        except TimeoutError:
            raise RenderError(
                f"{_last_started_cell(target)} timed out after {timeout} s; the kernel was shut down", EXIT_SOFTWARE
            ) from None
        except NoSuchKernel:
            raise RenderError("kernel 'python3' not found: is ipykernel installed?", EXIT_UNAVAILABLE) from None
        except RuntimeError as error:
            if str(error).startswith(_KERNEL_START_FAILURES):
                if attempt == 1 and not cancelled.is_set():
                    log.warning("kernel did not start (%s); trying once more", error)
                    continue
                raise RenderError(f"kernel did not start (tried twice): {error}", EXIT_TEMPFAIL) from None
            if "kernel" in str(error).lower():  # nbclient: "Kernel died", …
                raise RenderError(
                    f"kernel died while running {_last_started_cell(target)} (possibly out of memory)", EXIT_SOFTWARE
                ) from None
            raise
        except OSError as error:  # papermill writes the notebook as it runs, so a full disk shows here
            if error.errno not in (errno.ENOSPC, errno.EDQUOT) and error.filename and Path(error.filename) != target:
                message = f"kernel 'python3' cannot start: {error.filename}: {error.strerror}"  # its program could not run
                raise RenderError(message, EXIT_UNAVAILABLE) from None
            raise write_error(error, target.name) from None
        finally:
            if not isinstance(kernel, Exception):
                kernel.shutdown()
    for index, cell in enumerate(executed.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("execution_count") is None:
            raise RenderError(f"incomplete run: cell {index} never executed (a cell exited early?)", EXIT_SOFTWARE)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raise RenderError(f"cell {index} raised {output.get('ename')}: {output.get('evalue')}", EXIT_SOFTWARE)
    return executed


def _last_started_cell(target: Path) -> str:
    """The cell that was running when the kernel died or timed out: the last one papermill saw start."""
    import nbformat

    try:
        cells = nbformat.read(str(target), as_version=4).cells
    except (OSError, ValueError):
        return "a cell"
    started = [index for index, cell in enumerate(cells) if cell.metadata.get("papermill", {}).get("start_time")]
    return f"cell {started[-1]}" if started else "a cell"


# --- one variant --------------------------------------------------------------------------------


@dataclass
class _Job:
    """One variant to render, with everything decided before any kernel starts."""

    variant: Variant
    parameters: dict
    key: str
    input_hashes: dict
    started: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)  # file name -> text, made while the notebook runs
    shown: dict = field(default_factory=dict)  # the manifest's "selection", "events" and "date_range"

    @property
    def name(self) -> str:
        return self.variant.name

    @property
    def title(self) -> str:
        return self.parameters["title"] or self.variant.title or DEFAULT_TITLE


@dataclass(frozen=True)
class _Settings:
    versions: dict
    out_dir: Path
    formats: tuple[str, ...]
    timeout: int
    progress: bool
    notebook: Path  # the report notebook, as the render was asked for it (--jobs workers import paths anew)
    variants_file: Path | None  # as given to render(); None for reports.toml
    kernel_environment: dict[str, str]  # added to every kernel's environment (how many reports render at once)


def _staging(job: _Job, settings: _Settings) -> Path:
    return settings.out_dir / f".staging-{job.name}-{os.getpid()}"


def _execute_variant(
    job: _Job,
    settings: _Settings,
    kernel,
    on_start: Callable[[], None],
    cancelled: threading.Event,
    relaunch: Callable[[], object],
):
    """Stage one: execute the notebook into the variant's staging folder; keep it under failed-* if it fails."""
    job.started = time.perf_counter()
    staging = _staging(job, settings)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    executed_path = staging / f"{job.name}.ipynb"
    try:
        executed = _execute(
            settings.notebook,
            executed_path,
            job.parameters,
            settings.timeout,
            settings.progress,
            kernel,
            on_start,
            cancelled,
            relaunch,
        )
    except RenderError as error:
        where = f"report {job.name!r}: notebook {paths.display(settings.notebook)}: {error}"
        try:
            if cancelled.is_set():  # interrupted: its kernel was killed, not failed
                raise
            if error.exit_code != EXIT_SOFTWARE:  # the kernel or the disk failed, not the notebook: nothing to keep
                raise RenderError(where, error.exit_code) from None
            failed = settings.out_dir / f"failed-{job.name}"
            shutil.rmtree(failed, ignore_errors=True)
            failed.mkdir()
            if executed_path.exists():
                os.replace(executed_path, failed / executed_path.name)
            raise RenderError(f"{where}; the failed notebook is kept in {paths.display(failed)}/", error.exit_code) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    job.timings["execute"] = time.perf_counter() - job.started
    return executed


def _prepare_data(job: _Job, timelines: dict) -> None:
    """The data beside the report, made while its notebook runs: the timeline it shows, as CSV and TimelineJS JSON.

    ``timelines`` holds the timelines already validated before any kernel, by data folder; another
    folder is loaded (and validated) here, and kept there for the next job.
    """
    from .load import load_timeline
    from .metrics import filter_timeline
    from .narrative import selection_sentence

    parameters = job.parameters
    if parameters["data_dir"] not in timelines:
        timelines[parameters["data_dir"]] = load_timeline(parameters["data_dir"])
    full = timelines[parameters["data_dir"]]
    timeline = filter_timeline(
        full,
        parameters["start"],
        parameters["end"],
        parameters["actors"],
        parameters["categories"],
        parameters["dates"],
    )
    events = timeline.events
    job.data = {
        f"{job.name}.csv": events.to_csv(index=False, date_format="%Y-%m-%d"),
        # Compact: json's C encoder only runs without indent (6 s against 0.5 s for 100,000 events).
        f"{job.name}.timeline.json": json.dumps(timelinejs(timeline, job.title), ensure_ascii=False, separators=(",", ":"))
        + "\n",
    }
    names = full.actor_names()
    selection = selection_sentence(parameters, names, len(events), len(full.events))
    if events.empty:  # rendered all the same (it says so), but a mistyped year should not go unnoticed
        log.warning("warning: report %r: no event matches its parameters. %s", job.name, selection)
    job.shown = {
        "selection": selection,
        "events": len(events),
        "date_range": [
            events["start"].min().strftime("%Y-%m-%d") if len(events) else None,
            events["end"].max().strftime("%Y-%m-%d") if len(events) else None,
        ],
    }


def _import_data_makers() -> None:
    """Import what ``_prepare_data`` imports as it runs.

    That is pandas' CSV writer (on first use) and, where the timeline is loaded again (a --jobs
    worker's), the codec that ``load_timeline`` decodes the source texts with.
    """
    import codecs

    import pandas as pd

    from . import load, metrics, narrative  # noqa: F401

    codecs.lookup("utf-8-sig")
    pd.DataFrame({"start": pd.to_datetime([])}).to_csv(index=False, date_format="%Y-%m-%d")


def _export_variant(job: _Job, settings: _Settings, executed) -> RenderResult:
    """Stage two: export HTML and PDF, write them with the data and the manifest, publish; staging removed either way."""
    name, parameters, out_dir, formats = job.name, job.parameters, settings.out_dir, settings.formats
    staging = _staging(job, settings)
    timings = job.timings
    try:
        executed_path = staging / f"{name}.ipynb"
        strip_volatile(executed)
        import nbformat

        outputs: list[str] = []
        write_file(executed_path, nbformat.writes(executed) + "\n")
        outputs.append(executed_path.name)
        title = job.title
        footer = f"Rendered by analysis from {paths.in_project(settings.notebook)}."
        step = time.perf_counter()
        page = export_html(executed, title, footer, render_command(name, parameters, settings.variants_file))
        timings["html"] = time.perf_counter() - step
        if "html" in formats:
            write_file(staging / f"{name}.html", page)
            outputs.append(f"{name}.html")
        if "pdf" in formats:
            step = time.perf_counter()
            write_file(staging / f"{name}.pdf", export_pdf(page))
            timings["pdf"] = time.perf_counter() - step
            outputs.append(f"{name}.pdf")
        for file_name, text in job.data.items():
            write_file(staging / file_name, text)
            outputs.append(file_name)
        timings["total"] = time.perf_counter() - job.started
        manifest = {
            "name": name,
            "title": title,
            "parameters": parameters,
            "cache_key": job.key,
            "inputs": job.input_hashes,
            "versions": settings.versions,
            **job.shown,
            "outputs": {output: sha256_of(staging / output) for output in outputs},
            "timings_s": {step_name: round(seconds, 3) for step_name, seconds in timings.items()},
            "rendered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        manifest_name = f"{name}.manifest.json"
        write_file(staging / manifest_name, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        publish(staging, out_dir, [*outputs, manifest_name])
        for kind in FORMATS:
            earlier = out_dir / f"{name}.{kind}"
            if kind not in formats and (earlier.is_file() or earlier.is_symlink()):
                earlier.unlink()  # an earlier render's, which no longer matches this one's files
        shutil.rmtree(out_dir / f"failed-{name}", ignore_errors=True)
        return RenderResult(name, [out_dir / output for output in outputs], False, time.perf_counter() - job.started, timings)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _preload_exporters(formats: tuple[str, ...]) -> None:
    """Import and warm the exporters while the first kernel runs, off the critical path.

    Exporting a one-cell notebook compiles the page template; laying out its PDF, a data table as
    the report's are, loads Pango's fonts and the rest of WeasyPrint. What is left for each report
    is its own page.
    """
    import nbformat

    try:
        table = '<table class="data"><tr><td style="width: 2em">peacekeeping</td></tr></table>'
        cell = nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output("display_data", data={"text/html": table})])
        page = export_html(nbformat.v4.new_notebook(cells=[cell]), "warm", "warm")
        if "pdf" in formats:
            with contextlib.suppress(RenderError):  # reported, with its exit code, by the report's own export
                export_pdf(page)
    finally:
        # Everything the render imports is loaded now, and stays: in the program's own processes it
        # is frozen, out of the collector's walks, and collection resumes (see startup).
        resume_garbage_collection()


def _render_sequence(
    jobs: list[_Job],
    settings: _Settings,
    report: Callable[[str], None],
    factory: KernelFactory | None,
    timelines: dict | None = None,
    stopped: Callable[[], bool] = lambda: False,
    at_once: int = 1,
) -> list[RenderResult]:
    """Render jobs in this process, ``at_once`` notebooks executing at a time, overlapping what does not depend on each other.

    Each job gets a fresh kernel, forked by ``factory`` (or launched, without one); as a notebook
    starts, the kernel for a job still waiting is started. Notebooks execute in threads of their own
    (the kernels do the work); the main thread meanwhile exports the finished jobs' HTML and PDF, in
    the order they finish, then makes the data files of the jobs started meanwhile (from
    ``timelines``, those validated before any kernel, by data folder). So it is also the thread that
    takes Ctrl-C and SIGTERM, or sees ``stopped()`` while it waits: then every kernel is killed, the
    threads running notebooks finish at once, and nothing more is published.
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    total = len(jobs)
    timelines = {} if timelines is None else timelines
    # While the factory prepares the first kernel, papermill is imported and nbformat's schema
    # compiled (on reading the notebook) here, not after; so is what making the data files imports.
    # Only then are the exporters warmed up in another thread: an interrupt (always raised in this
    # one) that lands in an import while another thread imports too can leave a module lock held,
    # and a --jobs worker stuck for good. This thread imports nothing more: it only waits, exports
    # once the warm-up is over, and makes the data files.
    import nbformat
    import papermill  # noqa: F401

    nbformat.read(settings.notebook, as_version=4)
    register_engine()
    _import_data_makers()
    preload = threading.Thread(target=_preload_exporters, args=(settings.formats,), daemon=True)
    preload.start()
    # Kernels are launched in the executing threads, never in this one, where an interrupt inside
    # jupyter_client's launch could leave its event loop half torn down.
    kernels = _KernelSupply(total, factory, settings.kernel_environment)
    results: list[RenderResult] = []
    cancelled = threading.Event()

    def execute(job: _Job):
        if cancelled.is_set():  # stopped while it waited for its thread
            raise KeyboardInterrupt
        used = [kernels.take()]

        def relaunch():  # a retry's kernel, killed with the others if the render stops
            used.append(kernels.launch(forked=False))
            return used[-1]

        try:
            return _execute_variant(job, settings, used[0], kernels.start_one_ahead, cancelled, relaunch)
        finally:
            for kernel in used:
                kernels.finished_with(kernel)

    def wait_for(done: Callable[[], bool], wait_a_while: Callable[[], object]) -> None:
        while not done():
            if stopped():
                raise KeyboardInterrupt  # stopped as by Ctrl-C
            wait_a_while()

    def export(job: _Job, executed) -> None:
        # The exporters are warmed by one thread at a time, never two.
        wait_for(lambda: not preload.is_alive(), lambda: preload.join(timeout=SIGNAL_CHECK_SECONDS))
        result = _export_variant(job, settings, executed)
        report(f"{job.name}: done in {result.seconds:.1f} s")
        results.append(result)

    waiting = list(enumerate(jobs, start=1))
    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="execute") as executor:
        started: list = []  # all work given to the executor, in its order
        running: dict = {}  # future -> its job, in the order they were started

        def start_more() -> list[_Job]:
            new = []
            while waiting and len(running) < at_once:
                number, job = waiting.pop(0)
                report(f"[{number}/{total}] {job.name}: executing")
                future = executor.submit(execute, job)
                started.append(future)
                running[future] = job
                new.append(job)
            return new

        try:
            for job in start_more():
                _prepare_data(job, timelines)
            while running:
                wait_for(
                    lambda: any(future.done() for future in running),
                    lambda: wait(list(running), timeout=SIGNAL_CHECK_SECONDS, return_when=FIRST_COMPLETED),
                )
                finished = [(running.pop(future), future) for future in list(running) if future.done()]
                executed = [(job, future.result()) for job, future in finished]  # the first failure stops the batch
                new = start_more()  # the kernels go on while this thread exports what they finished
                for job, notebook in executed:
                    export(job, notebook)
                for job in new:
                    _prepare_data(job, timelines)
        except BaseException:
            # The run in progress sees its kernel die: papermill's "Kernel died" line (or nbclient's,
            # through papermill's logger, as its client starts) would only contradict the one message
            # the caller prints (interrupted, or the error itself). So it is silenced first.
            papermill_log = logging.getLogger("papermill")
            papermill_log.disabled = True
            try:
                cancelled.set()
                if factory is not None:
                    factory.stop()  # a launch waiting for the factory's imports fails now
                kernels.kill_all()
                for work in started:
                    with contextlib.suppress(BaseException):
                        work.result()
                kernels.kill_all()  # one launched as the others were killed
            finally:
                papermill_log.disabled = False
            for job in jobs:  # a job executed but not yet exported has its staging folder still
                shutil.rmtree(_staging(job, settings), ignore_errors=True)
            raise
        finally:
            kernels.shut_down_spares()
    order = {job.name: index for index, job in enumerate(jobs)}
    return sorted(results, key=lambda result: order[result.name])  # exported as they finished


class _KernelSupply:
    """The kernels of one sequence: each job takes one started ahead for it, or starts its own.

    As a notebook starts, a kernel is started ahead for a job that will need one, so that its start
    overlaps the running notebook; never more than the jobs still to take one.
    """

    def __init__(self, jobs: int, factory: KernelFactory | None, environment: dict[str, str]):
        self._untaken = jobs  # jobs that have not taken a kernel yet
        self._factory = factory
        self._environment = environment
        self._spares: list = []  # started ahead, not taken yet: a WarmKernel, or the error its start raised
        self._starting = 0  # being started ahead
        self._live: list[WarmKernel] = []  # started and not yet finished with: killed if the render stops
        self._lock = threading.Condition()
        self.stopped = False

    def launch(self, forked: bool = True):
        """A kernel started now (forked by the factory, if there is one and ``forked``), or the error its start raised."""
        kernel = launch_kernel(paths.NOTEBOOKS_DIR, self._factory if forked else None, self._environment)
        if not isinstance(kernel, Exception):
            with self._lock:
                self._live.append(kernel)
                stopped = self.stopped
            if stopped:  # started as the others were killed
                kernel.kill()
        return kernel

    def take(self):
        """A kernel for the job about to run (or the error its start raised)."""
        with self._lock:
            self._untaken -= 1
            self._lock.wait_for(lambda: self._spares or not self._starting)  # one being started is this job's
            if self._spares:
                return self._spares.pop(0)
            if self.stopped:
                raise KeyboardInterrupt  # the render is stopping: no new kernel
        return self.launch()

    def start_one_ahead(self) -> None:
        """Start a kernel for a later job, if one will need it; called as a notebook starts."""
        with self._lock:
            if self.stopped or self._untaken <= len(self._spares) + self._starting:
                return
            self._starting += 1
        kernel = None
        try:
            kernel = self.launch()
        finally:  # a job waiting for this kernel must not wait for ever
            with self._lock:
                self._starting -= 1
                if kernel is not None:
                    self._spares.append(kernel)
                self._lock.notify_all()

    def finished_with(self, kernel) -> None:
        """Shut ``kernel`` down (its run normally has already), once its job has ended."""
        if isinstance(kernel, Exception):
            return
        kernel.shutdown()
        with self._lock:
            self._live.remove(kernel)

    def kill_all(self) -> None:
        """Kill every kernel still running at once, from any thread; none is started after."""
        with self._lock:
            self.stopped = True
            live = list(self._live)
        for kernel in live:
            kernel.kill()

    def shut_down_spares(self) -> None:
        """Stop the kernels started ahead that no job took."""
        with self._lock:
            spares, self._spares = self._spares, []
        for kernel in spares:
            self.finished_with(kernel)


# --- the command ----------------------------------------------------------------------------------


def render(
    names: list[str] | None = None,
    overrides: dict | None = None,
    data_dir: Path | None = None,
    out_dir: Path | None = None,
    formats: tuple[str, ...] = FORMATS,
    force: bool = False,
    jobs: int = 1,
    timeout: int = DEFAULT_CELL_TIMEOUT,
    progress: bool = False,
    report: Callable[[str], None] = lambda message: None,
    variants_file: Path | None = None,
    stopped: Callable[[], bool] = lambda: False,
) -> list[RenderResult]:
    """Render report variants (all those declared in ``variants_file``, default reports.toml) into ``out_dir``.

    Everything that can be checked is checked before any kernel starts: the variants file, every
    parameter, the timeline, the output folder and its lock. ``jobs`` notebooks run at once; beyond
    ``REPORTS_PER_PROCESS`` the variants are shared among worker processes, started as
    multiprocessing's "spawn" does: a script that calls this must then keep its own work under
    ``if __name__ == "__main__":``, since each worker imports it.
    While it waits for kernels or workers it asks ``stopped()`` every ``SIGNAL_CHECK_SECONDS``; once
    that is true it stops as on Ctrl-C, raising KeyboardInterrupt (the command line says whether a
    signal came that Python dropped). A relative ``data_dir`` counts from the working folder when it
    is given here (``data_dir`` or ``overrides``), and from the variants file's folder when declared there.

    Raises:
        ParameterError (64), TimelineError (65/66), RenderError (69, 70, 73, 74, 75).
    """
    out_dir = Path(out_dir) if out_dir is not None else paths.REPORTS_DIR
    unknown_formats = sorted(set(formats) - set(FORMATS))
    if unknown_formats or not formats:
        raise ParameterError(f"unknown format(s) {', '.join(unknown_formats) or '(none)'}; known: {', '.join(FORMATS)}")
    declared = load_variants(variants_file)
    variants = select_variants(declared, list(names or []))
    check_parameters(overrides or {})  # an override's own mistake is told once, not for every variant
    plans, problems = [], []  # every variant's problems, told at once
    for variant in variants:
        values = {"title": variant.title, **variant.parameters, **(overrides or {})}
        if data_dir is not None:
            values["data_dir"] = str(data_dir)
        try:
            parameters = check_parameters(values, origin=f"report {variant.name!r}: ")
        except ParameterError as error:
            problems.append(str(error))
            continue
        if parameters["data_dir"] is not None:
            # The kernel runs in notebooks/: a relative folder is made whole here, from the folder it
            # was given in (the working folder for the command line's, the variants file's for its own).
            given_on_command_line = data_dir is not None or "data_dir" in (overrides or {})
            base = Path.cwd() if given_on_command_line else Path(variants_file or paths.VARIANTS_FILE).resolve().parent
            parameters["data_dir"] = str((base / parameters["data_dir"]).resolve())
        plans.append((variant, parameters))
    if problems:
        raise ParameterError("\n".join(problems))
    check_out_dir(out_dir)
    versions = package_versions()
    results: list[RenderResult] = []
    with output_lock(out_dir) as lock:
        pending = []
        for variant, parameters in plans:
            source = Path(parameters["data_dir"]) if parameters["data_dir"] else paths.DATA_DIR
            paths.require_timeline_dir(source)
            files = input_files(source, paths.REPORT_NOTEBOOK)
            # Hashing reads a file whole: a data file the loader would refuse for its size is refused first.
            refuse_oversized([path for name, path in files.items() if name.startswith("data/")])
            input_hashes = {name: sha256_of(path) for name, path in files.items()}
            key = cache_key(input_hashes, parameters, tuple(formats), versions)
            # Unchanged inputs were validated when the published report was made: skip, quickly.
            if not force and is_current(out_dir / f"{variant.name}.manifest.json", key, out_dir):
                report(f"{variant.name}: up to date, skipped")
                results.append(RenderResult(variant.name, [], True, 0.0))
                continue
            pending.append((variant, parameters, key, input_hashes))
        # The kernel factory (here, or one in each --jobs worker) imports the kernels' libraries while
        # the checks run. No kernel starts until every check has passed.
        at_once = min(jobs, len(pending))
        processes = _processes_for(at_once)
        environment = kernel_environment(at_once)
        with (
            running_factory(KERNEL_NAME, wanted=processes == 1, environment=environment) as factory,
            worker_pool(processes, at_once, lock) as pool,
        ):
            timelines = _check_before_kernels(pending, out_dir, tuple(formats)) if pending else {}
            progress_shown = progress and at_once == 1  # two bars at once would only garble each other
            notebook = paths.REPORT_NOTEBOOK
            settings = _Settings(versions, out_dir, tuple(formats), timeout, progress_shown, notebook, variants_file, environment)
            results += _run_pending(pending, settings, at_once, report, factory, pool, timelines, stopped)
        update_index(out_dir, [variant.name for variant in declared])
    return results


def _check_before_kernels(pending, out_dir: Path, formats: tuple[str, ...]) -> dict:
    """The notebook's parameters cell, the output files, the PDF library, the timeline and the actor ids.

    Returns:
        The validated timelines, by data folder.
    """
    from .load import load_timeline

    check_notebook_parameters(paths.REPORT_NOTEBOOK)
    for variant, _, _, _ in pending:
        for suffix in (".ipynb", *(f".{kind}" for kind in formats), ".csv", ".timeline.json", ".manifest.json"):
            target = out_dir / f"{variant.name}{suffix}"
            if target.exists() and not target.is_file():  # os.replace would fail only after the run, mid-publish
                raise RenderError(f"cannot create output {paths.display(target)}: it is a folder", EXIT_CANT_CREATE)
        failed = out_dir / f"failed-{variant.name}"  # where a failed run's notebook is kept
        if failed.is_symlink() or (failed.exists() and not failed.is_dir()):
            raise RenderError(f"cannot create output {paths.display(failed)}/: it is not a folder", EXIT_CANT_CREATE)
    if "pdf" in formats:
        check_pdf_engine()
    timelines: dict = {}
    problems = []  # every variant's unknown actors, told at once
    for variant, parameters, _, _ in pending:
        source = parameters["data_dir"]
        if source not in timelines:
            timelines[source] = load_timeline(source)
        try:
            check_actors(parameters["actors"], list(timelines[source].actors["actor_id"]), origin=f"report {variant.name!r}: ")
        except ParameterError as error:
            problems.append(str(error))
    if problems:
        raise ParameterError("\n".join(problems))
    return timelines


def _run_pending(pending, settings: _Settings, at_once: int, report, factory, pool, timelines, stopped):
    work = [_Job(variant, parameters, key, hashes) for variant, parameters, key, hashes in pending]
    if not work:
        return []
    if pool is None:
        return _render_sequence(work, settings, report, factory, timelines, stopped, at_once)
    from concurrent.futures import FIRST_EXCEPTION, wait
    from concurrent.futures.process import BrokenProcessPool

    # One sequence per worker process, each running up to REPORTS_PER_PROCESS notebooks at once
    # (fewer in the last, for an odd number); the variants are dealt in turn, to each notebook's place.
    processes = _processes_for(at_once)
    places = [index % processes for index in range(at_once)]
    shares = [[job for number, job in enumerate(work) if places[number % at_once] == index] for index in range(processes)]
    try:
        futures = [pool.submit(_render_share, share, settings, places.count(index)) for index, share in enumerate(shares)]
    except BrokenProcessPool:  # a worker ended while this process checked the inputs
        _abandon_workers(pool, work, settings)
    resume_garbage_collection()  # this process imports nothing more: the workers export
    while True:  # in slices, as _render_sequence waits; the first failure stops the batch, as it does a sequence
        if stopped():
            raise KeyboardInterrupt  # stopped as by Ctrl-C
        done, running = wait(futures, timeout=SIGNAL_CHECK_SECONDS, return_when=FIRST_EXCEPTION)
        for future in done:
            if isinstance(future.exception(), BrokenProcessPool):
                _abandon_workers(pool, work, settings)
            if future.exception() is not None:
                raise future.exception()
        if not running:
            break
    results = []
    for future in futures:
        for result in future.result():
            report(f"{result.name}: done in {result.seconds:.1f} s")
            results.append(result)
    order = {job.name: index for index, job in enumerate(work)}
    return sorted(results, key=lambda result: order[result.name])


def _abandon_workers(pool, work: list[_Job], settings: _Settings) -> NoReturn:
    """A worker ended: stop the others, remove what was staged, and say why.

    A worker that Ctrl-C reached while idle ends with 130: the batch was interrupted, even if this
    process's own SIGINT was lost (as one was when pyarrow's read_csv took it; kept as a safety net).
    Any other end (killed, out of memory) is a failure.
    """
    workers = worker_processes(pool)  # before the shutdown, which forgets them
    pool.shutdown(wait=True, cancel_futures=True)  # the pool stops its other workers itself once one is lost
    for job in work:
        for staging in settings.out_dir.glob(f".staging-{job.name}-*"):
            shutil.rmtree(staging, ignore_errors=True)
    if any(ended_by_ctrl_c(worker) for worker in workers):
        raise KeyboardInterrupt
    raise RenderError("a --jobs worker process ended unexpectedly (killed, or out of memory?)", EXIT_SOFTWARE) from None


def _render_share(jobs: list[_Job], settings: _Settings, at_once: int) -> list[RenderResult]:
    """A worker process's sequence, with the worker's kernel factory; none if the worker was told to stop."""
    with Worker.rendering(), garbage_collection_paused():  # while the worker imports the render's libraries
        if Worker.stopped:
            return []
        return _render_sequence(jobs, settings, _quiet, Worker.factory, stopped=lambda: Worker.stopped, at_once=at_once)


def _quiet(message: str) -> None:
    """Workers report through the parent, which prints their results."""
