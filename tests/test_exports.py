"""The PDF writer copies a plain PNG's pixel data as it is, and the PDF is the one WeasyPrint would make."""

from __future__ import annotations

import base64
import gc
import io
import json
import shutil
import struct
import subprocess
import sys
import zlib

import pytest
from conftest import REPO
from PIL import Image
from weasyprint.images import RasterImage

from analysis import charts, exports, load_timeline


def png(mode: str, **save_options) -> bytes:
    """A 40x30 gradient in ``mode``, saved as PNG with ``save_options``."""
    image = Image.linear_gradient("L").resize((40, 30)).convert(mode)
    data = io.BytesIO()
    image.save(data, format="png", **save_options)
    return data.getvalue()


def interlaced(data: bytes) -> bytes:
    """``data`` with the IHDR's interlace flag set (its CRC is not checked by the reader under test)."""
    flag = 8 + 8 + 12  # signature, IHDR length and type, then width, height, depth, colour, compression, filter
    return data[:flag] + b"\x01" + data[flag + 1 :]


def weasyprint_reencode():
    """WeasyPrint's own way: decode the PNG, save it again with Pillow's defaults, keep the IDAT stream."""
    exports.export_pdf("<p>installs the copy</p>")
    return RasterImage._get_png_data.__wrapped__  # the class attribute is our copy; it wraps the original


def page_with(*pngs: bytes) -> str:
    images = "".join(f'<img src="data:image/png;base64,{base64.b64encode(p).decode()}">' for p in pngs)
    return f"<!DOCTYPE html><html><body><p>figures</p>{images}</body></html>"


def pdf_both_ways(page: str, monkeypatch) -> tuple[bytes, bytes]:
    """The page as a PDF from export_pdf, and as WeasyPrint makes it re-encoding every image."""
    reencode = weasyprint_reencode()
    ours = exports.export_pdf(page)
    with monkeypatch.context() as patch:
        patch.setattr(RasterImage, "_get_png_data", staticmethod(reencode))
        theirs = exports.export_pdf(page)
    return ours, theirs


def pixels_of(pdf: bytes, tmp_path, name: str) -> bytes:
    if not shutil.which("pdftoppm"):
        pytest.skip("poppler-utils (pdftoppm) is not installed; .ci/run installs it")
    (tmp_path / f"{name}.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "72", "-png", str(tmp_path / f"{name}.pdf"), str(tmp_path / name)], check=True)
    return b"".join(Image.open(page).tobytes() for page in sorted(tmp_path.glob(f"{name}-*.png")))


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_plain_png_pixel_data_is_what_weasyprint_would_re_encode(mode):
    data = png(mode)
    pixels = exports.png_pixel_data(data)
    assert len(zlib.decompress(pixels)) == 30 * (1 + 40 * len(mode))  # a filter byte, then each row
    assert pixels == weasyprint_reencode()(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize(
    "data",
    [png("RGBA"), png("P"), png("LA"), png("I;16"), interlaced(png("RGB")), b"GIF89a", png("RGB")[:50]],
    ids=["alpha", "palette", "grey-alpha", "16-bit", "interlaced", "not-png", "truncated"],
)
def test_any_other_image_is_left_to_weasyprint(data):
    assert exports.png_pixel_data(data) is None


def test_the_report_charts_pdf_is_byte_identical_to_weasyprint_s_own(monkeypatch):
    timeline = load_timeline()
    figures = [charts.to_png(plot(timeline)) for plot in (charts.plot_timeline, charts.plot_actor_matrix)]
    assert all(exports.png_pixel_data(figure) is not None for figure in figures)  # the copy is taken
    ours, theirs = pdf_both_ways(page_with(*figures), monkeypatch)
    assert ours == theirs


def test_other_pngs_give_the_same_pages(monkeypatch, tmp_path):
    # Saved with other settings, a plain PNG's copied stream differs from a re-encoding, yet decodes
    # to the same pixels; images it cannot copy take WeasyPrint's way and give the same bytes.
    plain_other = png("RGB", compress_level=1)
    ours, theirs = pdf_both_ways(page_with(plain_other, png("L", compress_level=9)), monkeypatch)
    assert pixels_of(ours, tmp_path, "ours") == pixels_of(theirs, tmp_path, "theirs")
    others = page_with(png("RGBA"), png("P"), png("I;16"))
    ours, theirs = pdf_both_ways(others, monkeypatch)
    assert ours == theirs


def test_pixel_data_stops_at_the_end_chunk():
    data = png("RGB")
    trailing = struct.pack(">I4s", 4, b"IDAT") + b"junk" + b"\0\0\0\0"
    assert exports.png_pixel_data(data + trailing) == exports.png_pixel_data(data)


WEASYPRINT_IMPORT = """
import ctypes.util, json, os, sys
import analysis.exports
find_library = ctypes.util.find_library
programs = []
def audit(event, args):
    if event == "subprocess.Popen":
        programs.append(os.path.basename(os.fsdecode(args[1][0])))
sys.addaudithook(audit)
{import_it}
libraries = sorted({{line.split()[-1] for line in open("/proc/self/maps") if ".so" in line}})
print(json.dumps({{"programs": programs, "libraries": libraries, "restored": ctypes.util.find_library is find_library}}))
"""


def test_weasyprint_opens_the_same_libraries_without_running_a_compiler():
    # cffi asks find_library about every name WeasyPrint tries that does not open; on Linux each miss
    # runs gcc and ld too. Asking ldconfig only must open the very same libraries.
    def imported(import_it: str) -> dict:
        script = WEASYPRINT_IMPORT.format(import_it=import_it)
        done = subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, capture_output=True, text=True)
        return json.loads(done.stdout)

    plain = imported("import weasyprint")
    ours = imported("analysis.exports.import_weasyprint()")
    if not set(plain["programs"]) - {"ldconfig"}:
        pytest.skip("no gcc or ld here: a plain import of WeasyPrint runs only ldconfig, so there is nothing to spare")
    assert set(ours["programs"]) == {"ldconfig"}
    assert ours["libraries"] == plain["libraries"]
    assert any("libpango-1.0" in library for library in ours["libraries"])
    assert ours["restored"]


@pytest.mark.parametrize("enabled_before", [True, False])
def test_the_pdf_is_laid_out_without_collecting_cycles_and_the_collector_is_left_as_it_was(enabled_before, monkeypatch):
    page = page_with(png("RGB")) + "".join(f"<p>Paragraph {number} of a long report.</p>" for number in range(400))
    weasyprint = exports.import_weasyprint()
    write_pdf = weasyprint.HTML.write_pdf
    laying_out = []
    collections = []

    def watched_write_pdf(*args, **kwargs):
        laying_out.append(True)
        try:
            return write_pdf(*args, **kwargs)
        finally:
            laying_out.pop()

    def count(phase, info):
        if phase == "start" and laying_out:
            collections.append(info["generation"])

    monkeypatch.setattr(weasyprint.HTML, "write_pdf", watched_write_pdf)
    (gc.enable if enabled_before else gc.disable)()
    gc.callbacks.append(count)
    try:
        pdf = exports.export_pdf(page)
        enabled_after = gc.isenabled()
    finally:
        gc.callbacks.remove(count)
        gc.enable()
    assert pdf.startswith(b"%PDF")
    assert collections == []
    assert enabled_after is enabled_before
