"""A thin command line over the package: parse arguments, call the library, print, exit."""

from __future__ import annotations

import argparse
import csv
import gc
import math
import signal
import sys
from pathlib import Path

from . import paths
from .errors import EXIT_CODES, EXIT_DATA, EXIT_OK, EXIT_USAGE, AnalysisError, ParameterError
from .limits import DEFAULT_CELL_TIMEOUT, DEFAULT_MAX_INPUT_MB
from .parameters import FORMATS, PARAMETERS
from .startup import Terminated, garbage_collection_paused, skip_unneeded_slow_imports, stop_signal, stop_signals_handled


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit with 64 (EX_USAGE) like every other usage error here, and an
    epilog may be made only when the help is shown (``epilog_of``), not for every command."""

    epilog_of = None

    def format_help(self) -> str:
        if self.epilog_of is not None:
            self.epilog = self.epilog_of()
        return super().format_help()

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _exit_codes_epilog() -> str:
    rows = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items())
    return f"exit codes:\n{rows}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="analysis",
        description="Source-cited timeline and reports on the UN News article of 19 April 2017 on UNMISS.",
        epilog=_exit_codes_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    validate = commands.add_parser(
        "validate",
        help="check the timeline and print every problem",
        description="Load and validate the timeline; print a one-line summary, or every problem.",
        epilog=_exit_codes_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_option(validate)
    validate.add_argument(
        "--max-input-mb",
        type=float,
        default=DEFAULT_MAX_INPUT_MB,
        metavar="MB",
        help=f"refuse input files larger than this (default: {DEFAULT_MAX_INPUT_MB})",
    )

    render = commands.add_parser(
        "render",
        help="render report variants to HTML and PDF",
        description=(
            "Render the report variants declared in reports.toml (all of them unless --report is given) "
            "into self-contained HTML and PDF, with the executed notebook, the data shown (CSV and "
            "TimelineJS JSON), a run manifest and an index.html. Unchanged inputs are not re-rendered."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    render.epilog_of = lambda: _parameters_epilog() + "\n\n" + _exit_codes_epilog()  # it reads the shipped actors
    _add_data_option(render)
    render.add_argument("--out", type=Path, default=None, metavar="DIR", help="output folder (default: the project's reports/)")
    render.add_argument(
        "--variants",
        type=Path,
        default=None,
        metavar="FILE",
        help="the report variants file (default: the project's reports.toml)",
    )
    render.add_argument(
        "--report", nargs="+", action="extend", default=[], metavar="NAME", help="variants to render (default: all)"
    )
    once = "override a parameter (each at most once; a list comma-separated)"
    render.add_argument("-p", dest="parameters", action="append", default=[], metavar="NAME=VALUE", help=once)
    render.add_argument(
        "--format", default=",".join(FORMATS), help=f"comma-separated formats: {', '.join(FORMATS)} (default: all)"
    )
    render.add_argument("--force", action="store_true", help="render even if nothing changed")
    render.add_argument("--jobs", type=int, default=1, metavar="N", help="render N variants at once (default: 1)")
    render.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_CELL_TIMEOUT,
        metavar="S",
        help=f"seconds a notebook cell may run (default: {DEFAULT_CELL_TIMEOUT})",
    )

    schema = commands.add_parser(
        "schema",
        help="write or check data/timeline/datapackage.json and the data dictionary",
        description="Regenerate the Frictionless descriptor and the data dictionary from analysis/schema.py.",
    )
    schema.add_argument("--check", action="store_true", help="only check they are up to date (exit 65 if not)")
    return parser


def _parameters_epilog() -> str:
    rows = []
    for spec in PARAMETERS:
        rows.append(f"  {spec.name:<11} {spec.help}")
        if spec.name == "actors":
            rows.append(f"  {'':<11} {_shipped_actors()}")
    return "parameters (-p NAME=VALUE):\n" + "\n".join(rows)


HELP_ACTORS_BYTES = 2**20  # a larger actors file is named in the help, not listed


def _shipped_actors() -> str:
    """The shipped data's actor ids, for the help; read as plain CSV (the help must not need pandas)."""
    from .schema import ACTORS

    path = paths.timeline_dir(paths.DATA_DIR) / ACTORS.path
    try:
        if path.stat().st_size > HELP_ACTORS_BYTES:
            raise ValueError("too large to list")
        with path.open(encoding="utf-8-sig", newline="") as file:  # a BOM, as the loader accepts
            ids = [row["actor_id"] for row in csv.DictReader(file)]
    except (OSError, ValueError, KeyError, csv.Error):
        return f"(actor ids: see {paths.display(path)})"
    return f"(actor ids of the shipped data: {', '.join(ids)})"


def _add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, default=None, metavar="DIR", help="folder with timeline/ and sources/ (default: the project's data/)"
    )


def _validate(args: argparse.Namespace) -> int:
    from .load import load_timeline, valid_message

    if not 0 < args.max_input_mb < math.inf:  # also refuses nan, which every comparison fails
        raise ParameterError(f"--max-input-mb must be a positive number, got {args.max_input_mb}")
    print(valid_message(load_timeline(args.data, max_input_mb=args.max_input_mb)))
    return EXIT_OK


def _render(args: argparse.Namespace) -> int:
    skip_unneeded_slow_imports()
    from .parameters import parse_assignment
    from .render import render

    overrides, given, problems = {}, {}, []
    for text in args.parameters:  # every mistake told at once
        try:
            name, value = parse_assignment(text)
            if name in given:  # the last would win silently: a second actor or category list dropped the first
                raise ParameterError(f"-p {name} is given twice ({given[name]!r}, {text!r}): give it once")
            overrides[name], given[name] = value, text
        except ParameterError as error:
            problems.append(str(error))
    if problems:
        raise ParameterError("\n".join(problems))
    formats = tuple(part.strip().lower() for part in args.format.split(",") if part.strip())
    if args.jobs < 1:
        raise ParameterError(f"--jobs must be at least 1, got {args.jobs}")
    if args.timeout < 1:  # papermill would read 0 as "no limit"
        raise ParameterError(f"--timeout must be at least 1 second, got {args.timeout}")
    interactive = sys.stderr.isatty()
    with garbage_collection_paused():  # while the render imports its libraries
        results = render(
            names=args.report,
            overrides=overrides,
            data_dir=args.data,
            out_dir=args.out,
            formats=formats,
            force=args.force,
            jobs=args.jobs,
            timeout=args.timeout,
            progress=interactive,
            report=(lambda message: print(message, file=sys.stderr)) if interactive else (lambda message: None),
            variants_file=args.variants,
            stopped=lambda: stop_signal() is not None,
        )
    for result in results:
        if result.skipped:
            print(f"{result.name}: up to date")
        else:
            files = ", ".join(paths.display(path) for path in result.outputs)
            print(f"{result.name}: rendered in {result.seconds:.1f} s: {files}")
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    from .docs import write_schema_files

    stale = write_schema_files(check_only=args.check)
    if args.check and stale:
        for path in stale:
            print(f"{path}: out of date; run `python -m analysis schema`", file=sys.stderr)
        return EXIT_DATA
    print("schema files up to date" if args.check else "schema files written")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code.

    Ctrl-C ends it with "interrupted" (130), SIGTERM with "terminated" (143), after the cleanup they
    raise. Any failure after one of them is reported as that signal, which caused it (the --jobs
    workers, which a Ctrl-C reaches too, are gone, say), and so is a command that still ended well
    after Python dropped the signal's exception.
    """
    handlers = {"validate": _validate, "render": _render, "schema": _schema}
    with stop_signals_handled():
        try:
            args = build_parser().parse_args(argv)  # in here: building the parser imports modules, a while
            code = handlers[args.command](args)
        except (KeyboardInterrupt, Terminated) as stop:
            return _stopped_by(stop_signal() or (signal.SIGINT if isinstance(stop, KeyboardInterrupt) else signal.SIGTERM))
        except Exception as error:
            if stop_signal():
                return _stopped_by(stop_signal())
            if not isinstance(error, AnalysisError):
                raise
            print(error, file=sys.stderr)
            return error.exit_code
        return _stopped_by(stop_signal()) if stop_signal() else code


def _stopped_by(signum: int) -> int:
    word, code = ("interrupted", 130) if signum == signal.SIGINT else ("terminated", 143)
    print(word, file=sys.stderr)
    return code


def run() -> None:
    """The program: main(), then exit with its code."""
    try:
        code = main()
    except KeyboardInterrupt:  # a second Ctrl-C, once main() has put Python's own handler back
        code = _stopped_by(signal.SIGINT)
    # Exiting, the interpreter collects garbage across everything a render imported (0.4 s) only to
    # free memory the operating system takes back anyway; frozen objects are left out of it.
    gc.freeze()
    # CPython 3.11 remembers a KeyboardInterrupt raised inside source run by exec() even once it is
    # caught (dataclasses and namedtuples exec their methods' source as a module imports), and then
    # ends `python -m` by SIGINT instead of with this code; run_eval_code_obj in Python/pythonrun.c
    # sets that flag, and clears it when it starts running source again: a completed exec forgets it.
    exec("pass")
    sys.exit(code)
