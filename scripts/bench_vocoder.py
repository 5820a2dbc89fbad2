"""Vocoder speed on the CPU: seconds of audio generated per second of compute, side by side.

Random weights (speed does not depend on training), weight norm folded away as at inference,
one thread unless --threads says otherwise. Compares the shipped generator (VocoderConfig
defaults) with HiFi-GAN V1/V2/V3-sized, iSTFTNet-sized (V1 channels, two upsampling layers and
a 16-point inverse STFT) and MelGAN-sized generators at 22.05 kHz (hop 256), and the shipped
generator and the offline recipe's generator (recipes/offline.yaml: an inverse-STFT head) at the
project's 16 kHz (hop 160).

Columns: GMAC/s = 10^9 multiply-accumulates per second of audio (machine-independent);
median / best = audio seconds per wall-clock second over the timed runs; cpu = audio seconds
per second of this process's CPU time (median), the figure to trust on a shared machine.

    .venv/bin/python scripts/bench_vocoder.py [--seconds 4] [--repeats 5] [--threads 1] [--json out.json]
    .venv/bin/python scripts/bench_vocoder.py --candidates   # shapes considered for the default
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from tts.config import VocoderConfig, load_recipe
from tts.models.vocoder import Generator, count_parameters

N_MELS = 80


@dataclass(frozen=True)
class Case:
    name: str
    sample_rate: int
    config: VocoderConfig | None  # None: the MelGAN-sized reference below


def shipped_rates(hop: int, shipped: tuple[int, ...]) -> tuple[int, ...]:
    """The shipped strides when they fit the hop; otherwise strides of the same count for `hop`."""
    if math.prod(shipped) == hop:
        return shipped
    by_count = {(256, 3): (8, 8, 4), (256, 4): (8, 4, 4, 2), (256, 5): (4, 4, 4, 2, 2)}
    if (hop, len(shipped)) not in by_count:
        raise ValueError(f"no stride set of length {len(shipped)} for hop {hop}; add one to by_count")
    return by_count[hop, len(shipped)]


V1 = VocoderConfig(upsample_rates=(8, 8, 2, 2), initial_channels=512, resblock_kernel_sizes=(3, 7, 11),
                   resblock_dilations=((1, 3, 5),) * 3, resblock_convs=2)
V3 = VocoderConfig(upsample_rates=(8, 8, 4), initial_channels=256, resblock_kernel_sizes=(3, 5, 7),
                   resblock_dilations=((1, 2), (2, 6), (3, 12)), resblock_convs=1)


OFFLINE_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "offline.yaml"


def cases() -> list[Case]:
    shipped, v1, v3 = VocoderConfig(), V1, V3
    return [
        Case("shipped", 22050, replace(shipped, upsample_rates=shipped_rates(256, shipped.upsample_rates),
                                       istft_n_fft=0)),
        Case("hifigan-v1", 22050, v1),
        Case("hifigan-v2", 22050, replace(v1, initial_channels=128)),
        Case("hifigan-v3", 22050, v3),
        Case("istftnet", 22050, replace(v1, upsample_rates=(8, 8), istft_n_fft=16)),
        Case("melgan", 22050, None),
        Case("shipped", 16000, replace(shipped, upsample_rates=shipped_rates(160, shipped.upsample_rates),
                                       istft_n_fft=0)),
        Case("offline", 16000, load_recipe(OFFLINE_RECIPE).vocoder),
    ]


def candidates() -> list[Case]:
    """Shapes considered for the shipped default, at the project's 16 kHz / hop 160."""
    rates = (5, 4, 4, 2)
    light = VocoderConfig(upsample_rates=rates, initial_channels=128, resblock_kernel_sizes=(3, 7),
                          resblock_dilations=((1, 3), (1, 3)), resblock_convs=2)
    return [
        Case("128-k37", 16000, light),
        Case("256-k37", 16000, replace(light, initial_channels=256)),
        Case("v2-16k", 16000, replace(V1, upsample_rates=rates, initial_channels=128)),
        Case("v2-16k-8522", 16000, replace(V1, upsample_rates=(8, 5, 2, 2), initial_channels=128)),
        Case("192-v2", 16000, replace(V1, upsample_rates=rates, initial_channels=192)),
        Case("v3-16k", 16000, replace(V3, upsample_rates=(8, 5, 4))),
        Case("istft-54-32", 16000, replace(V1, upsample_rates=(5, 4), istft_n_fft=32, initial_channels=128)),
        Case("offline", 16000, load_recipe(OFFLINE_RECIPE).vocoder),  # stride 2 + 320-point iSTFT
    ]


class MelGANGenerator(nn.Module):
    """MelGAN's generator at its published size (512 channels, strides 8, 8, 2, 2, 3 dilated residual units)."""

    def __init__(self, in_channels: int = N_MELS, channels: int = 512, rates: tuple[int, ...] = (8, 8, 2, 2)):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad1d(3), nn.Conv1d(in_channels, channels, 7)]
        for rate in rates:
            layers += [nn.LeakyReLU(0.2),
                       nn.ConvTranspose1d(channels, channels // 2, 2 * rate, rate,
                                          padding=rate // 2 + rate % 2, output_padding=rate % 2)]
            channels //= 2
            layers += [MelGANResidual(channels, 3 ** i) for i in range(3)]
        layers += [nn.LeakyReLU(0.2), nn.ReflectionPad1d(3), nn.Conv1d(channels, 1, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
                weight_norm(m)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # (B, M, T) -> (B, 1, S)
        return self.net(mel)

    def remove_weight_norm(self) -> None:
        for m in self.modules():
            if parametrize.is_parametrized(m):
                parametrize.remove_parametrizations(m, "weight")


class MelGANResidual(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(nn.LeakyReLU(0.2), nn.ReflectionPad1d(dilation),
                                   nn.Conv1d(channels, channels, 3, dilation=dilation),
                                   nn.LeakyReLU(0.2), nn.Conv1d(channels, channels, 1))
        self.shortcut = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)


def generator(c: VocoderConfig) -> Generator:
    return Generator(N_MELS, c.upsample_rates, c.initial_channels, c.resblock_kernel_sizes,
                     c.resblock_dilations, c.resblock_convs, c.istft_n_fft)


def build(case: Case) -> nn.Module:
    if case.config is None:
        model = MelGANGenerator()
    else:
        model = generator(case.config)
    model.remove_weight_norm()
    return model.eval()


def measure(model: nn.Module, hop: int, sample_rate: int, seconds: float,
            repeats: int) -> tuple[list[float], list[float]]:
    """Real-time factors of `repeats` timed runs after one warm-up: audio seconds per wall second,
    and per second of this process's CPU time (with one thread, what an idle core would give:
    waiting for a busy core does not count)."""
    frames = int(seconds * sample_rate / hop)
    mel = torch.randn(1, N_MELS, frames, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        model(mel[..., : frames // 4])  # warm-up: allocator, kernel selection
        wall, cpu = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            wav = model(mel)
            elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
            assert wav.shape[-1] == frames * hop, (wav.shape, frames, hop)
            wall.append(frames * hop / sample_rate / elapsed)
            cpu.append(frames * hop / sample_rate / elapsed_cpu)
    return wall, cpu


def gmacs_per_second(model: nn.Module, hop: int, sample_rate: int) -> float:
    """Multiply-accumulates (10^9) the convolutions spend per second of audio: speed without the machine."""
    total = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        kernel, groups = module.weight.shape[-1], module.groups
        if isinstance(module, nn.ConvTranspose1d):  # each input sample meets kernel x out_channels weights
            total += inputs[0].shape[-1] * module.in_channels * module.out_channels // groups * kernel
        else:
            total += output.shape[-1] * module.out_channels * module.in_channels // groups * kernel

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))]
    frames = sample_rate // hop
    with torch.inference_mode():
        model(torch.zeros(1, N_MELS, frames))
    for hook in hooks:
        hook.remove()
    return total / (frames * hop / sample_rate) / 1e9


def train_step_seconds(case: Case, batch: int = 8, seconds: float = 1.0) -> float:
    """Wall seconds of one generator forward + backward on batch x seconds of audio (weight norm on)."""
    model = generator(case.config)
    hop = model.hop_length
    mel = torch.randn(batch, N_MELS, int(seconds * case.sample_rate / hop))
    model(mel[..., :8]).sum().backward()  # warm-up
    start = time.perf_counter()
    model(mel).square().mean().backward()
    return time.perf_counter() - start


def describe(case: Case) -> str:
    if case.config is None:
        return "512 ch, rates 8,8,2,2, residual stack 3 x (k3 dil 1,3,9 + 1x1)"
    c = case.config
    return (f"{c.initial_channels} ch, rates {','.join(map(str, c.upsample_rates))}, "
            f"kernels {','.join(map(str, c.resblock_kernel_sizes))}, "
            f"dilations {'/'.join(','.join(map(str, d)) for d in c.resblock_dilations)}, "
            f"{c.resblock_convs} conv/unit"
            f"{f', {c.istft_n_fft}-point iSTFT' if c.istft_n_fft else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="audio seconds per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per model")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--candidates", action="store_true",
                        help="compare the shapes considered for the shipped default (16 kHz) instead, "
                             "with the time of a generator training step (8 x 1 s, forward + backward)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, "
          f"torch {torch.__version__}, {args.threads} thread(s), {args.seconds:g} s of audio x {args.repeats}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'model':<12} {'rate':>6} {'hop':>4} {'params':>8} {'GMAC/s':>7} {'median':>7} {'best':>7} {'cpu':>7}"
          f"{'  train step' if args.candidates else ''}  shape")
    rows = []
    for case in candidates() if args.candidates else cases():
        hop = 256 if case.config is None else case.config.upsampling
        model = build(case)
        speeds, cpu_speeds = measure(model, hop, case.sample_rate, args.seconds, args.repeats)
        row = {"model": case.name, "sample_rate": case.sample_rate, "hop": hop,
               "parameters": count_parameters(model),
               "gmac_per_audio_second": gmacs_per_second(model, hop, case.sample_rate),
               "x_real_time_median": statistics.median(speeds),
               "x_real_time_best": max(speeds), "x_real_time_cpu": statistics.median(cpu_speeds),
               "shape": describe(case)}
        train = ""
        if args.candidates:
            row["train_step_seconds"] = train_step_seconds(case)
            train = f"  {row['train_step_seconds']:>8.2f} s"
        rows.append(row)
        print(f"{case.name:<12} {case.sample_rate:>6} {hop:>4} {row['parameters'] / 1e6:>7.2f}M "
              f"{row['gmac_per_audio_second']:>7.2f} "
              f"{row['x_real_time_median']:>6.1f}x {row['x_real_time_best']:>6.1f}x "
              f"{row['x_real_time_cpu']:>6.1f}x{train}  {row['shape']}",
              flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"threads": args.threads, "seconds": args.seconds, "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
