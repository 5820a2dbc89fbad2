"""The pitch of every phone of a prepared corpus, for the durations model with `durations.pitch`.

Each voiced phone's pitch is the median ln F0 over its frames (YIN, tts/audio/pitch.py), at the aligner's
durations (tts/train/durations.py), standardised by the mean and standard deviation over the voiced phones
of the training split: the model reads and predicts these z-scores, NaN where a phone is voiceless, a word
boundary or punctuation, or has no frame. They are computed once and kept in <run>/aligner/pitch.npz beside
the durations they were read at (delete both to redo them). A killed computation leaves no file and starts
again (a few minutes for 12 hours of audio on a CPU).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from tts.text.symbols import VOICED_IDS

log = logging.getLogger(__name__)

FILE = "pitch.npz"


def voiced(phones: Any) -> np.ndarray:
    """(L,) bool: the phones that carry a pitch (vowels and voiced consonants, tts.text.symbols.VOICED)."""
    return np.isin(np.asarray(phones), list(VOICED_IDS))


def load_pitch(recipe: Any, task: Any, durations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{utterance id: standardised ln F0 (L,) of each phone, NaN where it has none} for the corpus of `task`
    (a DurationsTask) at the codec-frame `durations`, computed on first use."""
    from tts.data.store import read_ragged

    path = Path(recipe.output_dir) / "aligner" / FILE
    if not path.exists():
        compute_pitch(task, durations, path)
    return read_ragged(path, "pitch")[0]


def compute_pitch(task: Any, durations: dict[str, np.ndarray], path: Path) -> None:
    """Standardised per-phone ln F0 of every train and validation utterance of `task`, saved at `path`."""
    from tqdm import tqdm

    from tts.audio.pitch import frame_log_f0, phone_log_f0
    from tts.data.store import write_ragged

    audio = task.recipe.audio
    ids, values, train_values = [], [], []
    for split in ("train", "validation"):
        data = task.dataset(split)
        for item in tqdm(data.items, unit="utt", desc=f"pitch {split}", dynamic_ncols=True):
            if item.id not in durations:
                raise RuntimeError(f"the durations have no utterance {item.id}: they were computed for another "
                                   "prepared corpus; delete <run>/aligner/durations.npz and pitch.npz to redo them")
            log_f0 = frame_log_f0(task.corpus.audio(item.record), audio.sample_rate, audio.hop_length)
            pitch = phone_log_f0(log_f0, np.asarray(durations[item.id], dtype=np.int64) * task.mel_per_frame,
                                 voiced(item.phones))
            ids.append(item.id)
            values.append(pitch)
            if split == "train":
                train_values.append(pitch[~np.isnan(pitch)])
    known = np.concatenate(train_values)
    if len(known) < 2:
        raise RuntimeError("no voiced phone with frames in the training split: durations.pitch has nothing to learn")
    mean, std = float(known.mean()), float(known.std())
    z_scores = [((v - mean) / max(std, 1e-3)).astype(np.float32) for v in values]
    write_ragged(path, "pitch", ids, z_scores, mean=mean, std=std)
    log.info("pitch of %d utterances written to %s (ln F0 mean %.3f = %.0f Hz, std %.3f)", len(ids), path, mean,
             np.exp(mean), std)
