"""What `prepare` keeps and drops, and the numbers it prints: limits, drop report, statistics."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from tts.config import DataConfig, Recipe
from tts.data.readers import Drop, Utterance
from tts.data.store import write_text


def limits_text(recipe: Recipe) -> str:
    """The recipe limits that decide what is dropped, with their keys."""
    d = recipe.data
    return "\n".join([
        "limits (recipe keys):",
        f"  duration     {d.min_duration:g} .. {d.max_duration:g} s after trimming   "
        "(data.min_duration, data.max_duration)",
        f"  phones       {d.min_phones} .. {d.max_phones} tokens   (data.min_phones, data.max_phones)",
        f"  sample rate  >= {d.min_sample_rate} Hz as recorded   (data.min_sample_rate)",
        f"  silence      RMS below {d.silence_db:g} dBFS is dropped   (data.silence_db)",
        f"  clipping     more than {d.clip_fraction:.2%} of samples at full scale is dropped   "
        "(data.clip_fraction)",
        f"  audio        resampled to {recipe.audio.sample_rate} Hz, trimmed at -{recipe.audio.trim_db:g} dB, "
        f"levelled to {recipe.audio.loudness_db:g} dBFS   (audio.*)",
    ])


def check_sample_rate(source_sample_rate: int, data: DataConfig) -> tuple[str, str] | None:
    """("low_sample_rate", detail) for audio recorded below data.min_sample_rate, else None."""
    if source_sample_rate < data.min_sample_rate:
        return "low_sample_rate", (f"recorded at {source_sample_rate} Hz, below "
                                   f"data.min_sample_rate = {data.min_sample_rate} Hz")
    return None


def check_level(rms_db: float, clipped: float, data: DataConfig) -> tuple[str, str] | None:
    """("silent" or "clipped", detail) for audio, measured as recorded, that is too quiet or too clipped."""
    if rms_db < data.silence_db:
        return "silent", f"RMS {rms_db:.1f} dBFS < data.silence_db = {data.silence_db:g}"
    if clipped > data.clip_fraction:
        return "clipped", (f"{clipped:.2%} of samples at full scale > "
                           f"data.clip_fraction = {data.clip_fraction:.2%}")
    return None


def check_utterance(text: dict, audio: dict, recipe: Recipe) -> tuple[str, str] | None:
    """(reason, detail) if an utterance fails a check, else None; the first failing check wins."""
    d, rate = recipe.data, recipe.audio.sample_rate
    if "drop" in audio:
        return audio["drop"], audio["detail"]
    problem = check_sample_rate(audio["source_sample_rate"], d)
    if problem:
        return problem
    if "drop" in text:
        return text["drop"], text["detail"]
    problem = check_level(audio["rms_db"], audio["clipped"], d)
    if problem:
        return problem
    if audio["n_samples"] == 0:
        return "empty_audio", "nothing left after trimming silence"
    duration = audio["n_samples"] / rate
    if duration < d.min_duration:
        return "too_short", f"{duration:.2f} s < data.min_duration = {d.min_duration:g} s"
    if duration > d.max_duration:
        return "too_long", f"{duration:.2f} s > data.max_duration = {d.max_duration:g} s"
    n_phones = len(text["phones"])
    if n_phones < d.min_phones:
        return "too_few_phones", f"{n_phones} phone tokens < data.min_phones = {d.min_phones}"
    if n_phones > d.max_phones:
        return "too_many_phones", f"{n_phones} phone tokens > data.max_phones = {d.max_phones}"
    return None


def _clean(value: str) -> str:
    return " ".join(str(value).split())  # no tabs or newlines inside a TSV field


def write_drop_report(path: Path, drops: list[Drop]) -> None:
    """dropped.tsv: id, speaker, audio_path, reason, detail (one line per utterance left out)."""
    lines = ["id\tspeaker\taudio_path\treason\tdetail"]
    lines += ["\t".join(_clean(v) for v in (d.id, d.speaker, d.audio_path, d.reason, d.detail))
              for d in drops]
    write_text(path, "\n".join(lines) + "\n")


def _split_stats(records: list[dict]) -> dict:
    seconds = sum(r["duration"] for r in records)
    return {
        "utterances": len(records),
        "hours": round(seconds / 3600, 4),
        "speakers": len({r["speaker"] for r in records}),
        "mean_duration": round(seconds / len(records), 3) if records else 0.0,
        "mean_phones": round(sum(len(r["phones"]) for r in records) / len(records), 1) if records else 0.0,
    }


def corpus_stats(records: list[dict], drops: list[Drop], left_out: int, has_codes: bool) -> dict:
    """stats.json: totals by split and by speaker, and drop counts by reason and by speaker."""
    by_speaker: dict[str, dict] = defaultdict(lambda: {"train": 0, "validation": 0, "hours": 0.0})
    for r in records:
        entry = by_speaker[r["speaker"]]
        entry[r["split"]] += 1
        entry["hours"] += r["duration"] / 3600
    for entry in by_speaker.values():
        entry["hours"] = round(entry["hours"], 4)
    return {
        "all": _split_stats(records),
        "train": _split_stats([r for r in records if r["split"] == "train"]),
        "validation": _split_stats([r for r in records if r["split"] == "validation"]),
        "has_codes": has_codes,
        "by_speaker": dict(sorted(by_speaker.items())),
        "dropped": {
            "total": len(drops),
            "by_reason": dict(Counter(d.reason for d in drops).most_common()),
            "by_speaker": dict(Counter(d.speaker or "?" for d in drops).most_common()),
        },
        "left_out_by_data_speakers": left_out,
    }


USAGE_FRAMES = 1_000_000  # code usage is counted over at most this many training frames
LOW_USAGE = 0.5  # a codebook using fewer than this share of its entries is reported


def code_usage(pieces, codebook_size: int, frame_rate: float, limit: int = USAGE_FRAMES) -> dict:
    """stats.json "codes": per codebook level, the entries used and the perplexity (exp of the
    unigram entropy, at most codebook_size) over `pieces`, arrays (T, Q) of training codes, up to
    `limit` frames in the order given. A collapsed codebook (few entries used) shows here first,
    and the perplexities bound how much the AR (level 1) and NAR (the rest) have to predict."""
    counts, frames = None, 0
    for piece in pieces:
        piece = np.asarray(piece)[: limit - frames].astype(np.int64)
        if counts is None:
            counts = np.zeros((piece.shape[1], codebook_size), dtype=np.int64)
        for q in range(piece.shape[1]):
            counts[q] += np.bincount(piece[:, q], minlength=codebook_size)[:codebook_size]
        frames += piece.shape[0]
        if frames >= limit:
            break
    if counts is None or frames == 0:
        return {"frames": 0, "codebook_size": codebook_size, "frame_rate": frame_rate, "levels": []}
    levels = []
    for q, row in enumerate(counts):
        share = row[row > 0] / frames
        levels.append({"level": q + 1, "used": int((row > 0).sum()),
                       "perplexity": round(float(np.exp(-(share * np.log(share)).sum())), 1)})
    return {"frames": frames, "codebook_size": codebook_size, "frame_rate": frame_rate, "levels": levels}


def _counts(counts: dict[str, int], limit: int = 12) -> str:
    items = list(counts.items())
    text = ", ".join(f"{k} {v}" for k, v in items[:limit])
    return text + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def summary_text(stats: dict, folder: Path) -> str:
    """The printed summary: a table by split, then drops by reason and by speaker."""
    lines = [f"prepared corpus in {folder}:",
             f"  {'split':<11}{'utterances':>11}{'hours':>9}{'speakers':>10}"]
    for split in ("train", "validation", "all"):
        s = stats[split]
        lines.append(f"  {split:<11}{s['utterances']:>11}{s['hours']:>9.3f}{s['speakers']:>10}")
    if not stats["has_codes"]:
        lines.append("  no codec codes yet (see the codec stage message above)")
    usage = stats.get("codes")
    if usage and usage["levels"]:
        size = usage["codebook_size"]
        lines.append(f"  codes: {len(usage['levels'])} codebooks x {size} entries at {usage['frame_rate']:g} frames/s, "
                     f"over {usage['frames']} training frames")
        lines.append("    entries used:  " + " ".join(str(level["used"]) for level in usage["levels"]))
        lines.append("    perplexity:    " + " ".join(f"{level['perplexity']:.0f}" for level in usage["levels"]))
        low = [str(level["level"]) for level in usage["levels"] if level["used"] < LOW_USAGE * size]
        if low:
            lines.append(f"    codebook(s) {', '.join(low)} use fewer than half their entries: the codec may have "
                         "collapsed there (train it longer, or lower codebook_size)")
    dropped = stats["dropped"]
    if dropped["total"]:
        lines.append(f"  dropped {dropped['total']} (details in {folder / 'dropped.tsv'}):")
        lines.append(f"    by reason:  {_counts(dropped['by_reason'])}")
        lines.append(f"    by speaker: {_counts(dropped['by_speaker'])}")
    else:
        lines.append("  dropped nothing")
    if stats["left_out_by_data_speakers"]:
        lines.append(f"  left out {stats['left_out_by_data_speakers']} items of speakers not in data.speakers")
    return "\n".join(lines)


def drop_of(utt: Utterance, reason: str, detail: str) -> Drop:
    return Drop(utt.id, utt.speaker, utt.audio_path, reason, detail)
