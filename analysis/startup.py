"""What the program's own processes set up first: the command line, and the ``--jobs`` workers it starts.

Never done on ``import analysis``: a program that imports the package keeps its modules as they are.
"""

from __future__ import annotations

import signal
import sys

# jsonschema, which nbformat and papermill import, imports rfc3987-syntax when it is installed (the
# `jupyter` metapackage and JupyterLab bring it in), and that builds a grammar: 1 s of every render
# (TOOLCHAIN.md). It only checks the "iri" formats of drafts 7 and later; nbformat's schemas are
# draft 4 and use none, so validation is the same without it.
UNNEEDED_SLOW_IMPORTS = ("rfc3987_syntax",)


def skip_unneeded_slow_imports() -> None:
    """Make the imports above fail as if the packages were absent (unless already imported)."""
    for name in UNNEEDED_SLOW_IMPORTS:
        sys.modules.setdefault(name, None)


class _Interrupts:
    received = False  # a plain flag: the handler may run inside any lock's acquire


def take_interrupts() -> None:
    """Ctrl-C raises KeyboardInterrupt as Python's own handler does, and is remembered (``interrupted``).

    Python drops an exception raised where it cannot propagate, such as a weakref callback that an
    import runs, and carries on: the program then learns of the interrupt from ``interrupted()``.
    """
    _Interrupts.received = False
    signal.signal(signal.SIGINT, _on_interrupt)
    sys.unraisablehook = hide_dropped_interrupts


def _on_interrupt(signum, frame) -> None:
    _Interrupts.received = True
    raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether Ctrl-C has reached this process since ``take_interrupts()`` (never, without it)."""
    return _Interrupts.received


def hide_dropped_interrupts(unraisable) -> None:
    """``sys.unraisablehook``: a KeyboardInterrupt Python drops is not printed (a flag carries it); all else is."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)
