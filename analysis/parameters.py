"""Report parameters: declared with types, read from reports.toml and ``-p NAME=VALUE``, checked first.

Everything here runs before any kernel starts. Only JSON-native values (str, None, lists of str)
leave this module, so nothing reaches papermill that it would insert into a cell unescaped.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import paths
from .errors import ParameterError, Problem, TimelineError, closest
from .schema import CATEGORIES, DATE_PATTERN, SLUG_PATTERN

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_SLUG = re.compile(SLUG_PATTERN)


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    kind: str  # "text", "date", "list", "path" or "choice" (one of ``choices``)
    default: object
    help: str
    choices: tuple[str, ...] = ()


PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("title", "text", "", "the report's title; empty for the default"),
    ParameterSpec("start", "date", None, "first day shown, YYYY-MM-DD; empty for the beginning"),
    ParameterSpec("end", "date", None, "last day shown, YYYY-MM-DD; empty for the end"),
    ParameterSpec(
        "dates",
        "choice",
        "overlap",
        "which events start and end keep: overlap (any possible day of the event between them) or within (every one)",
        ("overlap", "within"),
    ),
    ParameterSpec("actors", "list", [], "actor ids, comma-separated; empty for all"),
    ParameterSpec("categories", "list", [], f"event categories ({', '.join(CATEGORIES)}), comma-separated; empty for all"),
    ParameterSpec("data_dir", "path", None, "a folder laid out like data/; empty for the shipped data"),
)
SPECS = {spec.name: spec for spec in PARAMETERS}
DEFAULT_TITLE = "Protection of civilians in South Sudan: from the July 2016 fighting to the progress reported in April 2017"
FORMATS = ("html", "pdf")  # what a render can make of a report, besides its notebook and data
VARIANTS = "the report variants file"  # what its problems are said to be in


@dataclass(frozen=True)
class Variant:
    """One declared report: a name (its file names), a title, and parameter values."""

    name: str
    title: str
    parameters: dict = field(default_factory=dict)


def _unknown(name: str, origin: str) -> ParameterError:
    return ParameterError(f"{origin}unknown parameter {_guessed([name], SPECS)}; known: {', '.join(SPECS)}")


def _check_date(name: str, value: str, origin: str) -> str:
    if not re.fullmatch(DATE_PATTERN, value):
        raise ParameterError(f"{origin}parameter {name!r} must be a date YYYY-MM-DD, got {value!r}")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ParameterError(f"{origin}parameter {name!r} is not a real date: {value!r}") from None
    return value


def check_value(name: str, value, origin: str = ""):
    """A parameter value of the declared type, or ParameterError; never coerced between types."""
    if name not in SPECS:
        raise _unknown(name, origin)
    kind = SPECS[name].kind
    if kind == "list":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ParameterError(f"{origin}parameter {name!r} must be a list of text, got {value!r}")
        bad = [item for item in value if not _SLUG.fullmatch(item)]
        if bad:
            are = "is not an id" if len(bad) == 1 else "are not ids"
            lowered = [item.strip().lower() for item in bad]
            hint = f"; in lowercase: {_listed(lowered)}" if all(_SLUG.fullmatch(item) for item in lowered) else ""
            raise ParameterError(f"{origin}parameter {name!r}: {_listed(bad)} {are} (lowercase letters, digits, hyphens){hint}")
        if name == "categories":
            unknown = [item for item in value if item not in CATEGORIES]
            if unknown:
                what = "category" if len(unknown) == 1 else "categories"
                guessed, known = _guessed(unknown, CATEGORIES), ", ".join(CATEGORIES)
                raise ParameterError(f"{origin}parameter 'categories': unknown {what} {guessed}; known: {known}")
        return list(value)
    if (value is None or value == "") and kind in {"date", "path"}:
        return None  # empty: no bound, or the shipped data, as the command line reads it
    if isinstance(value, dt.date):  # TOML reads an unquoted date as one
        raise ParameterError(f"{origin}parameter {name!r} must be text, got the TOML date {value}: write it in quotes")
    if not isinstance(value, str):
        raise ParameterError(f"{origin}parameter {name!r} must be text, got {type(value).__name__} {value!r}")
    if kind == "date":
        return _check_date(name, value, origin)
    if kind == "choice" and value not in SPECS[name].choices:
        choices = SPECS[name].choices
        raise ParameterError(f"{origin}parameter {name!r} must be one of {', '.join(choices)}, got {_guessed([value], choices)}")
    if kind == "text" and value and not value.strip():  # a blank title would be an empty heading and index link
        raise ParameterError(f"{origin}parameter {name!r} is white space alone: leave it empty for the default")
    return value


def check_parameters(values: dict, origin: str = "") -> dict:
    """Every parameter with its default filled in, checked one by one and together (start <= end).

    Raises:
        ParameterError: naming every problem, one a line.
    """
    checked = {spec.name: spec.default for spec in PARAMETERS}
    problems = []
    for name, value in values.items():
        try:
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ParameterError(f"{origin}parameter name {name!r} is not a lowercase identifier")
            checked[name] = check_value(name, value, origin)
        except ParameterError as error:
            problems.append(str(error))
    if checked["start"] and checked["end"] and checked["start"] > checked["end"]:
        problems.append(f"{origin}start {checked['start']} is after end {checked['end']}")
    if problems:
        raise ParameterError("\n".join(problems))
    return checked


def check_actors(actors: list[str], known: list[str], origin: str = "") -> None:
    """ParameterError naming each of ``actors`` that is not among the timeline's ``known`` actor ids."""
    known_ids = set(known)
    unknown = [actor for actor in actors if actor not in known_ids]
    if unknown:
        what = "actor" if len(unknown) == 1 else "actors"
        raise ParameterError(f"{origin}unknown {what} {_guessed(unknown, known)}; known: {', '.join(known)}")


def _listed(items: list[str]) -> str:
    return ", ".join(repr(item) for item in items)


def _guessed(unknown: list[str], known) -> str:
    """Each unknown name quoted, with the known one it is closest to, if any: "'gutteres' (did you mean 'guterres'?)"."""
    known = list(known)
    guesses = {item: closest(item, known) for item in unknown}
    return ", ".join(f"{item!r} (did you mean {hint!r}?)" if hint else repr(item) for item, hint in guesses.items())


def parse_assignment(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` from the command line, VALUE read according to NAME's declared type.

    Dates and paths: empty or ``none`` means None. Lists: comma-separated, empty means all.
    Text and paths stay exactly as typed (white space at a path's ends is part of its name):
    ``false``, ``007`` and ``Infinity`` remain text.
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ParameterError(f"-p expects NAME=VALUE, got {text!r}")
    if not _NAME.fullmatch(name):
        raise ParameterError(f"parameter name {name!r} is not a lowercase identifier")
    if name not in SPECS:
        raise _unknown(name, "")
    kind = SPECS[name].kind
    if kind == "date":
        return name, None if raw.strip().lower() in {"", "none"} else raw.strip()
    if kind == "path":
        return name, None if raw.lower() in {"", "none"} else raw
    if kind == "list":
        return name, [item.strip() for item in raw.split(",") if item.strip()]
    return name, raw


def render_command(name: str, parameters: dict, variants_file: Path | None = None) -> str:
    """The command line that renders report ``name`` again with ``parameters``: ``parse_assignment``'s inverse.

    Every parameter is one ``-p``, shell-quoted, so that no value declared in the variants file by
    then can change the report. A folder named ``none`` is written ``./none``, which is the same folder.
    """
    words = ["python", "-m", "analysis", "render"]
    if variants_file is not None and Path(variants_file).resolve() != paths.VARIANTS_FILE.resolve():
        words += ["--variants", paths.in_project(variants_file)]
    words += ["--report", name]
    for spec in PARAMETERS:
        value = parameters.get(spec.name, spec.default)
        if spec.kind == "list":
            value = ",".join(value)
        elif spec.kind == "path" and value and value.lower() == "none":
            value = f"./{value}"
        words += ["-p", f"{spec.name}={value or ''}"]
    return shlex.join(words)


def load_variants(path: Path | None = None) -> list[Variant]:
    """The report variants declared in reports.toml, each checked.

    Raises:
        TimelineError: the file is missing or is not valid TOML (with line and column).
        ParameterError: a variant is malformed or one of its parameters is wrong.
    """
    path = path or paths.VARIANTS_FILE
    label = paths.display(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TimelineError([Problem(label, "file not found", missing_input=True)], VARIANTS) from None
    except IsADirectoryError:
        raise TimelineError([Problem(label, "is a folder, expected a file", missing_input=True)], VARIANTS) from None
    except OSError as error:
        raise TimelineError([Problem(label, f"cannot read: {error.strerror}", missing_input=True)], VARIANTS) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise TimelineError([Problem(label, f"not valid TOML: {error}")], VARIANTS) from None
    except RecursionError:  # tomllib recurses once per nesting level: a few bytes of "[[[[…" exhaust the stack
        raise TimelineError([Problem(label, "not valid TOML: arrays or tables nested too deeply")], VARIANTS) from None
    entries = document.get("report")
    if not isinstance(entries, list) or not entries:
        raise ParameterError(f"{label}: declare at least one [[report]] table")
    variants: list[Variant] = []
    names: set[str] = set()
    problems = []  # every variant's, so that one run shows them all
    for number, entry in enumerate(entries, start=1):
        origin = f"{label}: report {number}: "
        if not isinstance(entry, dict):
            problems.append(f"{origin}must be a [[report]] table, got {type(entry).__name__} {entry!r}")
            continue
        unknown = set(entry) - {"name", "title", "parameters"}
        if unknown:
            problems.append(f"{origin}unknown key(s) {', '.join(sorted(unknown))}; expected name, title, parameters")
        name, title, parameters = entry.get("name"), entry.get("title", ""), entry.get("parameters", {})
        if name is None:
            problems.append(f"{origin}name is missing: give each report a name, a lowercase slug")
        elif not isinstance(name, str) or not _SLUG.fullmatch(name):
            problems.append(f"{origin}name must be a lowercase slug, got {name!r}")
        elif name in names:
            problems.append(f"{origin}duplicate name {name!r}")
        else:
            names.add(name)
            origin = f"{label}: report {name!r}: "
        if not isinstance(title, str):
            problems.append(f"{origin}title must be text")
        if not isinstance(parameters, dict):
            problems.append(f"{origin}parameters must be a table")
            continue
        try:
            check_parameters({"title": title if isinstance(title, str) else "", **parameters}, origin=origin)
        except ParameterError as error:
            problems.append(str(error))
            continue
        variants.append(Variant(name, title, dict(parameters)))
    if problems:
        raise ParameterError("\n".join(problems))
    return variants


def select_variants(variants: list[Variant], names: list[str]) -> list[Variant]:
    """The named variants in the order first given, each once; all of them when no name is given."""
    if not names:
        return variants
    by_name = {variant.name: variant for variant in variants}
    chosen = []
    for name in dict.fromkeys(names):
        if name not in by_name:
            raise ParameterError(f"unknown report {_guessed([name], by_name)}; declared: {', '.join(by_name)}")
        chosen.append(by_name[name])
    return chosen


def notebook_parameter_names(notebook: Path) -> set[str]:
    """The names assigned in the notebook's cell tagged ``parameters``, read without running anything.

    The same reading as ``papermill.inspect_notebook`` (a test checks they agree), without importing
    papermill before the checks that must come first.
    """
    import ast
    import json

    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            tree = ast.parse(source)
            return {
                target.id
                for node in tree.body
                if isinstance(node, ast.Assign | ast.AnnAssign)
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Name)
            }
    return set()


def check_notebook_parameters(notebook: Path) -> None:
    """The notebook's ``parameters`` cell must declare exactly the parameters declared here."""
    declared = notebook_parameter_names(notebook)
    if declared != set(SPECS):
        raise ParameterError(
            f"{paths.display(notebook)}: its parameters cell declares {', '.join(sorted(declared)) or 'nothing'}; "
            f"expected {', '.join(SPECS)}"
        )
