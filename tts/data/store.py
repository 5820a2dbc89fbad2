"""Files that preparation stages hand over: written atomically, named by the key of their inputs.

A stage's output in a shard folder is `<stage>.<key>.json` (its per-utterance records), plus
`<stage>.<key>.npy` for stages with features. The key is a hash of everything the output depends
on (the stage's recipe keys and its inputs), so an output is either exactly right or absent.
Every file is written to a temporary name and renamed; the .json is written after the .npy, so
its presence marks the stage complete and a kill at any moment leaves nothing a later stage trusts.
The .json also records the .npy's size and checksum, so a file damaged later (cut short by a full
disk or a partial copy, overwritten) is found (`ShardFolder.damage`) and made again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def fingerprint(value: Any) -> str:
    """A short stable hash of a JSON-able value."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def file_digest(path: Path) -> str:
    """Content hash of a file (a codec checkpoint whose weights decide the codes; a shard array as written)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    # os.open applies the umask (mkstemp would make the file private to its owner)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    _atomic(path, lambda f: f.write(data))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, ensure_ascii=False, indent=1) + "\n")


def write_npy(path: Path, array: np.ndarray) -> None:
    _atomic(path, lambda f: np.save(f, array, allow_pickle=False))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_ragged(path: Path, key: str, ids: list[str], arrays: list[np.ndarray], **extra: Any) -> None:
    """One array per utterance, of any length along axis 0, saved as one .npz: `ids`, `lengths` and
    the arrays concatenated under `key`, beside the `extra` values."""
    lengths = np.asarray([len(a) for a in arrays], dtype=np.int64)
    _atomic(path, lambda f: np.savez(f, ids=np.asarray(ids), lengths=lengths, **{key: np.concatenate(arrays)},
                                     **extra))


def read_ragged(path: Path, key: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """({utterance id: its array}, {name: every other value saved}) of a file written by write_ragged."""
    with np.load(path) as saved:
        ids, lengths, values = saved["ids"], saved["lengths"], saved[key]
        extra = {name: saved[name] for name in saved.files if name not in ("ids", "lengths", key)}
    ends = np.cumsum(lengths)
    return {str(i): values[e - n:e] for i, n, e in zip(ids, lengths, ends)}, extra


class DamagedShardError(ValueError):
    """A prepared feature file that cannot be read; the message names it and says how to make it again."""


def memory_map(path: Path) -> np.ndarray:
    """np.load(mmap_mode="r"), or DamagedShardError naming the file (missing, cut short, not an array)."""
    try:
        return np.load(path, mmap_mode="r")
    except (OSError, ValueError, EOFError) as err:  # cut short: "mmap length is greater than file size"
        raise DamagedShardError(f"prepared file {path} is missing or damaged ({err}); run `tts prepare <recipe>` "
                                "again: it finds damaged shards and prepares them again") from err


def _npy_problem(path: Path) -> str | None:
    """Why a .npy file cannot be memory-mapped (cut short: its header asks for more bytes than it holds)."""
    try:
        memory_map(path)
    except DamagedShardError as err:
        return str(err.__cause__)
    return None


class ShardFolder:
    """One shard's folder of stage outputs."""

    def __init__(self, root: Path, index: int):
        self.index = index
        self.path = root / f"{index:05d}"

    def meta(self, stage: str, key: str) -> Path:
        return self.path / f"{stage}.{key}.json"

    def array(self, stage: str, key: str) -> Path:
        return self.path / f"{stage}.{key}.npy"

    def done(self, stage: str, key: str) -> bool:
        """The stage's output is there: its records, and its array at the size they record."""
        return self.meta(stage, key).is_file() and self.damage(stage, key, checksum=False) is None

    def damage(self, stage: str, key: str, checksum: bool = True) -> str | None:
        """Why a finished output cannot be trusted (its records unreadable, its array missing, of another
        size or, with `checksum`, other bytes than were written), or None when it is intact."""
        try:
            recorded = read_json(self.meta(stage, key)).get("array")
        except (OSError, ValueError) as err:  # ValueError: JSON cut short, or not UTF-8
            return f"{self.meta(stage, key)} cannot be read ({err})"
        path = self.array(stage, key)
        if recorded is None:  # written before sizes were recorded: at least its header must match its size
            problem = _npy_problem(path) if path.is_file() else None
            return f"{path} cannot be read ({problem})" if problem else None
        if not path.is_file():
            return f"{path} is missing"
        size = path.stat().st_size
        if size != recorded["bytes"]:
            return f"{path} holds {size} bytes, {recorded['bytes']} were written"
        if checksum and file_digest(path) != recorded["blake2b"]:
            return f"{path} holds other bytes than were written (its checksum differs)"
        return None

    def save(self, stage: str, key: str, items: list[dict], array: np.ndarray | None = None) -> None:
        """Write a stage's output (array first, then the records, with its size and checksum, that mark it complete)."""
        record: dict[str, Any] = {"stage": stage, "key": key, "items": items}
        if array is not None:
            path = self.array(stage, key)
            write_npy(path, array)
            record["array"] = {"file": path.name, "bytes": path.stat().st_size, "blake2b": file_digest(path)}
        write_json(self.meta(stage, key), record)
        self.remove_stale(stage, key)

    def forget(self, stage: str, key: str) -> None:
        """Mark a stage's output as not done (its records removed), so that it is made again."""
        self.meta(stage, key).unlink(missing_ok=True)

    def load(self, stage: str, key: str) -> list[dict]:
        return read_json(self.meta(stage, key))["items"]

    def remove_stale(self, stage: str, key: str) -> None:
        """Delete this stage's outputs for other keys."""
        for path in self.path.glob(f"{stage}.*"):
            if path.name.split(".")[1] != key:
                path.unlink(missing_ok=True)

    def remove_temporary(self) -> None:
        """Delete temporary files left by a kill (only one process works on a shard at a time)."""
        for path in self.path.glob(".*.tmp"):
            path.unlink(missing_ok=True)
