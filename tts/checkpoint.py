"""Checkpoint files of a training stage: atomic writes, rotation, random states, and loading for use.

A checkpoint is one dict (see tts/train/engine.py for the keys). Files in a stage folder:
ckpt-<step>.pt (the last `keep_last` are kept), last.pt (the newest, what a restart resumes from)
and best.pt (lowest validation loss). Our checkpoints hold the recipe, RNG states and numpy
arrays besides tensors, so loading needs the full unpickler: only load checkpoints you trust.
"""

from __future__ import annotations

import os
import platform
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_PATTERN = re.compile(r"ckpt-(\d+)\.pt$")


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
    """A checkpoint dict on the CPU; a directory means its best.pt, else its last.pt."""
    path = find_checkpoint(path)
    return torch.load(path, map_location="cpu", weights_only=False)


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


def remove_old_checkpoints(folder: Path, keep_last: int) -> None:
    """Delete all but the newest `keep_last` numbered checkpoints."""
    for _, path in numbered_checkpoints(folder)[:-keep_last]:
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
