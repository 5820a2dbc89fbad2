#!/usr/bin/env python
"""Benchmark `tts prepare` and reading a prepared corpus, side by side in one run.

Prints (1) prepare throughput per stage in seconds of audio per second of work, and (2) random
access throughput of PreparedCorpus (utterances/s for audio, mel, codes, and the tokens/s that a
training step would be fed) next to the naive way, decoding and processing each original file
on access. Uses data/demo when it exists, else a generated corpus of tone-and-noise files in
LibriTTS layout. The codec stage runs a codec of the recipe's trained architecture with random
weights (its cost does not depend on training).

    python scripts/bench_prepare.py                       # data/demo (or a generated corpus), default keys
    python scripts/bench_prepare.py --generate --utterances 300 --recipe recipes/offline.yaml --workers 2
    python scripts/bench_prepare.py --corpus /path/to/LibriTTS/dev-clean --reader libritts
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml

from tts.config import recipe_from_dict

WORDS = ("the quick brown fox jumps over a lazy dog while seven bright stars shine above "
         "quiet rivers and old stone bridges near the northern hills").split()


def generate_corpus(root: Path, utterances: int, seconds: float, rate: int, seed: int) -> None:
    """LibriTTS layout: <speaker>/<chapter>/<id>.wav + <id>.normalized.txt (tone + noise)."""
    rng = np.random.default_rng(seed)
    for n in range(utterances):
        speaker, chapter = f"{100 + n % 8}", f"{n % 3 + 1}"
        utt_id = f"{speaker}_{chapter}_{n:06d}_000000"
        folder = root / speaker / chapter
        folder.mkdir(parents=True, exist_ok=True)
        length = seconds * rng.uniform(0.5, 1.5)
        t = np.arange(int(length * rate)) / rate
        f0 = 90 + 20 * (n % 8)
        wav = 0.2 * np.sin(2 * np.pi * f0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
        wav += 0.02 * rng.standard_normal(t.shape)
        sf.write(str(folder / f"{utt_id}.wav"), wav.astype(np.float32), rate)
        words = rng.choice(WORDS, size=max(3, int(length * 2.5)))
        (folder / f"{utt_id}.normalized.txt").write_text(" ".join(words).capitalize() + ".")


def save_random_codec(recipe) -> None:
    """A checkpoint of the recipe's trained-codec architecture with random weights."""
    from tts.codec import trained_settings
    from tts.models.codec_model import CodecModel

    settings = trained_settings(recipe)
    path = Path(recipe.output_dir) / "codec" / "best.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"codec": settings, "modules": {"generator": CodecModel.from_settings(settings).state_dict()}}, path)


def warm_up(recipe) -> dict[str, float]:
    """Load the G2P model and resampler once, so stage timings measure steady-state work."""
    from tts.audio.io import resample
    from tts.text import text_to_phones

    costs = {}
    start = time.perf_counter()
    text_to_phones("warm up the phonemizer")
    costs["load G2P"] = time.perf_counter() - start
    start = time.perf_counter()
    resample(np.zeros(24000, np.float32), 24000, recipe.audio.sample_rate)
    costs["load resampler"] = time.perf_counter() - start
    return costs


def time_reads(label: str, records: list[dict], read, audio_seconds: float) -> None:
    start = time.perf_counter()
    for record in records:
        read(record)
    elapsed = time.perf_counter() - start
    print(f"  {label:<34}{len(records) / elapsed:>10.0f} utt/s {audio_seconds / elapsed:>10.0f} s of audio/s")


def bench_reads(corpus, recipe, n_reads: int, seed: int) -> None:
    from tts.audio.io import load_audio, normalize_loudness, trim_silence
    from tts.audio.spectral import MelSpectrogram

    records = corpus.records("train")
    picks = random.Random(seed).choices(records, k=n_reads)
    audio_seconds = sum(r["duration"] for r in picks)
    print(f"random access over {len(picks)} reads ({audio_seconds / len(picks):.1f} s mean utterance, "
          "files in the page cache):")
    time_reads("PreparedCorpus.audio", picks, corpus.audio, audio_seconds)
    time_reads("PreparedCorpus.mel", picks, corpus.mel, audio_seconds)
    if corpus.has_codes:
        time_reads("PreparedCorpus.codes", picks, corpus.codes, audio_seconds)
        batch_tokens = recipe.ar.train.batch_tokens
        batches, batch, tokens = [], [], 0
        for record in picks:  # AR/NAR batches filled up to batch_tokens (codec frames + phones)
            size = record["n_frames"] + len(record["phones"])
            if batch and tokens + size > batch_tokens:
                batches.append(batch)
                batch, tokens = [], 0
            batch.append(record)
            tokens += size
        start = time.perf_counter()
        for batch in batches:
            [(corpus.codes(r), r["phones"]) for r in batch]
        per_batch = (time.perf_counter() - start) / len(batches)
        print(f"  one AR batch of {batch_tokens} tokens ({len(picks) / len(batches):.0f} utterances): "
              f"codes + phones read in {per_batch * 1000:.2f} ms")
    rate, cfg = recipe.audio.sample_rate, recipe.audio
    mel = MelSpectrogram(**cfg.mel_kwargs())
    naive_picks = picks[: max(1, len(picks) // 10)]
    naive_seconds = sum(r["duration"] for r in naive_picks)

    def naive_audio(record):
        wav, _ = load_audio(record["audio_path"], rate)
        return normalize_loudness(trim_silence(wav, rate, cfg.trim_db), cfg.loudness_db)

    time_reads("naive: decode + resample + trim", naive_picks, naive_audio, naive_seconds)
    with torch.inference_mode():
        time_reads("naive: ... + log-mel", naive_picks, lambda r: mel(torch.from_numpy(naive_audio(r))),
                   naive_seconds)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=None, help="corpus root (default: data/demo if present)")
    parser.add_argument("--reader", default="libritts", help="reader for --corpus")
    parser.add_argument("--generate", action="store_true", help="use a generated corpus even if data/demo exists")
    parser.add_argument("--recipe", type=Path, default=None,
                        help="take audio, text, data limits and codec keys from this recipe")
    parser.add_argument("--utterances", type=int, default=200, help="generated corpus: utterances")
    parser.add_argument("--seconds", type=float, default=4.0, help="generated corpus: mean utterance length")
    parser.add_argument("--workers", type=int, default=1, help="prepare worker processes")
    parser.add_argument("--shard-utterances", type=int, default=None, help="override data.shard_utterances")
    parser.add_argument("--reads", type=int, default=2000, help="random reads of the prepared corpus")
    parser.add_argument("--codec", choices=("trained", "none"), default="trained",
                        help="trained: the recipe's codec architecture with random weights")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in this process")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run folder here")
    return parser.parse_args()


def corpus_root_for(args: argparse.Namespace, work: Path) -> Path:
    """--corpus, else data/demo when present (and --generate not given), else a generated corpus."""
    if args.corpus is not None:
        return args.corpus
    if not args.generate and Path("data/demo").is_dir():
        return Path("data/demo")
    root = work / "corpus"
    start = time.perf_counter()
    generate_corpus(root, args.utterances, args.seconds, 24000, seed=0)
    print(f"generated {args.utterances} utterances (24 kHz, LibriTTS layout) in {time.perf_counter() - start:.1f} s")
    return root


def bench_recipe(args: argparse.Namespace, corpus_root: Path, run_dir: Path):
    """The recipe (--recipe's keys, or defaults) pointed at the corpus and run folder, on the CPU."""
    keys = yaml.safe_load(args.recipe.read_text()) if args.recipe else {}
    keys.update(output_dir=str(run_dir), device="cpu")
    keys.setdefault("data", {}).update(reader=args.reader, root=str(corpus_root))
    if args.shard_utterances:
        keys["data"]["shard_utterances"] = args.shard_utterances
    if args.codec == "none":
        keys["codec"] = {"kind": "none"}
    else:
        keys.setdefault("codec", {})["kind"] = "trained"
    return recipe_from_dict(keys)


def print_prepare(result: dict, wall: float, args: argparse.Namespace) -> None:
    """Throughput end to end and per stage."""
    stats = result["stats"]
    hours = stats["all"]["hours"]
    print(f"\nprepared {stats['all']['utterances']} utterances ({hours * 3600:.0f} s of audio kept), "
          f"workers={args.workers}, threads={args.threads}, wall {wall:.1f} s "
          f"({hours * 3600 / wall:.0f} s of audio per s end to end, one-time loads included)")
    print(f"  {'stage':<8}{'work s':>9}{'audio s per s':>15}")
    print(f"  {'read':<8}{result['read_seconds']:>9.2f}{'':>15}")
    if result["timings"]["setup"]["seconds"]:
        print(f"  {'setup':<8}{result['timings']['setup']['seconds']:>9.2f}   (loading G2P / codec in workers)")
    for stage in ("text", "audio", "mel", "codes"):
        t = result["timings"][stage]
        if t["shards"]:
            print(f"  {stage:<8}{t['seconds']:>9.2f}{t['audio_seconds'] / t['seconds']:>15.0f}")
    print(f"  {'merge':<8}{result['merge_seconds']:>9.2f}{'':>15}")
    if args.workers > 1:
        print("  (work seconds are summed over worker processes)")
    print()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    work = Path(tempfile.mkdtemp(prefix="bench_prepare_"))
    corpus_root = corpus_root_for(args, work)
    print(f"corpus: {corpus_root} ({args.reader} reader)")
    run_dir = args.keep or work / "run"
    if args.keep and run_dir.exists():
        shutil.rmtree(run_dir)
    recipe = bench_recipe(args, corpus_root, run_dir)
    print(f"codec: {args.codec}" + (f" ({recipe.codec.n_codebooks} codebooks, hop {recipe.codec.hop_length}, "
                                     f"{recipe.codec.channels} channels, {recipe.codec.lstm_layers} LSTM layers)"
                                     if args.codec == "trained" else ""))
    if args.codec == "trained":
        save_random_codec(recipe)
    for name, seconds in warm_up(recipe).items():
        print(f"one-time cost: {name} {seconds:.1f} s")

    from tts.data.corpus import PreparedCorpus
    from tts.data.prepare import prepare_corpus

    start = time.perf_counter()
    result = prepare_corpus(recipe, workers=args.workers)
    print_prepare(result, time.perf_counter() - start, args)
    bench_reads(PreparedCorpus(run_dir), recipe, args.reads, seed=0)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
