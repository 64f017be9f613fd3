"""Shared fixtures: matplotlib on Agg, and a writable copy of the shipped data to break on purpose."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


class DataCopy:
    """A copy of data/ in a temporary folder, with helpers to edit one CSV line at a time."""

    def __init__(self, root: Path):
        self.root = root
        shutil.copytree(DATA, root, ignore=shutil.ignore_patterns("README.md"))

    def csv(self, table: str) -> Path:
        return self.root / "timeline" / f"{table}.csv"

    def lines(self, table: str) -> list[str]:
        return self.csv(table).read_text(encoding="utf-8").split("\n")

    def write_lines(self, table: str, lines: list[str]) -> None:
        self.csv(table).write_text("\n".join(lines), encoding="utf-8")

    def replace(self, table: str, old: str, new: str, count: int = 1) -> None:
        text = self.csv(table).read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {table}.csv"
        self.csv(table).write_text(text.replace(old, new, count), encoding="utf-8")

    def line_of(self, table: str, startswith: str) -> int:
        """Physical line number (1-based) of the first line that starts with ``startswith``."""
        for number, line in enumerate(self.lines(table), start=1):
            if line.startswith(startswith):
                return number
        raise AssertionError(f"no line starts with {startswith!r} in {table}.csv")


@pytest.fixture
def data_copy(tmp_path: Path) -> DataCopy:
    return DataCopy(tmp_path / "data")
