"""Shared fixtures: matplotlib on Agg, and a writable copy of the shipped data to break on purpose."""

from __future__ import annotations

import os
import shutil
import textwrap
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from analysis import paths
from analysis.schema import TABLES_BY_NAME

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = paths.ROOT
DATA = paths.DATA_DIR


def planted_sitecustomize(folder: Path, source: str) -> str:
    """A PYTHONPATH under which every Python runs ``source`` first (as ``sitecustomize``, before ``__main__``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return str(folder)


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


def frame(name: str, rows=()) -> pd.DataFrame:
    """A table typed as the loader types it (see load._typed): dates, Int64, categoricals, text."""
    rows = list(rows)
    table = TABLES_BY_NAME[name]
    unknown = {key for row in rows for key in row} - set(table.field_names)
    assert not unknown, f"not fields of {name}: {unknown}"
    columns = {}
    for spec in table.fields:
        raw = pd.Series(["" if row.get(spec.name) is None else str(row[spec.name]) for row in rows], dtype=str)
        if spec.type == "date":
            columns[spec.name] = pd.to_datetime(raw.where(raw != ""), format="%Y-%m-%d").astype("datetime64[ns]")
        elif spec.type == "integer":
            columns[spec.name] = pd.array([int(value) if value else pd.NA for value in raw], dtype="Int64")
        elif spec.enum:
            assert raw[raw != ""].isin(spec.values).all(), (spec.name, list(raw))
            columns[spec.name] = pd.Categorical(raw.where(raw != ""), categories=list(spec.values))
        else:
            columns[spec.name] = raw
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As root on a closed network, Chromium needs these (see shared/TOOLCHAIN.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def alive(pid: int) -> bool:
    """The process exists and has not ended (a zombie waiting for its reaper has ended)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until_gone(pids, grace: float = 5.0) -> list[int]:
    """The processes of ``pids`` still running after up to ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]
