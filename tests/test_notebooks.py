"""Notebooks: committed clean, thin, and executable with the standard tools."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
from conftest import REPO

from analysis import paths

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    notebook = nbformat.read(str(path), as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_cells_are_thin(path):
    notebook = nbformat.read(str(path), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        tree = ast.parse(code)
        banned = (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.AsyncFunctionDef)
        assert not any(isinstance(node, banned) for node in ast.walk(tree)), cell.source
        if "parameters" in cell.metadata.get("tags", []):  # a line per declared parameter, and nothing else
            assert all(isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.List) for node in tree.body)
        else:
            assert len(tree.body) <= 3, cell.source  # STYLE.md: a cell is one to three calls


def test_report_parameters_cell_is_first_and_tagged():
    notebook = nbformat.read(str(paths.REPORT_NOTEBOOK), as_version=4)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", [])
    assert set(papermill.inspect_notebook(str(paths.REPORT_NOTEBOOK))) >= {
        "title",
        "start",
        "end",
        "actors",
        "categories",
        "data_dir",
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("parameters", "expected"),
    [({}, "13 of 13 events"), ({"start": "2016-07-01", "end": "2016-07-31"}, "2 of 13 events")],
    ids=["defaults", "july-2016"],
)
def test_report_notebook_runs_under_papermill(tmp_path, parameters, expected):
    output = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(paths.REPORT_NOTEBOOK),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(paths.NOTEBOOKS_DIR),
        progress_bar=False,
    )
    html = "".join(
        out.get("data", {}).get("text/html", "")
        for cell in nbformat.read(str(output), as_version=4).cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )
    assert expected in html


@pytest.mark.slow
def test_report_notebook_runs_with_the_papermill_cli(tmp_path):
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "papermill"),
            "notebooks/report.ipynb",
            str(tmp_path / "out.ipynb"),
            "-p",
            "start",
            "2016-07-01",
            "-p",
            "end",
            "2016-07-31",
            "--no-progress-bar",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_explore_notebook_runs_with_nbconvert(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--execute",
            "--to",
            "notebook",
            "--output-dir",
            str(tmp_path),
            "notebooks/explore.ipynb",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    executed = nbformat.read(str(tmp_path / "explore.ipynb"), as_version=4)
    assert all(cell.execution_count for cell in executed.cells if cell.cell_type == "code")


@pytest.mark.slow
def test_explore_notebook_reads_its_data_dir_everywhere(data_copy, tmp_path):
    # The workflow of adding a source: every section, the report's and the validation's included,
    # must read the copy the parameter names, not the shipped data.
    data_copy.replace("events", "Fighting occurred between the SPLA", "Copied fighting between the SPLA")
    *roles, last, end = data_copy.lines("event_actors")
    assert last.startswith("more-to-be-done,guterres,author,") and end == ""
    data_copy.write_lines("event_actors", [*roles, end])
    executed = papermill.execute_notebook(
        str(REPO / "notebooks" / "explore.ipynb"),
        str(tmp_path / "explore.ipynb"),
        parameters={"data_dir": str(data_copy.root)},
        cwd=str(REPO / "notebooks"),
        progress_bar=False,
    )
    outputs = {"".join(cell.source): json.dumps(cell.outputs) for cell in executed.cells if cell.cell_type == "code"}
    report_summary = next(text for source, text in outputs.items() if "build_report(" in source)
    assert "Copied fighting between the SPLA" in report_summary
    validation = next(text for source, text in outputs.items() if "validation_message(" in source)
    assert "timeline valid: " in validation and "15 event-actors" in validation
