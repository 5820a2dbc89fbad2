"""Checkpoint files of a training stage: atomic writes, rotation, random states, and loading for use.

A checkpoint is one dict (see tts/train/engine.py for the keys). Files in a stage folder:
ckpt-<step>.pt (the last `keep_last` are kept), last.pt (the newest, what a restart resumes from)
and best.pt (lowest validation loss). Our checkpoints hold the recipe, RNG states and numpy
arrays besides tensors, so loading needs the full unpickler: only load checkpoints you trust.

A file that cannot be read (empty, cut short, overwritten) raises CheckpointError naming it; a
restart resumes from the newest checkpoint that can be read (`newest_readable`).
"""

from __future__ import annotations

import logging
import os
import pickle
import platform
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"ckpt-(\d+)\.pt$")
# what torch.load raises for a file that is empty (EOFError), cut short or not a zip archive (RuntimeError,
# OSError), garbled (UnpicklingError, ValueError, KeyError), or pickled by code that is gone (ImportError,
# AttributeError)
UNREADABLE = (EOFError, RuntimeError, OSError, pickle.UnpicklingError, ValueError, KeyError, ImportError,
              AttributeError)


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read; the message names it, says why and what to do."""

    def __init__(self, path: Path, reason: str, advice: str | None = None, what: str = "checkpoint"):
        self.path, self.reason = path, reason  # reason: "is empty (0 bytes)", "cannot be read (...)"
        super().__init__(f"{what} {path} {reason}{_advice(path) if advice is None else advice}")


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary file then rename, so a kill never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def copy_checkpoint(source: Path, path: Path) -> None:
    """Copy a checkpoint file atomically (last.pt, best.pt)."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint dict on the CPU; a directory means its best.pt, else its last.pt.

    CheckpointError (naming the file) when the file cannot be read.
    """
    return read_checkpoint(find_checkpoint(path))


def read_checkpoint(path: Path, weights_only: bool = False) -> Any:
    """torch.load of one file on the CPU, any failure to read it turned into a CheckpointError naming it."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(path, "is empty (0 bytes)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=weights_only)
    except UNREADABLE as err:
        raise CheckpointError(path, f"cannot be read ({size} bytes; {type(err).__name__}: {_first_sentence(err)}): "
                                    "it is damaged (cut short or overwritten) or not a checkpoint") from err
    if not weights_only and not isinstance(checkpoint, dict):
        raise CheckpointError(path, f"holds a {type(checkpoint).__name__}, not a checkpoint dict")
    if isinstance(checkpoint, dict) and "storage" in checkpoint:  # written by `tts export`: int8 back to fp32
        from tts.models.storage import restored

        try:
            checkpoint = restored(checkpoint)
        except ValueError as err:
            raise CheckpointError(path, f"cannot be loaded: {err}", advice="") from err
    return checkpoint


def _first_sentence(err: BaseException) -> str:
    """torch's first sentence only (its reader adds a paragraph about corruption that names no file)."""
    text = str(err).strip() or "no message"
    return text.split(". ")[0].rstrip(".")


def _advice(path: Path) -> str:
    """What to do about an unreadable checkpoint: the other checkpoints of its folder, if any."""
    others = [p.name for p in [path.parent / "last.pt", *reversed([p for _, p in numbered_checkpoints(path.parent)]),
                               path.parent / "best.pt"] if p.is_file() and p != path]
    if others:
        return (f". Its folder also holds {', '.join(others[:4])}: copy one that loads over it, or move it "
                "away (training resumes from the newest one that loads)")
    return ". Move it away and train the stage again (`tts train <recipe> --stage ...`)"


def newest_readable(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint a restart resumes from, and its dict: last.pt, or a newer ckpt-<step>.pt, or, when
    last.pt is missing or cannot be read, the newest ckpt-<step>.pt that can (logged as a warning with
    the reason). None when the folder holds no checkpoint; CheckpointError when none of them loads."""
    last, unreadable, chosen = folder / "last.pt", [], None
    if last.is_file():
        try:
            chosen = (last, read_checkpoint(last))
        except CheckpointError as err:
            unreadable.append(f"{err.path} {err.reason}")
    after = chosen[1].get("step", -1) if chosen else -1
    for step, path in reversed(numbered_checkpoints(folder)):
        if step <= after:
            break
        try:
            checkpoint = read_checkpoint(path)
        except CheckpointError as err:
            unreadable.append(f"{err.path} {err.reason}")
            continue
        why = ("; ".join(unreadable) if unreadable else f"no last.pt in {folder}" if chosen is None
               else f"{last} holds the older step {after}")
        log.warning("resuming from %s (step %s), the newest checkpoint that loads: %s", path,
                    checkpoint.get("step"), why)
        return path, checkpoint
    if chosen is None and unreadable:
        reasons = "; ".join(unreadable)
        raise CheckpointError(folder, f"holds no checkpoint that loads, so training cannot resume: {reasons}",
                              advice=". Move the folder away to train the stage afresh", what="stage folder")
    if unreadable:
        log.warning("resuming from %s; newer numbered checkpoints cannot be read: %s", last, "; ".join(unreadable))
    return chosen


def find_checkpoint(path: str | Path) -> Path:
    """The file itself, or in a stage folder best.pt (else last.pt); FileNotFoundError otherwise."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path} holds no best.pt or last.pt; train the stage first "
                                "(`tts train <recipe> --stage ...`)")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return path


def numbered_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of the ckpt-<step>.pt files in a folder, oldest first."""
    found = [(int(m.group(1)), p) for p in folder.glob("ckpt-*.pt") if (m := CHECKPOINT_PATTERN.search(p.name))]
    return sorted(found)


def remove_old_checkpoints(folder: Path, keep_last: int, step: int | None = None) -> None:
    """Delete all but the newest `keep_last` numbered checkpoints up to `step` (the one just written);
    a checkpoint of a later step (left by an earlier run that got further) is never deleted."""
    done = [path for number, path in numbered_checkpoints(folder) if step is None or number <= step]
    for path in done[:-keep_last]:
        path.unlink(missing_ok=True)


def is_complete(folder: Path, max_steps: int) -> bool:
    """True when the stage's final checkpoint (ckpt-<max_steps>.pt) exists."""
    return (folder / f"ckpt-{max_steps}.pt").is_file()


def rng_state() -> dict[str, Any]:
    """Random states of python, numpy and torch (CPU and every CUDA device)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def versions() -> dict[str, str]:
    """Versions of what produced a checkpoint."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        tts_version = version("tts")
    except PackageNotFoundError:
        tts_version = "unknown"
    return {"tts": tts_version, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}
