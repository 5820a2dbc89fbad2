"""What the plots of tts/plot.py are drawn from: audio files and waveforms (their spectrograms with a
recipe's audio settings), metrics.jsonl files, .npy code files and prepared corpora.

Shapes: S samples, F frequency bins, M mel bins, T frames, Q codebooks.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from tts import plot
from tts.config import AudioConfig

log = logging.getLogger(__name__)

LN_TO_DB = 20 / math.log(10)  # natural-log amplitude -> dB


# --------------------------------------------------------------------------- spectrograms


def plot_spectrogram_files(files: Sequence[str | Path], output: str | Path, audio: AudioConfig,
                           linear: bool = False) -> Path:
    """Stacked spectrograms of audio files (resampled to audio.sample_rate), titled by file name."""
    from tts.audio.io import audio_info, load_audio

    if not files:
        raise ValueError("give at least one audio file to plot")
    items = []
    for path in files:
        rate = audio_info(path)[0]
        wav, _ = load_audio(path, audio.sample_rate)
        title = Path(path).name
        if rate != audio.sample_rate:
            title += f"  ({rate} Hz, shown at {audio.sample_rate} Hz)"
        items.append((wav, audio.sample_rate, title))
    return plot_spectrograms(items, output, audio, linear=linear)


def plot_spectrograms(items: Sequence[tuple[np.ndarray, int, str]], output: str | Path,
                      audio: AudioConfig, linear: bool = False) -> Path:
    """Stacked mel (or linear) spectrograms of (wav (S,), sample_rate, title) items, one colour scale."""
    return plot.plot_spectrograms(spectrogram_panels(items, audio, linear), output, audio.sample_rate,
                                  audio.hop_length, None if linear else (audio.f_min, audio.fmax))


def spectrogram_panels(items: Sequence[tuple[np.ndarray, int, str]], audio: AudioConfig,
                       linear: bool = False) -> list[tuple[np.ndarray, str, float]]:
    """(dB image, title, seconds) panels of (wav (S,), sample_rate, title) items, resampled to
    audio.sample_rate: log-mel (M, T) with the recipe's settings, or linear STFT magnitude (F, T)."""
    from tts.audio.io import resample
    from tts.audio.spectral import linear_spectrogram, log_mel

    if not items:
        raise ValueError("nothing to plot: no audio given")
    panels = []
    for wav, rate, title in items:
        wav = np.asarray(wav, dtype=np.float32).reshape(-1)  # (S,)
        if wav.size == 0:
            raise ValueError(f"{title}: empty waveform, nothing to plot")
        if rate != audio.sample_rate:
            wav = resample(wav, rate, audio.sample_rate)
        if linear:
            db = 20 * np.log10(np.maximum(linear_spectrogram(wav, **audio.stft_kwargs()).numpy(), 1e-5))  # (F, T)
        else:
            db = LN_TO_DB * log_mel(wav, **audio.mel_kwargs()).numpy()  # (M, T)
        panels.append((db, title, wav.size / audio.sample_rate))
    return panels


def plot_mels(items: Sequence[tuple[np.ndarray, str]], output: str | Path, audio: AudioConfig) -> Path:
    """Stacked log-mel features (M, T) (natural log, as `tts.audio.spectral.log_mel` makes them)
    with titles, on one colour scale: for features that are not audio yet (a codec's rebuild)."""
    if not items:
        raise ValueError("nothing to plot: no features given")
    panels = [(LN_TO_DB * np.asarray(mel, dtype=np.float32), title,
               np.asarray(mel).shape[-1] * audio.hop_length / audio.sample_rate) for mel, title in items]
    return plot.plot_spectrograms(panels, output, audio.sample_rate, audio.hop_length, (audio.f_min, audio.fmax))


# --------------------------------------------------------------------------- training curves


def read_metrics(path: str | Path) -> list[dict]:
    """Records of a metrics.jsonl (or of the one inside a stage folder); bad lines are skipped."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; give a metrics.jsonl or a stage folder "
                                "(e.g. runs/demo/ar) holding one")
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # e.g. a line still being written
                log.warning("%s:%d is not JSON; skipped", path, number)
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), (int, float)):
                records.append(record)
    if not records:
        raise ValueError(f"{path} holds no metric records (lines of JSON with a 'step')")
    return records


def plot_curves_files(paths: Sequence[str | Path], output: str | Path,
                      keys: Sequence[str] | None = None, x: str = "step") -> Path:
    """Curves of metrics.jsonl files (or stage folders holding one), labelled <run>/<stage>;
    see `tts.plot.curves_figure`."""
    if not paths:
        raise ValueError("give at least one metrics.jsonl or stage folder")
    runs = [(_run_label(Path(p)), read_metrics(p)) for p in paths]
    return plot.plot_curves(runs, output, keys, x)


def _run_label(path: Path) -> str:
    folder = path if path.is_dir() else path.parent
    return f"{folder.parent.name}/{folder.name}" if folder.parent.name else folder.name


# --------------------------------------------------------------------------- codes


def plot_codes_file(source: str | Path, output: str | Path, prepared: str | Path | None = None) -> Path:
    """Code map of a .npy (Q, T) file, or of utterance id `source` in a prepared corpus folder."""
    if prepared is not None:
        return _plot_corpus_codes(str(source), output, prepared)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; give a .npy of codes (Q, T), "
                                "or an utterance id with --prepared")
    try:
        codes = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"{path}: not a numpy .npy array ({err})") from None
    while codes.ndim > 2 and codes.shape[0] == 1:
        codes = codes[0]  # (B=1, Q, T) -> (Q, T)
    return plot.plot_codes(codes, output, title=f"{path.name}: {codes.shape[0]} codebooks x {codes.shape[-1]} frames")


def _plot_corpus_codes(utterance: str, output: str | Path, prepared: str | Path) -> Path:
    from tts.data.corpus import PreparedCorpus

    corpus = PreparedCorpus(prepared)
    record = next((r for r in corpus.records("all") if r["id"] == utterance), None)
    if record is None:
        raise KeyError(f"utterance {utterance!r} is not in the prepared corpus {prepared}")
    if not corpus.has_codes:
        raise ValueError(f"{prepared} has no codec codes yet; run `tts prepare` again once a codec is available")
    codes = corpus.codes(record)  # (Q, T)
    text = record.get("text", "")
    text = text if len(text) <= 60 else text[:57] + "..."
    return plot.plot_codes(codes, output, title=f"{record['id']} ({record.get('speaker', '?')}): {text}")
