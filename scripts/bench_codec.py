"""Codec speed on the CPU: training throughput of candidate sizes, and encode/decode speed of our
trained-architecture codec beside the 24 kHz EnCodec architecture, in one run.

Mel-domain codecs (`codec.domain: mel`) train on log-mel crops and decode through the offline
recipe's mel vocoder, whose cost their decode figures include.

Random weights throughout (speed does not depend on training). Figures are seconds of audio per
second: `wall` per wall-clock second, `cpu` per second of this process's CPU time (the figure to
trust on a shared machine, where wall time also counts waiting for a core). One thread unless
--threads says otherwise.

    .venv/bin/python scripts/bench_codec.py                 # training probes + encode/decode
    .venv/bin/python scripts/bench_codec.py --skip-train    # encode/decode only
    .venv/bin/python scripts/bench_codec.py --memory        # peak memory: 30 s vs 10 min, chunked
    options: --threads N  --steps N  --batch-size 8  --segment 1.0  --seconds 10  --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace

import torch

from tts.codec import Codec, encodec_settings, trained_settings
from tts.config import CodecConfig, recipe_from_dict
from tts.models.codec_model import CodecModel, MelCodecModel, count_parameters, quiet_weight_norm

RATE = 16000


@dataclass(frozen=True)
class Candidate:
    name: str
    codec: CodecConfig


def candidates() -> list[Candidate]:
    base = CodecConfig(kind="trained", dimension=128, lstm_layers=0)
    rows = [
        ("50 Hz  c32 q8x1024", dict(strides=(8, 5, 4, 2), channels=32, n_codebooks=8, codebook_size=1024)),
        ("25 Hz  c32 q6x1024", dict(strides=(8, 5, 4, 4), channels=32, n_codebooks=6, codebook_size=1024)),
        ("25 Hz  c16 q4x256", dict(strides=(8, 5, 4, 4), channels=16, n_codebooks=4, codebook_size=256,
                                   dimension=64)),
        ("12.5Hz c32 q8x1024", dict(strides=(8, 8, 5, 4), channels=32, n_codebooks=8, codebook_size=1024)),
        ("12.5Hz c16 q8x256", dict(strides=(8, 8, 5, 4), channels=16, n_codebooks=8, codebook_size=256,
                                   dimension=64)),
        ("25 Hz  c32 q6x1024 lstm2", dict(strides=(8, 5, 4, 4), channels=32, n_codebooks=6,
                                          codebook_size=1024, lstm_layers=2)),
    ]
    return [Candidate(name, replace(base, **changes)) for name, changes in rows]


def mel_candidates() -> list[Candidate]:
    """Mel-domain codecs: SEANet over 10 ms log-mel frames (the offline recipe's is the first)."""
    base = CodecConfig(kind="trained", domain="mel", channels=64, dimension=128, lstm_layers=0,
                       n_codebooks=6, codebook_size=1024)
    return [Candidate("mel 25 Hz  c64 q6x1024", replace(base, strides=(2, 2))),
            Candidate("mel 12.5Hz c64 q6x1024", replace(base, strides=(2, 2, 2)))]


def _recipe(codec: CodecConfig):
    return recipe_from_dict({"device": "cpu", "codec": dataclasses.asdict(codec)})


def bitrate(codec: CodecConfig) -> float:
    return _recipe(codec).codec_frame_rate * codec.n_codebooks * math.log2(codec.codebook_size)


class Clock:
    """Wall-clock and process CPU seconds of a block."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


# ---------------------------------------------------------------------- training throughput


def timed_steps(one_step, steps: int) -> tuple[float, float]:
    """Median wall and CPU seconds of steps 1..steps, after an untimed step 0 (k-means codebook start)."""
    one_step(0)
    walls, cpus = [], []
    for step in range(1, steps + 1):
        with Clock() as clock:
            one_step(step)
        walls.append(clock.wall)
        cpus.append(clock.cpu)
    return statistics.median(walls), statistics.median(cpus)


def train_speed(candidate: Candidate, steps: int, batch_size: int, segment: float) -> dict[str, float]:
    """Seconds of audio trained per second, after one untimed step (k-means codebook init)."""
    from tts.train.codec_task import CodecTask

    codec = replace(candidate.codec, train=replace(candidate.codec.train, batch_size=batch_size,
                                                   segment_seconds=segment))
    task = CodecTask(_recipe(codec), corpus=object())  # the corpus is not read: batches are made here
    torch.manual_seed(0)
    modules = task.build_modules()
    _init_codebooks(modules["generator"], RATE)
    optimizers = {name: torch.optim.AdamW(modules[name].parameters(), lr=1e-4) for name in modules}
    wav = 0.1 * torch.randn(batch_size, 1, task.segment_length)
    batch = {"ids": [str(i) for i in range(batch_size)], "wav": wav, "n_samples": [wav.shape[-1]] * batch_size}

    def one_step(step: int) -> None:
        for name, loss, _ in task.train_step(modules, batch, step, torch.device("cpu")):
            optimizers[name].zero_grad(set_to_none=True)
            loss.backward()
            optimizers[name].step()

    wall, cpu = timed_steps(one_step, steps)
    audio = batch_size * task.segment_length / RATE
    return {"wall": audio / wall, "cpu": audio / cpu, "generator_parameters": count_parameters(modules["generator"])}


def mel_train_speed(candidate: Candidate, steps: int, batch_size: int, segment: float) -> dict[str, float]:
    """Seconds of audio trained per second for a mel-domain codec (log-mel crops, L1 + commitment)."""
    from tts.train.mel_codec_task import MelCodecTask

    codec = replace(candidate.codec, train=replace(candidate.codec.train, batch_size=batch_size,
                                                   segment_seconds=segment))
    recipe = _recipe(codec)
    task = MelCodecTask(recipe, corpus=object())  # the corpus is not read: batches are made here
    torch.manual_seed(0)
    modules = task.build_modules()
    optimizer = torch.optim.AdamW(modules["generator"].parameters(), lr=1e-4)
    mel = torch.randn(batch_size, recipe.audio.n_mels, task.segment_length) - 5.0
    batch = {"ids": [str(i) for i in range(batch_size)], "mel": mel, "n_mel_frames": [mel.shape[-1]] * batch_size}

    def one_step(step: int) -> None:
        for _, loss, _ in task.train_step(modules, batch, step, torch.device("cpu")):
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    wall, cpu = timed_steps(one_step, steps)
    audio = batch_size * task.segment_length * recipe.audio.hop_length / RATE
    return {"wall": audio / wall, "cpu": audio / cpu, "generator_parameters": count_parameters(modules["generator"])}


# ---------------------------------------------------------------------- encode / decode speed


def our_codec(codec: CodecConfig, chunk_seconds: float = 30.0) -> Codec:
    torch.manual_seed(0)
    recipe = _recipe(codec)
    settings = trained_settings(recipe)
    if codec.domain == "mel":
        model = MelCodecModel.from_settings(settings)
        model.attach_vocoder(offline_vocoder())
    else:
        model = CodecModel.from_settings(settings)
    _init_codebooks(model, RATE)
    return Codec(model, settings, chunk_seconds)


def offline_vocoder() -> torch.nn.Module:
    """The offline recipe's mel vocoder generator, random weights, weight norm folded (as loaded)."""
    from pathlib import Path

    from tts.config import load_recipe
    from tts.models.vocoder import build_generator

    generator = build_generator(load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "offline.yaml"))
    generator.remove_weight_norm()
    return generator.eval()


def encodec_24khz_random(chunk_seconds: float = 30.0) -> Codec:
    from encodec import EncodecModel

    torch.manual_seed(0)
    with quiet_weight_norm():
        model = EncodecModel.encodec_model_24khz(pretrained=False)
    _init_codebooks(model, 24000)
    return Codec(model, encodec_settings(6.0), chunk_seconds)


def _init_codebooks(model: torch.nn.Module, rate: int) -> None:
    """Codebooks drawn from encoder outputs on noise (speed does not depend on their values;
    k-means, which training runs once on its first batch, would take minutes at 1024 x 8 here)."""
    with torch.no_grad():
        gain = getattr(model, "input_gain", 1.0)  # ours: speech at unit RMS
        latent = model.encoder(0.1 * gain * torch.randn(4, 1, 2 * rate))  # (B, D, T)
        vectors = latent.transpose(1, 2).reshape(-1, latent.shape[1])  # (B x T, D)
        for layer in model.quantizer.vq.layers:
            book = layer._codebook
            picks = torch.randint(0, vectors.shape[0], (book.embed.shape[0],))
            book.embed.copy_(vectors[picks] + 1e-3 * torch.randn_like(vectors[picks]))
            book.embed_avg.copy_(book.embed)
            book.cluster_size.fill_(1.0)
            book.inited.fill_(1.0)


def codec_speed(codec: Codec, seconds: float, repeats: int) -> dict[str, float]:
    wav = 0.1 * torch.randn(1, 1, int(seconds * codec.sample_rate))
    codes = codec.encode(wav)  # warm-up
    codec.decode(codes)
    result: dict[str, float] = {}
    for what, run in (("encode", lambda: codec.encode(wav)), ("decode", lambda: codec.decode(codes))):
        walls, cpus = [], []
        for _ in range(repeats):
            with Clock() as clock:
                run()
            walls.append(clock.wall)
            cpus.append(clock.cpu)
        result[f"{what}_wall"] = seconds / statistics.median(walls)
        result[f"{what}_cpu"] = seconds / statistics.median(cpus)
    return result


# ---------------------------------------------------------------------- memory


def memory_probe(seconds: float, threads: int) -> None:
    """(child process) encode + decode `seconds` of noise with the offline-recipe codec, chunked."""
    torch.set_num_threads(threads)
    codec = our_codec(CodecConfig(strides=(8, 5, 4, 4), channels=32, dimension=128, lstm_layers=0,
                                  n_codebooks=6, codebook_size=1024), chunk_seconds=30.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wav = 0.1 * torch.randn(1, 1, int(seconds * RATE))
    with Clock() as clock:
        out = codec.decode(codec.encode(wav))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mib": peak / 1024, "model_ready_mib": before / 1024,
                      "arrays_mib": (wav.numel() + out.numel()) * 4 / 2 ** 20, "wall": clock.wall}))


def memory(threads: int) -> list[dict]:
    """Peak RSS of child processes, with glibc's default allocator and with a fixed mmap threshold.

    glibc raises its mmap threshold after large blocks are freed, so later chunk-sized buffers
    come from the heap, which fragments: RSS creeps up with the number of chunks although no
    tensor outlives its chunk. MALLOC_MMAP_THRESHOLD_ fixes the threshold and shows the memory
    the codec itself needs.
    """
    rows = []
    for allocator, extra in (("glibc default", {}), ("MALLOC_MMAP_THRESHOLD_=1048576",
                                                     {"MALLOC_MMAP_THRESHOLD_": "1048576"})):
        for seconds in (30.0, 600.0):
            done = subprocess.run([sys.executable, __file__, "--memory-probe", str(seconds), "--threads",
                                   str(threads)], capture_output=True, text=True, check=True,
                                  env={**os.environ, **extra})
            rows.append({"allocator": allocator, **json.loads(done.stdout.strip().splitlines()[-1])})
    print("\nPeak resident memory, encode + decode with 30 s chunks (offline-recipe codec, random weights)")
    print(f"{'allocator':<32} {'audio':>6} {'peak MiB':>9} {'model loaded MiB':>17} "
          f"{'input+output MiB':>17} {'wall s':>7}")
    for row in rows:
        print(f"{row['allocator']:<32} {row['seconds']:>5.0f}s {row['peak_mib']:>9.0f} {row['model_ready_mib']:>17.0f} "
              f"{row['arrays_mib']:>17.1f} {row['wall']:>7.1f}")
    return rows


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per configuration")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--segment", type=float, default=1.0, help="seconds per training crop")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length for encode/decode")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--memory", action="store_true", help="only the peak-memory comparison")
    parser.add_argument("--memory-probe", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(args.memory_probe, args.threads)
        return
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    report: dict = {"threads": args.threads, "load_average": os.getloadavg()[0]}
    if args.memory:
        report["memory"] = memory(args.threads)
        _dump(args.json, report)
        return

    if not args.skip_train:
        print(f"\nTraining: seconds of audio per second, batch {args.batch_size} x {args.segment} s, "
              f"median of {args.steps} steps (wall / cpu)")
        print(f"{'configuration':<26} {'bits/s':>7} {'gen M':>6} {'training':>14}")
        report["training"] = []
        for candidate in candidates():
            speed = train_speed(candidate, args.steps, args.batch_size, args.segment)
            print(f"{candidate.name:<26} {bitrate(candidate.codec):>7.0f} {speed['generator_parameters'] / 1e6:>6.2f} "
                  f"{speed['wall']:>6.2f} / {speed['cpu']:<5.2f}", flush=True)
            report["training"].append({"name": candidate.name, "bitrate": bitrate(candidate.codec), **speed})
        for candidate in mel_candidates():
            speed = mel_train_speed(candidate, args.steps, 16, 2.0)
            print(f"{candidate.name:<26} {bitrate(candidate.codec):>7.0f} {speed['generator_parameters'] / 1e6:>6.2f} "
                  f"{speed['wall']:>6.2f} / {speed['cpu']:<5.2f}  (log-mel L1, batch 16 x 2 s)", flush=True)
            report["training"].append({"name": candidate.name, "bitrate": bitrate(candidate.codec), **speed,
                                       "batch": "16 x 2 s"})

    print(f"\nEncode / decode: seconds of audio per second on {args.seconds:g} s of audio, "
          f"median of {args.repeats} (wall / cpu)")
    print(f"{'codec':<37} {'rate':>6} {'frames/s':>8} {'bits/s':>7} {'params M':>8} {'encode':>14} {'decode':>14}")
    rows = [(c.name, our_codec(c.codec)) for c in candidates()]
    rows += [(c.name + " +voc", our_codec(c.codec)) for c in mel_candidates()]  # decode includes the vocoder
    rows.append(("EnCodec 24 kHz arch, 6 kbps (random)", encodec_24khz_random()))
    report["codecs"] = []
    for name, codec in rows:
        speed = codec_speed(codec, args.seconds, args.repeats)
        parameters = count_parameters(codec.model) + count_parameters(getattr(codec.model, "vocoder", None) or torch.nn.Module())
        print(f"{name:<37} {codec.sample_rate:>6} {codec.frame_rate:>8.1f} {codec.bitrate:>7.0f} "
              f"{parameters / 1e6:>8.2f} {speed['encode_wall']:>6.1f} / {speed['encode_cpu']:<5.1f} "
              f"{speed['decode_wall']:>6.1f} / {speed['decode_cpu']:<5.1f}", flush=True)
        report["codecs"].append({"name": name, "sample_rate": codec.sample_rate, "frame_rate": codec.frame_rate,
                                 "bitrate": codec.bitrate, "parameters": parameters, **speed})
    _dump(args.json, report)


def _dump(path: str | None, report: dict) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
