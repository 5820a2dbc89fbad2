"""Helpers for the data tests: tiny generated audio in each corpus's on-disk layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from tts.config import recipe_from_dict


def speechlike(seconds: float, rate: int, seed: int = 0, level: float = 0.3) -> np.ndarray:
    """A voiced-sounding test signal (S,): a modulated harmonic tone plus a little noise,
    with 0.1 s of silence on each side so that trimming has something to cut."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 100.0 + 15.0 * (seed % 7)
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3))
    wav = level * tone * (0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t)) / 1.8
    wav = wav + 0.01 * rng.standard_normal(t.shape)
    pad = np.zeros(int(0.1 * rate))
    return np.concatenate([pad, wav, pad]).astype(np.float32)


def write_audio(path: Path, seconds: float = 1.0, rate: int = 16000, channels: int = 1,
                seed: int = 0, level: float = 0.3, wav: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = speechlike(seconds, rate, seed, level) if wav is None else wav
    if channels > 1:
        data = np.stack([data * (1 - 0.1 * c) for c in range(channels)], axis=1)  # (S, C)
    sf.write(str(path), data, rate)
    return path


def write_text(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "A stitch in time saves nine.",
    "Every cloud has a silver lining.",
    "Actions speak louder than words.",
    "Time and tide wait for no man.",
    "Fortune favours the bold.",
    "Practice makes perfect.",
]


def make_folder_corpus(root: Path, speakers: int = 2, per_speaker: int = 4, rate: int = 16000,
                       seconds: float = 1.0) -> Path:
    """root/spkN/uttM.wav + .txt pairs."""
    for s in range(speakers):
        for u in range(per_speaker):
            base = root / f"spk{s}" / f"utt{u:02d}"
            write_audio(base.with_suffix(".wav"), seconds, rate, seed=s * 100 + u)
            write_text(base.with_suffix(".txt"), SENTENCES[(s + u) % len(SENTENCES)])
    return root


def make_recipe(tmp_path: Path, root: Path, reader: str = "folder", **data):
    """A small recipe: 16 kHz, 40 mel bins, no codec, output in tmp_path/run."""
    return recipe_from_dict({
        "output_dir": str(tmp_path / "run"),
        "audio": {"sample_rate": 16000, "n_fft": 512, "win_length": 512, "hop_length": 160, "n_mels": 40},
        "codec": {"kind": "none"},
        "data": {"reader": reader, "root": str(root), "shard_utterances": 4, **data},
    })
