"""What the program's own processes set up first: the command line, and the ``--jobs`` workers it starts.

Never done on ``import analysis``: a program that imports the package keeps its modules as they are.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import sys
from collections.abc import Iterator

# jsonschema, which nbformat and papermill import, imports rfc3987-syntax when it is installed (the
# `jupyter` metapackage and JupyterLab bring it in), and that builds a grammar: 1 s of every render
# (TOOLCHAIN.md). It only checks the "iri" formats of drafts 7 and later; nbformat's schemas are
# draft 4 and use none, so validation is the same without it.
UNNEEDED_SLOW_IMPORTS = ("rfc3987_syntax",)


def skip_unneeded_slow_imports() -> None:
    """Make the imports above fail as if the packages were absent (unless already imported)."""
    for name in UNNEEDED_SLOW_IMPORTS:
        sys.modules.setdefault(name, None)


@contextlib.contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """For the block, a render in the program's own process: no collection of reference cycles
    until ``resume_garbage_collection()`` ends the pause, or the block ends.

    The collector would walk every object the render's imports make, again and again, while all of
    them stay in use: about a quarter of their CPU time. A collector that was off stays off.
    """
    global _paused
    if not gc.isenabled():
        yield
        return
    gc.disable()
    _paused = True
    try:
        yield
    finally:
        if _paused:  # ended before the imports were done: a refusal, a cached re-run, a stop
            _paused = False
            gc.enable()


def resume_garbage_collection() -> None:
    """Once the render's libraries are imported: freeze every object there is, then end the pause.

    Frozen objects are left out of every later collection. The garbage made during the pause (a
    few thousand objects, and the warm-up page's layout) is frozen with them, and stays until the
    process ends. Outside a pause (a program that calls ``render()``), this does nothing.
    """
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


_paused = False  # whether garbage_collection_paused() has turned the collector off


class Terminated(BaseException):
    """SIGTERM, raised where the program is so that cleanup (staging, lock, kernels) runs, as for Ctrl-C."""


# What each stop signal raises where the program is.
STOP_SIGNALS = {signal.SIGINT: KeyboardInterrupt, signal.SIGTERM: Terminated}
_DEFAULT_HANDLERS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
_received: list[int] = []  # the stop signals that came, first first; appended to: a handler may run inside any lock's acquire


@contextlib.contextmanager
def stop_signals_handled() -> Iterator[None]:
    """For the block: SIGINT raises KeyboardInterrupt and SIGTERM raises Terminated, and each is remembered.

    Python drops an exception raised where it cannot propagate, such as a weakref callback that an
    import runs, and carries on; ``stop_signal()`` still tells the program which signal came. A signal
    inherited as ignored (a background job's SIGINT) stays ignored. After the block, the handlers
    and ``sys.unraisablehook`` are those from before, and nothing is remembered.
    """
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    previous_hook = sys.unraisablehook
    _received.clear()
    try:
        for signum, handler in previous.items():
            if handler is _DEFAULT_HANDLERS[signum]:
                signal.signal(signum, _on_stop_signal)
        sys.unraisablehook = hide_dropped_stops
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = previous_hook
        _received.clear()


def _on_stop_signal(signum, frame) -> None:
    _received.append(signum)
    raise STOP_SIGNALS[signum]()


def stop_signal() -> int | None:
    """The first stop signal that came in ``stop_signals_handled()``'s block, or None."""
    return _received[0] if _received else None


def hide_dropped_stops(unraisable) -> None:
    """``sys.unraisablehook``: a stop that Python drops is not printed (``stop_signal`` carries it); all else is."""
    if not isinstance(unraisable.exc_value, (KeyboardInterrupt, Terminated)):
        sys.__unraisablehook__(unraisable)
