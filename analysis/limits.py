"""The limits a run starts with: seconds a notebook cell may run, and the input size limit (its default, and
the problem a file over it is, found from its size before a byte is read)."""

from __future__ import annotations

from pathlib import Path

from . import paths
from .errors import Problem, TimelineError

DEFAULT_CELL_TIMEOUT = 300
DEFAULT_MAX_INPUT_MB = 100
MB = 2**20  # bytes: the limit's unit, in option and messages alike


def max_bytes_of(max_input_mb: float | None) -> int | None:
    """The limit in bytes; None (no limit) stays None."""
    return None if max_input_mb is None else int(max_input_mb * MB)


def size_problem(size: int, label: str, max_bytes: int | None, remedy: str = "set --max-input-mb") -> Problem | None:
    """The problem of a file of ``size`` bytes over the limit, or None."""
    if max_bytes is not None and size > max_bytes:
        return Problem(label, f"is {_amount(size, '.1f')}; the limit is {_amount(max_bytes, 'g')} ({remedy})")
    return None


def _amount(size: int, megabytes_format: str) -> str:
    """'200.0 MB'; under a tenth of a megabyte, where that would round to nothing, '1,048 bytes'."""
    return f"{size / MB:{megabytes_format}} MB" if size >= MB / 10 else f"{size:,} bytes"


def refuse_oversized(files: list[Path], max_input_mb: float | None = DEFAULT_MAX_INPUT_MB) -> None:
    """Refuse the files over the limit, as the loader would, before anything (such as a hash) reads them whole.

    For a render, whose kernels read the timeline again with the default limit: it has no option to raise it.
    A file that is missing or not a file is left to the loader, which says so in its own words.

    Raises:
        TimelineError: one problem per file over the limit.
    """
    max_bytes = max_bytes_of(max_input_mb)
    remedy = "a render's limit is fixed: see the README, Size limit"
    problems = [size_problem(path.stat().st_size, paths.display(path), max_bytes, remedy) for path in files if path.is_file()]
    if any(problems):
        raise TimelineError([problem for problem in problems if problem is not None])
