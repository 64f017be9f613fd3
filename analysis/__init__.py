"""Source-cited timeline and report system for the UN News article of 19 April 2017 on UNMISS.

The public API is re-exported here. Heavy modules (pandas, pyarrow, matplotlib) load on first use,
so ``import analysis`` and ``python -m analysis --help`` stay fast.
"""

from importlib import import_module

from .errors import AnalysisError, ParameterError, Problem, RenderError, TimelineError

_LAZY = {
    "Timeline": "load",
    "load_timeline": "load",
    "validation_message": "load",
    "Report": "report",
    "build_report": "report",
    "filter_timeline": "metrics",
}

__all__ = ["AnalysisError", "ParameterError", "Problem", "RenderError", "TimelineError", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
