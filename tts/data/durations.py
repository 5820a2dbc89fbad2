"""Where a run keeps the phone durations its aligner read off the prepared corpus, and how they are read.

<run>/aligner/durations.npz holds codec frames of each phone (stages ar and durations, `tts eval model --what
ar|durations`), <run>/aligner/mel_durations.npz mel frames (the codec stage, codec.phone_weight); both are ragged
arrays by utterance id with the aligner's step (tts.data.store.write_ragged). tts.train.durations computes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FILE = "durations.npz"  # codec frames of each phone
MEL_FILE = "mel_durations.npz"  # mel frames of each phone


def durations_path(recipe: Any) -> Path:
    return Path(recipe.output_dir) / "aligner" / FILE


def mel_durations_path(recipe: Any) -> Path:
    return Path(recipe.output_dir) / "aligner" / MEL_FILE


def read_durations(path: Path) -> dict[str, np.ndarray]:
    """{utterance id: frames (L,) of each phone} saved at `path`."""
    from tts.data.store import read_ragged

    return read_ragged(path, "durations")[0]
