"""A map over a few costly items, shared with one forked process while this one does its own half.

Drawing a report's charts takes a second on one core while the machine's other core is idle. A
forked child already has the data and every imported module, so it can draw the second half of the
charts at once, with no start-up cost and nothing to send but the finished results.

What the caller sees is exactly what a plain ``[function(item) for item in items]`` gives:

- the results, in order, as the same objects would be made here (the child's are pickled back);
- the child's warnings, re-issued here after this process's own, through this process's filters
  and registries, so they come out in the order and number a plain loop shows;
- the child's printed output, written here after its warnings are issued;
- an exception from ``function`` raised here, with its real traceback: a child that fails in any
  way (an exception, a kill, no answer before the deadline) has its half done again here, where
  the same exception is raised if there is one.

``function`` must act only through its result: the second half may run twice (in the child, then
here), and what it changes in the child (a cache, a file) is not seen here, or is done again.

Only on Linux, where a child can be tied to its parent's life (``PR_SET_PDEATHSIG``), and only
with a CPU to spare: two per report that runs at the same time. Otherwise everything runs here, one
item after another.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import select
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TypeVar

from .kernel_factory import die_with_parent

Item = TypeVar("Item")
Result = TypeVar("Result")

# How long the child may take beyond this process's own half before its half is done here instead.
# Generous: a child slowed by a busy machine is still faster than starting over; this only catches
# a child that will never answer.
CHILD_GRACE_SECONDS = 30.0
CHILD_SLOWNESS_FACTOR = 10.0


# Set by a render that runs several reports at once (``--jobs``) for its kernels: the CPUs are then
# the other reports', and a child would only compete with them (measured: the batch gets slower).
REPORTS_AT_ONCE_VARIABLE = "ANALYSIS_REPORTS_AT_ONCE"


def available_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def reports_at_once() -> int:
    """How many reports the render that started this process runs at once (1 if not said, or not a number)."""
    value = os.environ.get(REPORTS_AT_ONCE_VARIABLE, "")
    return int(value) if value.isdecimal() and int(value) > 0 else 1


def can_fork() -> bool:
    """True where a forked child can share the work: Linux, and a CPU to spare for it."""
    return sys.platform == "linux" and available_cpus() >= 2 * reports_at_once()


def forked_map(
    function: Callable[[Item], Result], items: Sequence[Item], grace_seconds: float = CHILD_GRACE_SECONDS
) -> list[Result]:
    """``[function(item) for item in items]``, with the second half of ``items`` done by a forked child.

    The child's warnings and printed output are passed on here (see the module's docstring). A
    child that fails, is killed or has not answered ``grace_seconds`` plus ten times this process's
    own time after this process finished its half, is stopped and its half done here.
    """
    items = list(items)
    if len(items) < 2 or not can_fork():
        return [function(item) for item in items]
    split = (len(items) + 1) // 2
    reader, writer = os.pipe()
    parent = os.getpid()
    pid = _fork()
    if pid == 0:
        os.close(reader)
        _serve_half(function, items[split:], writer, parent)
    os.close(writer)
    try:
        started = time.monotonic()
        results = [function(item) for item in items[:split]]
        deadline = time.monotonic() + grace_seconds + CHILD_SLOWNESS_FACTOR * (time.monotonic() - started)
        answer = _read_until(reader, deadline)
    finally:
        os.close(reader)
        _end(pid)
    if answer is None:
        return results + [function(item) for item in items[split:]]
    child_results, child_warnings, printed, errors = answer
    for message, category, filename, lineno in child_warnings:
        module, registry = _warning_origin(filename)
        warnings.warn_explicit(message, category, filename, lineno, module=module, registry=registry)
    if printed:
        sys.stdout.write(printed)
    if errors:
        sys.stderr.write(errors)
    return results + child_results


def _fork() -> int:
    if sys.version_info >= (3, 12):  # the child only computes and exits: it needs no other thread's lock
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
            return os.fork()
    return os.fork()


def _serve_half(function, items, writer: int, parent: int) -> None:
    """In the child: compute, send the results with the warnings and output they caused, exit. Never returns."""
    payload = b""  # nothing sent: the parent does this half itself
    try:
        if die_with_parent(parent, signal.SIGKILL):
            printed, errors = io.StringIO(), io.StringIO()
            with (
                warnings.catch_warnings(record=True) as caught,
                contextlib.redirect_stdout(printed),
                contextlib.redirect_stderr(errors),
            ):
                results = [function(item) for item in items]
            shown = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
            payload = pickle.dumps((results, shown, printed.getvalue(), errors.getvalue()))
        with open(writer, "wb") as pipe:
            pipe.write(payload)
    except BaseException:  # the parent redoes this half, and raises there whatever it raises
        pass
    finally:
        os._exit(0)


def _read_until(reader: int, deadline: float):
    """The child's unpickled answer, or None if it sent none or not in time."""
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([reader], [], [], remaining)[0]:
            return None
        chunk = os.read(reader, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    try:
        return pickle.loads(b"".join(chunks)) if chunks else None
    except Exception:  # a truncated answer: the child died while writing
        return None


def _end(pid: int) -> None:
    """Make sure the child is gone and reaped: it has answered, or will not be waited for any longer."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _warning_origin(filename: str) -> tuple[str | None, dict | None]:
    """The name and warning registry of the module a warning is attributed to, as a plain loop would use them."""
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) == filename:
            return module.__name__, module.__dict__.setdefault("__warningregistry__", {})
    return None, None
