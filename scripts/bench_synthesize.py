"""Real-time factor of `tts synthesize` by stage, side by side in one run:
the default (KV cache, batched sentences), without the KV cache, without batching, and int8.

    .venv/bin/python scripts/bench_synthesize.py --model runs/demo
    .venv/bin/python scripts/bench_synthesize.py --model runs/offline --repeats 3
    .venv/bin/python scripts/bench_synthesize.py --model data/voice --against runs/bundle   # two voices

The AR decodes with one thread (as `tts synthesize` does); the NAR and decoder use every core.
Greedy decoding keeps the work close across variants. The stages are the run's chain's: front_end, ar,
nar, decoder for the AR chain; front_end, durations, refiner (if any), vocoder for the durations model (which
has no KV cache, so that variant repeats the default there). `--against RUN` adds another run's default.
"""

from __future__ import annotations

import argparse
import statistics
import time

TEXT = ("The little house stood at the end of a quiet road. Nobody had lived there for years, "
        "and the garden had grown wild. One morning a letter arrived.")


def run(synth, options, repeats: int) -> dict[str, float]:
    timings: dict[str, list[float]] = {}
    audio = []
    for _ in range(repeats):
        result = synth.synthesize(TEXT, synth.prompt_from_speaker(None), options)
        audio.append(result.duration)
        for key, value in result.timings.items():
            timings.setdefault(key, []).append(value)
    out = {key: statistics.median(values) for key, values in timings.items()}
    out["audio"] = statistics.median(audio)
    out["total"] = sum(v for k, v in out.items() if k != "audio")
    out["rtf"] = out["total"] / out["audio"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/demo", help="trained run folder")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--against", help="another run folder whose default is timed beside")
    args = parser.parse_args()

    from tts.synthesize import Synthesizer

    start = time.perf_counter()
    synth = Synthesizer.from_run(args.model)
    print(f"model load {time.perf_counter() - start:.1f} s; text: {len(TEXT.split())} words, 3 sentences")
    greedy = dict(temperature=0.0, repetition_window=0)
    variants = [("default (KV cache, batched)", synth, synth.options(**greedy)),
                ("no KV cache", synth, synth.options(**greedy, kv_cache=False)),
                ("no batching", synth, synth.options(**greedy, batch=False)),
                ("int8 linear layers", Synthesizer.from_run(args.model, quantize="int8"), synth.options(**greedy))]
    if args.against:
        other = Synthesizer.from_run(args.against)
        variants.append((f"{args.against} (default)", other, other.options(**greedy)))
    for _, s, o in variants:  # warm-up: first calls pay for allocations and lazy imports
        s.synthesize("Warm up.", s.prompt_from_speaker(None), o)
    rows = [(name, run(s, o, args.repeats)) for name, s, o in variants]
    base = rows[0][1]["total"]
    stages = list(dict.fromkeys(k for _, r in rows for k in r if k not in ("audio", "total", "rtf")))
    print(f"{'variant':30} {'audio s':>8} " + " ".join(f"{k:>10}" for k in stages)
          + f" {'total':>7} {'RTF':>6} {'vs default':>10}")
    for name, r in rows:
        print(f"{name:30} {r['audio']:8.2f} " + " ".join(f"{r.get(k, 0.0):10.2f}" for k in stages)
              + f" {r['total']:7.2f} {r['rtf']:6.3f} {r['total'] / base:9.2f}x")
    print("(audio lengths differ where a variant changes the decoded tokens; compare per-stage seconds)")


if __name__ == "__main__":
    main()
