"""The pitch of every phone of a prepared corpus, for a NAR with `nar.pitch: true` (README "Pitch").

Each voiced phone's pitch is the median ln F0 over its frames (YIN, tts/audio/pitch.py), at the
aligner's durations (tts/train/durations.py), standardised by the mean and standard deviation over
the voiced phones of the training split: the NAR reads and predicts these z-scores, NaN where a phone
is voiceless, a word boundary or punctuation, or has no frame. They are computed once and kept in
<run>/aligner/pitch.npz beside the durations they were read at (delete both to redo them). A killed
computation leaves no file and starts again (a few minutes for 12 hours of audio on a CPU).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from tts.text.symbols import VOICED_IDS

log = logging.getLogger(__name__)

FILE = "pitch.npz"


def pitch_path(recipe: Any) -> Path:
    return Path(recipe.output_dir) / "aligner" / FILE


def load_pitch(recipe: Any, task: Any, durations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{utterance id: standardised ln F0 (L,) of each phone, NaN where it has none} for the corpus of
    `task` (a NARTask) at the codec-frame `durations`, computed on first use."""
    path = pitch_path(recipe)
    if not path.exists():
        compute_pitch(task, durations, path)
    return read_pitch(path)[0]


def read_pitch(path: Path) -> tuple[dict[str, np.ndarray], tuple[float, float]]:
    """({utterance id: z-scores (L,)}, (mean, std) of ln F0 they were standardised by) saved at `path`."""
    with np.load(path) as saved:
        ids, lengths, values = saved["ids"], saved["lengths"], saved["pitch"]
        stats = (float(saved["mean"]), float(saved["std"]))
    ends = np.cumsum(lengths)
    return {str(i): values[e - n:e] for i, n, e in zip(ids, lengths, ends)}, stats


def compute_pitch(task: Any, durations: dict[str, np.ndarray], path: Path) -> None:
    """Standardised per-phone ln F0 of every train and validation utterance of `task`, saved at `path`."""
    from tqdm import tqdm

    from tts.audio.pitch import frame_log_f0, phone_log_f0

    audio = task.recipe.audio
    voiced_ids = np.asarray(sorted(VOICED_IDS))
    ids, lengths, values, train_values = [], [], [], []
    for split in ("train", "validation"):
        data = task.dataset(split)
        for item in tqdm(data.items, unit="utt", desc=f"pitch {split}", dynamic_ncols=True):
            if item.id not in durations:
                raise RuntimeError(f"the durations have no utterance {item.id}: they were computed for another "
                                   "prepared corpus; delete <run>/aligner/durations.npz and pitch.npz to redo them")
            log_f0 = frame_log_f0(task.corpus.audio(item.record), audio.sample_rate, audio.hop_length)
            phones = np.asarray(item.phones)
            pitch = phone_log_f0(log_f0, durations[item.id].astype(np.int64) * task.mel_per_frame,
                                 np.isin(phones, voiced_ids))
            ids.append(item.id)
            lengths.append(len(pitch))
            values.append(pitch)
            if split == "train":
                train_values.append(pitch[~np.isnan(pitch)])
    known = np.concatenate(train_values)
    if len(known) < 2:
        raise RuntimeError("no voiced phone with frames in the training split: nar.pitch has nothing to learn")
    mean, std = float(known.mean()), float(known.std())
    pitch = (np.concatenate(values) - mean) / max(std, 1e-3)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, ids=np.asarray(ids), lengths=np.asarray(lengths, dtype=np.int64),
             pitch=pitch.astype(np.float32), mean=mean, std=std)
    os.replace(partial, path)
    log.info("pitch of %d utterances written to %s (ln F0 mean %.3f = %.0f Hz, std %.3f)", len(ids), path, mean,
             np.exp(mean), std)
