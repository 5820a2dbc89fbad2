"""The last step of `tts prepare`: finished shards -> manifest, train/validation split, drop report,
statistics and the corpus index (corpus.json), which readers trust only once it is written.

Limits (durations, phones, levels) are applied here, not in the stages, so changing one redoes only
this cheap step. A merge whose inputs are unchanged (same shard keys, data settings, seed and codec)
is skipped.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from tts.codec import CHECKPOINT_DIGEST
from tts.config import Recipe
from tts.data.corpus import CORPUS_FILE, MANIFEST_FILE, prepared_folder
from tts.data.readers import Drop
from tts.data.report import (check_utterance, code_usage, corpus_stats, drop_of, limits_text, summary_text,
                             write_drop_report)
from tts.data.split import assign_split
from tts.data.stages import STAGE_VERSIONS, PrepareError, ShardJob, unfinished_stages
from tts.data.store import ShardFolder, fingerprint, memory_map, read_json, write_json, write_text

log = logging.getLogger(__name__)


def merge(recipe: Recipe, jobs: list[ShardJob], read_drops: list[Drop], left_out: int,
          codec_id: dict | None, codec: Any) -> dict:
    """Build manifest, split, drop report and statistics from finished shards."""
    folder = prepared_folder(recipe)
    problem = _missing_report(jobs)
    if problem:
        raise PrepareError(problem)
    key = _merge_key(recipe, jobs, codec_id)
    corpus_file = folder / CORPUS_FILE
    complete = all((folder / name).is_file() for name in (CORPUS_FILE, MANIFEST_FILE, "stats.json"))
    if complete and read_json(corpus_file).get("key") == key:
        stats = read_json(folder / "stats.json")
        log.info("%s", summary_text(stats, folder))
        log.info("prepared corpus is up to date")
        return stats
    corpus_file.unlink(missing_ok=True)  # the manifest is rewritten below; no reader may trust the old index
    records, drops, shard_files = _collect(recipe, jobs, list(read_drops))
    drops.sort(key=lambda d: d.id)
    split = assign_split(((r["id"], r["speaker"]) for r in records), recipe.seed,
                         recipe.data.validation_fraction, recipe.data.validation_min)
    for record in records:
        record["split"] = split[record["id"]]
    stats = corpus_stats(records, drops, left_out, codec_id is not None)
    if codec_id is not None:
        stats["codes"] = _code_usage(folder, records, shard_files, codec)
    write_drop_report(folder / "dropped.tsv", drops)
    write_json(folder / "stats.json", stats)
    summary = summary_text(stats, folder)
    if not records:
        raise PrepareError("no usable utterances are left:\n" + summary + "\n" + limits_text(recipe))

    write_text(folder / MANIFEST_FILE, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    settings = {"audio": asdict(recipe.audio), "text": asdict(recipe.text),
                "mel_frame_rate": recipe.audio.mel_frame_rate,
                "codec": None if codec_id is None else {
                    **codec_id["settings"], "kind": recipe.codec.kind, "n_codebooks": codec.n_codebooks,
                    "frame_rate": codec.frame_rate, "hop_length": codec.hop_length,
                    CHECKPOINT_DIGEST: codec_id["checkpoint"]}}
    write_json(corpus_file, {"format": 1, "key": key, "settings": settings, "shards": shard_files})
    _remove_extra_shards(folder / "shards", len(jobs))
    log.info("%s", summary)
    return stats


def _missing_report(jobs: list[ShardJob]) -> str | None:
    missing = [(job.index, unfinished_stages(job)) for job in jobs]
    missing = [(index, stages) for index, stages in missing if stages]
    if not missing:
        return None
    listed = ", ".join(f"{index} ({', '.join(stages)})" for index, stages in missing[:40])
    more = f", ... ({len(missing) - 40} more)" if len(missing) > 40 else ""
    return (f"{len(missing)} of {len(jobs)} shards are not finished: {listed}{more}. Prepare them "
            "(`tts prepare <recipe> --shard i/N` in each job, or without --shard), then merge again")


def _merge_key(recipe: Recipe, jobs: list[ShardJob], codec_id: dict | None) -> str:
    return fingerprint({"v": STAGE_VERSIONS["merge"], "keys": [job.keys for job in jobs],
                        "data": asdict(recipe.data), "seed": recipe.seed, "codec": codec_id})


def _code_usage(folder: Path, records: list[dict], shard_files: list[dict], codec: Any) -> dict:
    """Entries used and perplexity per codebook over the training split's codes (report.code_usage)."""
    arrays: dict[int, np.ndarray] = {}

    def pieces():
        for r in records:
            if r["split"] != "train" or not r["n_frames"]:
                continue
            if r["shard"] not in arrays:
                arrays[r["shard"]] = memory_map(folder / shard_files[r["shard"]]["codes"])
            start = r["offsets"]["codes"]
            yield arrays[r["shard"]][start:start + r["n_frames"]]  # (T, Q)

    return code_usage(pieces(), int(codec.codebook_size), float(codec.frame_rate))


def _collect(recipe: Recipe, jobs: list[ShardJob], drops: list[Drop]) -> tuple[list[dict], list[Drop], list[dict]]:
    """Kept records, all drops, and the feature files of each shard (paths relative to prepared/)."""
    records, shard_files = [], []
    for job in jobs:
        shard = ShardFolder(Path(job.root), job.index)
        items = {stage: {it["id"]: it for it in shard.load(stage, key)} for stage, key in job.keys.items()}
        for utt in job.utterances:
            problem = check_utterance(items["text"][utt.id], items["audio"][utt.id], recipe)
            if problem:
                drops.append(drop_of(utt, *problem))
                continue
            text, audio, mel = items["text"][utt.id], items["audio"][utt.id], items["mel"][utt.id]
            codes = items.get("codes", {}).get(utt.id, {"offset": 0, "n_frames": 0})
            records.append({
                "id": utt.id, "speaker": utt.speaker, "split": "",
                "duration": round(audio["n_samples"] / recipe.audio.sample_rate, 4),
                "text": utt.text, "normalized": text["normalized"], "phones": text["phones"],
                "n_samples": audio["n_samples"], "n_mel_frames": mel["n_mel_frames"],
                "n_frames": codes["n_frames"], "shard": job.index,
                "offsets": {"audio": audio["offset"], "mel": mel["offset"], "codes": codes["offset"]},
                "audio_path": utt.audio_path,
            })
        relative = Path("shards") / shard.path.name
        shard_files.append({stage: str(relative / shard.array(stage, key).name)
                            for stage, key in job.keys.items() if stage != "text"})
        shard_files[-1].setdefault("codes", None)
    return records, drops, shard_files


def _remove_extra_shards(root: Path, count: int) -> None:
    """Delete shard folders beyond the current shard count (the corpus shrank)."""
    for path in root.glob("[0-9]" * 5):
        if int(path.name) >= count:
            shutil.rmtree(path, ignore_errors=True)
