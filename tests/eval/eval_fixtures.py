"""Helpers for the evaluation tests: short real speech clips made by flite."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

SENTENCE = "She opened the door and looked outside."
OTHER_SENTENCE = "Please call me back in the morning."


def flite_clip(folder: Path, voice: str, text: str, name: str) -> Path:
    """A wav of `text` spoken by a flite voice (16 kHz), or a skipped test without flite."""
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed (apt-get install -y flite)")
    path = folder / f"{name}.wav"
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True,
                   capture_output=True, timeout=60)
    return path


def read(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    wav, sample_rate = sf.read(str(path), dtype="float32")
    return wav, sample_rate
