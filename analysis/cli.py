"""A thin command line over the package: parse arguments, call the library, print, exit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import EXIT_CODES, EXIT_DATA, EXIT_OK, EXIT_USAGE, AnalysisError


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit with 64 (EX_USAGE) like every other usage error here."""

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
    _add_data_options(validate)

    schema = commands.add_parser(
        "schema",
        help="write or check data/timeline/datapackage.json and the data dictionary",
        description="Regenerate the Frictionless descriptor and the data dictionary from analysis/schema.py.",
    )
    schema.add_argument("--check", action="store_true", help="only check they are up to date (exit 65 if not)")
    return parser


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, default=None, metavar="DIR", help="folder with timeline/ and sources/ (default: data/)"
    )
    parser.add_argument(
        "--max-input-mb", type=float, default=None, metavar="MB", help="refuse input files larger than this (default: 100)"
    )


def _validate(args: argparse.Namespace) -> int:
    from .load import DEFAULT_MAX_INPUT_MB, load_timeline

    limit = args.max_input_mb if args.max_input_mb is not None else DEFAULT_MAX_INPUT_MB
    timeline = load_timeline(args.data, max_input_mb=limit)
    counts = ", ".join(
        f"{len(timeline.table(name))} {name.replace('_', '-')}"
        for name in ("events", "actors", "event_actors", "figures", "claims", "sources")
    )
    print(f"timeline valid: {counts}; every quote found verbatim in its source")
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
    args = build_parser().parse_args(argv)
    handlers = {"validate": _validate, "schema": _schema}
    try:
        return handlers[args.command](args)
    except AnalysisError as error:
        print(error, file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
