"""`tts prepare`: read a corpus, run the per-shard stages, merge shards into a prepared corpus.

    read -> shards of data.shard_utterances utterances (sorted by id)
         -> per shard: text (normalise + G2P), audio (load, resample, trim, level),
            log-mel, codec codes (when a codec is available)      [tts.data.stages]
         -> merge: checks and limits, drop report, manifest, split, statistics

Every per-shard output is named by a key over the recipe keys and inputs it depends on
(text: text settings + transcripts; audio: sample rate, trim, loudness + the files; mel: the
audio key + mel settings; codes: the audio key + codec settings and checkpoint hash), so a run
that was killed, or a recipe change, redoes only what is missing or stale. The merge is cheap
and runs whenever anything changed; limits (durations, phones, levels) are applied there.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from tts.config import Recipe
from tts.data.corpus import CORPUS_FILE, MANIFEST_FILE, prepared_folder
from tts.data.readers import Drop, Utterance, read_corpus
from tts.data.report import (check_utterance, code_usage, corpus_stats, drop_of, limits_text, summary_text,
                             write_drop_report)
from tts.data.split import assign_split
from tts.data.stages import STAGES, PrepareError, ShardJob, ShardResult, process_shard, resolve_device
from tts.data.store import ShardFolder, file_digest, fingerprint, read_json, write_json, write_text

log = logging.getLogger(__name__)

# Bump a stage's version when its code changes what it writes, so old outputs are redone.
STAGE_VERSIONS = {"text": 1, "audio": 1, "mel": 1, "codes": 1, "merge": 1}

__all__ = ["PrepareError", "prepare_corpus"]


def prepare_corpus(recipe: Recipe, workers: int = 1, shard: str | tuple[int, int] | None = None,
                   merge_only: bool = False) -> dict[str, Any]:
    """Prepare `recipe.data` into {output_dir}/prepared; returns statistics and per-stage timings.

    shard="i/N" prepares only shards whose index is i modulo N (a cluster job array) and does
    not merge; merge_only=True builds the manifest, split and statistics from finished shards.
    """
    folder = prepared_folder(recipe)
    selected = parse_shard(shard) if shard is not None and not merge_only else None
    log.info("%s", limits_text(recipe))
    start = time.perf_counter()
    try:
        utterances, read_drops, left_out = read_corpus(recipe.data)
    except (FileNotFoundError, ValueError) as err:
        raise PrepareError(f"cannot read the corpus (data.reader={recipe.data.reader}, "
                           f"data.root={recipe.data.root}): {err}") from None
    read_seconds = time.perf_counter() - start
    log.info("read %d utterances and %d problems from %s (%s reader) in %.1f s",
             len(utterances), len(read_drops), recipe.data.root, recipe.data.reader, read_seconds)
    if not utterances:
        (folder / CORPUS_FILE).unlink(missing_ok=True)
        write_drop_report(folder / "dropped.tsv", read_drops)
        stats = corpus_stats([], read_drops, left_out, False)
        raise PrepareError("no usable utterances:\n" + summary_text(stats, folder))

    codec, codec_id = _codec_identity(recipe)
    jobs = make_jobs(recipe, utterances, folder / "shards", codec_id, workers)
    result: dict[str, Any] = {"timings": _empty_timings(), "read_seconds": read_seconds}
    if not merge_only:
        mine = jobs
        if selected is not None:
            mine = [job for job in jobs if job.index % selected[1] == selected[0]]
            log.info("shard %d/%d: %d of %d shards", *selected, len(mine), len(jobs))
        prepare_shards(mine, workers, codec, folder, result["timings"])
        if selected is not None:
            log.info("shard %d/%d finished; run `tts prepare <recipe> --merge` once every shard is", *selected)
            return result
    start = time.perf_counter()
    result["stats"] = merge(recipe, jobs, read_drops, left_out, codec_id, codec)
    result["merge_seconds"] = time.perf_counter() - start
    return result


def prepare_shards(jobs: list[ShardJob], workers: int, codec: Any, folder: Path, timings: dict) -> None:
    """Run the unfinished stages of these shards and add up their timings."""
    pending = [job for job in jobs if unfinished_stages(job)]
    log.info("%d of %d shards to prepare (%d already done)", len(pending), len(jobs), len(jobs) - len(pending))
    if pending:
        (folder / CORPUS_FILE).unlink(missing_ok=True)  # stale until the next merge
        for result in run_jobs(pending, workers, codec):
            _add_timings(timings, result)
    _log_timings(timings)


# --------------------------------------------------------------------------- shards


def parse_shard(shard: str | tuple[int, int]) -> tuple[int, int]:
    """'i/N' (0-based) -> (i, N)."""
    if isinstance(shard, tuple):
        index, count = shard
    else:
        try:
            left, right = str(shard).split("/")
            index, count = int(left), int(right)
        except ValueError:
            raise PrepareError(f"--shard {shard!r} must look like i/N, e.g. 3/16 (0-based i < N)") from None
    if not 0 <= index < count:
        raise PrepareError(f"--shard {index}/{count}: need 0 <= i < N")
    return index, count


def _file_identity(path: str) -> tuple[int, int]:
    try:
        info = os.stat(path)
    except OSError:
        return -1, -1
    return info.st_size, info.st_mtime_ns


def stage_keys(recipe: Recipe, chunk: list[Utterance], codec_id: dict | None) -> dict[str, str]:
    """The key of each stage's output for one shard of utterances."""
    from tts.text.symbols import SYMBOLS

    audio = recipe.audio
    keys = {
        "text": fingerprint({"v": STAGE_VERSIONS["text"], "text": asdict(recipe.text), "symbols": SYMBOLS,
                             "inputs": [(u.id, u.text) for u in chunk]}),
        "audio": fingerprint({"v": STAGE_VERSIONS["audio"], "sample_rate": audio.sample_rate,
                              "trim_db": audio.trim_db, "loudness_db": audio.loudness_db,
                              "inputs": [(u.id, u.audio_path, *_file_identity(u.audio_path)) for u in chunk]}),
    }
    keys["mel"] = fingerprint({"v": STAGE_VERSIONS["mel"], "audio": keys["audio"],
                               "mel": [audio.n_fft, audio.win_length, audio.hop_length, audio.n_mels,
                                       audio.f_min, audio.fmax]})
    if codec_id is not None:
        keys["codes"] = fingerprint({"v": STAGE_VERSIONS["codes"], "audio": keys["audio"], "codec": codec_id})
    return keys


def make_jobs(recipe: Recipe, utterances: list[Utterance], root: Path, codec_id: dict | None,
              workers: int) -> list[ShardJob]:
    """Cut the id-sorted utterances into shards of data.shard_utterances."""
    size = recipe.data.shard_utterances
    threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else 0
    jobs = []
    for index, begin in enumerate(range(0, len(utterances), size)):
        chunk = utterances[begin:begin + size]
        jobs.append(ShardJob(index, str(root), tuple(chunk), stage_keys(recipe, chunk, codec_id),
                             recipe, threads))
    return jobs


def unfinished_stages(job: ShardJob) -> list[str]:
    shard = ShardFolder(Path(job.root), job.index)
    return [stage for stage, key in job.keys.items() if not shard.done(stage, key)]


def run_jobs(jobs: list[ShardJob], workers: int, codec: Any = None):
    """Prepare shards, with a progress bar (rate and ETA); yields results as shards finish."""
    from tqdm import tqdm

    bar = tqdm(total=sum(len(j.utterances) for j in jobs), unit="utt", desc="prepare", dynamic_ncols=True)
    audio_seconds = 0.0
    try:
        for result in _shard_results(jobs, workers, codec):
            audio_seconds += result.audio_seconds
            bar.update(result.utterances)
            bar.set_postfix(audio=f"{audio_seconds / 3600:.2f} h")
            yield result
    finally:
        bar.close()


def _shard_results(jobs: list[ShardJob], workers: int, codec: Any):
    """In this process (workers=1), or in a pool of worker processes that each load what they need."""
    if workers <= 1 or len(jobs) == 1:
        if codec is not None:
            codec = codec.to(resolve_device(jobs[0].recipe.device))
        for job in jobs:
            yield process_shard(job, codec)
        return
    # spawn, not fork: workers may use CUDA and must not inherit this process's threads
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                               mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = [pool.submit(process_shard, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()
    except BaseException:
        # a failed shard or Ctrl-C: stop now; finished shards are on disk and are kept
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _empty_timings() -> dict[str, dict[str, float]]:
    timings = {stage: {"seconds": 0.0, "audio_seconds": 0.0, "shards": 0} for stage in STAGES}
    timings["setup"] = {"seconds": 0.0}  # loading G2P and codec in each process
    return timings


def _add_timings(timings: dict, result: ShardResult) -> None:
    timings["setup"]["seconds"] += result.setup_seconds
    for stage, seconds in result.seconds.items():
        timings[stage]["seconds"] += seconds
        timings[stage]["audio_seconds"] += result.audio_seconds
        timings[stage]["shards"] += 1


def _log_timings(timings: dict) -> None:
    if timings["setup"]["seconds"]:
        log.info("loading models (G2P, codec) took %.1f s of work", timings["setup"]["seconds"])
    for stage in STAGES:
        t = timings[stage]
        if t["shards"]:
            rate = t["audio_seconds"] / t["seconds"] if t["seconds"] > 0 else float("inf")
            log.info("stage %-5s %4d shards, %8.1f s of audio in %6.1f s of work (%.0f s of audio per s)",
                     stage, t["shards"], t["audio_seconds"], t["seconds"], rate)


# --------------------------------------------------------------------------- codec


CHECKPOINT_DIGEST = "checkpoint_digest"  # key of the codec settings: content hash of the weights that made the codes


def weights_differ(before: str | None, now: str | None) -> bool:
    """Two codec checkpoint digests name other weights (only where both were recorded)."""
    return bool(before and now and before != now)


def codec_differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The keys in which the codec settings `now` differ from `before` (a key missing on one side
    differs), CHECKPOINT_DIGEST among them only where both record it and the weights differ."""
    missing = object()
    keys = [k for k in sorted(set(before) | set(now))
            if k != CHECKPOINT_DIGEST and before.get(k, missing) != now.get(k, missing)]
    if weights_differ(before.get(CHECKPOINT_DIGEST), now.get(CHECKPOINT_DIGEST)):
        keys.append(CHECKPOINT_DIGEST)
    return keys


def _codec_checkpoint(recipe: Recipe) -> Path | None:
    candidates = [recipe.codec.checkpoint] if recipe.codec.checkpoint else []
    if recipe.codec.kind == "trained":
        candidates.append(str(Path(recipe.output_dir) / "codec" / "best.pt"))
    return next((Path(c) for c in candidates if Path(c).is_file()), None)


def _codec_identity(recipe: Recipe) -> tuple[Any, dict | None]:
    """(codec on the CPU, what identifies its codes) or (None, None) with one message saying why."""
    if recipe.codec.kind == "none":
        log.info("codec stage skipped: codec.kind is none")
        return None, None
    try:
        from tts.codec import load_codec

        codec = load_codec(recipe, "cpu", with_vocoder=False)  # encoding only
    except (ImportError, RuntimeError, OSError, ValueError) as err:
        log.warning("codec stage skipped: the codec cannot be loaded (%s); audio and mels are "
                    "prepared, codes are added when prepare runs again with a loadable codec", err)
        return None, None
    if codec is None:
        log.warning("codec stage skipped: codec.kind=%s has no trained codec yet (%s); train it with "
                    "`tts train <recipe> --stage codec`, then prepare again to add the codes "
                    "(`tts run` does both)", recipe.codec.kind,
                    recipe.codec.checkpoint or Path(recipe.output_dir) / "codec" / "best.pt")
        return None, None
    if codec.codebook_size > 32768:
        raise PrepareError(f"codes are stored as int16; a codebook of {codec.codebook_size} entries does not fit")
    if int(codec.sample_rate) != recipe.audio.sample_rate:
        raise PrepareError(f"the codec works at {codec.sample_rate} Hz but audio.sample_rate is "
                           f"{recipe.audio.sample_rate}; set audio.sample_rate: {codec.sample_rate}")
    checkpoint = _codec_checkpoint(recipe)
    identity = {"kind": recipe.codec.kind, "settings": codec.settings(),
                "checkpoint": file_digest(checkpoint) if checkpoint else None}
    log.info("codec stage: %s codec, %d codebooks at %g frames/s", recipe.codec.kind,
             codec.n_codebooks, codec.frame_rate)
    return codec, identity


# --------------------------------------------------------------------------- merge


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


def _code_usage(folder: Path, records: list[dict], shard_files: list[dict], codec: Any) -> dict:
    """Entries used and perplexity per codebook over the training split's codes (report.code_usage)."""
    arrays: dict[int, np.ndarray] = {}

    def pieces():
        for r in records:
            if r["split"] != "train" or not r["n_frames"]:
                continue
            if r["shard"] not in arrays:
                arrays[r["shard"]] = np.load(folder / shard_files[r["shard"]]["codes"], mmap_mode="r")
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
