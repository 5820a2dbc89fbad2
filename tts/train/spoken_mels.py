"""Log-mels a model speaks in time with each recording, for a stage that learns from them (stages refiner and
chain_vocoder).

The run's durations model speaks a recording's sentence at the aligner's durations of that recording (or the
NAR fills in the recording's own codebook 1), prompted like synthesis with another recording of the same
speaker, so that its log-mel frames line up with the recording's audio, the way Tacotron 2's vocoder learned
from ground-truth-aligned frames. The frames are computed once (minutes on a CPU) into a file of the stage's
folder; a killed computation leaves no file and starts again.

Shapes: M mel bins, T mel frames, L phones, Q codebooks.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from tts.audio.spectral import LOG_FLOOR
from tts.checkpoint import read_checkpoint
from tts.data.store import read_ragged, write_ragged

log = logging.getLogger(__name__)

BATCH = 16  # sentences per call of the model that speaks them (durations model or NAR)
PROMPT_SECONDS = 6.0  # prompts are drawn among the speaker's recordings at most this long (if any)


class SpokenMelCorpus:
    """A prepared corpus whose log-mels are the ones a model spoke (read_spoken_mels), restricted to the
    recordings it spoke; audio, codes and settings are the corpus's own."""

    def __init__(self, corpus: Any, mels: dict[str, np.ndarray]):
        self._corpus, self._mels = corpus, mels

    def __getattr__(self, name: str) -> Any:
        return getattr(self._corpus, name)

    def records(self, split: str = "all") -> list[dict]:
        return [r for r in self._corpus.records(split) if r["id"] in self._mels]

    def mel(self, record: dict) -> np.ndarray:
        """The model's log-mel (M, T) of the recording, cut or padded (silence) to its own mel frames."""
        mel = self._mels[record["id"]].T.astype(np.float32)  # (M, T')
        frames = int(record["n_mel_frames"])
        if mel.shape[1] < frames:
            mel = np.pad(mel, ((0, 0), (0, frames - mel.shape[1])), constant_values=math.log(LOG_FLOOR))
        return mel[:, :frames]


def read_spoken_mels(path: Path) -> dict[str, np.ndarray]:
    """{recording id: the log-mel frames (T, M) float16 a model spoke} saved at `path`."""
    return read_ragged(path, "frames")[0]


def aligned_durations_model(recipe: Any, corpus: Any, stage: str) -> tuple[
        dict[str, np.ndarray], Callable[[list[dict], list[dict]], tuple[list[torch.Tensor], list[torch.Tensor]]]]:
    """(the aligner's durations, speak): speak(records, prompt records) gives the run's durations model's log-mels
    (M, T r) and hidden states (D, T) of each record's sentence at the aligner's durations of its recording,
    prompted with its prompt record; RuntimeError, naming `stage`, while the model or the durations are missing."""
    from tts.data.durations import FILE as DURATIONS, read_durations
    from tts.models.durations import DurationsModel
    from tts.text.symbols import encode

    run_dir = Path(recipe.output_dir)
    model_file, durations_file = run_dir / "durations" / "best.pt", run_dir / "aligner" / DURATIONS
    for needed, how in ((model_file, "train the durations model first (`tts train <recipe> --stage durations`)"),
                        (durations_file, "stage durations writes it when it starts training")):
        if not needed.is_file():
            raise RuntimeError(f"stage {stage} hears the durations model at the aligner's durations, "
                               f"but {needed} does not exist: {how}")
    model = DurationsModel.from_checkpoint(read_checkpoint(model_file))
    durations = read_durations(durations_file)

    def speak(group: list[dict], prompt_records: list[dict]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        mels, _, hidden = model.speak(
            [torch.tensor(encode(r["phones"])) for r in group],
            [torch.as_tensor(np.asarray(corpus.codes(p)), dtype=torch.long) for p in prompt_records],
            [torch.tensor(encode(p["phones"])) for p in prompt_records],
            durations=[torch.as_tensor(durations[r["id"]].astype(np.int64)) for r in group], with_hidden=True)
        return mels, hidden

    return durations, speak


def write_spoken_mels(path: Path, corpus: Any, durations: dict[str, np.ndarray] | None, wanted: int, seed: int,
                      speak: Callable[[list[dict], list[dict]], list[torch.Tensor]], who: str) -> None:
    """Speak the recordings spoken_records chooses (seeded by `seed`), BATCH at a time, each with a voice prompt
    drawn among its speaker's other recordings: speak(records, prompt records) gives their log-mels (M, T'); the
    frames (T', M) are saved as float16 at `path`, keyed by recording id."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    chosen, prompts = spoken_records(corpus, durations, wanted, rng)
    ids, frames = [], []
    bar = tqdm(total=len(chosen), unit="utt", desc=f"{who} log-mels", dynamic_ncols=True)
    for start in range(0, len(chosen), BATCH):
        group = chosen[start:start + BATCH]
        with torch.no_grad():
            mels = speak(group, [_draw_prompt(prompts, r, rng) for r in group])
        for record, mel in zip(group, mels):
            ids.append(record["id"])
            frames.append(mel.T.cpu().numpy().astype(np.float16))  # (T', M)
        bar.update(len(group))
    bar.close()
    write_ragged(path, "frames", ids, frames)
    log.info("the %s's log-mels of %d recordings written to %s", who, len(ids), path)


def spoken_records(corpus: Any, durations: dict[str, np.ndarray] | None, wanted: int,
                   rng: np.random.Generator) -> tuple[list[dict], dict[str, list[dict]]]:
    """The recordings a model speaks for a vocoder to learn from: `wanted` training ones drawn at random (0: all)
    and every validation one, among those with aligner durations (if given), shortest first; and the pool of
    training recordings their voice prompts are drawn from (_draw_prompt)."""
    def usable(split: str) -> list[dict]:
        return [r for r in corpus.records(split) if durations is None or r["id"] in durations]

    train = usable("train")
    chosen = [train[i] for i in sorted(rng.permutation(len(train))[:wanted or len(train)])] + usable("validation")
    prompts = _prompt_pool(train, int(PROMPT_SECONDS * float(corpus.settings["codec"]["frame_rate"])))
    return sorted(chosen, key=lambda r: r["n_frames"]), prompts


def _prompt_pool(records: list[dict], most_frames: int) -> dict[str, list[dict]]:
    """{speaker: their recordings of at most most_frames codec frames, or all of them if none is that short}."""
    by_speaker: dict[str, list[dict]] = {}
    for r in records:
        by_speaker.setdefault(r["speaker"], []).append(r)
    return {s: [r for r in rs if r["n_frames"] <= most_frames] or rs for s, rs in by_speaker.items()}


def _draw_prompt(pool: dict[str, list[dict]], record: dict, rng: np.random.Generator) -> dict:
    """Another recording of the record's speaker (the record itself when it is the speaker's only one)."""
    others = [r for r in pool.get(record["speaker"], []) if r["id"] != record["id"]] or [record]
    return others[int(rng.integers(len(others)))]
