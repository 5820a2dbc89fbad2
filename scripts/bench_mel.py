#!/usr/bin/env python
"""Log-mel through tts.audio.spectral against librosa, side by side: speed ratio and max difference.

    .venv/bin/python scripts/bench_mel.py [--seconds 10] [--repeats 20] [--threads 1] [--recipe R.yaml]

Both sides compute ln(max(mel, 1e-5)) of the STFT magnitude with the recipe's audio settings
(default AudioConfig()), from the same float32 signal: a harmonic tone with pauses plus a little noise.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def signal(sample_rate: int, seconds: float) -> np.ndarray:
    """Speech-like test audio (S,) float32: gliding harmonics, gated on and off, over quiet noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    phase = 2 * np.pi * 130 * (t + 0.05 * np.sin(2 * np.pi * 0.7 * t))
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
    gate = (np.sin(2 * np.pi * 1.5 * t) > -0.3).astype(np.float64)
    return (0.2 * voiced * gate / 3 + 1e-3 * rng.standard_normal(t.size)).astype(np.float32)


def best_time(fn, repeats: int) -> float:
    fn()  # warm up (first-call costs are not what we compare)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the test signal")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per method (best is kept)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--recipe", default=None, help="take the audio settings from this recipe")
    args = parser.parse_args()

    import librosa
    import torch

    from tts.audio.spectral import LOG_FLOOR, MelSpectrogram, log_mel
    from tts.config import AudioConfig, load_recipe

    torch.set_num_threads(args.threads)
    audio = load_recipe(args.recipe).audio if args.recipe else AudioConfig()
    settings = audio.mel_kwargs()
    wav = signal(audio.sample_rate, args.seconds)
    module = MelSpectrogram(**settings)
    tensor = torch.from_numpy(wav)

    def reference() -> np.ndarray:
        mel = librosa.feature.melspectrogram(y=wav, sr=audio.sample_rate, n_fft=audio.n_fft,
                                             hop_length=audio.hop_length, win_length=audio.win_length,
                                             n_mels=audio.n_mels, fmin=audio.f_min, fmax=audio.fmax, power=1.0)
        return np.log(np.maximum(mel, LOG_FLOOR))

    with torch.inference_mode():
        ours_function = log_mel(wav, **settings).numpy()
        ours_module = module(tensor).numpy()
        theirs = reference()
        t_function = best_time(lambda: log_mel(wav, **settings), args.repeats)
        t_module = best_time(lambda: module(tensor), args.repeats)
    t_librosa = best_time(reference, args.repeats)

    mel = np.exp(theirs)
    audible = mel > 1e-3
    print(f"settings: {audio.sample_rate} Hz, n_fft {audio.n_fft}, win {audio.win_length}, hop {audio.hop_length}, "
          f"{audio.n_mels} mels; {args.seconds:g} s of audio; torch threads {args.threads}")
    print(f"shape (M, T): ours {ours_module.shape}, librosa {theirs.shape}")
    print(f"librosa.feature.melspectrogram + log : {t_librosa * 1000:8.2f} ms")
    print(f"tts log_mel (function)               : {t_function * 1000:8.2f} ms  "
          f"({t_librosa / t_function:.2f}x librosa's speed)")
    print(f"tts MelSpectrogram (module)          : {t_module * 1000:8.2f} ms  "
          f"({t_librosa / t_module:.2f}x librosa's speed)")
    print(f"max |log-mel difference|: all bins {np.abs(ours_module - theirs).max():.2e}, "
          f"bins with mel > 1e-3 {np.abs(ours_module - theirs)[audible].max():.2e}, "
          f"function vs module {np.abs(ours_function - ours_module).max():.2e}")


if __name__ == "__main__":
    main()
