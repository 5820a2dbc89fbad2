"""Text files written whole or not at all: a temporary name, then a rename (a stopped run leaves no half file)."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` and a newline to `path` through `<path>.tmp` and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """A tab-separated table; a tab or newline inside a cell is a ValueError (it would break the table)."""
    for row in rows:
        if any("\t" in str(cell) or "\n" in str(cell) for cell in row):
            raise ValueError(f"a tab or newline in {row} would break {path}")
    write_text_atomic(path, "\n".join("\t".join(map(str, r)) for r in [header, *rows]))
