"""``--jobs`` beyond two: worker processes that render shares of a batch, each with its own kernel factory.

Each worker runs up to two notebooks at once and exports their reports (see ``render.REPORTS_PER_PROCESS``).

The workers start before the render's checks, so that their factories' imports overlap them; bad
input shuts them down again, with their factories. A worker rendering stops as on Ctrl-C (kernels
killed, staging removed) on SIGINT or SIGTERM, which the render sends when it fails or is
interrupted, and Linux sends when the render dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .kernel_factory import KernelFactory, die_with_parent, start_factory
from .kernels import KERNEL_NAME
from .parallel import kernel_environment
from .startup import STOP_SIGNALS, hide_dropped_stops, skip_unneeded_slow_imports

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor


@contextlib.contextmanager
def worker_pool(workers: int, reports_at_once: int, output_lock: int) -> Iterator[ProcessPoolExecutor | None]:
    """``workers`` processes (none if fewer than two), each starting its kernel factory at once, for
    kernels of which ``reports_at_once`` run at a time in all.

    Each holds a copy of ``output_lock``, the output folder's lock file descriptor, until it ends:
    a worker still exporting or publishing when the render is killed keeps the folder from the next
    render until it has stopped and cleaned up. However the block ends they are shut down with their
    factories; if it fails or is interrupted, they are stopped first, and a worker still rendering
    cleans up as on Ctrl-C.
    """
    if workers < 2:
        yield None
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=Worker.start,
        initargs=(os.getpid(), reports_at_once, _InheritedDescriptor(output_lock)),
    )
    try:
        # Workers start with SIGINT and SIGTERM blocked (the mask survives exec), so that one arriving
        # before they can take it waits for their handler instead of printing a traceback.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS.keys())
        try:
            for _ in range(workers):  # a spawn-context pool starts one more process per task waiting
                pool.submit(int)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        yield pool
    except BaseException:
        for process in worker_processes(pool):  # no public way to stop running tasks before Python 3.14
            with contextlib.suppress(OSError):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


class _InheritedDescriptor:
    """A file descriptor that a process spawned by multiprocessing gets a copy of, as its own descriptor."""

    def __init__(self, descriptor: int):
        self.descriptor = descriptor

    def __reduce__(self):
        from multiprocessing.context import get_spawning_popen
        from multiprocessing.reduction import DupFd

        if get_spawning_popen() is None:  # only a new process's arguments may carry it
            raise TypeError("a file descriptor is passed only to a process being spawned")
        return (_received_descriptor, (DupFd(self.descriptor),))


def _received_descriptor(duplicate) -> int:
    """In the new process: the descriptor it was given, kept from any process it starts in turn."""
    descriptor = duplicate.detach()
    os.set_inheritable(descriptor, False)
    return descriptor


def worker_processes(pool: ProcessPoolExecutor) -> list:
    """The pool's worker processes (multiprocessing Process objects); none once it was shut down."""
    return list((pool._processes or {}).values())  # no public way to see them before Python 3.14


def ended_by_ctrl_c(process) -> bool:
    """Whether a worker ended because a Ctrl-C reached it while it was idle (see ``Worker.on_signal``)."""
    return process.exitcode == 128 + signal.SIGINT


class Worker:
    """The state of this process, if it is a worker: its kernel factory, and whether it renders or must stop."""

    factory: KernelFactory | None = None
    busy = False
    stopped = False  # by SIGTERM or SIGINT; a plain flag, since a handler may run inside any lock's acquire

    @classmethod
    def start(cls, parent: int, reports_at_once: int, output_lock: int) -> None:
        """In a new worker: take SIGTERM and SIGINT (also sent if the render dies), start the kernel factory.

        Its kernels are told that ``reports_at_once`` reports render at once, so that they keep to one
        CPU each. ``output_lock``, this worker's copy of the render's lock file descriptor, is never
        closed: Linux closes it when the worker ends.
        """
        from multiprocessing.util import Finalize

        skip_unneeded_slow_imports()
        sys.unraisablehook = hide_dropped_stops  # ``stopped`` carries them
        for number in STOP_SIGNALS:
            if not (number == signal.SIGINT and signal.getsignal(number) is signal.SIG_IGN):  # as the render keeps it
                signal.signal(number, cls.on_signal)
        if not die_with_parent(parent, signal.SIGTERM):
            os._exit(1)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS.keys())
        cls.factory = start_factory(KERNEL_NAME, kernel_environment(reports_at_once))
        if cls.factory is not None:
            Finalize(cls.factory, cls.factory.close, exitpriority=10)

    @classmethod
    @contextlib.contextmanager
    def rendering(cls) -> Iterator[None]:
        """Mark the block as rendering a share: a signal then stops it, and the worker ends after it."""
        cls.busy = True
        try:
            yield
        finally:
            cls.busy = False
            if cls.stopped:
                cls.leave()

    @classmethod
    def on_signal(cls, signum, frame) -> None:
        """Stop a render in progress as Ctrl-C does (it cleans up, then the worker ends); idle, end at once.

        A signal means the batch is over: the render failed, was interrupted or died, or the pool lost
        another worker (and then waits for this one to end). The first one raises KeyboardInterrupt at
        once. Raised in a handler, it can land where Python ignores it (a weakref callback): the
        render's waits then see ``stopped`` instead. Later signals (Ctrl-C reaches a worker, then the
        parent's SIGTERM) only set it, so as not to cut the cleanup short.
        """
        first = not cls.stopped
        cls.stopped = True
        if not cls.busy:
            # No lock taken in a handler: the factory ends by itself once its channel closes. The
            # code tells the render that a Ctrl-C reached this worker, should its own have been lost.
            os._exit(128 + signum)
        if first:
            raise KeyboardInterrupt

    @classmethod
    def leave(cls) -> None:
        """End this worker now, with its kernel factory; whoever waits for it sees a process that ended."""
        if cls.factory is not None:
            cls.factory.close()
        os._exit(1)
