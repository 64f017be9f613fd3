"""A map over a few costly items, shared with one forked process while this one does its own half.

Drawing a report's charts takes a second on one core while the machine's other core is idle. A
forked child already has the data and every imported module, so it can draw the second half of the
charts at once, with no start-up cost and nothing to send but the finished results.

What the caller sees is what a plain ``[function(item) for item in items]`` gives:

- the results, in order (the child's are pickled back);
- the child's warnings and printed output, issued and written here after this process's own half,
  in the order the child made them; the warnings go through this process's filters and registries,
  so a warning already shown is not shown again. A warning raised with a stack level above
  ``function`` names this module's line, in both halves alike, where a plain loop names its caller;
- an exception from ``function`` raised here, with its real traceback: a child that fails in any
  way (an exception, a kill, an answer that cannot be read) has its half done again here, where
  the same exception is raised if there is one. So is a child that stops working: one whose CPU
  time has not grown for ``stall_seconds`` is stuck (a lock that another thread of this process
  held when it forked is never released in the child) and is killed.

``function`` must act only through its result: the second half may run twice (in the child, then
here), and what it changes in the child (a cache, a file) is not seen here, or is done again. Output
written below Python (by C code or a subprocess) is not captured.

Only on Linux, where a child can be tied to its parent's life (``PR_SET_PDEATHSIG``) and its CPU
time read, and only with a CPU to spare: two per report that runs at the same time. Otherwise
everything runs here, one item after another.
"""

from __future__ import annotations

import contextlib
import gc
import io
import math
import os
import pickle
import re
import select
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from .kernel_factory import die_with_parent
from .startup import STOP_SIGNALS

Item = TypeVar("Item")
Result = TypeVar("Result")

# A child whose CPU time has not grown for this long is stuck: it will never answer.
STALL_SECONDS = 2.0
POLL_MILLISECONDS = 100
# Python 3.12 and later warn when a process with threads forks; the child only computes and exits.
FORK_WARNING = ("ignore", re.compile(r"This process .* is multi-threaded"), DeprecationWarning, None, 0)
LENGTH_BYTES = 8  # the answer is its length, then its pickle: complete without waiting for the pipe's end

# Set by a render that runs several reports at once (``--jobs``) for its kernels: the CPUs are then
# the other reports', and a child would only compete with them (measured: the batch gets slower).
REPORTS_AT_ONCE_VARIABLE = "ANALYSIS_REPORTS_AT_ONCE"


def available_cpus() -> int:
    """The CPUs this process may run on, as many as its cgroups' CPU quota allows at most.

    A container's CPU limit (JupyterHub's, say) is such a quota: the scheduler holds the process to
    it, while the CPUs it may be scheduled on are still all of the machine's.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return cpus if quota is None else max(1, min(cpus, math.floor(quota)))  # whole CPUs: one to spare, or none


def cgroup_cpu_quota(proc_self: Path = Path("/proc/self"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPUs' worth of time this process's cgroups allow it, or None where none sets a quota.

    The tightest quota from its own cgroup up to the root: cgroup v2's ``cpu.max`` ("QUOTA PERIOD",
    or "max PERIOD" for none), v1's ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us`` (-1 for none).
    A cgroup folder that is not there (a container sees its own cgroup as the root) or a file that
    cannot be read sets no quota.
    """
    try:
        memberships = (proc_self / "cgroup").read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError:
        return None
    quotas = []
    for membership in memberships:
        _, _, rest = membership.partition(":")
        controllers, _, path = rest.partition(":")
        if not path:
            continue
        if controllers == "":  # v2: one hierarchy for every controller
            root, read = cgroup_root, _v2_quota
        elif "cpu" in controllers.split(","):
            root, read = cgroup_root / controllers, _v1_quota
            with contextlib.suppress(OSError):  # Python 3.11's is_dir() raises on a folder it may not look into
                if not root.is_dir():
                    root = cgroup_root / "cpu"
        else:
            continue
        folder = root / path.lstrip("/")
        for level in (folder, *folder.parents):
            if level.is_relative_to(root):
                quota = read(level)
                if quota is not None:
                    quotas.append(quota)
    return min(quotas, default=None)


def _v2_quota(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text(encoding="utf-8").split()
        return None if quota == "max" or int(period) <= 0 else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text(encoding="utf-8"))
        period = int((folder / "cpu.cfs_period_us").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return None if quota < 0 or period <= 0 else quota / period


def kernel_environment(reports: int) -> dict[str, str]:
    """What a render running ``reports`` reports at once adds to its kernels' environment."""
    return {REPORTS_AT_ONCE_VARIABLE: str(reports)} if reports > 1 else {}


def reports_at_once() -> int:
    """How many reports the render that started this process runs at once (1 if not said, or not a number)."""
    value = os.environ.get(REPORTS_AT_ONCE_VARIABLE, "")
    return int(value) if value.isdecimal() and int(value) > 0 else 1


def can_fork() -> bool:
    """True where a forked child can share the work: Linux, and a CPU to spare for it."""
    return sys.platform == "linux" and available_cpus() >= 2 * reports_at_once()


def forked_map(function: Callable[[Item], Result], items: Sequence[Item], stall_seconds: float = STALL_SECONDS) -> list[Result]:
    """``[function(item) for item in items]``, with the second half of ``items`` done by a forked child.

    See the module's docstring for what comes back from the child, and when its half is done here.
    """
    items = list(items)
    if len(items) < 2 or not can_fork():
        return _apply(function, items)
    split = (len(items) + 1) // 2
    reader, writer = os.pipe()
    parent, pid = os.getpid(), 0
    # Held while forking, so that an interrupt reaches the child only inside its own handling.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS.keys())
    try:
        pid = _fork()
        if pid == 0:
            _serve_half(function, items[split:], reader, writer, parent, held)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        os.close(writer)
        writer = -1
        results = _apply(function, items[:split])
        answer = _answer(reader, pid, stall_seconds)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        for end in (reader, writer):
            if end >= 0:
                os.close(end)
        if pid:
            _end(pid)
    if answer is None:
        return results + _apply(function, items[split:])
    child_results, events = answer
    _replay(events)
    return results + child_results


def _apply(function, items) -> list:
    """Both halves call ``function`` from this one line, so that a stack level above it names one place."""
    return [function(item) for item in items]


def _fork() -> int:
    # Not warnings.catch_warnings(): leaving it resets every module's registry of warnings shown.
    warnings.filters.insert(0, FORK_WARNING)
    try:
        return os.fork()
    finally:
        with contextlib.suppress(ValueError):
            warnings.filters.remove(FORK_WARNING)


def _serve_half(function, items, reader: int, writer: int, parent: int, mask) -> None:
    """In the child: compute, send the results with the warnings and output they caused, exit. Never returns."""
    try:
        os.close(reader)
        gc.freeze()  # garbage the parent left is the parent's to finalize, not to be finalized twice
        if die_with_parent(parent, signal.SIGKILL):
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # an interrupt held since the fork is raised here
            events: list[tuple[str, object]] = []
            with _recording(events):
                results = _apply(function, items)
            payload = pickle.dumps((results, events))
            with open(writer, "wb", closefd=False) as pipe:
                pipe.write(len(payload).to_bytes(LENGTH_BYTES, "big") + payload)
    except BaseException:  # nothing sent: the parent redoes this half, and raises there whatever it raises
        pass
    finally:
        os._exit(0)


class _EventStream(io.TextIOBase):
    """A stand-in for stdout or stderr that keeps what is written, in order with the warnings."""

    def __init__(self, name: str, events: list):
        self.name, self._events = name, events

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._events.append((self.name, text))
        return len(text)


@contextlib.contextmanager
def _recording(events: list) -> Iterator[None]:
    """Record, in the order they come, the warnings shown and the text printed (not shown or printed)."""

    def show(message, category, filename, lineno, file=None, line=None):
        events.append(("warning", (_picklable(message), category, filename, lineno)))

    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(_EventStream("stdout", events)),
        contextlib.redirect_stderr(_EventStream("stderr", events)),
    ):
        warnings.showwarning = show
        yield


def _picklable(message):
    """The warning itself if it comes through pickling whole, else its text."""
    try:
        pickle.loads(pickle.dumps(message))
    except Exception:
        return str(message)
    return message


def _answer(reader: int, pid: int, stall_seconds: float):
    """The child's (results, events); None if it ends without them, or stops working for ``stall_seconds``."""
    poller = select.poll()  # not select(): it fails on descriptors numbered above 1023
    poller.register(reader, select.POLLIN)
    received, working, last_sign = bytearray(), _cpu_time(pid), time.monotonic()
    while True:
        if poller.poll(POLL_MILLISECONDS):
            chunk = os.read(reader, 1 << 20)
            if not chunk:
                return None
            received += chunk
            last_sign = time.monotonic()
            if len(received) >= LENGTH_BYTES:
                length = int.from_bytes(received[:LENGTH_BYTES], "big")
                if len(received) >= LENGTH_BYTES + length:
                    try:
                        return pickle.loads(received[LENGTH_BYTES : LENGTH_BYTES + length])
                    except Exception:  # a class the child pickled that cannot be loaded here
                        return None
            continue
        spent = _cpu_time(pid)
        if spent != working:
            working, last_sign = spent, time.monotonic()
        elif time.monotonic() - last_sign > stall_seconds:
            return None


def _cpu_time(pid: int) -> int | None:
    """The process's CPU time so far, in clock ticks (user and system), or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])


def _end(pid: int) -> None:
    """Make sure the child is gone and reaped: it has answered, or will not be waited for any longer."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _replay(events: list) -> None:
    for kind, value in events:
        if kind == "warning":
            message, category, filename, lineno = value
            if isinstance(message, str):  # sent as text: rebuilt, or, if its class cannot be, a UserWarning
                try:
                    message = category(message)
                except Exception:
                    message = UserWarning(f"{category.__name__}: {message}")
            module, registry = _warning_origin(filename)
            warnings.warn_explicit(message, category, filename, lineno, module=module, registry=registry)
        else:
            getattr(sys, kind).write(value)


def _warning_origin(filename: str) -> tuple[str, dict]:
    """The module a warning was attributed to, and its registry of warnings shown, found by file name.

    Python takes them from the globals of the frame it names: a module's, ``sys``'s for a stack level
    beyond the stack, and otherwise most often the main module's, where notebook cells and scripts run.
    """
    if filename == "sys":
        module = sys
    else:
        found = (module for module in list(sys.modules.values()) if getattr(module, "__file__", None) == filename)
        module = next(found, sys.modules["__main__"])
    return module.__name__, module.__dict__.setdefault("__warningregistry__", {})
