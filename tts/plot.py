"""PNG plots: spectrograms for comparison, training curves, codec code maps.

Shapes: S samples, F frequency bins, M mel bins, T frames, Q codebooks.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, so no global
backend or figure state), imported inside the functions so that `import tts.plot` is cheap.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tts.config import AudioConfig

log = logging.getLogger(__name__)

DB_RANGE = 80.0  # dB shown below the loudest bin of all panels
PANEL_HEIGHT = 2.3  # inches per stacked spectrogram panel
DPI = 120
BOOKKEEPING = ("step", "split", "time", "epoch")  # metrics.jsonl keys that are not metrics
HZ_TICKS = (0, 250, 500, 1000, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 20000)  # mel axis labels


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
    figure = spectrogram_figure(items, audio, linear=linear)
    return _save(figure, output)


def spectrogram_figure(items: Sequence[tuple[np.ndarray, int, str]], audio: AudioConfig,
                       linear: bool = False) -> Any:
    """The matplotlib Figure behind `plot_spectrograms`: one image axis per item, shared time axis."""
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
            db = 20 * np.log10(np.maximum(linear_spectrogram(wav, audio).numpy(), 1e-5))  # (F, T)
        else:
            db = (20 / math.log(10)) * log_mel(wav, audio).numpy()  # (M, T): ln -> dB
        panels.append((db, title, wav.size / audio.sample_rate))
    return _panels_figure(panels, audio, linear)


def plot_mels(items: Sequence[tuple[np.ndarray, str]], output: str | Path, audio: AudioConfig) -> Path:
    """Stacked log-mel features (M, T) (natural log, as `tts.audio.spectral.log_mel` makes them)
    with titles, on one colour scale: for features that are not audio yet (a codec's rebuild)."""
    if not items:
        raise ValueError("nothing to plot: no features given")
    panels = [((20 / math.log(10)) * np.asarray(mel, dtype=np.float32), title,
               np.asarray(mel).shape[-1] * audio.hop_length / audio.sample_rate) for mel, title in items]
    return _save(_panels_figure(panels, audio, linear=False), output)


def _panels_figure(panels: Sequence[tuple[np.ndarray, str, float]], audio: AudioConfig, linear: bool) -> Any:
    """(dB image (bins, T), title, seconds) panels stacked on a shared time axis and colour scale."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator

    top = max(float(db.max()) for db, _, _ in panels)
    longest = max(seconds for _, _, seconds in panels)

    figure = Figure(figsize=(10, 0.9 + PANEL_HEIGHT * len(panels)), dpi=DPI, layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (db, title, seconds) in zip(axes, panels):
        frames = db.shape[-1]
        extent_y = (0, audio.sample_rate / 2) if linear else (0, db.shape[0])
        image = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=top - DB_RANGE, vmax=top,
                          extent=(0, frames * audio.hop_length / audio.sample_rate, *extent_y),
                          interpolation="nearest")
        ax.set_facecolor("0.85")  # grey where a shorter file has ended
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylabel("frequency (Hz)")
        if not linear:
            positions, labels = _mel_ticks(audio, db.shape[0])
            ax.yaxis.set_major_locator(FixedLocator(positions))
            ax.set_yticklabels(labels)
    axes[0].set_xlim(0, longest)
    axes[-1].set_xlabel("time (s)")
    kind = "linear STFT magnitude" if linear else f"log-mel, {audio.n_mels} bins"
    figure.colorbar(image, ax=list(axes), label=f"dB ({kind})", fraction=0.03, pad=0.01,
                    aspect=20 * len(panels))  # as tall as the stack
    return figure


def _mel_ticks(audio: AudioConfig, n_mels: int) -> tuple[list[float], list[str]]:
    """Positions (in mel-bin units of the image) and Hz labels for a mel axis."""
    from tts.audio.spectral import hz_to_mel

    low, high = float(hz_to_mel(audio.f_min)), float(hz_to_mel(audio.fmax))
    inner = [hz for hz in HZ_TICKS if audio.f_min < hz < audio.fmax]
    positions, labels = [], []
    for hz in [audio.f_min, *inner, audio.fmax]:  # the band edges are always labelled
        # filter i peaks at mel low + (i + 1) (high - low) / (M + 1); the image draws it at i + 0.5
        position = (float(hz_to_mel(hz)) - low) / (high - low) * (n_mels + 1) - 0.5
        position = min(max(position, 0.0), float(n_mels))
        gap = 0.07 * n_mels  # keep labels apart
        if hz == audio.fmax:
            while positions and position - positions[-1] < gap:  # the top edge wins
                positions.pop()
                labels.pop()
        elif positions and position - positions[-1] < gap:
            continue
        positions.append(position)
        labels.append(f"{hz:g}")
    return positions, labels


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
    """Training (solid) and validation (dashed) curves, one subplot per metric, runs overlaid;
    against the optimiser step, or (x="time") the hours of training (to compare runs of
    different speed at equal cost)."""
    if not paths:
        raise ValueError("give at least one metrics.jsonl or stage folder")
    runs = [(_run_label(Path(p)), read_metrics(p)) for p in paths]
    figure = curves_figure(runs, keys, x)
    return _save(figure, output)


def curves_figure(runs: Sequence[tuple[str, list[dict]]], keys: Sequence[str] | None = None,
                  x: str = "step") -> Any:
    """The Figure behind `plot_curves_files`; runs are (label, records)."""
    from matplotlib.figure import Figure

    if x not in ("step", "time"):
        raise ValueError(f"x must be step or time, not {x!r}")
    scale = 1.0 if x == "step" else 1 / 3600
    available = sorted({k for _, records in runs for r in records for k, v in r.items()
                        if k not in BOOKKEEPING and isinstance(v, (int, float)) and not isinstance(v, bool)})
    if keys:
        missing = [k for k in keys if k not in available]
        if missing:
            raise ValueError(f"metrics {missing} are not in the records; available: {available}")
        names = list(keys)
    else:  # losses by default; everything numeric when nothing is called a loss
        names = [k for k in available if "loss" in k] or available
    if not names:
        raise ValueError("the records hold no numeric metrics to plot")

    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure = Figure(figsize=(4.6 * columns, 3.2 * rows), dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).reshape(-1)
    colours = [f"C{i % 10}" for i in range(len(runs))]
    for ax, name in zip(axes, names):
        values = []
        for colour, (label, records) in zip(colours, runs):
            for split, style in (("train", "-"), ("validation", "--")):
                points = sorted((r[x] * scale, float(r[name])) for r in records
                                if r.get("split", "train") == split and _finite(r.get(name))
                                and _finite(r.get(x)))
                if points:
                    steps, ys = zip(*points)
                    values.extend(ys)
                    ax.plot(steps, ys, style, color=colour, linewidth=1.2,
                            marker="o" if split == "validation" else None, markersize=3,
                            label=f"{label} {split}" if len(runs) > 1 else split)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step" if x == "step" else "hours of training")
        ax.grid(alpha=0.3)
        if values and min(values) > 0 and max(values) / min(values) > 100:
            ax.set_yscale("log")
        if ax.lines:
            ax.legend(fontsize=7)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    return figure


def _run_label(path: Path) -> str:
    folder = path if path.is_dir() else path.parent
    return f"{folder.parent.name}/{folder.name}" if folder.parent.name else folder.name


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------- codes


def plot_codes(codes: np.ndarray, output: str | Path, title: str = "") -> Path:
    """Heat map of codec codes (Q, T): codebook (rows) against frame (columns), colour = code."""
    figure = codes_figure(codes, title)
    return _save(figure, output)


def codes_figure(codes: np.ndarray, title: str = "") -> Any:
    """The Figure behind `plot_codes`."""
    from matplotlib.figure import Figure

    codes = np.asarray(codes)
    if codes.ndim == 1:
        codes = codes[None]  # (1, T)
    if codes.ndim != 2 or codes.size == 0 or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"codes must be a non-empty integer array (Q, T), got {codes.dtype} {codes.shape}")
    n_codebooks, frames = codes.shape
    figure = Figure(figsize=(10, 1.4 + 0.35 * n_codebooks), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(codes, aspect="auto", interpolation="nearest", cmap="viridis",
                      extent=(0, frames, n_codebooks - 0.5, -0.5))
    step = max(1, math.ceil(n_codebooks / 16))  # at most ~16 row labels
    ax.set_yticks(range(0, n_codebooks, step), [f"q{q + 1}" for q in range(0, n_codebooks, step)])
    ax.set_xlabel("frame")
    ax.set_ylabel("codebook")
    ax.set_title(title or f"codes: {n_codebooks} codebooks x {frames} frames", fontsize=10, loc="left")
    figure.colorbar(image, ax=ax, label="code", fraction=0.03, pad=0.01)
    return figure


def plot_codes_file(source: str | Path, output: str | Path, prepared: str | Path | None = None) -> Path:
    """Code map of a .npy (Q, T) file, or of utterance id `source` in a prepared corpus folder."""
    if prepared is None:
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
        return plot_codes(codes, output, title=f"{path.name}: {codes.shape[0]} codebooks x {codes.shape[-1]} frames")

    try:
        from tts.data.corpus import PreparedCorpus
    except ImportError as err:
        raise ValueError(f"reading a prepared corpus is not available in this install ({err})") from None
    corpus = PreparedCorpus(prepared)
    record = next((r for r in corpus.records("all") if r["id"] == str(source)), None)
    if record is None:
        raise KeyError(f"utterance {str(source)!r} is not in the prepared corpus {prepared}")
    if not corpus.has_codes:
        raise ValueError(f"{prepared} has no codec codes yet; run `tts prepare` again once a codec is available")
    codes = corpus.codes(record)  # (Q, T)
    text = record.get("text", "")
    text = text if len(text) <= 60 else text[:57] + "..."
    return plot_codes(codes, output, title=f"{record['id']} ({record.get('speaker', '?')}): {text}")


# --------------------------------------------------------------------------- attention


def plot_attention(attention: np.ndarray, output: str | Path, title: str = "",
                   path: np.ndarray | None = None) -> Path:
    """Heat map of a frames-on-phones attention matrix (T, L): frame (x) against phone (y); `path`
    (T,), the phone each frame was given (e.g. a monotonic alignment), is drawn over it as a line.

    A model that has learned to read the text draws a rising diagonal.
    """
    from matplotlib.figure import Figure

    attention = np.asarray(attention, dtype=np.float64)
    if attention.ndim != 2 or attention.size == 0:
        raise ValueError(f"attention must be a non-empty (frames, phones) array, got shape {attention.shape}")
    frames, phones = attention.shape
    figure = Figure(figsize=(8, 4), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(attention.T, aspect="auto", origin="lower", interpolation="nearest", cmap="magma",
                      extent=(0, frames, 0, phones))
    if path is not None and len(path):
        ax.step(np.arange(len(path)) + 0.5, np.asarray(path) + 0.5, where="mid", color="cyan", linewidth=0.8,
                label="path")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlabel("audio frame")
    ax.set_ylabel("phone")
    ax.set_title(title or f"attention of {frames} frames on {phones} phones", fontsize=10, loc="left")
    figure.colorbar(image, ax=ax, label="attention", fraction=0.03, pad=0.01)
    return _save(figure, output)


# --------------------------------------------------------------------------- helpers


def _save(figure: Any, output: str | Path) -> Path:
    """Write a figure as PNG through a temporary file, so a reader never sees half a picture."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        figure.savefig(tmp, format="png")
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return output
