"""Fundamental frequency (F0) of speech, per frame and per phone, for the durations model with `durations.pitch`.

Shapes: S samples, T frames (centred, hop_length apart: T = 1 + S // hop_length, as the log-mel's),
L phones.

The per-frame estimate is YIN (librosa.yin): it has no voicing decision, so it reads a period even in
silence and in voiceless consonants. Which phones carry a pitch is decided by the phone itself
(vowels and voiced consonants, tts.text.symbols.VOICED), and a phone's pitch is the median of the
natural log of F0 over its frames, which an octave slip or a voiceless edge frame does not move.
"""

from __future__ import annotations

import numpy as np

F0_MIN = 60.0  # Hz: lowest F0 searched (a YIN frame must hold two periods: frame >= 2 sample_rate / F0_MIN)
F0_MAX = 500.0  # Hz: highest F0 searched


def frame_log_f0(audio: np.ndarray, sample_rate: int, hop_length: int) -> np.ndarray:
    """ln F0 (T,) of each centred frame of the waveform (S,), by YIN between F0_MIN and F0_MAX."""
    import librosa

    frame_length = 1 << int(np.ceil(np.log2(2.2 * sample_rate / F0_MIN)))  # two periods of F0_MIN, a power of 2
    audio = np.asarray(audio, dtype=np.float32)
    if len(audio) < frame_length:
        audio = np.pad(audio, (0, frame_length - len(audio)))
    f0 = librosa.yin(audio, fmin=F0_MIN, fmax=F0_MAX, sr=sample_rate, frame_length=frame_length,
                     hop_length=hop_length, center=True)
    return np.log(f0).astype(np.float32)  # (T,)


def phone_log_f0(log_f0: np.ndarray, frame_durations: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Median ln F0 (L,) over each phone's frames: NaN for a phone that is not voiced or has no frame.

    log_f0 (T,) per frame; frame_durations (L,) frames of each phone, in the same frames (their sum
    may pass T by a frame or two at the end: those frames are not read); voiced (L,) bool.
    """
    ends = np.cumsum(np.asarray(frame_durations, dtype=np.int64))
    starts = ends - np.asarray(frame_durations, dtype=np.int64)
    out = np.full(len(ends), np.nan, dtype=np.float32)
    for i, (start, end) in enumerate(zip(starts, np.minimum(ends, len(log_f0)))):
        if voiced[i] and end > start:
            out[i] = np.median(log_f0[start:end])
    return out
