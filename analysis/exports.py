"""What a render writes: the report page (HTML), its PDF, the TimelineJS data and the index page.

Pure functions of an executed notebook or of a timeline: no kernel, no output folder. Every piece
of data that reaches HTML is escaped here.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import functools
import gc
import html
import importlib.util
import io
import logging
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import EXIT_UNAVAILABLE, RenderError

TEMPLATES = Path(__file__).resolve().parent / "templates"


def strip_volatile(notebook) -> None:
    """Remove what changes from run to run (timings, kernel details) so exports are byte-stable."""
    notebook.metadata.pop("papermill", None)
    for cell in notebook.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = "injected-parameters"  # papermill gives it a random id on every run


def export_html(notebook, title: str, footer: str, command: str = "") -> str:
    """The executed notebook as one self-contained HTML page: no code, no scripts, images inline.

    ``footer`` ends the page, followed by ``command``, the command line that renders it again, if given.
    """
    notebook.metadata["title"] = title
    css = (TEMPLATES / "report" / "report.css").read_text(encoding="utf-8")
    resources = {"report_css": css, "report_footer": footer, "report_command": command}
    body, _ = _html_exporter().from_notebook_node(notebook, resources=resources)
    return body


@functools.cache
def _html_exporter():
    """One exporter per process: it compiles its templates once, not for every report (0.05 s each)."""
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="report",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )


def import_weasyprint():
    """The weasyprint module, or RenderError (exit 69) if it or its Pango library is missing."""
    try:
        with _libraries_found_by_ldconfig_only():
            import weasyprint
    except (ImportError, OSError) as error:
        raise RenderError(f"PDF export needs WeasyPrint and its Pango library: {error}", EXIT_UNAVAILABLE) from None
    return weasyprint


@contextlib.contextmanager
def _libraries_found_by_ldconfig_only() -> Iterator[None]:
    """For the block, on Linux: ``ctypes.util.find_library`` asks ldconfig's cache, its first way, and no more.

    WeasyPrint opens each of its libraries by trying several names, and cffi asks ``find_library``
    about each name that does not open. Where ldconfig does not know a name, ``find_library`` goes on
    to run gcc and then ld: about 50 processes and 0.15-0.2 CPU s per import, for names that no way
    finds (``libgobject-2.0-0`` is a Windows name). The libraries opened are the same: those ldconfig
    knows, or a later name WeasyPrint tries, which the loader opens directly. One thread at a time:
    a second would otherwise keep the replacement as the function to put back.
    """
    ldconfig_only = getattr(ctypes.util, "_findSoname_ldconfig", None)  # CPython's, on Linux
    if ldconfig_only is None:
        yield
        return
    with _FIND_LIBRARY_SWAP:
        find_library = ctypes.util.find_library
        ctypes.util.find_library = ldconfig_only
        try:
            yield
        finally:
            ctypes.util.find_library = find_library


_FIND_LIBRARY_SWAP = threading.Lock()


def check_pdf_engine() -> None:
    """Before any kernel: WeasyPrint is installed and Pango can be found (the import, 0.6 s, comes later)."""
    if importlib.util.find_spec("weasyprint") is None:
        raise RenderError("PDF export needs WeasyPrint and its Pango library: weasyprint is not installed", EXIT_UNAVAILABLE)
    if ctypes.util.find_library("pango-1.0") is None:
        raise RenderError("PDF export needs WeasyPrint and its Pango library: libpango-1.0 not found", EXIT_UNAVAILABLE)


def export_pdf(page_html: str) -> bytes:
    """The HTML page as a PDF, laid out by WeasyPrint (pip-only; no browser or LaTeX needed)."""
    weasyprint = import_weasyprint()
    _embed_plain_pngs_as_they_are()
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    with _garbage_collection_off():
        # Tagged: a screen reader finds headings, lists, tables and each chart's alt text and caption.
        return weasyprint.HTML(string=page_html, base_url=str(TEMPLATES)).write_pdf(uncompressed_pdf=False, pdf_tags=True)


@contextlib.contextmanager
def _garbage_collection_off() -> Iterator[None]:
    """For the block, no garbage collection (of reference cycles); the state before is restored after.

    Laying out a page builds boxes by the hundred thousand, and the collector ran over them again
    and again (a tenth of a PDF's time) while they were all still in use. What the block leaves
    unreachable is collected by the next collection.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_pixel_data(png: bytes) -> bytes | None:
    """The compressed pixels (IDAT) of an 8-bit RGB or grey, non-interlaced PNG; None for any other PNG.

    A PDF image with /FlateDecode and PNG predictors holds exactly this stream, so it can be copied.
    """
    if not png.startswith(PNG_SIGNATURE):
        return None
    pixels, offset, header_seen = [], len(PNG_SIGNATURE), False
    while offset + 8 <= len(png):
        length, kind = struct.unpack_from(">I4s", png, offset)
        data = png[offset + 8 : offset + 8 + length]
        offset += length + 12  # length, type, data, CRC
        if len(data) != length:
            return None
        if not header_seen:
            if kind != b"IHDR" or length != 13:
                return None
            depth, colour, _, _, interlaced = struct.unpack(">5B", data[8:])
            if depth != 8 or colour not in (0, 2) or interlaced:  # grey or RGB, no palette, alpha or Adam7
                return None
            header_seen = True
        elif kind == b"IDAT":
            pixels.append(data)
        elif kind == b"IEND":
            break
    return b"".join(pixels) or None


@functools.cache
def _embed_plain_pngs_as_they_are() -> None:
    """Have WeasyPrint copy a plain PNG's pixel data into the PDF instead of decoding and re-encoding it.

    WeasyPrint decodes each image and saves it again with Pillow's defaults only to take out the
    compressed pixels: for our charts, saved with those same defaults, that yields the very bytes the
    file already holds, and costs a quarter of a report's PDF time. Any other image (or a WeasyPrint
    without this internal) takes WeasyPrint's own way.
    """
    from weasyprint.images import RasterImage

    reencode = getattr(RasterImage, "_get_png_data", None)
    if reencode is None:
        return

    @functools.wraps(reencode)
    def png_data(pillow_image) -> bytes:
        source = getattr(pillow_image, "fp", None)  # the file Pillow opened, unread until load()
        if pillow_image.format == "PNG" and isinstance(source, io.BytesIO):
            pixels = png_pixel_data(source.getvalue())
            if pixels is not None:
                return pixels
        return reencode(pillow_image)

    RasterImage._get_png_data = staticmethod(png_data)


# --- the data beside each report ----------------------------------------------------------------


def _date_objects(days) -> list[dict]:
    """TimelineJS date objects, computed once per distinct day."""
    import pandas as pd

    codes, distinct = pd.factorize(days)
    objects = [{"year": str(day.year), "month": str(day.month), "day": str(day.day)} for day in distinct]
    return [objects[code] for code in codes]


def timelinejs(timeline, title: str) -> dict:
    """The events in Knight Lab's TimelineJS JSON format; text is HTML-escaped, as TimelineJS renders HTML."""
    from .metrics import events_in_order
    from .narrative import PLACE_FROM_ANOTHER_PASSAGE, date_phrases, source_credit

    ordered = events_in_order(timeline.events)
    starts, ends = _date_objects(ordered["start"]), _date_objects(ordered["end"])
    is_range = (ordered["end"] != ordered["start"]).to_numpy()
    credits = {  # each event's quote is credited to its source, as the report's sources list does
        source.source_id: html.escape(f"Source: {source_credit(source.publisher, source.title, source.published)}.")
        for source in timeline.sources.itertuples()
    }
    events = []
    # Columns as lists: iterating an Arrow-backed column makes a Python object one call at a time.
    columns = ["event_id", "title", "summary", "quote", "source_id", "date_note", "location", "location_quote"]
    texts = [ordered[column].tolist() for column in columns] + [ordered["category"].astype(str).tolist()]
    for row, event in enumerate(zip(*texts, date_phrases(ordered), strict=True)):
        event_id, headline, summary, quote, source_id, date_note, location, location_quote, category, phrase = event
        body = f"<p>{html.escape(summary)}</p><blockquote>{html.escape(quote)}</blockquote><p>{credits.get(source_id, '')}</p>"
        if date_note:  # why a date not stated is where it is: the report gives it under each event too
            body += f"<p>{html.escape(phrase)}: {html.escape(date_note)}</p>"
        if location_quote:
            place = f"<p>{PLACE_FROM_ANOTHER_PASSAGE}: {html.escape(location)}</p>"
            body += f"{place}<blockquote>{html.escape(location_quote)}</blockquote>"
        entry = {
            "unique_id": event_id,
            "start_date": starts[row],
            "text": {"headline": html.escape(headline), "text": body},
            "group": category,
            "display_date": phrase,
        }
        if is_range[row]:
            entry["end_date"] = ends[row]
        events.append(entry)
    return {"title": {"text": {"headline": html.escape(title)}}, "events": events}


# --- the index ------------------------------------------------------------------------------------


def file_kind(file_name: str) -> str:
    return "TimelineJS" if file_name.endswith(".timeline.json") else file_name.rsplit(".", 1)[-1]


def index_html(manifests: list[dict]) -> str:
    """A page linking every rendered variant with its title, parameters and date range.

    The title links to the report's page, or to its PDF when only a PDF was rendered.
    """
    rows = []
    for manifest in manifests:
        links = " · ".join(
            f'<a href="{html.escape(output)}">{html.escape(file_kind(output))}</a>' for output in manifest["outputs"]
        )
        pages = (f"{manifest['name']}.html", f"{manifest['name']}.pdf")
        shown = next((page for page in pages if page in manifest["outputs"]), None)
        title = html.escape(manifest["title"])
        if shown:
            title = f'<a href="{html.escape(shown)}">{title}</a>'
        low, high = manifest["date_range"]
        rows.append(
            f"<tr><td>{title}</td>"
            f"<td>{html.escape(manifest.get('selection', 'not recorded (rendered by an earlier version)'))}</td>"
            f'<td class="dates">{html.escape(low or "")} – {html.escape(high or "")}</td>'
            f"<td>{int(manifest['events']):,}</td><td>{links}</td></tr>"
        )
    css = (TEMPLATES / "report" / "report.css").read_text(encoding="utf-8")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0"><title>Reports</title>'
        f'<style>{css}</style></head><body><main class="report"><h1>Reports</h1>'
        '<p class="subtitle">The report variants rendered into this folder, from the source-cited timeline of the UN '
        "News article of 19 April 2017 on UNMISS.</p>"
        '<div class="table-scroll"><table class="data"><thead><tr><th>Report</th><th>Selection</th>'
        "<th>Dates of the events shown</th><th>Events</th>"
        f"<th>Files</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div></main></body></html>\n"
    )
