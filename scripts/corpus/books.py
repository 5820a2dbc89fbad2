"""The source text: Jane Austen's six novels from the R package janeaustenr, or plain-text books.

janeaustenr keeps each novel as a character vector (one line per element) in an R lazy-load database
(Rdata.rdx index, Rdata.rdb blobs); Debian ships it as r-cran-janeaustenr, which is fetched with
`apt-get download` and unpacked, never installed.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

AUSTEN_PACKAGE = "r-cran-janeaustenr"
AUSTEN_DATA = Path("usr/lib/R/site-library/janeaustenr/data")  # inside the package's file tree
# (object name in the R data, title); the chapter id of a novel is its 1-based place here.
BOOKS = (
    ("sensesensibility", "Sense and Sensibility (1811)"),
    ("prideprejudice", "Pride and Prejudice (1813)"),
    ("mansfieldpark", "Mansfield Park (1814)"),
    ("emma", "Emma (1815)"),
    ("northangerabbey", "Northanger Abbey (1817)"),
    ("persuasion", "Persuasion (1817)"),
)


def find_austen_data(cache_dir: Path, austen_dir: Path | None = None) -> Path:
    """Folder holding janeaustenr's Rdata.rdb/.rdx: given, installed, cached, or fetched with apt-get."""
    candidates = [austen_dir] if austen_dir else [Path("/") / AUSTEN_DATA, cache_dir / "root" / AUSTEN_DATA]
    for folder in candidates:
        if (folder / "Rdata.rdb").is_file() and (folder / "Rdata.rdx").is_file():
            return folder
    if austen_dir:
        raise RuntimeError(f"{austen_dir} holds no Rdata.rdb/Rdata.rdx (janeaustenr's data folder)")
    return fetch_austen_data(cache_dir)


def fetch_austen_data(cache_dir: Path) -> Path:
    """`apt-get download` janeaustenr's Debian package into cache_dir and unpack it there; its data folder."""
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"janeaustenr's data not found and `{tool}` is missing: on a Debian/Ubuntu machine "
                               f"run `apt-get download {AUSTEN_PACKAGE}`, or pass --austen-dir or --text-file")
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info("fetching %s with apt-get download (into %s; the package is not installed)",
                AUSTEN_PACKAGE, cache_dir)
    fetched = subprocess.run(["apt-get", "download", AUSTEN_PACKAGE], cwd=cache_dir, capture_output=True, text=True)
    debs = sorted(cache_dir.glob(f"{AUSTEN_PACKAGE}_*.deb"))
    if not debs:
        raise RuntimeError(f"`apt-get download {AUSTEN_PACKAGE}` failed ({fetched.stderr.strip()[-300:]}); "
                           "run `apt-get update` first, or pass --text-file with plain-text books")
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(cache_dir / "root")], check=True)
    return cache_dir / "root" / AUSTEN_DATA


def _lazyload_entry(entry: bytes, compressed: int) -> bytes:
    """A serialized R object from a lazy-load entry: a 4-byte big-endian size, then (R's compress=TRUE)
    a zlib stream, or (compress=2 or 3) a type byte Z/2/X/0 and a zlib/bzip2/xz/plain body."""
    if compressed == 1:
        return zlib.decompress(entry[4:])
    kind, body = entry[4:5], entry[5:]
    if kind in (b"Z", b"2", b"X", b"0"):
        import bz2
        import lzma

        return {b"Z": zlib.decompress, b"2": bz2.decompress, b"X": lzma.decompress, b"0": bytes}[kind](body)
    raise RuntimeError(f"unknown lazy-load compression {kind!r} (compressed={compressed})")


def read_lazyload_database(folder: Path, stem: str = "Rdata") -> dict[str, list[str]]:
    """Character vectors of an R lazy-load database (<stem>.rdx index, <stem>.rdb zlib blobs)."""
    try:
        import rdata
    except ImportError as err:
        raise RuntimeError("reading janeaustenr's R data needs the `rdata` package: "
                           "pip install 'tts[corpus]' (or pip install rdata), or pass --text-file") from err
    import warnings

    index = rdata.read_rds(folder / f"{stem}.rdx")  # {'variables': {name: [offset, length]}, 'compressed': ...}
    compressed = int(np.asarray(index.get("compressed", [1])).ravel()[0])
    blob = (folder / f"{stem}.rdb").read_bytes()
    objects = {}
    for name, (offset, length) in index["variables"].items():
        raw = _lazyload_entry(blob[int(offset):int(offset) + int(length)], compressed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rdata warns that a bare serialization is "assumed RDS"
            value = rdata.conversion.convert(rdata.parser.parse_data(raw))
        objects[str(name)] = ["" if line is None else str(line) for line in value]
    return objects


def load_books(cache_dir: Path, austen_dir: Path | None, text_files: Sequence[Path]) -> list[tuple[str, list[str]]]:
    """(title, lines) per book: plain-text files when given, else Austen's six novels."""
    if text_files:
        return [(path.stem, path.read_text(encoding="utf-8", errors="replace").splitlines()) for path in text_files]
    objects = read_lazyload_database(find_austen_data(cache_dir, austen_dir))
    missing = [name for name, _ in BOOKS if name not in objects]
    if missing:
        raise RuntimeError(f"janeaustenr's data lacks {missing}; found {sorted(objects)}")
    return [(title, objects[name]) for name, title in BOOKS]
