#!/usr/bin/env python
"""How much of the audio each source of phone durations explains, side by side.

    .venv/bin/python scripts/bench_durations.py runs/offline12 [--train 1000] [--test 500]

For every source, each frame of an utterance is given a phone by that source's durations (in codec
frames, what stage durations trains on). A predictor that knows only the phone, the mean
log-mel frame of that phone over the first --train training utterances (each bin normalised over its
utterance), then predicts the next --test utterances; the script prints its mel L1 per source. The
better the durations, the lower the L1; durations no better than spreading the frames evenly over
the phones (uniform) say nothing about where the phones are. Sources: the run's aligner
(<run>/aligner/best.pt), the same shifted a codec frame early or late, and uniform.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def shifted(durations: np.ndarray, by: int) -> np.ndarray:
    """Every boundary between phones moved `by` frames (clipped to the utterance)."""
    bounds = np.concatenate([[0], np.cumsum(durations)])
    inner = np.clip(bounds[1:-1] + by, 0, bounds[-1])
    return np.diff(np.concatenate([[0], inner, [bounds[-1]]]))


def frame_labels(phones: np.ndarray, durations: np.ndarray, per_frame: int, n_mel: int) -> np.ndarray:
    """The phone id (n_mel,) of each mel frame under codec-frame durations."""
    labels = np.repeat(np.repeat(phones, durations), per_frame)[:n_mel]
    if len(labels) < n_mel:
        labels = np.concatenate([labels, np.full(n_mel - len(labels), labels[-1] if len(labels) else 0)])
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder with prepared/ (with codes) and aligner/best.pt")
    parser.add_argument("--train", type=int, default=1000, help="utterances the per-phone means come from")
    parser.add_argument("--test", type=int, default=500, help="utterances they predict")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from tts.config import load_recipe
    from tts.models.alignment import Aligner, codec_durations, even_durations, normalised_frames
    from tts.text.symbols import N_SYMBOLS, encode
    from tts.checkpoint import load_checkpoint
    from tts.train.aligner_task import align
    from tts.train.durations_task import DurationsTask

    recipe = load_recipe(args.run / "recipe.yaml") if (args.run / "recipe.yaml").is_file() else None
    if recipe is None:
        raise SystemExit(f"{args.run}/recipe.yaml is missing: pass a run folder that `tts train` wrote")
    task = DurationsTask(recipe)
    per_frame = task.mel_per_frame
    model = Aligner.from_checkpoint(load_checkpoint(args.run / "aligner"))
    items = task.dataset("train").items[:args.train + args.test]
    if len(items) < args.train + args.test:
        raise SystemExit(f"{args.run}: {len(items)} training utterances with codes, fewer than --train + --test")
    sources = ("aligner", "aligner, 1 frame early", "aligner, 1 frame late", "uniform")
    sums = {s: np.zeros((N_SYMBOLS, recipe.audio.n_mels)) for s in sources}
    counts = {s: np.zeros(N_SYMBOLS) for s in sources}
    errors = {s: [] for s in sources}
    start = time.perf_counter()
    for n, item in enumerate(items):
        frames = normalised_frames(torch.from_numpy(task.corpus.mel(item.record)))  # (F, M)
        phones = np.asarray(encode(item.record["phones"]))
        _, mel_durations = align(model, item.phones, frames)
        aligned = codec_durations(mel_durations, item.n_frames, per_frame)
        durations = {"aligner": aligned, "aligner, 1 frame early": shifted(aligned, -1),
                     "aligner, 1 frame late": shifted(aligned, 1), "uniform": even_durations(len(phones), item.n_frames)}
        mel = frames.numpy()
        for source, d in durations.items():
            labels = frame_labels(phones, d, per_frame, len(mel))
            if n < args.train:
                np.add.at(sums[source], labels, mel)
                np.add.at(counts[source], labels, 1)
            else:
                means = sums[source] / np.maximum(counts[source], 1)[:, None]
                errors[source].append(np.abs(means[labels] - mel).mean())
    print(f"{args.run}: per-phone mean-mel predictor from {args.train} utterances, tested on {args.test} "
          f"({time.perf_counter() - start:.0f} s)")
    print(f"{'durations':<26} {'mel L1':>7} {'vs uniform':>10}")
    for source in sources:
        l1 = float(np.mean(errors[source]))
        print(f"{source:<26} {l1:7.3f} {l1 / float(np.mean(errors['uniform'])):10.3f}")


if __name__ == "__main__":
    main()
