"""The one place that knows where the project's folders are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
NOTEBOOKS_DIR = ROOT / "notebooks"
REPORTS_DIR = ROOT / "reports"
REPORT_NOTEBOOK = NOTEBOOKS_DIR / "report.ipynb"
VARIANTS_FILE = ROOT / "reports.toml"


def timeline_dir(data_dir: Path) -> Path:
    return data_dir / "timeline"


def require_timeline_dir(data_dir: Path) -> Path:
    """The timeline folder under ``data_dir``, or a TimelineError (exit 66) saying it is missing."""
    from .errors import Problem, TimelineError

    folder = timeline_dir(data_dir)
    if not folder.is_dir():
        raise TimelineError([Problem(display(folder), "timeline folder not found", missing_input=True)])
    return folder


def sources_dir(data_dir: Path) -> Path:
    return data_dir / "sources"


def source_file(data_dir: Path, source_id: str) -> Path:
    return sources_dir(data_dir) / f"{source_id}.md"


def in_project(path: Path) -> str:
    """A path as a report records it: relative to the project folder if inside it, whatever folder the command ran in."""
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def display(path: Path) -> str:
    """A path as a user should see it in a message: relative to the working folder if inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
