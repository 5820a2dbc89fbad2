"""`tts prepare`: read a corpus, run the per-shard stages, merge shards into a prepared corpus.

    read -> shards of data.shard_utterances utterances (sorted by id)
         -> per shard: text (normalise + G2P), audio (load, resample, trim, level),
            log-mel, codec codes (when a codec is available)      [tts.data.stages]
         -> merge: checks and limits, drop report, manifest, split, statistics   [tts.data.merge]

Every per-shard output is named by a key over the recipe keys and inputs it depends on
(text: text settings + transcripts; audio: sample rate, trim, loudness + the files; mel: the
audio key + mel settings; codes: the audio key + codec settings and checkpoint hash), so a run
that was killed, or a recipe change, redoes only what is missing or stale. The merge is cheap
and runs whenever anything changed; limits (durations, phones, levels) are applied there.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tts.config import Recipe
from tts.data.corpus import CORPUS_FILE, prepared_folder
from tts.data.merge import merge
from tts.data.readers import Utterance, read_corpus
from tts.data.report import corpus_stats, limits_text, summary_text, write_drop_report
from tts.data.stages import (STAGE_VERSIONS, STAGES, PrepareError, ShardJob, ShardResult, process_shard,
                             resolve_device, unfinished_stages)
from tts.data.store import fingerprint

log = logging.getLogger(__name__)

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
    """Run the unfinished (missing, stale or damaged) stages of these shards and add up their timings."""
    pending = [job for job in jobs if unfinished_stages(job, verify=True)]
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


def _codec_identity(recipe: Recipe) -> tuple[Any, dict | None]:
    """(codec on the CPU, what identifies its codes) or (None, None) with one message saying why."""
    if recipe.codec.kind == "none":
        log.info("codec stage skipped: codec.kind is none")
        return None, None
    try:
        from tts.codec import codec_identity, load_codec

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
    identity = codec_identity(recipe, codec)
    log.info("codec stage: %s codec, %d codebooks at %g frames/s", recipe.codec.kind,
             codec.n_codebooks, codec.frame_rate)
    return codec, identity
