"""Where a synthesized voice falls short of its recordings in naturalness: the magnitude or the phase of its spectrum.

Reads a folder that `tts eval model RUN --save-audio DIR` wrote (manifest.jsonl, each synthesized wav beside the
recording it is scored against) and prints DNSMOS P.808 of the recordings, of the synthesis, and of their STFTs
put back together crosswise: the synthesis's magnitude with the recording's phase, the recording's magnitude with
the synthesis's phase, and the recording's magnitude with random phase. Meaningful where the two are aligned
sample for sample: copy-synthesis (`--what vocoder`, `--what codec`), not a model's own timing.

    .venv/bin/python scripts/stft_swap.py DIR [--n-fft 320 1024] [--limit N]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch


def swapped(synthesis: np.ndarray, recording: np.ndarray, n_fft: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The crosswise reconstructions of two aligned waveforms (cut to the shorter) over a Hann STFT, hop n_fft / 4:
    {"synthesis magnitude, recording phase", "recording magnitude, synthesis phase",
    "recording magnitude, random phase"} -> waveform (float32, within [-1, 1])."""
    from tts.audio.spectral import istft, phase, stft

    n, hop = min(len(synthesis), len(recording)), n_fft // 4
    made, real = stft(synthesis[:n], n_fft, hop), stft(recording[:n], n_fft, hop)  # (F, T) complex

    def waveform(magnitude: torch.Tensor, angle: torch.Tensor) -> np.ndarray:
        return istft(torch.polar(magnitude, angle), hop, length=n).numpy().clip(-1.0, 1.0).astype(np.float32)

    random = 2 * np.pi * torch.rand(real.shape, generator=torch.Generator().manual_seed(seed))
    return {"synthesis magnitude, recording phase": waveform(made.abs(), phase(real)),
            "recording magnitude, synthesis phase": waveform(real.abs(), phase(made)),
            "recording magnitude, random phase": waveform(real.abs(), random)}


def main() -> None:
    from tqdm import tqdm

    from tts.eval.mos import dnsmos

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a folder written by `tts eval ... --save-audio`")
    parser.add_argument("--n-fft", type=int, nargs="+", default=[320, 1024], help="STFT sizes (hop a quarter)")
    parser.add_argument("--limit", type=int, default=0, help="the first N utterances only (0 = all)")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.folder / "manifest.jsonl").open(encoding="utf-8")]
    rows = rows[:args.limit] if args.limit else rows
    scores: dict[str, list[float]] = {}
    for row in tqdm(rows, unit="utt"):
        synthesis, rate = sf.read(args.folder / row["audio"], dtype="float32")
        recording, _ = sf.read(args.folder / row["reference"], dtype="float32")
        scores.setdefault("recording", []).append(dnsmos(recording, rate)["p808"])
        scores.setdefault("synthesis", []).append(dnsmos(synthesis, rate)["p808"])
        for n_fft in args.n_fft:
            for name, wav in swapped(synthesis, recording, n_fft).items():
                scores.setdefault(f"{name} ({n_fft}-point STFT)", []).append(dnsmos(wav, rate)["p808"])
    print(f"DNSMOS P.808 over {len(rows)} utterances of {args.folder}")
    for name, values in scores.items():
        print(f"  {name:58s} {np.mean(values):.3f}")


if __name__ == "__main__":
    main()
