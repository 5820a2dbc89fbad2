"""Read access to a prepared corpus: manifest records plus memory-mapped feature shards.

Layout of `{output_dir}/prepared/` (written by `tts.data.prepare`):
    corpus.json        settings used (audio, mel, codec) and, per shard, its feature files
    manifest.jsonl     one record per kept utterance: id, speaker, text, normalized, phones,
                       duration, n_samples, n_mel_frames, n_frames, shard, offsets, split, audio_path
    dropped.tsv        every utterance left out, with a reason code
    stats.json         hours, utterances and speakers by split; drop counts
    shards/NNNNN/      per shard: audio.<key>.npy int16 (S_total,), mel.<key>.npy float16
                       (T_total, M), codes.<key>.npy int16 (T_total, Q); `offsets` index them

Shapes: S samples, T frames, M mel bins, Q codebooks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tts.data.store import DamagedShardError, memory_map

__all__ = ["CORPUS_FILE", "MANIFEST_FILE", "SPLITS", "DamagedShardError", "PreparedCorpus", "prepared_folder"]

CORPUS_FILE = "corpus.json"
MANIFEST_FILE = "manifest.jsonl"
SPLITS = ("train", "validation", "all")


def prepared_folder(recipe: Any) -> Path:
    """Where `tts prepare` writes a recipe's corpus: {output_dir}/prepared."""
    return Path(recipe.output_dir) / "prepared"


class PreparedCorpus:
    """A prepared corpus folder; feature arrays are memory-mapped on first use (DamagedShardError naming a
    file that cannot be)."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        if not (folder / CORPUS_FILE).is_file() and (folder / "prepared" / CORPUS_FILE).is_file():
            folder = folder / "prepared"  # a run folder was given
        if not (folder / CORPUS_FILE).is_file():
            raise FileNotFoundError(f"{folder} is not a prepared corpus (no {CORPUS_FILE}); "
                                    "run `tts prepare <recipe.yaml>` first")
        self.folder = folder
        info = json.loads((folder / CORPUS_FILE).read_text(encoding="utf-8"))
        self.settings: dict[str, Any] = info["settings"]
        self._shards: list[dict[str, str | None]] = info["shards"]
        with open(folder / MANIFEST_FILE, encoding="utf-8") as f:
            self._records = [json.loads(line) for line in f if line.strip()]
        self._by_id = {r["id"]: r for r in self._records}
        self._arrays: dict[tuple[int, str], np.ndarray] = {}

    # ------------------------------------------------------------------ records

    def records(self, split: str = "all") -> list[dict]:
        """Manifest records of one split ("train", "validation" or "all"), in manifest order."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of {SPLITS}")
        return [r for r in self._records if split == "all" or r["split"] == split]

    def record(self, utt_id: str) -> dict:
        """The record of one utterance id (KeyError naming the id if absent)."""
        try:
            return self._by_id[utt_id]
        except KeyError:
            raise KeyError(f"utterance {utt_id!r} is not in {self.folder / MANIFEST_FILE}") from None

    def __len__(self) -> int:
        return len(self._records)

    @property
    def speakers(self) -> list[str]:
        return sorted({r["speaker"] for r in self._records})

    @property
    def has_codes(self) -> bool:
        return bool(self._shards) and all(s.get("codes") for s in self._shards)

    @property
    def sample_rate(self) -> int:
        return int(self.settings["audio"]["sample_rate"])

    # ------------------------------------------------------------------ features

    def _array(self, shard: int, kind: str) -> np.ndarray:
        key = (shard, kind)
        if key not in self._arrays:
            name = self._shards[shard].get(kind)
            if not name:
                raise ValueError(f"{self.folder} has no {kind} features for shard {shard}; "
                                 "run `tts prepare` again once the codec is trained" if kind == "codes"
                                 else f"{self.folder} has no {kind} features for shard {shard}")
            self._arrays[key] = memory_map(self.folder / name)
        return self._arrays[key]

    def audio(self, record: dict) -> np.ndarray:
        """Waveform float32 (S,) in [-1, 1) at settings['audio']['sample_rate']."""
        start = record["offsets"]["audio"]
        wav = self._array(record["shard"], "audio")[start:start + record["n_samples"]]  # (S,) int16
        return wav.astype(np.float32) / 32768.0

    def mel(self, record: dict) -> np.ndarray:
        """Log-mel float32 (M, T)."""
        start = record["offsets"]["mel"]
        mel = self._array(record["shard"], "mel")[start:start + record["n_mel_frames"]]  # (T, M) float16
        return np.ascontiguousarray(mel.T, dtype=np.float32)  # (M, T)

    def codes(self, record: dict) -> np.ndarray:
        """Codec codes int64 (Q, T)."""
        start = record["offsets"]["codes"]
        codes = self._array(record["shard"], "codes")[start:start + record["n_frames"]]  # (T, Q) int16
        return np.ascontiguousarray(codes.T, dtype=np.int64)  # (Q, T)

    # memory maps are per process: a copy sent to a data-loader worker opens its own
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_arrays"] = {}
        return state
