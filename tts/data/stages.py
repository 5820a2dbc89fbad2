"""The per-shard stages of `tts prepare`: text -> phones, audio, log-mel, codec codes.

Each stage reads a shard's utterances (and, for mel and codes, the shard's prepared audio) and
writes one record per utterance, either what it made or why it could not (`drop`). Stages never
filter by recipe limits: lengths, levels and phone counts are checked when shards are merged,
so changing a limit re-runs only the merge.

Stored features (S samples, T frames, M mel bins, Q codebooks), concatenated over the shard:
    audio int16 (S_total,)   mel float16 (T_total, M)   codes int16 (T_total, Q)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tts.audio.io import (AudioError, audio_info, clipped_fraction, load_audio, normalize_loudness,
                          resample, rms_db, trim_silence)
from tts.audio.spectral import MelSpectrogram
from tts.config import Recipe
from tts.data.readers import Utterance
from tts.data.store import ShardFolder, memory_map
from tts.device import resolve_device

log = logging.getLogger(__name__)

STAGES = ("text", "audio", "mel", "codes")
# Bump a stage's version when its code changes what it writes, so old outputs are redone.
STAGE_VERSIONS = {"text": 1, "audio": 1, "mel": 1, "codes": 1, "merge": 1}
INT16_SCALE = 32768.0


class PrepareError(RuntimeError):
    """Preparation cannot go on (nothing usable left, unfinished shards, an unreadable corpus)."""


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker process needs to prepare one shard."""

    index: int
    root: str  # the shards folder
    utterances: tuple[Utterance, ...]
    keys: dict[str, str]  # stage -> key; "codes" only when a codec is available
    recipe: Recipe
    threads: int = 0  # torch threads in a worker process (0 = leave as is)


@dataclass
class ShardResult:
    index: int
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> compute time (only if run)
    setup_seconds: float = 0.0  # loading models (G2P, codec) in this process
    audio_seconds: float = 0.0  # seconds of stored audio in the shard
    utterances: int = 0


# --------------------------------------------------------------------------- text


def load_front_end() -> None:
    """Load the G2P model now: one that cannot load is a setup problem, not a bad sentence."""
    from tts.text import load_phonemizer

    try:
        load_phonemizer()
    except (ImportError, LookupError, OSError, RuntimeError, ValueError) as err:
        raise PrepareError(f"the text front end (G2P) cannot load: {type(err).__name__}: {err}") from err


def text_items(utterances: tuple[Utterance, ...], keep_punctuation: bool = True) -> list[dict]:
    """Normalised text and phones for each utterance, or the reason it has none.

    keep_punctuation=False (text.keep_punctuation) leaves the punctuation tokens out of the phones.
    """
    from tts.text import UnspeakableTextError, text_to_phones

    load_front_end()
    items = []
    for utt in utterances:
        if not utt.text.strip():
            items.append({"id": utt.id, "drop": "empty_text", "detail": "the transcript is empty"})
            continue
        try:
            normalized, phones = text_to_phones(utt.text, keep_punctuation=keep_punctuation)
        except UnspeakableTextError as err:
            items.append({"id": utt.id, "drop": "unspeakable_text", "detail": str(err)})
            continue
        # deliberately broad: G2P is a model with many ways to fail, and one sentence must not stop a corpus
        except Exception as err:  # noqa: BLE001
            items.append({"id": utt.id, "drop": "g2p_failed", "detail": f"{type(err).__name__}: {err}"})
            continue
        if not phones:
            items.append({"id": utt.id, "drop": "unspeakable_text", "detail": f"no phones for {utt.text!r}"})
            continue
        items.append({"id": utt.id, "normalized": normalized, "phones": list(phones)})
    return items


# --------------------------------------------------------------------------- audio


def load_one(path: str, recipe: Recipe) -> tuple[dict, np.ndarray | None]:
    """Load, measure, resample, trim and level one file: (record, int16 audio or None if dropped)."""
    audio = recipe.audio
    try:
        if Path(path).stat().st_size == 0:
            return {"drop": "empty_audio", "detail": f"{path}: zero-length file"}, None
        sample_rate, channels, frames = audio_info(path)
        if frames == 0:
            return {"drop": "empty_audio", "detail": f"{path}: the file holds no samples"}, None
        wav, sample_rate = load_audio(path)  # (S,) at the file's own rate
    except (AudioError, OSError, RuntimeError, EOFError) as err:
        return {"drop": "unreadable_audio", "detail": str(err)}, None
    record = {
        "source_sample_rate": sample_rate,
        "channels": channels,
        # measured on the file as recorded, before any gain
        "rms_db": round(rms_db(wav), 2),
        "clipped": round(clipped_fraction(wav), 5),
    }
    wav = resample(wav, sample_rate, audio.sample_rate)
    wav = trim_silence(wav, audio.sample_rate, audio.trim_db)
    wav = normalize_loudness(wav, audio.loudness_db)
    pcm = np.clip(np.round(wav * INT16_SCALE), -32768, 32767).astype(np.int16)  # (S,)
    record["n_samples"] = int(pcm.shape[0])
    return record, pcm


def audio_items(utterances: tuple[Utterance, ...], recipe: Recipe) -> tuple[list[dict], np.ndarray]:
    """Prepared audio of a shard: records with offsets, and all kept samples concatenated."""
    items, pieces, offset = [], [], 0
    for utt in utterances:
        record, pcm = load_one(utt.audio_path, recipe)
        record["id"] = utt.id
        if pcm is not None:
            record["offset"] = offset
            offset += pcm.shape[0]
            pieces.append(pcm)
        items.append(record)
    array = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)  # (S_total,)
    return items, array


# --------------------------------------------------------------------------- mel


def _frame_items(audio_records: list[dict], audio: np.ndarray, analyse: Any, count_key: str,
                 width: int, dtype: Any) -> tuple[list[dict], np.ndarray]:
    """Run `analyse(wav (S,) float32 tensor) -> (T, C) array` on each stored utterance.

    Reads the stored int16 samples, so features are exactly those of PreparedCorpus.audio.
    Returns records with offsets and counts under `count_key`, and the (T_total, width) array.
    """
    items, pieces, offset = [], [], 0
    with torch.inference_mode():
        for rec in audio_records:
            if "offset" not in rec:
                continue
            pcm = audio[rec["offset"]:rec["offset"] + rec["n_samples"]]  # (S,) int16
            if pcm.shape[0] == 0:  # dropped at merge (empty_audio); nothing to analyse
                items.append({"id": rec["id"], "offset": offset, count_key: 0})
                continue
            frames = analyse(torch.from_numpy(pcm.astype(np.float32) / INT16_SCALE)).astype(dtype)  # (T, C)
            items.append({"id": rec["id"], "offset": offset, count_key: int(frames.shape[0])})
            offset += frames.shape[0]
            pieces.append(frames)
    array = np.concatenate(pieces) if pieces else np.zeros((0, width), dtype)
    return items, array


def mel_items(audio_records: list[dict], audio: np.ndarray, recipe: Recipe) -> tuple[list[dict], np.ndarray]:
    """Log-mel of each stored utterance: records with offsets, and (T_total, M) float16."""
    transform = MelSpectrogram(**recipe.audio.mel_kwargs())
    return _frame_items(audio_records, audio, lambda wav: transform(wav).T.numpy(),  # (T, M)
                        "n_mel_frames", recipe.audio.n_mels, np.float16)


# --------------------------------------------------------------------------- codec codes


def code_items(audio_records: list[dict], audio: np.ndarray, codec: Any,
               device: Any) -> tuple[list[dict], np.ndarray]:
    """Codec codes of each stored utterance: records with offsets, and (T_total, Q) int16."""
    def encode(wav: torch.Tensor) -> np.ndarray:
        codes = codec.encode(wav.to(device)[None, None])[0]  # (1, 1, S) -> (Q, T)
        return codes.T.cpu().numpy()  # (T, Q)

    return _frame_items(audio_records, audio, encode, "n_frames",
                        int(getattr(codec, "n_codebooks", 0)), np.int16)


# --------------------------------------------------------------------------- one shard


def unfinished_stages(job: ShardJob, verify: bool = False) -> list[str]:
    """The stages whose output for this shard is missing or stale.

    verify=True (prepare's skip check) also reads each finished array against the checksum recorded
    when it was written; a damaged output is logged, with why, and counts as unfinished (it is redone).
    """
    shard = ShardFolder(Path(job.root), job.index)
    unfinished = []
    for stage, key in job.keys.items():
        problem = shard.damage(stage, key) if verify and shard.meta(stage, key).is_file() else None
        if problem:
            log.warning("shard %05d: the %s stage's output is damaged (%s); preparing it again",
                        job.index, stage, problem)
            shard.forget(stage, key)
        if not shard.done(stage, key):
            unfinished.append(stage)
    return unfinished


def process_shard(job: ShardJob, codec: Any = None) -> ShardResult:
    """Run every stage whose output for this shard is missing; reuse the rest."""
    if job.threads:
        torch.set_num_threads(job.threads)
    shard = ShardFolder(Path(job.root), job.index)
    shard.remove_temporary()
    result = ShardResult(job.index, utterances=len(job.utterances))
    keys, recipe = job.keys, job.recipe

    def timed(stage: str, make) -> None:
        start = time.perf_counter()
        items, array = make()
        shard.save(stage, keys[stage], items, array)
        result.seconds[stage] = time.perf_counter() - start

    if not shard.done("text", keys["text"]):
        start = time.perf_counter()
        load_front_end()  # once per process; not counted as text work
        result.setup_seconds += time.perf_counter() - start
        timed("text", lambda: (text_items(job.utterances, recipe.text.keep_punctuation), None))
    if not shard.done("audio", keys["audio"]):
        timed("audio", lambda: audio_items(job.utterances, recipe))
    audio_records = shard.load("audio", keys["audio"])
    audio = memory_map(shard.array("audio", keys["audio"]))
    result.audio_seconds = float(audio.shape[0]) / recipe.audio.sample_rate
    if not shard.done("mel", keys["mel"]):
        timed("mel", lambda: mel_items(audio_records, audio, recipe))
    if "codes" in keys and not shard.done("codes", keys["codes"]):
        device = resolve_device(recipe.device)
        if codec is None:
            from tts.codec import load_codec

            start = time.perf_counter()
            codec = load_codec(recipe, device, with_vocoder=False)  # encoding only
            result.setup_seconds += time.perf_counter() - start
            if codec is None:
                raise RuntimeError(f"shard {job.index}: the codec was available when prepare "
                                   "started but load_codec now returns None")
        timed("codes", lambda: code_items(audio_records, audio, codec, device))
    return result
