"""The exceptions the package raises, and the exit code each maps to (sysexits.h values)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

EXIT_OK = 0
EXIT_USAGE = 64
EXIT_DATA = 65
EXIT_NO_INPUT = 66
EXIT_UNAVAILABLE = 69
EXIT_SOFTWARE = 70
EXIT_CANT_CREATE = 73
EXIT_IO = 74
EXIT_TEMPFAIL = 75

EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_USAGE: "usage or parameter error",
    EXIT_DATA: "input data invalid",
    EXIT_NO_INPUT: "input missing or unreadable",
    EXIT_UNAVAILABLE: "required tool unavailable",
    EXIT_SOFTWARE: "notebook execution failed",
    EXIT_CANT_CREATE: "cannot create output",
    EXIT_IO: "I/O error, such as a full disk",
    EXIT_TEMPFAIL: "retryable: output locked by another render",
    130: "interrupted (SIGINT)",
    143: "terminated (SIGTERM)",
}


# A guess compares the value with every known one: past this many, too slow to be worth it.
MAX_GUESSED_FROM = 5_000


def closest(value: str, known) -> str | None:
    """The known value ``value`` is most likely a typo of, for a "did you mean" hint; None if none is close."""
    known = list(known)
    if len(known) > MAX_GUESSED_FROM:
        return None
    hint = difflib.get_close_matches(value, known, n=1)
    return hint[0] if hint else None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located as precisely as the input allows."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None
    record: str | None = None  # e.g. 'event "juba-fighting"'
    field: str | None = None
    missing_input: bool = False

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: "
        if self.record:
            text += f"{self.record}: "
        text += self.message
        if self.field:
            text += f" (field {self.field})"
        return text


class AnalysisError(Exception):
    """Base of every error the package reports to a user; carries its exit code."""

    exit_code = EXIT_SOFTWARE


class TimelineError(AnalysisError):
    """An input file is missing or invalid: the timeline's (carrying every problem found, not only the
    first) or, ``where`` says, another one the program reads, such as the report variants file."""

    def __init__(self, problems: list[Problem], where: str = "the timeline"):
        self.problems = list(problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{len(self.problems)} {noun} in {where}:\n" + "\n".join(map(str, self.problems)))

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        if self.problems and all(p.missing_input for p in self.problems):
            return EXIT_NO_INPUT
        return EXIT_DATA


class ParameterError(AnalysisError):
    """A report parameter or command-line option is wrong; found before any kernel starts."""

    exit_code = EXIT_USAGE


class RenderError(AnalysisError):
    """Rendering a report failed; ``exit_code`` says how."""

    def __init__(self, message: str, exit_code: int = EXIT_SOFTWARE):
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self):  # keep the exit code when raised in a worker process
        return (type(self), (str(self), self.exit_code))
