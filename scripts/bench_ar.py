#!/usr/bin/env python
"""Speed of the AR and NAR models with random weights, side by side in one run.

1. AR decoding of --frames new frames after a --prefix-token prefix (phones + prompt codes),
   with the KV cache and by recomputing the whole sequence every step; tokens/s and the ratio.
   One thread by default: batch-1 decoding is memory-bound and a second thread does not help.
2. NAR: levels 2..Q over the same prefix and frames (all cores by default).
3. AR training: tokens/s of forward + backward + AdamW on random batches (all cores by default),
   with dropout 0.1 on the attention weights and without it (`attention_dropout: 0`), steps
   interleaved so that both see the same load.

    python scripts/bench_ar.py                       # width 512, 12 layers, the full comparison
    python scripts/bench_ar.py --width 256 --layers 6 --uncached-frames 200

The machine may be shared with other work: the load average is printed with the results, and
every speed is given in wall time and in this process's CPU time (which leaves out the time other
processes held the core, though not their share of memory bandwidth).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

import torch

from tts.config import SynthesisConfig
from tts.models.ar import ARModel
from tts.models.layers import IGNORE, TransformerShape, token_loss
from tts.models.nar import NARModel

N_SYMBOLS = 80  # about the size of the phone inventory
logging.getLogger("tts.models.ar").setLevel(logging.ERROR)  # every run ends at the length limit on purpose


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--codebook-size", type=int, default=1024)
    parser.add_argument("--codebooks", type=int, default=8, help="Q; the NAR predicts Q - 1 levels")
    parser.add_argument("--prefix", type=int, default=300, help="tokens before the first new frame")
    parser.add_argument("--frames", type=int, default=750, help="new frames (750 = 10 s at 75 Hz)")
    parser.add_argument("--uncached-frames", type=int, default=None,
                        help="frames for the recomputing decoder (default --frames; fewer is quicker but "
                             "flatters it, since each of its steps grows with the sequence)")
    parser.add_argument("--threads", type=int, default=1, help="threads for AR decoding")
    parser.add_argument("--parallel-threads", type=int, default=os.cpu_count(),
                        help="threads for the NAR and training")
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--train-batch-tokens", type=int, default=2000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["uncached", "nar", "train"])
    parser.add_argument("--json", help="also write the results here")
    return parser.parse_args()


def prefix_inputs(args: argparse.Namespace, g: torch.Generator):
    """A third of the prefix phones (prompt + text), the rest prompt frames (BOS included)."""
    n_phones = args.prefix // 3
    text = torch.randint(1, N_SYMBOLS, (n_phones * 3 // 5,), generator=g)
    prompt_phones = torch.randint(1, N_SYMBOLS, (n_phones - len(text),), generator=g)
    prompt_codes = torch.randint(0, args.codebook_size, (args.codebooks, args.prefix - n_phones - 1), generator=g)
    return text, prompt_phones, prompt_codes


class Timer:
    """Wall and CPU (this process) seconds of a block."""

    def __enter__(self) -> "Timer":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def bench_decoding(model: ARModel, args, inputs, frames: int, use_cache: bool) -> Timer:
    text, prompt_phones, prompt_codes = inputs
    options = SynthesisConfig(temperature=1.0, top_k=50, seed=0, kv_cache=use_cache,
                              max_frames_per_phone=frames / len(text))
    with Timer() as timer:
        result = model.generate([text], [prompt_codes[0]], options, [prompt_phones], min_frames=frames)
    timer.frames = len(result.codes[0])  # the pointer may end a frame early: the floor is the limit - 1
    assert frames - 1 <= timer.frames <= frames, (timer.frames, frames)
    return timer


def bench_nar(args, inputs) -> float:
    text, prompt_phones, prompt_codes = inputs
    shape = TransformerShape(args.width, args.layers, args.heads, 0.0, 8192)
    model = NARModel(N_SYMBOLS, args.codebook_size, args.codebooks, shape).eval()
    first = torch.randint(0, args.codebook_size, (args.frames,))
    books = torch.randn(args.codebooks, args.codebook_size, 128)  # (Q, V, E): expected latents, as synthesis
    with Timer() as timer:
        codes, latents = model.generate([text], [first], [prompt_codes], [prompt_phones], codebooks=books)
    assert codes[0].shape == (args.codebooks, args.frames) and latents[0].shape == (128, args.frames)
    return timer.wall


def bench_training(args) -> dict[str, float]:
    """Training tokens/s by attention dropout (0.1 = the residual dropout, 0 = none), interleaved."""
    runs = {}
    for label, attention in (("attention dropout 0.1", None), ("attention dropout 0", 0.0)):
        torch.manual_seed(0)
        shape = TransformerShape(args.width, args.layers, args.heads, 0.1, 8192, attention)
        model = ARModel(N_SYMBOLS, args.codebook_size, shape).train()
        runs[label] = model, torch.optim.AdamW(model.parameters(), lr=1e-4)
    L, T = 40, 160  # a typical sentence: ~40 phones, ~6 s at 25 Hz
    B = max(1, args.train_batch_tokens // (L + T + 1))
    phones = torch.randint(1, N_SYMBOLS, (B, L))
    audio = torch.randint(0, args.codebook_size, (B, T + 1))
    targets = torch.randint(0, args.codebook_size, (B, T + 1))
    targets[:, :20] = IGNORE
    lengths = torch.full((B,), L), torch.full((B,), T + 1)
    frame_index = (torch.arange(T + 1) * L // (T + 1)).expand(B, -1)  # (B, T + 1) evenly spread phones
    tokens, seconds = B * (L + T + 1), {label: 0.0 for label in runs}
    for step in range(args.train_steps + 1):  # the first step warms up
        for label, (model, optimizer) in runs.items():
            start = time.perf_counter()
            logits, _ = model(phones, lengths[0], audio, lengths[1], frame_index)
            loss = token_loss(model.split_logits(logits)[0], targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step > 0:
                seconds[label] += time.perf_counter() - start
    return {label: tokens * args.train_steps / s for label, s in seconds.items()}


def main() -> None:
    args = parse_args()
    results: dict = {"width": args.width, "layers": args.layers, "heads": args.heads, "prefix": args.prefix,
                     "frames": args.frames, "threads": args.threads, "load_before": os.getloadavg()[0]}
    torch.manual_seed(0)
    inputs = prefix_inputs(args, torch.Generator().manual_seed(0))
    shape = TransformerShape(args.width, args.layers, args.heads, 0.0, 8192)
    model = ARModel(N_SYMBOLS, args.codebook_size, shape).eval()
    print(f"AR {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, width {args.width}, "
          f"{args.layers} layers; prefix {args.prefix} tokens, {args.frames} new frames, {args.threads} thread(s)")

    torch.set_num_threads(args.threads)
    bench_decoding(model, args, inputs, 10, use_cache=True)  # warm-up
    cached = [bench_decoding(model, args, inputs, args.frames, use_cache=True)]
    if "uncached" not in args.skip:
        frames = args.uncached_frames or args.frames
        uncached = bench_decoding(model, args, inputs, frames, use_cache=False)
        # cached again after: the load of a shared machine drifts during the long recomputing run
        cached.append(bench_decoding(model, args, inputs, args.frames, use_cache=True))
    for clock in ("wall", "cpu"):
        rate = sum(t.frames for t in cached) / sum(getattr(t, clock) for t in cached)
        results[f"cached_tokens_per_second_{clock}"] = rate
        line = f"  {clock:4s} time: KV cache {rate:7.1f} tok/s"
        if "uncached" not in args.skip:
            slow = uncached.frames / getattr(uncached, clock)
            results[f"uncached_tokens_per_second_{clock}"] = slow
            results[f"speedup_{clock}"] = rate / slow
            line += f"   recomputing {slow:6.2f} tok/s   speed-up {rate / slow:5.1f}x"
        print(line)
    if "uncached" not in args.skip:
        results["uncached_frames"] = frames
        print(f"  (KV cache: mean of {len(cached)} runs of {args.frames} frames, "
              f"{', '.join(f'{args.frames / t.wall:.1f}' for t in cached)} tok/s wall; recomputing: "
              f"{frames} frames{'' if frames == args.frames else ', fewer: the speed-up is understated'})")

    torch.set_num_threads(args.parallel_threads)
    if "nar" not in args.skip:
        seconds = bench_nar(args, inputs)
        results["nar_seconds"] = seconds
        print(f"NAR levels 2..{args.codebooks} over {args.frames} frames: {seconds:.1f} s "
              f"({args.parallel_threads} threads)")
    if "train" not in args.skip:
        rates = bench_training(args)
        results["train_tokens_per_second"] = rates
        (with_label, with_rate), (without_label, without_rate) = rates.items()
        print(f"AR training (batches of ~{args.train_batch_tokens} tokens, {args.parallel_threads} threads): "
              f"{with_label} {with_rate:.0f} tok/s, {without_label} {without_rate:.0f} tok/s: "
              f"{without_rate / with_rate:.2f}x")
    results["load_after"] = os.getloadavg()[0]
    print(f"load average before/after: {results['load_before']:.1f} / {results['load_after']:.1f} "
          f"on {os.cpu_count()} cores (other work shares the machine when it exceeds the cores)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
