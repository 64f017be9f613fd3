"""Rendering: every variant to HTML and PDF, published atomically, cached, byte-stable, failures caught."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import threading

import nbformat
import pytest
from bs4 import BeautifulSoup
from conftest import REPO, planted_sitecustomize

from analysis import ParameterError, RenderError, outputs, paths
from analysis import render as render_module
from analysis.render import output_lock, render

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    results = render(out_dir=out)
    return out, results


def published(out) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(out.iterdir()) if path.is_file()}


def test_every_variant_is_rendered_with_its_data_and_manifest(rendered):
    out, results = rendered
    assert sorted(result.name for result in results) == ["crisis", "full", "reforms"]
    for name in ("full", "crisis", "reforms"):
        for suffix in (".html", ".pdf", ".ipynb", ".csv", ".timeline.json", ".manifest.json"):
            assert (out / f"{name}{suffix}").stat().st_size > 0, name + suffix
    assert not [p for p in out.iterdir() if p.name.startswith((".staging", "failed-"))]
    manifest = json.loads((out / "crisis.manifest.json").read_text())
    assert manifest["parameters"]["start"] == "2016-07-01" and manifest["events"] == 1
    assert "notebook" in manifest["inputs"] and "data/timeline/events.csv" in manifest["inputs"]
    assert manifest["versions"]["papermill"] and manifest["timings_s"]["total"] > 0


def test_html_is_self_contained_with_alt_text_and_no_code(rendered):
    out, _ = rendered
    page = (out / "full.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(https?:)?//', page)
    figures = re.findall(r"<figure [^>]*>(<img [^>]*>)<figcaption>(.*?)</figcaption>", page)
    assert len(figures) == len(re.findall(r"<img ", page)) == 4
    for image, caption in figures:
        assert 'src="data:image/png;base64,' in image
        alt = html.unescape(re.search(r'alt="([^"]+)"', image).group(1))
        assert alt.startswith("Chart: ") and len(alt) > 30 and "No description" not in alt
        assert len(caption) > 2 * len(alt)  # the description, read once: not the alt text again
    assert "build_report(" not in page and "report.chart(" not in page
    assert '<nav class="toc">' in page
    for number in set(re.findall(r'href="#source-(\d+)"', page)):
        assert f'id="source-{number}"' in page


def test_pdf_has_pages_text_and_images(rendered):
    out, _ = rendered
    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils (pdftotext) is not installed; .ci/run installs it")
    text = subprocess.run(["pdftotext", "-layout", str(out / "full.pdf"), "-"], capture_output=True, text=True).stdout
    assert "the article reports “Hundreds” killed" in " ".join(text.split())
    assert "Sources" in text and "Page 1 of" in text
    info = subprocess.run(["pdfinfo", str(out / "full.pdf")], capture_output=True, text=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) >= 4
    listing = subprocess.run(["pdfimages", "-list", str(out / "full.pdf")], capture_output=True, text=True).stdout
    assert len(listing.strip().splitlines()) - 2 >= 4


def test_no_pdf_ends_with_a_page_holding_only_the_footer(rendered):
    out, _ = rendered
    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils (pdftotext) is not installed; .ci/run installs it")
    for name in ("full", "crisis", "reforms"):
        info = subprocess.run(["pdfinfo", str(out / f"{name}.pdf")], capture_output=True, text=True).stdout
        last = re.search(r"Pages:\s+(\d+)", info).group(1)
        text = subprocess.run(
            ["pdftotext", "-f", last, "-l", last, str(out / f"{name}.pdf"), "-"], capture_output=True, text=True
        ).stdout
        before_footer = text.split("Rendered by analysis from")[0]
        assert before_footer.strip(), f"{name}.pdf: page {last} holds only the footer"


def test_pdf_is_tagged_with_each_chart_a_figure_and_its_caption(rendered):
    out, _ = rendered
    if not shutil.which("pdfinfo"):
        pytest.skip("poppler-utils (pdfinfo) is not installed; .ci/run installs it")
    info = subprocess.run(["pdfinfo", str(out / "full.pdf")], capture_output=True, text=True).stdout
    assert re.search(r"^Tagged:\s+yes$", info, flags=re.MULTILINE), info
    structure = subprocess.run(["pdfinfo", "-struct", str(out / "full.pdf")], capture_output=True, text=True).stdout
    assert len(re.findall(r"^\s*Figure\b", structure, flags=re.MULTILINE)) == 4
    assert len(re.findall(r"^\s*Caption\b", structure, flags=re.MULTILINE)) == 4
    assert len(re.findall(r"^\s*Table\b", structure, flags=re.MULTILINE)) >= 4  # the four data tables at least


def test_pdf_contents_give_the_page_of_each_section(rendered):
    out, _ = rendered
    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils (pdftotext) is not installed; .ci/run installs it")
    for name in ("full", "crisis", "reforms"):
        pdf = str(out / f"{name}.pdf")
        pages = subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True).stdout.split("\f")
        first = subprocess.run(["pdftotext", "-layout", "-l", "1", pdf, "-"], capture_output=True, text=True).stdout
        lines = [line.strip() for line in first.splitlines() if re.match(r"\s*\d+\. ", line)]  # a row of both columns
        numbered = [entry for line in lines for entry in re.findall(r"(\d+)\. (.+?)[ .]+ (\d+)(?=\s+\d+\. |$)", line)]
        entries = [(title, page) for _, title, page in sorted(numbered, key=lambda entry: int(entry[0]))]
        assert [title for title, _ in entries][:2] == ["Summary", "Charts"] and entries[-1][0] == "Sources", entries
        assert len(lines) == (len(entries) + 1) // 2, f"{name}.pdf: the contents are not in two columns: {lines}"
        for title, page in entries:
            assert title in pages[int(page) - 1].splitlines(), f"{name}.pdf: {title!r} is not on page {page}"


def test_the_full_report_s_summary_ends_on_its_first_page_and_the_charts_fill_the_second(rendered):
    out, _ = rendered
    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils (pdftotext) is not installed; .ci/run installs it")
    pages = subprocess.run(["pdftotext", str(out / "full.pdf"), "-"], capture_output=True, text=True).stdout.split("\f")
    assert pages[1].splitlines()[0] == "Charts", pages[1][:300]


def test_index_links_every_variant(rendered):
    out, _ = rendered
    index = (out / "index.html").read_text(encoding="utf-8")
    for name in ("full", "crisis", "reforms"):
        assert f'href="{name}.html"' in index and f'href="{name}.pdf"' in index
    assert "The fighting of 8 to 12 July 2016" in index and "2016-07-08" in index  # the crisis' first day shown
    rows = {row.find("a").get_text(): row.find_all("td")[1].get_text() for row in BeautifulSoup(index, "html.parser").tbody("tr")}
    for name in ("full", "crisis", "reforms"):
        page = BeautifulSoup((out / f"{name}.html").read_text(encoding="utf-8"), "html.parser")
        title = page.find("h1").get_text()
        assert rows[title] == page.find("p", class_="selection").get_text(), name  # the report's own words
    crisis = rows["The fighting of 8 to 12 July 2016"]
    assert crisis.startswith("Selection: events whose recorded dates lie wholly within 1 July 2016 to 31")
    parsed = BeautifulSoup(index, "html.parser")
    assert parsed.find("meta", attrs={"name": "viewport"}) is not None  # a phone shows it at its own width
    assert parsed.find("table").find_parent("div")["class"] == ["table-scroll"]


def test_a_report_ends_with_the_command_that_renders_it_again(rendered):
    out, _ = rendered
    page = BeautifulSoup((out / "crisis.html").read_text(encoding="utf-8"), "html.parser")
    footer = page.body.find("footer")  # inside the body, after the report's main part
    assert footer is not None and footer.find_parent("main") is None
    assert footer.get_text(" ", strip=True).startswith("Rendered by analysis from notebooks/report.ipynb. To render it again:")
    command = footer.find("code").get_text()
    title = "-p 'title=The fighting of 8 to 12 July 2016'"
    chosen = "-p start=2016-07-01 -p end=2016-07-31 -p dates=within -p actors= -p categories= -p data_dir="
    assert command == f"python -m analysis render --report crisis {title} {chosen}"


def test_timelinejs_json_has_the_format(rendered):
    out, _ = rendered
    data = json.loads((out / "full.timeline.json").read_text(encoding="utf-8"))
    first = data["events"][0]
    assert first["unique_id"] == "juba-fighting"
    assert first["start_date"] == {"year": "2016", "month": "7", "day": "8"}
    assert first["end_date"] == {"year": "2016", "month": "7", "day": "12"}
    assert first["group"] == "violence" and first["text"]["headline"]
    assert first["text"]["text"].endswith(
        "<p>Place, inferred from another passage of the article: Juba</p>"
        "<blockquote>the violence in Juba in July 2016</blockquote>"
    )
    others = data["events"][1:]
    assert others and all("Place" not in event["text"]["text"] for event in others)
    # Re-displayed elsewhere, each event keeps its source and, where its date is not stated, why it is where it is.
    title = "Peacekeepers in South Sudan working to strengthen protection of civilians – UN chief"
    credit = f"<p>Source: UN News, “{title}”, 19 April 2017.</p>"
    assert all(credit in event["text"]["text"] for event in data["events"])
    assert (
        "<p>At some time between 8 July 2016 and 19 April 2017 (date inferred): It cannot have begun before"
        in (others[0]["text"]["text"])
    )
    assert "(date" not in first["text"]["text"]  # stated: no note


def test_unchanged_inputs_are_skipped_and_files_untouched(rendered):
    out, _ = rendered

    def published_times():  # the lock file records the last holder's pid; it is not a report file
        return {path.name: path.stat().st_mtime_ns for path in out.iterdir() if path.name != ".render.lock"}

    before = published_times()
    results = render(out_dir=out)
    assert all(result.skipped for result in results)
    assert published_times() == before


def test_two_renders_of_the_same_inputs_are_byte_identical(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    render(names=["crisis"], out_dir=first)
    render(names=["crisis"], out_dir=second)
    for suffix in (".html", ".pdf", ".ipynb"):
        assert (first / f"crisis{suffix}").read_bytes() == (second / f"crisis{suffix}").read_bytes(), suffix


def _notebook_with(tmp_path, *sources: str):
    real = nbformat.read(str(paths.REPORT_NOTEBOOK), as_version=4)
    notebook = nbformat.v4.new_notebook(metadata=real.metadata)
    notebook.cells = [real.cells[0], *(nbformat.v4.new_code_cell(source) for source in sources)]
    path = tmp_path / "broken.ipynb"
    nbformat.write(notebook, str(path))
    return path


@pytest.fixture
def good_report(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    render(names=["crisis"], out_dir=out, formats=("html",))
    return out, published(out)


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["x = 1", "raise ValueError('bad data in cell')"], r"cell 3 \(In \[4\]\) raised ValueError: bad data in cell"),
        (["import sys\nsys.exit(0)", "y = 2"], r"cell 2 raised SystemExit: 0"),
        (["import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "y = 2"], r"kernel died"),
    ],
    ids=["cell-raises", "sys-exit", "kernel-killed"],
)
def test_failed_run_keeps_the_good_report_and_the_failed_notebook(good_report, tmp_path, monkeypatch, cells, expected):
    out, before = good_report
    monkeypatch.setattr(paths, "REPORT_NOTEBOOK", _notebook_with(tmp_path, *cells))
    with pytest.raises(RenderError, match=expected) as caught:
        render(names=["crisis"], out_dir=out, formats=("html",), force=True)
    assert caught.value.exit_code == 70
    assert "report 'crisis'" in str(caught.value)
    assert published(out) == before
    assert (out / "failed-crisis" / "crisis.ipynb").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]


def test_a_format_not_rendered_again_is_removed_not_left_stale(tmp_path):
    # An HTML-only render after an HTML and PDF one: the older PDF, of another title, would contradict it.
    out = tmp_path / "out"
    out.mkdir()
    render(names=["crisis"], out_dir=out, overrides={"title": "First title"})
    assert (out / "crisis.pdf").is_file()
    render(names=["crisis"], out_dir=out, overrides={"title": "Second title"}, formats=("html",))
    assert not (out / "crisis.pdf").exists()
    assert "Second title" in (out / "crisis.html").read_text(encoding="utf-8")
    manifest = json.loads((out / "crisis.manifest.json").read_text(encoding="utf-8"))
    assert sorted(path.name for path in out.iterdir() if path.name.startswith("crisis.")) == sorted(
        [*manifest["outputs"], "crisis.manifest.json"]
    )


def test_a_render_holding_the_lock_makes_the_second_refuse(good_report):
    out, before = good_report
    with output_lock(out), pytest.raises(RenderError, match="is being rendered by pid") as caught:
        render(names=["crisis"], out_dir=out, force=True)
    assert caught.value.exit_code == 75
    assert published(out) == before


def test_the_lock_s_new_holder_removes_what_a_killed_render_left(tmp_path):
    # A render killed outright leaves its staging folders and index file; the next one to hold the lock
    # removes them, but one refused by the lock must not touch those of the render that holds it.
    (tmp_path / ".staging-crisis-4242").mkdir()
    (tmp_path / ".staging-crisis-4242" / "crisis.html").write_text("half", encoding="utf-8")
    (tmp_path / ".index-4242.html").write_text("half", encoding="utf-8")
    kept = {"crisis.html": "published", ".write-test-77": "", "notes.txt": "mine", ".staging-notes.txt": "mine"}
    for name, text in kept.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    kept_folders = ["failed-crisis", ".staging-notes", ".index-5.html"]  # not names a render gives them
    for name in kept_folders:
        (tmp_path / name).mkdir()
    expected = sorted([".render.lock", *kept_folders, *kept])
    holding = f"with output_lock(Path({str(tmp_path)!r})):\n    print('held', flush=True)\n    time.sleep(60)"
    script = f"import time\nfrom pathlib import Path\nfrom analysis.outputs import output_lock\n{holding}"
    holder = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert sorted(path.name for path in tmp_path.iterdir()) == expected
        (tmp_path / ".staging-reforms-4343").mkdir()  # the holder's own, as it renders
        with pytest.raises(RenderError, match="is being rendered by pid"), output_lock(tmp_path):
            pass
        assert (tmp_path / ".staging-reforms-4343").is_dir()
    finally:
        holder.kill()  # killed outright, as it renders
        holder.wait()
    with output_lock(tmp_path):
        assert sorted(path.name for path in tmp_path.iterdir()) == expected
    assert {name: (tmp_path / name).read_text(encoding="utf-8") for name in kept} == kept


def test_bad_parameters_are_refused_before_any_kernel(tmp_path):
    with pytest.raises(ParameterError, match="unknown actor 'nobody'"):
        render(names=["crisis"], overrides={"actors": ["nobody"]}, out_dir=tmp_path)
    assert [path.name for path in tmp_path.iterdir()] in ([], [".render.lock"])


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-p", "titel=x"], 64, "unknown parameter 'titel' (did you mean 'title'?)"),
        (["-p", "start=2017-13-01"], 64, "parameter 'start' is not a real date"),
        (["-p", "start=2017-01-01", "-p", "end=2016-01-01"], 64, "start 2017-01-01 is after end 2016-01-01"),
        (["--format", "docx"], 64, "unknown format(s) docx"),
        (["--report", "crises"], 64, "unknown report 'crises'"),
        (["--out", "/nonexistent/folder"], 73, "the folder does not exist"),
        (["--data", "/nonexistent"], 66, "timeline folder not found"),
    ],
)
def test_cli_errors_exit_with_their_code_and_no_traceback(args, code, message):
    result = run_cli("render", *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_variants_path_that_is_a_folder_or_declares_no_tables_is_refused_without_a_traceback(tmp_path):
    not_tables = tmp_path / "variants.toml"
    not_tables.write_text('report = [1, "full"]\n', encoding="utf-8")
    for variants, code, message in [
        (tmp_path, 66, f"{tmp_path}: is a folder, expected a file"),
        (not_tables, 64, "variants.toml: report 1: must be a [[report]] table, got int 1"),
    ]:
        result = run_cli("render", "--variants", str(variants), "--out", str(tmp_path))
        assert result.returncode == code, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["variants.toml"]


def test_a_folder_where_the_lock_file_goes_is_refused_without_a_traceback(good_report):
    out, before = good_report
    (out / ".render.lock").unlink()
    (out / ".render.lock").mkdir()
    result = run_cli("render", "--report", "crisis", "--format", "html", "--force", "--out", str(out))
    assert result.returncode == 73, result.stderr
    assert f"cannot create output {out}/.render.lock: Is a directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert published(out) == {name: data for name, data in before.items() if name != ".render.lock"}


@pytest.mark.parametrize("blocker", ["index.html as a folder", "failed-crisis as a file"])
def test_an_index_or_failed_notebook_path_of_the_wrong_kind_is_refused_before_any_kernel(good_report, blocker):
    out, before = good_report
    name = blocker.split()[0]
    if name == "index.html":
        (out / name).unlink()
        (out / name).mkdir()
        expected = f"cannot create output {out}/index.html: it is a folder"
    else:
        (out / name).write_text("a file of the user's", encoding="utf-8")
        expected = f"cannot create output {out}/failed-crisis/: it is not a folder"
    result = run_cli("render", "--report", "crisis", "--format", "html", "--force", "--out", str(out))
    assert result.returncode == 73, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert {path: data for path, data in published(out).items() if path != name} == {
        path: data for path, data in before.items() if path != name
    }


def test_the_index_lists_every_report_in_the_folder_with_only_the_files_still_there(good_report, tmp_path):
    out, _ = good_report
    mine = tmp_path / "mine.toml"
    mine.write_text('[[report]]\nname = "mine"\ntitle = "Mine"\nparameters = { start = "2017-03-01" }\n', encoding="utf-8")
    render(variants_file=mine, out_dir=out, formats=("html",))
    index = BeautifulSoup((out / "index.html").read_text(encoding="utf-8"), "html.parser")
    assert [row.find("a")["href"] for row in index.tbody("tr")] == ["mine.html", "crisis.html"]  # declared first
    (out / "crisis.html").unlink()
    (out / "crisis.csv").unlink()
    render(variants_file=mine, out_dir=out, formats=("html",))
    index = BeautifulSoup((out / "index.html").read_text(encoding="utf-8"), "html.parser")
    crisis = index.tbody("tr")[1]
    assert "The fighting of 8 to 12 July 2016" in crisis.get_text() and crisis.find("a", href="crisis.html") is None
    assert [link["href"] for link in crisis("a")] == ["crisis.ipynb", "crisis.timeline.json"]
    for output in ("crisis.ipynb", "crisis.timeline.json", "crisis.manifest.json"):
        (out / output).unlink(missing_ok=True)
    render(variants_file=mine, out_dir=out, formats=("html",))
    index = BeautifulSoup((out / "index.html").read_text(encoding="utf-8"), "html.parser")
    assert [row.find("a")["href"] for row in index.tbody("tr")] == ["mine.html"]


def test_a_manifest_not_shaped_as_a_render_writes_it_is_never_trusted(good_report):
    # The output folder is the user's: a hand-edited, truncated or hostile manifest is treated as absent.
    out, _ = good_report
    manifest = json.loads((out / "crisis.manifest.json").read_text(encoding="utf-8"))
    assert outputs.read_manifest(out / "crisis.manifest.json") == manifest
    hostile = {**manifest, "name": "full", "outputs": {"javascript:alert(1)": "0", "full.html": "0"}}
    deep = "[" * 100_000 + "]" * 100_000
    (out / "odd.manifest.json").write_text(deep, encoding="utf-8")
    assert outputs.read_manifest(out / "odd.manifest.json") is None
    for odd in [
        [manifest],
        {key: value for key, value in manifest.items() if key != "outputs"},
        {**manifest, "events": "2"},
        {**manifest, "date_range": ["2016-07-08"]},
        {**manifest, "outputs": {"../crisis.html": manifest["outputs"]["crisis.html"]}},
        hostile,
    ]:
        (out / "odd.manifest.json").write_text(json.dumps(odd), encoding="utf-8")
        assert outputs.read_manifest(out / "odd.manifest.json") is None, odd
    (out / "full.manifest.json").write_text(json.dumps(hostile), encoding="utf-8")
    (out / "crisis.manifest.json").write_text(json.dumps({"name": "crisis", "title": "x"}), encoding="utf-8")
    result = run_cli("render", "--report", "crisis", "--format", "html", "--out", str(out))
    assert result.returncode == 0 and "crisis: rendered in" in result.stdout, result.stderr  # not taken as current
    assert outputs.read_manifest(out / "crisis.manifest.json") is not None
    result = run_cli("render", "--report", "crisis", "--format", "pdf", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = BeautifulSoup((out / "index.html").read_text(encoding="utf-8"), "html.parser").tbody("tr")
    assert len(rows) == 1 and "javascript" not in str(rows)
    assert rows[0].find("a")["href"] == "crisis.pdf"  # the title links the PDF: no page was rendered


def test_cli_invalid_data_exits_65_before_rendering(data_copy, tmp_path):
    data_copy.replace("events", ",violence,", ",violense,")
    result = run_cli("render", "--data", str(data_copy.root), "--out", str(tmp_path), "--report", "crisis")
    assert result.returncode == 65 and "(field category)" in result.stderr
    assert not (tmp_path / "crisis.html").exists()


def test_cli_renders_a_parameterized_variant(tmp_path):
    result = run_cli("render", "--report", "full", "-p", "categories=violence", "--format", "html", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "full: rendered" in result.stdout
    manifest = json.loads((tmp_path / "full.manifest.json").read_text())
    assert manifest["parameters"]["categories"] == ["violence"] and manifest["events"] == 1
    assert not (tmp_path / "full.pdf").exists()


def test_every_variant_gets_a_fresh_kernel(tmp_path, monkeypatch):
    # Kernels are launched ahead and warmed, but never shared: a name set by one report's run is not
    # there in the next, and each ran in its own process.
    pids = tmp_path / "pids"
    notebook = _notebook_with(
        tmp_path,
        "assert 'LEAKED' not in globals(), 'state leaked from a previous report'\nLEAKED = 1\n"
        "assert not {'pandas', 'matplotlib', '_warm_up'} & set(globals()), 'the warm-up left names behind'",
        f"import os\nwith open({str(pids)!r}, 'a') as f:\n    print(os.getpid(), file=f)",
    )
    monkeypatch.setattr(paths, "REPORT_NOTEBOOK", notebook)
    out = tmp_path / "out"
    out.mkdir()
    results = render(out_dir=out, formats=("html",))
    assert [result.name for result in results] == ["full", "crisis", "reforms"]
    assert len(set(pids.read_text().split())) == 3


def test_the_timeline_is_validated_once_per_render_and_data_files_made_from_it(tmp_path, monkeypatch):
    # The data beside each report comes from the timeline validated before any kernel started; it
    # is not loaded again for each variant (the kernels load their own copy, in their process).
    from analysis import load

    loads = []
    real_load = load.load_timeline

    def counted_load(*args, **kwargs):
        loads.append(args)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(load, "load_timeline", counted_load)
    monkeypatch.setattr(paths, "REPORT_NOTEBOOK", _notebook_with(tmp_path, "x = 1"))
    out = tmp_path / "out"
    out.mkdir()
    render(out_dir=out, formats=("html",))
    assert len(loads) == 1
    crisis = (out / "crisis.csv").read_text(encoding="utf-8").splitlines()
    assert crisis[0].startswith("event_id,") and len(crisis) > 1
    assert all(",2016-07-" in line for line in crisis[1:])
    full = json.loads((out / "full.timeline.json").read_text(encoding="utf-8"))
    assert len(full["events"]) == json.loads((out / "full.manifest.json").read_text())["events"] == 13


def test_the_exporters_warm_up_loads_what_a_report_s_pdf_needs():
    # In a fresh process, as a render's: after the warm-up, a page of the report's tables imports nothing more.
    check = """
import sys, nbformat
from analysis.exports import export_html, export_pdf
from analysis.render import _preload_exporters
from analysis.report import build_report
report = build_report()
outputs = [nbformat.v4.new_output("display_data", data={"text/html": report.table(name).html}) for name in ("events", "reforms")]
_preload_exporters(("html", "pdf"))
before = set(sys.modules)
pdf = export_pdf(export_html(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=outputs)]), "t", "f"))
assert pdf.startswith(b"%PDF") and set(sys.modules) == before, sorted(set(sys.modules) - before)
"""
    subprocess.run([sys.executable, "-c", check], cwd=REPO, check=True)


IMPORT_LOGGER = """
import functools, importlib.abc, importlib.machinery, os, sys, threading, time

def _log(*words):
    line = " ".join([str(os.getpid()), threading.current_thread().name.replace(" ", "_"), *words]) + "\\n"
    os.write(_LOG, line.encode())

def _slowed(warm_up):
    @functools.wraps(warm_up)  # the thread's name is the function's
    def slow_warm_up(*args):
        warm_up(*args)
        time.sleep(1.5)  # still warming up while the render makes the data files
    return slow_warm_up

class _Logger(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        _log("import", name)
        if name != "analysis.render":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        execute = spec.loader.exec_module
        def exec_module(module):
            execute(module)
            module._preload_exporters = _slowed(module._preload_exporters)
        spec.loader.exec_module = exec_module
        return spec

_LOG = os.open({log!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
_start, _run = threading.Thread.start, threading.Thread.run
def _logged_start(self):  # logged by the thread that starts it, in its order
    _log("starting", self.name.replace(" ", "_"))
    _start(self)
def _logged_run(self):
    try:
        _run(self)
    finally:
        _log("end")
threading.Thread.start, threading.Thread.run = _logged_start, _logged_run
sys.meta_path.insert(0, _Logger())
"""


@pytest.mark.slow
@pytest.mark.parametrize(("jobs", "processes"), [("1", 1), ("2", 1), ("4", 2)])
def test_the_main_thread_imports_nothing_while_the_exporters_warm_up(tmp_path, jobs, processes):
    # The main thread takes Ctrl-C; one landing in an import while the warm-up thread imports too
    # could leave a module lock held. So it imports first, then makes the data files meanwhile. The
    # warm-up is made to last, so that this work certainly falls within it.
    log = tmp_path / "imports.log"
    env = {**os.environ, "PYTHONPATH": planted_sitecustomize(tmp_path / "site", IMPORT_LOGGER.format(log=str(log)))}
    argv = ["render", "--out", str(tmp_path), "--force", "--jobs", jobs, "--report", "crisis", "reforms", "full"]
    done = subprocess.run([sys.executable, "-m", "analysis", *argv], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    warming: dict[str, bool] = {}
    imported_meanwhile: dict[str, list[str]] = {}
    notebook_started_meanwhile: dict[str, bool] = {}
    for pid, thread, event, *name in (line.split(" ") for line in log.read_text().splitlines()):
        if event == "starting" and name[0].endswith("(_preload_exporters)"):
            warming[pid] = True
            imported_meanwhile.setdefault(pid, [])
        elif event == "end" and thread.endswith("(_preload_exporters)"):
            warming[pid] = False
        elif thread == "MainThread" and event == "import" and warming.get(pid):
            imported_meanwhile[pid] += name
        elif event == "starting" and name[0].startswith("execute") and warming.get(pid):
            notebook_started_meanwhile[pid] = True
    assert len(imported_meanwhile) == processes, "the warm-up ran in an unexpected number of processes"
    assert notebook_started_meanwhile == {pid: True for pid in imported_meanwhile}, "the warm-up ended too soon to tell"
    assert imported_meanwhile == {pid: [] for pid in imported_meanwhile}


@pytest.mark.slow
def test_jobs_2_runs_two_notebooks_at_once_with_one_kernel_each(tmp_path, monkeypatch):
    # Kernels are started ahead as notebooks start, never more than the reports still to run.
    lock, running, most, launched = threading.Lock(), [0], [0], []
    launch, execute = render_module.launch_kernel, render_module._execute_variant

    def counted_launch(*args, **kwargs):
        kernel = launch(*args, **kwargs)
        launched.append(kernel if isinstance(kernel, Exception) else kernel.is_forked)
        return kernel

    def counted_execute(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            return execute(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(render_module, "launch_kernel", counted_launch)
    monkeypatch.setattr(render_module, "_execute_variant", counted_execute)
    results = render(out_dir=tmp_path, formats=("html",), jobs=2)
    assert [result.name for result in results] == ["full", "crisis", "reforms"]  # in order, though exported as done
    assert most[0] == 2
    assert launched == [True, True, True]  # forked by the factory: each kernel's environment is the factory's


def test_a_kernel_start_ahead_that_raises_leaves_no_job_waiting_for_it(monkeypatch):
    # jupyter_client can raise what launch_kernel does not catch (asyncio.CancelledError is no Exception).
    import asyncio

    launches = []

    def launch(cwd, factory=None, environment=None):
        launches.append(cwd)
        if len(launches) == 1:
            raise asyncio.CancelledError
        return RuntimeError("no kernel in this test")

    monkeypatch.setattr(render_module, "launch_kernel", launch)
    supply = render_module._KernelSupply(2, None, {})
    with pytest.raises(asyncio.CancelledError):
        supply.start_one_ahead()
    taken = []
    job = threading.Thread(target=lambda: taken.append(supply.take()), daemon=True)
    job.start()
    job.join(timeout=5)
    assert not job.is_alive(), "the job still waits for the kernel whose start failed"
    assert [type(kernel) for kernel in taken] == [RuntimeError] and len(launches) == 2


@pytest.mark.slow
def test_a_report_is_published_before_the_next_one_s_data_is_made(tmp_path, monkeypatch):
    # One after another, a report whose notebook ran is exported before anything of the next can fail.
    prepare = render_module._prepare_data

    def failing_for_reforms(job, timelines):
        if job.name == "reforms":
            raise RenderError("cannot make the data of reforms (injected)", 74)
        prepare(job, timelines)

    monkeypatch.setattr(render_module, "_prepare_data", failing_for_reforms)
    with pytest.raises(RenderError, match="injected"):
        render(names=["crisis", "reforms"], out_dir=tmp_path, formats=("html",))
    assert (tmp_path / "crisis.html").is_file() and not (tmp_path / "reforms.html").exists()


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["2", "4"])
def test_jobs_renders_the_same_files_as_one_after_another(tmp_path, jobs):
    # Notebooks running at once, in this process or in worker processes, render each variant as the
    # sequence does: the same bytes, every file.
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    render(out_dir=one)
    argv = [sys.executable, "-m", "analysis", "render", "--out", str(two), "--jobs", jobs]
    subprocess.run(argv, cwd=REPO, check=True, capture_output=True)
    names = sorted(path.name for path in one.iterdir() if path.is_file() and not path.name.endswith(".manifest.json"))
    assert names == sorted(path.name for path in two.iterdir() if path.is_file() and not path.name.endswith(".manifest.json"))
    assert {"full.pdf", "crisis.html", "reforms.timeline.json", "index.html"} <= set(names)
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


@pytest.mark.slow
def test_a_relative_out_folder_and_the_working_folder_do_not_change_where_or_what_is_written(tmp_path):
    # Exports run while the next notebook executes: nothing may change the process's working folder
    # meanwhile (papermill's cwd would), and the report records the notebook the same from anywhere.
    (tmp_path / "rel").mkdir()
    argv = [sys.executable, "-m", "analysis", "render", "--out", "rel", "--format", "html"]
    subprocess.run(argv, cwd=tmp_path, check=True, capture_output=True)
    for name in ("full", "crisis", "reforms"):
        page = (tmp_path / "rel" / f"{name}.html").read_text(encoding="utf-8")
        assert "Rendered by analysis from notebooks/report.ipynb." in page, name
    assert not (paths.NOTEBOOKS_DIR / "rel").exists()


# In every Python the test starts: each full collection as it starts (and whether anything was
# frozen by then), and at exit whether the collector is on.
COLLECTIONS_LOGGED = """
import atexit, gc, json, os, sys
def _log(entry):
    with open(os.environ["COLLECTIONS_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"pid": os.getpid(), "argv": sys.argv[:2], **entry}) + "\\n")
def _on_collection(phase, info):
    if phase == "start" and info["generation"] == 2:
        _log({"full_collection_frozen_first": gc.get_freeze_count() > 0})
gc.callbacks.append(_on_collection)
atexit.register(lambda: _log({"collects_at_exit": gc.isenabled()}))
"""


@pytest.mark.parametrize(("jobs", "workers"), [("1", 0), ("2", 0), ("4", 2)])
def test_the_render_s_processes_collect_no_cycles_while_they_import(tmp_path, jobs, workers):
    # Walking what the imports made again and again, while all of it stays in use, was a quarter of
    # their time: the command line, its workers and the kernel factory freeze it first, then collect.
    log = tmp_path / "collections.jsonl"
    env = {**os.environ, "PYTHONPATH": planted_sitecustomize(tmp_path / "site", COLLECTIONS_LOGGED), "COLLECTIONS_LOG": str(log)}
    out = tmp_path / "out"
    out.mkdir()
    argv = ["render", "--force", "--out", str(out), "--jobs", jobs, "--report", "crisis", "reforms", "full"]
    done = subprocess.run([sys.executable, "-m", "analysis", *argv], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    ours = [entry for entry in entries if entry["argv"][1:] == ["render"] or entry["argv"][0].endswith("kernel_factory.py")]
    assert [entry for entry in ours if entry.get("full_collection_frozen_first") is False] == []
    renders = [entry for entry in ours if entry["argv"][1:] == ["render"] and "collects_at_exit" in entry]
    assert len(renders) == 1 + workers  # the command line, and its workers
    assert all(entry["collects_at_exit"] for entry in renders), renders


def test_the_command_line_never_imports_the_iri_grammar(tmp_path):
    # JupyterLab brings in rfc3987-syntax, which jsonschema imports with nbformat: 1 s of every render.
    site, marker = tmp_path / "site", tmp_path / "imported"
    site.mkdir()
    (site / "rfc3987_syntax.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    subprocess.run([sys.executable, "-c", "import nbformat"], env=env, check=True)
    assert marker.exists(), "jsonschema no longer imports rfc3987_syntax: this test proves nothing"
    marker.unlink()
    for jobs in ("1", "4"):
        out = tmp_path / f"jobs-{jobs}"
        out.mkdir()
        argv = ["render", "--out", str(out), "--format", "html", "--jobs", jobs, "--report", "crisis", "reforms", "full"]
        done = subprocess.run([sys.executable, "-m", "analysis", *argv], cwd=REPO, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert (out / "crisis.html").exists() and not marker.exists(), f"imported with --jobs {jobs}"
