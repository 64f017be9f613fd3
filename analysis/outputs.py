"""The output folder: checks, lock, staged writes, atomic publishing, the index page, and the render cache.

A render is skipped when its cache key (a hash of every input, the parameters, the formats and the
package versions) matches its manifest's and every output still has the digest the manifest records.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from . import paths
from .errors import EXIT_CANT_CREATE, EXIT_IO, EXIT_TEMPFAIL, RenderError
from .exports import index_html
from .schema import SLUG_PATTERN

VERSIONED_PACKAGES = (
    "pandas",
    "pyarrow",
    "matplotlib",
    "nbformat",
    "nbclient",
    "nbconvert",
    "papermill",
    "ipykernel",
    "weasyprint",
)
LOCK_NAME = ".render.lock"


# --- inputs and caching --------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    """The file's SHA-256, as hex."""
    with path.open("rb") as file:  # in blocks: a large input is never held in memory whole
        return hashlib.file_digest(file, "sha256").hexdigest()


def input_files(data_dir: Path, notebook: Path) -> dict[str, Path]:
    """Every file a render reads, by the name its manifest records: the notebook, the data, the package."""
    files = {"notebook": notebook}
    for folder in (paths.timeline_dir(data_dir), paths.sources_dir(data_dir)):
        for path in sorted(folder.glob("*")):
            if path.is_file():
                files[f"data/{folder.name}/{path.name}"] = path
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[f"analysis/{path.relative_to(package)}"] = path
    return files


def package_versions() -> dict[str, str]:
    """Python's version and each of ``VERSIONED_PACKAGES``', as the manifest records them."""
    versions = {"python": sys.version.split()[0]}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cache_key(input_hashes: dict[str, str], parameters: dict, formats: tuple[str, ...], versions: dict) -> str:
    """One hash of everything a report's outputs depend on."""
    blob = json.dumps(
        {"inputs": input_hashes, "parameters": parameters, "formats": formats, "versions": versions}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def read_manifest(path: Path) -> dict | None:
    """The manifest at ``path``, or None if it is missing, unreadable or not shaped as a render writes it.

    The output folder is the user's: a manifest there may be hand-edited, truncated or written by an
    earlier version, and is then treated as absent (its variant is rendered again), never trusted.
    """
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # json recurses once per nesting level, as tomllib does
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("name"), str):
        return None
    own_file = re.compile(rf"{re.escape(manifest['name'])}\.[a-z]+(\.[a-z]+)?")
    outputs, date_range = manifest.get("outputs"), manifest.get("date_range")
    shaped = (
        re.fullmatch(SLUG_PATTERN, manifest["name"])
        and all(isinstance(manifest.get(key), str) for key in ("title", "cache_key"))
        and isinstance(manifest.get("selection", ""), str)  # earlier versions did not record it
        and isinstance(outputs, dict)
        and all(own_file.fullmatch(name) and isinstance(digest, str) for name, digest in outputs.items())
        and isinstance(date_range, list)
        and len(date_range) == 2
        and all(day is None or isinstance(day, str) for day in date_range)
        and type(manifest.get("events")) is int
    )
    return manifest if shaped else None


def is_current(manifest_path: Path, key: str, out_dir: Path) -> bool:
    """True if the manifest has ``key`` and every output it lists is still there, unchanged."""
    manifest = read_manifest(manifest_path)
    if manifest is None or manifest["cache_key"] != key:
        return False
    for name, digest in manifest["outputs"].items():
        path = out_dir / name
        if not path.is_file() or sha256_of(path) != digest:
            return False
    return True


# --- output folder: checks, lock, staging, publishing ---------------------------------------------


INDEX_PAGE = "index.html"


def check_out_dir(out_dir: Path) -> None:
    """Raise RenderError (exit 73) unless ``out_dir`` is an existing folder this process can write in."""
    label = paths.display(out_dir)
    if not out_dir.exists():
        raise RenderError(f"cannot create output in {label}/: the folder does not exist", EXIT_CANT_CREATE)
    if not out_dir.is_dir():
        raise RenderError(f"cannot create output in {label}: it is not a folder", EXIT_CANT_CREATE)
    index = out_dir / INDEX_PAGE
    if index.exists() and not index.is_file():  # found only after every report, as the index is written
        raise RenderError(f"cannot create output {paths.display(index)}: it is a folder", EXIT_CANT_CREATE)
    probe = out_dir / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise RenderError(f"cannot create output in {label}/: {error.strerror}", EXIT_CANT_CREATE) from None


# What a render writes before it publishes: a staging folder per variant, the index's next version.
STAGING_FOLDER = re.compile(rf"\.staging-{SLUG_PATTERN}-[0-9]+")
INDEX_IN_PROGRESS = re.compile(r"\.index-[0-9]+\.html")


def remove_what_killed_renders_left(out_dir: Path) -> None:
    """Staging folders and index files of renders killed before they could clean up (SIGKILL, power loss).

    Called with the output lock held: no other render is writing in ``out_dir``, so all of them are
    stale. Only names a render gives them are touched; what cannot be removed is left.
    """
    for path in out_dir.iterdir():
        if STAGING_FOLDER.fullmatch(path.name) and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif INDEX_IN_PROGRESS.fullmatch(path.name) and path.is_file():
            with contextlib.suppress(OSError):
                path.unlink()


@contextlib.contextmanager
def output_lock(out_dir: Path) -> Iterator[int]:
    """Hold the output folder's lock, having removed what killed renders left; a second render to
    the same folder is refused, not interleaved.

    Yields the lock file's descriptor: a process given a copy of it (``--jobs`` workers) holds the
    lock with this one until it ends, even if this one is killed first.
    """
    path = out_dir / LOCK_NAME
    try:
        handle = open(path, "a+")  # noqa: SIM115 - held for the whole render
    except OSError as error:
        raise RenderError(f"cannot create output {paths.display(path)}: {error.strerror}", EXIT_CANT_CREATE) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RenderError(
                f"output {paths.display(out_dir)}/ is being rendered by pid {holder}; try again when it finishes",
                EXIT_TEMPFAIL,
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            remove_what_killed_renders_left(out_dir)
            yield handle.fileno()
        finally:  # only the holder clears its pid: a render refused meanwhile must leave it for the next
            with contextlib.suppress(OSError):
                handle.truncate(0)
    finally:
        handle.close()


def write_error(error: OSError, name: str) -> RenderError:
    """A failed write of file ``name`` as a clear error (exit 74); a full disk or quota says so."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return RenderError(f"no space left while writing {name}", EXIT_IO)
    return RenderError(f"cannot write {name}: {error.strerror}", EXIT_IO)


def write_file(path: Path, data: bytes | str) -> None:
    """Write a staging file; a failed write becomes a clear error (exit 74)."""
    try:
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    except OSError as error:
        raise write_error(error, path.name) from None


def publish(staging: Path, out_dir: Path, names: list[str]) -> None:
    """Move staged files into the output folder, each with one atomic rename, in the order given."""
    for name in names:
        os.replace(staging / name, out_dir / name)


# --- the index ------------------------------------------------------------------------------------


def update_index(out_dir: Path, names: list[str]) -> None:
    """Write ``index.html`` atomically, only if it changes: the variants ``names`` first, in their order, then
    every other report in the folder (rendered from another variants file, say), by name.

    A report is listed from its manifest, with the files it lists that are still there; one whose manifest
    is missing or not shaped as a render writes it, or whose files are all gone, is left out.
    """
    others = sorted(path.name.removesuffix(".manifest.json") for path in out_dir.glob("*.manifest.json"))
    manifests = []
    for name in dict.fromkeys([*names, *others]):
        manifest = read_manifest(out_dir / f"{name}.manifest.json")
        if manifest is None or manifest["name"] != name:
            continue
        present = {output: digest for output, digest in manifest["outputs"].items() if (out_dir / output).is_file()}
        if present:
            manifests.append({**manifest, "outputs": present})
    page = index_html(manifests)
    target = out_dir / INDEX_PAGE
    if target.exists() and target.read_text(encoding="utf-8") == page:
        return
    staging = out_dir / f".index-{os.getpid()}.html"
    try:
        write_file(staging, page)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
