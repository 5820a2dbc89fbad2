"""PNG plots of arrays: spectrograms, training curves, codec code maps, attention maps.

Shapes: F frequency bins, M mel bins, T frames, Q codebooks, L phones.

Every function takes numpy arrays and plain numbers and draws or writes a figure; reading audio,
metrics or corpora and computing features is tts/plot_files.py's. Figures are drawn with
matplotlib's object API on the Agg canvas (no pyplot, so no global backend or figure state),
imported inside the functions so that `import tts.plot` is cheap.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

DB_RANGE = 80.0  # dB shown below the loudest bin of all panels
PANEL_HEIGHT = 2.3  # inches per stacked spectrogram panel
DPI = 120
BOOKKEEPING = ("step", "split", "time", "epoch")  # metrics.jsonl keys that are not metrics
HZ_TICKS = (0, 250, 500, 1000, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 20000)  # mel axis labels


# --------------------------------------------------------------------------- spectrograms


def plot_spectrograms(panels: Sequence[tuple[np.ndarray, str, float]], output: str | Path, sample_rate: int,
                      hop_length: int, mel_band: tuple[float, float] | None = None) -> Path:
    """Stacked spectrogram panels on one colour scale, as PNG; see `spectrogram_figure`."""
    return _save(spectrogram_figure(panels, sample_rate, hop_length, mel_band), output)


def spectrogram_figure(panels: Sequence[tuple[np.ndarray, str, float]], sample_rate: int, hop_length: int,
                       mel_band: tuple[float, float] | None = None) -> Any:
    """(dB image (bins, T), title, seconds) panels stacked on a shared time axis and colour scale.

    mel_band = (f_min, f_max) in Hz: the rows are mel bins over that band, labelled in Hz; None:
    the rows are linear STFT bins from 0 to sample_rate / 2.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator

    if not panels:
        raise ValueError("nothing to plot: no spectrograms given")
    top = max(float(db.max()) for db, _, _ in panels)
    longest = max(seconds for _, _, seconds in panels)

    figure = Figure(figsize=(10, 0.9 + PANEL_HEIGHT * len(panels)), dpi=DPI, layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (db, title, seconds) in zip(axes, panels):
        extent_y = (0, sample_rate / 2) if mel_band is None else (0, db.shape[0])
        image = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=top - DB_RANGE, vmax=top,
                          extent=(0, db.shape[-1] * hop_length / sample_rate, *extent_y),
                          interpolation="nearest")
        ax.set_facecolor("0.85")  # grey where a shorter panel has ended
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylabel("frequency (Hz)")
        if mel_band is not None:
            positions, labels = _mel_ticks(*mel_band, db.shape[0])
            ax.yaxis.set_major_locator(FixedLocator(positions))
            ax.set_yticklabels(labels)
    axes[0].set_xlim(0, longest)
    axes[-1].set_xlabel("time (s)")
    kind = "linear STFT magnitude" if mel_band is None else f"log-mel, {panels[0][0].shape[0]} bins"
    figure.colorbar(image, ax=list(axes), label=f"dB ({kind})", fraction=0.03, pad=0.01,
                    aspect=20 * len(panels))  # as tall as the stack
    return figure


def _mel_ticks(f_min: float, f_max: float, n_mels: int) -> tuple[list[float], list[str]]:
    """Positions (in mel-bin units of the image) and Hz labels for a mel axis over f_min..f_max Hz."""
    from tts.audio.spectral import hz_to_mel

    low, high = float(hz_to_mel(f_min)), float(hz_to_mel(f_max))
    inner = [hz for hz in HZ_TICKS if f_min < hz < f_max]
    positions, labels = [], []
    for hz in [f_min, *inner, f_max]:  # the band edges are always labelled
        # filter i peaks at mel low + (i + 1) (high - low) / (M + 1); the image draws it at i + 0.5
        position = (float(hz_to_mel(hz)) - low) / (high - low) * (n_mels + 1) - 0.5
        position = min(max(position, 0.0), float(n_mels))
        gap = 0.07 * n_mels  # keep labels apart
        if hz == f_max:
            while positions and position - positions[-1] < gap:  # the top edge wins
                positions.pop()
                labels.pop()
        elif positions and position - positions[-1] < gap:
            continue
        positions.append(position)
        labels.append(f"{hz:g}")
    return positions, labels


# --------------------------------------------------------------------------- training curves


def plot_curves(runs: Sequence[tuple[str, list[dict]]], output: str | Path, keys: Sequence[str] | None = None,
                x: str = "step") -> Path:
    """Training and validation curves of (label, metric records) runs, as PNG; see `curves_figure`."""
    return _save(curves_figure(runs, keys, x), output)


def curves_figure(runs: Sequence[tuple[str, list[dict]]], keys: Sequence[str] | None = None,
                  x: str = "step") -> Any:
    """Training (solid) and validation (dashed) curves, one subplot per metric, runs overlaid; runs are
    (label, records of metrics.jsonl). Against the optimiser step, or (x="time") the hours of
    training (to compare runs of different speed at equal cost)."""
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


def plot_predictability(levels: Sequence[dict], output: str | Path, title: str = "") -> Path:
    """Bars per codebook level of held-out cross-entropy in nats (tts.eval.predictability rows: unigram,
    given_below, probe) under a line at the uniform guess: the lower, the more a NAR can learn."""
    from matplotlib.figure import Figure

    if not levels:
        raise ValueError("no levels to plot")
    kinds = [k for k in ("unigram", "given_below", "probe") if any(k in row for row in levels)]
    figure = Figure(figsize=(2 + 1.1 * len(levels), 3.2), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        xs = [row["level"] + (i - (len(kinds) - 1) / 2) * width for row in levels if kind in row]
        ax.bar(xs, [row[kind] for row in levels if kind in row], width, label=kind.replace("_", " "))
    ax.axhline(levels[0]["uniform"], color="black", linestyle="--", linewidth=1, label="uniform")
    ax.set_xticks([row["level"] for row in levels], [f"q{row['level']}" for row in levels])
    ax.set_xlabel("codebook level")
    ax.set_ylabel("held-out cross-entropy (nats)")
    ax.set_title(title or "how predictable each level is", fontsize=10, loc="left")
    ax.legend(fontsize=8, loc="lower left")
    return _save(figure, output)


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
