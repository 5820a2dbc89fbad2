"""The phone durations of a prepared corpus, read off the trained AR's attention (README "Durations").

`nar.condition: durations` trains the NAR on them. They are computed once, from <run>/ar/best.pt,
teacher-forced over every utterance with codes, and kept in <run>/ar/durations.npz beside the
checkpoint they came from (its step is stored with them; a newer AR checkpoint does not redo them:
delete the file to). A killed computation leaves no file and starts again (a few minutes on a CPU).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tts.models.alignment import may_skip, monotonic_path, path_durations

log = logging.getLogger(__name__)

FILE = "durations.npz"
BATCH_TOKENS = 6000  # phones + frames per forward pass


def durations_path(recipe: Any) -> Path:
    return Path(recipe.output_dir) / "ar" / FILE


def load_durations(recipe: Any, task: Any) -> dict[str, np.ndarray]:
    """{utterance id: frames (L,) of each phone} for the corpus of `task` (an ARTask or NARTask),
    computed from the run's AR on first use."""
    path = durations_path(recipe)
    if not path.exists():
        compute_durations(recipe, task, path)
    return read_durations(path)


def read_durations(path: Path) -> dict[str, np.ndarray]:
    """{utterance id: frames (L,) of each phone} saved at `path` by compute_durations."""
    with np.load(path) as saved:
        ids, lengths, values = saved["ids"], saved["lengths"], saved["durations"]
    ends = np.cumsum(lengths)
    return {str(i): values[e - n:e] for i, n, e in zip(ids, lengths, ends)}


def compute_durations(recipe: Any, task: Any, path: Path) -> None:
    """Durations of every train and validation utterance from the AR's best.pt, saved at `path`."""
    from tqdm import tqdm

    from tts.models.ar import ARModel
    from tts.models.layers import pad_right
    from tts.train.batching import bucket_batches

    checkpoint_path = path.parent / "best.pt"
    if not checkpoint_path.exists():
        raise RuntimeError(f"nar.condition: durations reads the AR's attention, but {checkpoint_path} does not "
                           "exist: train the AR first (`tts train <recipe> --stage ar`)")
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    model = ARModel.from_checkpoint(checkpoint)
    if checkpoint.get("codec") and checkpoint["codec"] != task.codec_settings:
        log.warning("durations: %s learned other codes than the prepared corpus's now", checkpoint_path)
    layer = model.shape.layers // 2  # the layer guided attention pulls to the diagonal
    ids, lengths, values = [], [], []
    rng = np.random.default_rng(0)
    spread = 0  # utterances with fewer frames than phones
    for split in ("train", "validation"):
        data = task.dataset(split)
        batches = sorted(bucket_batches(data.lengths(), BATCH_TOKENS, rng), key=min)
        bar = tqdm(total=len(data), unit="utt", desc=f"durations {split}", dynamic_ncols=True)
        for items in batches:
            phones = [data.items[i].phones for i in items]
            audio = [torch.cat([torch.tensor([task.codebook_size + 1]), data.codes(i)[0]]) for i in items]  # BOS + codes
            phone_lengths = torch.tensor([len(p) for p in phones])
            audio_lengths = torch.tensor([len(a) for a in audio])
            L = int(phone_lengths.max())
            with torch.no_grad():
                _, weights = model(pad_right(phones, L), phone_lengths, pad_right(audio, int(audio_lengths.max())),
                                   audio_lengths, weights_layer=layer)
            for row, index in enumerate(items):
                item = data.items[index]
                n, T = len(item.phones), item.n_frames
                attention = weights[row, :, L:L + T, :n].float().mean(dim=0)  # (T, n): frame t's phones
                attention = attention / attention.sum(dim=-1, keepdim=True).clamp(min=1e-9)
                try:
                    path_ = monotonic_path(torch.log(attention + 1e-6).numpy(), may_skip(item.phones))
                    durations = path_durations(path_, n)
                except ValueError:  # fewer frames than phones to speak: spread them evenly
                    durations = np.diff(np.round(np.linspace(0, T, n + 1)).astype(np.int64))
                    spread += 1
                ids.append(item.id)
                lengths.append(n)
                values.append(durations)
            bar.update(len(items))
        bar.close()
    if spread:
        log.warning("durations: %d of %d utterances have fewer frames than phones that need one; their frames "
                    "are spread evenly over the phones", spread, len(ids))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, ids=np.asarray(ids), lengths=np.asarray(lengths, dtype=np.int64),
             durations=np.concatenate(values).astype(np.int16), ar_step=int(checkpoint.get("step", -1)))
    os.replace(partial, path)
    log.info("durations of %d utterances from %s (step %s) written to %s", len(ids), checkpoint_path,
             checkpoint.get("step"), path)
