"""The phone durations of a prepared corpus, read off the trained aligner (docs/durations.md).

Stage durations trains the durations model on them. They are computed once, from <run>/aligner/best.pt,
over every utterance with codes, in mel frames by the aligner's monotonic path and then rounded to
codec frames, and kept in <run>/aligner/durations.npz beside the checkpoint they came from (its step is
stored with them; a newer aligner checkpoint does not redo them: delete the file to). A killed
computation leaves no file and starts again (minutes on a CPU). The codec stage, which comes before
any codes, reads the same durations in mel frames from <run>/aligner/mel_durations.npz (codec.phone_weight);
where that file exists, the codec-frame durations are rounded from it instead of read off the aligner again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from tts.checkpoint import read_checkpoint
from tts.data.durations import durations_path, mel_durations_path, read_durations
from tts.models.alignment import attention_durations, codec_durations, normalised_frames, pad_frames

log = logging.getLogger(__name__)

BATCH_TOKENS = 20000  # phones + mel frames per forward pass


def load_durations(recipe: Any, task: Any) -> dict[str, np.ndarray]:
    """{utterance id: codec frames (L,) of each phone} for the corpus of `task` (a DurationsTask), computed
    from the run's aligner on first use."""
    path = durations_path(recipe)
    if not path.exists():
        compute_durations(recipe, task, path)
    return read_durations(path)


def compute_durations(recipe: Any, task: Any, path: Path) -> None:
    """Codec-frame durations of every train and validation utterance of `task` (a DurationsTask) from the
    aligner's best.pt, saved at `path`: rounded from the mel-frame durations the codec stage kept, where they
    cover every utterance and came from the same checkpoint, else read off the aligner again."""
    per_frame = task.mel_per_frame
    datasets = [task.dataset(split) for split in ("train", "validation")]
    convert = lambda item, mel_durations: codec_durations(mel_durations, item.n_frames, per_frame)  # noqa: E731
    if not _rounded_from_mel(mel_durations_path(recipe), path, datasets, convert):
        _write_aligned(path, datasets, "stage durations", convert)


def _rounded_from_mel(mel_path: Path, path: Path, datasets: list[Any],
                      convert: Callable[[Any, np.ndarray], np.ndarray]) -> bool:
    """Write `path` from the mel-frame durations at `mel_path` if they hold every item of `datasets` and were
    read off the aligner checkpoint beside `path`; whether they did."""
    checkpoint_path = path.parent / "best.pt"
    if not (mel_path.exists() and checkpoint_path.exists()):
        return False
    from tts.data.store import read_ragged, write_ragged

    mel_durations, extra = read_ragged(mel_path, "durations")
    step = int(read_checkpoint(checkpoint_path).get("step", -1))
    items = [item for data in datasets for item in data.items]
    if int(extra.get("aligner_step", -2)) != step or any(
            item.id not in mel_durations or len(mel_durations[item.id]) != len(item.phones) for item in items):
        return False
    write_ragged(path, "durations", [item.id for item in items],
                 [convert(item, mel_durations[item.id]).astype(np.int16) for item in items], aligner_step=step)
    log.info("durations of %d utterances rounded to codec frames from %s (aligner step %d), written to %s",
             len(items), mel_path, step, path)
    return True


def load_mel_durations(recipe: Any, corpus: Any) -> dict[str, np.ndarray]:
    """{utterance id: mel frames (L,) of each phone} of every train and validation utterance of the
    prepared `corpus` (no codes needed: the codec stage reads them), computed from the run's aligner on
    first use and kept in <run>/aligner/mel_durations.npz."""
    path = mel_durations_path(recipe)
    if not path.exists():
        from tts.train.aligner_task import MelDataset

        datasets = [MelDataset(corpus, split) for split in ("train", "validation")]
        _write_aligned(path, datasets, "codec.phone_weight", lambda item, mel_durations: mel_durations)
    return read_durations(path)


def _write_aligned(path: Path, datasets: list[Any], reader: str, convert: Callable[[Any, np.ndarray], np.ndarray]) -> None:
    """Run the aligner of path.parent/best.pt over the items (.id, .phones, .record) of `datasets` and save
    convert(item, its durations in mel frames) of each at `path` with the aligner's step."""
    from tqdm import tqdm

    from tts.data.store import write_ragged
    from tts.models.alignment import Aligner
    from tts.models.layers import pad_right
    from tts.train.batching import bucket_batches

    checkpoint_path = path.parent / "best.pt"
    if not checkpoint_path.exists():
        raise RuntimeError(f"{reader} reads the aligner's durations, but {checkpoint_path} does not exist: "
                           "train the aligner first (`tts train <recipe> --stage aligner`)")
    checkpoint = read_checkpoint(checkpoint_path)
    model = Aligner.from_checkpoint(checkpoint)
    ids, values = [], []
    rng = np.random.default_rng(0)
    spread = 0  # utterances with fewer mel frames than phones that need one
    for data in datasets:
        mel_frames = [int(item.record["n_mel_frames"]) for item in data.items]
        batches = sorted(bucket_batches([len(i.phones) + f for i, f in zip(data.items, mel_frames)], BATCH_TOKENS,
                                        rng), key=min)
        bar = tqdm(total=len(data.items), unit="utt", desc=f"durations of {len(data.items)} utterances",
                   dynamic_ncols=True)
        for items in batches:
            phones = [data.items[i].phones for i in items]
            frames = [normalised_frames(torch.from_numpy(data.corpus.mel(data.items[i].record))) for i in items]
            phone_lengths = torch.tensor([len(p) for p in phones])
            with torch.no_grad():
                log_attention = model(pad_right(phones, int(phone_lengths.max())), phone_lengths, pad_frames(frames))
            for row, index in enumerate(items):
                item = data.items[index]
                n, F = len(item.phones), len(frames[row])
                mel_durations, even = attention_durations(log_attention[row, :F, :n].numpy(), item.phones)
                spread += even
                ids.append(item.id)
                values.append(convert(item, mel_durations).astype(np.int16))
            bar.update(len(items))
        bar.close()
    if spread:
        log.warning("durations: %d of %d utterances have fewer mel frames than phones that need one; their "
                    "frames are spread evenly over the phones", spread, len(ids))
    write_ragged(path, "durations", ids, values, aligner_step=int(checkpoint.get("step", -1)))
    log.info("durations of %d utterances from %s (step %s) written to %s", len(ids), checkpoint_path,
             checkpoint.get("step"), path)
