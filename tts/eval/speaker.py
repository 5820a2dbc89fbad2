"""Speaker similarity: cosine similarity of resemblyzer utterance embeddings.

resemblyzer's VoiceEncoder (a 3-layer LSTM, 256-d unit-norm embeddings) carries its weights
inside the PyPI package, so this works offline; it runs on the CPU here. A similarity alone
means little: always read it beside the similarity of real utterances of one speaker and of
two different speakers (`similarity_scale`), which is what the evaluation reports.
"""

from __future__ import annotations

import functools
import itertools
import logging
import warnings
from typing import Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # Hz, resemblyzer's input rate
MIN_SECONDS = 0.3  # shorter voiced audio gives no embedding


def _resemblyzer():
    with warnings.catch_warnings():  # resemblyzer imports a deprecated scipy path
        warnings.simplefilter("ignore")
        import resemblyzer
    return resemblyzer


class SpeakerEncoder:
    """resemblyzer's VoiceEncoder on the CPU, loaded on first use (about 2 s)."""

    sample_rate = SAMPLE_RATE

    def __init__(self) -> None:
        self._encoder = None

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = _resemblyzer().VoiceEncoder(device="cpu", verbose=False)
        return self._encoder

    def embed(self, wav: np.ndarray, sample_rate: int) -> np.ndarray | None:
        """Unit-norm utterance embedding (256,) of mono audio (S,), or None if too little is voiced."""
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1:
            raise ValueError(f"embed expects mono audio (S,), got shape {wav.shape}")
        if sample_rate != self.sample_rate:
            from tts.audio.io import resample

            wav = resample(wav, sample_rate, self.sample_rate)
        wav = np.clip(wav, -1.0, 1.0)
        if wav.size < MIN_SECONDS * self.sample_rate or not np.any(wav):
            return None
        voiced = _resemblyzer().preprocess_wav(wav)  # loudness up to -30 dBFS, long pauses cut (webrtcvad)
        if voiced.size < MIN_SECONDS * self.sample_rate:
            log.debug("%.2f s of voiced audio: no speaker embedding", voiced.size / self.sample_rate)
            return None
        embedding = self.encoder.embed_utterance(voiced)  # (256,)
        return embedding / max(float(np.linalg.norm(embedding)), 1e-12)


@functools.lru_cache(maxsize=1)
def default_speaker_encoder() -> SpeakerEncoder:
    """One speaker encoder per process, so that the weights load once."""
    return SpeakerEncoder()


def embed(wav: np.ndarray, sample_rate: int) -> np.ndarray | None:
    """Utterance embedding through the process's speaker encoder (None if too short)."""
    return default_speaker_encoder().embed(wav, sample_rate)


def cosine_similarity(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Cosine of the angle between two embeddings; None when either is missing."""
    if a is None or b is None:
        return None
    return float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


def speaker_similarity(wav: np.ndarray, sample_rate: int, other: np.ndarray, other_rate: int) -> float | None:
    """Speaker similarity of two waveforms (1 = same embedding), None if either is too short."""
    return cosine_similarity(embed(wav, sample_rate), embed(other, other_rate))


def mean_similarity(embedding: np.ndarray | None, others: Sequence[np.ndarray]) -> float | None:
    """Mean cosine similarity of one embedding to several (None if there are none)."""
    if embedding is None or not others:
        return None
    return float(np.mean([cosine_similarity(embedding, other) for other in others]))


def similarity_to_speakers(embedding: np.ndarray | None, speakers: Mapping[str, Sequence[np.ndarray]],
                           speaker: str | None) -> dict:
    """How close one utterance is to its own speaker's utterances and to everybody else's.

    Returns `same` (mean similarity to `speaker`'s utterances), `other` (mean over the other
    speakers of the mean similarity to each), `nearest_other` (the highest of those) and
    `closest` (the speaker with the highest mean similarity).
    """
    per_speaker = {name: mean_similarity(embedding, embeddings) for name, embeddings in speakers.items()}
    per_speaker = {name: value for name, value in per_speaker.items() if value is not None}
    others = [value for name, value in per_speaker.items() if name != speaker]
    return {
        "same": per_speaker.get(speaker) if speaker is not None else None,
        "other": float(np.mean(others)) if others else None,
        "nearest_other": max(others) if others else None,
        "closest": max(per_speaker, key=per_speaker.get) if per_speaker else None,
    }


def similarity_scale(speakers: Mapping[str, Sequence[np.ndarray]]) -> dict:
    """Similarity of real utterances: same speaker (distinct pairs) vs different speakers.

    `speakers` maps a speaker to embeddings of some of its utterances. Returns the means over
    all pairs, and per speaker the mean within the speaker and to the other speakers.
    """
    same_all, different_all, per_speaker = [], [], {}
    names = [name for name, embeddings in speakers.items() if len(embeddings)]
    for name in names:
        own = speakers[name]
        same = [cosine_similarity(a, b) for a, b in itertools.combinations(own, 2)]
        different = [cosine_similarity(a, b) for other in names if other != name
                     for a in own for b in speakers[other]]
        per_speaker[name] = {"utterances": len(own),
                             "same_speaker": float(np.mean(same)) if same else None,
                             "different_speaker": float(np.mean(different)) if different else None}
        same_all += same
    for first, second in itertools.combinations(names, 2):
        different_all += [cosine_similarity(a, b) for a in speakers[first] for b in speakers[second]]
    return {"same_speaker": float(np.mean(same_all)) if same_all else None,
            "different_speaker": float(np.mean(different_all)) if different_all else None,
            "same_pairs": len(same_all), "different_pairs": len(different_all),
            "per_speaker": per_speaker}
