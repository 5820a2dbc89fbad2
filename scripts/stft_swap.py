"""Where a synthesized voice falls short of its recordings in naturalness: the magnitude or the phase of its spectrum.

Reads a folder that `tts eval model RUN --save-audio DIR` wrote (manifest.jsonl, each synthesized wav beside the
recording it is scored against) and prints DNSMOS P.808 of the recordings, of the synthesis, and of their STFTs
put back together crosswise: the synthesis's magnitude with the recording's phase, the recording's magnitude with
the synthesis's phase, and the recording's magnitude with random phase. Meaningful where the two are aligned
sample for sample: copy-synthesis (`--what vocoder`, `--what codec`), not a model's own timing.

`--sharpen G` scores instead each file alone with its STFT magnitude raised to the power G (each frame's energy
kept): a spectral sharpening postfilter, applied to the recordings and to the synthesis alike, so that what it
does to the judge is told apart from what it does to the voice (the timing need not match).

    .venv/bin/python scripts/stft_swap.py DIR [--n-fft 320 1024] [--limit N] [--sharpen 1.3]
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
    from tts.audio.spectral import phase, stft

    n, hop = min(len(synthesis), len(recording)), n_fft // 4
    made, real = stft(synthesis[:n], n_fft, hop), stft(recording[:n], n_fft, hop)  # (F, T) complex
    random = 2 * np.pi * torch.rand(real.shape, generator=torch.Generator().manual_seed(seed))
    return {"synthesis magnitude, recording phase": _waveform(made.abs(), phase(real), hop, n),
            "recording magnitude, synthesis phase": _waveform(real.abs(), phase(made), hop, n),
            "recording magnitude, random phase": _waveform(real.abs(), random, hop, n)}


def sharpened(wav: np.ndarray, power: float, n_fft: int) -> np.ndarray:
    """`wav` with its STFT magnitude raised to `power`, each frame scaled back to its energy (Hann, hop n_fft / 4)."""
    from tts.audio.spectral import phase, stft

    spectrum = stft(wav, n_fft, n_fft // 4)  # (F, T) complex
    magnitude = spectrum.abs()
    raised = magnitude ** power
    raised = raised * (magnitude.square().sum(0) / raised.square().sum(0).clamp_min(1e-12)).sqrt()
    return _waveform(raised, phase(spectrum), n_fft // 4, len(wav))


def _waveform(magnitude: torch.Tensor, angle: torch.Tensor, hop: int, length: int) -> np.ndarray:
    """The inverse STFT (Hann, hop `hop`) of a magnitude and a phase: `length` samples, float32 within [-1, 1]."""
    from tts.audio.spectral import istft

    return istft(torch.polar(magnitude, angle), hop, length=length).numpy().clip(-1.0, 1.0).astype(np.float32)


def main() -> None:
    from tqdm import tqdm

    from tts.eval.mos import dnsmos

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a folder written by `tts eval ... --save-audio`")
    parser.add_argument("--n-fft", type=int, nargs="+", default=[320, 1024], help="STFT sizes (hop a quarter)")
    parser.add_argument("--limit", type=int, default=0, help="the first N utterances only (0 = all)")
    parser.add_argument("--sharpen", type=float, default=0.0,
                        help="score each file with its magnitude raised to this power instead of the crosswise STFTs")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.folder / "manifest.jsonl").open(encoding="utf-8")]
    rows = rows[:args.limit] if args.limit else rows
    scores: dict[str, list[list[float]]] = {}

    def score(name: str, wav: np.ndarray, rate: int) -> None:
        measures = dnsmos(wav, rate)
        scores.setdefault(name, []).append([measures[key] for key in ("sig", "bak", "ovrl", "p808")])

    for row in tqdm(rows, unit="utt"):
        synthesis, rate = sf.read(args.folder / row["audio"], dtype="float32")
        recording, _ = sf.read(args.folder / row["reference"], dtype="float32")
        score("recording", recording, rate)
        score("synthesis", synthesis, rate)
        for n_fft in args.n_fft:
            if args.sharpen:
                score(f"recording, magnitude ** {args.sharpen:g} ({n_fft}-point STFT)",
                      sharpened(recording, args.sharpen, n_fft), rate)
                score(f"synthesis, magnitude ** {args.sharpen:g} ({n_fft}-point STFT)",
                      sharpened(synthesis, args.sharpen, n_fft), rate)
                continue
            for name, wav in swapped(synthesis, recording, n_fft).items():
                score(f"{name} ({n_fft}-point STFT)", wav, rate)
    print(f"DNSMOS over {len(rows)} utterances of {args.folder}: SIG / BAK / OVRL / P.808")
    for name, values in scores.items():
        print(f"  {name:58s} " + " / ".join(f"{v:.3f}" for v in np.mean(values, axis=0)))


if __name__ == "__main__":
    main()
