"""The mel refiner (stage refiner): conditional flow matching from the durations model's log-mels to a
recording's (docs/refiner.md).

A regression model's log-mels are the average of what could be said: smooth, without the harmonics a
vocoder needs to sound natural. The refiner learns a velocity field that carries x0 = mu + noise (mu: the
durations model's frames, normalised per band) to x1 = the recording's frames along the straight line
x_t = (1 - t) x0 + t x1 (optimal-transport conditional flow matching, as in Matcha-TTS); it also hears the
durations model's last hidden states, which keep the words. Synthesis integrates the field in a few Euler
steps (synthesis.refiner_steps) from x0 = mu (temperature 0: no noise).

The network: 1x1 convolutions of [x_t; mu] and of the hidden states (repeated to the mel rate), then gated
dilated residual blocks with a GroupNorm and the step's time embedding, and a zero-initialised 1x1 output.

Shapes: B batch, M mel bins, F mel frames, T codec frames (F = T r), D the durations model's width.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from tts.models.layers import model_from_checkpoint

GROUPS = 8  # GroupNorm groups of each block (channels must divide by it)


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (B, dim) of flow times t (B,) in [0, 1]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class GatedBlock(nn.Module):
    """h + 1x1(tanh(a) * sigmoid(b)), [a; b] a dilated convolution of norm(h) + the time embedding."""

    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        self.norm = nn.GroupNorm(GROUPS, channels)
        self.conv = nn.Conv1d(channels, 2 * channels, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)
        self.proj = nn.Conv1d(channels, channels, 1)
        self.time = nn.Linear(channels, channels)

    def forward(self, h: torch.Tensor, t_embedding: torch.Tensor) -> torch.Tensor:
        a, b = self.conv(self.norm(h) + self.time(t_embedding)[:, :, None]).chunk(2, dim=1)
        return h + self.proj(torch.tanh(a) * torch.sigmoid(b))


class MelRefiner(nn.Module):
    """Velocity field v(x_t, t | mu, hidden) over normalised log-mels, and its Euler integration."""

    def __init__(self, mel_bins: int, hidden_width: int, mel_per_frame: int, channels: int = 192,
                 blocks: int = 8, kernel: int = 5):
        super().__init__()
        self.mel_bins, self.hidden_width, self.mel_per_frame = mel_bins, hidden_width, mel_per_frame
        self.channels, self.n_blocks, self.kernel = channels, blocks, kernel
        self.inp = nn.Conv1d(2 * mel_bins, channels, 1)
        self.cond = nn.Conv1d(hidden_width, channels, 1)
        self.time = nn.Sequential(nn.Linear(channels, channels), nn.SiLU(), nn.Linear(channels, channels))
        self.blocks = nn.ModuleList(GatedBlock(channels, kernel, 2 ** (i % 4)) for i in range(blocks))
        self.out = nn.Conv1d(channels, mel_bins, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.register_buffer("mean", torch.zeros(mel_bins, 1))  # per-band statistics of the recordings' log-mels
        self.register_buffer("std", torch.ones(mel_bins, 1))

    def config(self) -> dict[str, Any]:
        return {"mel_bins": self.mel_bins, "hidden_width": self.hidden_width, "mel_per_frame": self.mel_per_frame,
                "channels": self.channels, "blocks": self.n_blocks, "kernel": self.kernel}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "MelRefiner":
        return cls(int(config["mel_bins"]), int(config["hidden_width"]), int(config["mel_per_frame"]),
                   int(config["channels"]), int(config["blocks"]), int(config["kernel"]))

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> "MelRefiner":
        """The refiner of a checkpoint dict of stage refiner (tts.checkpoint.read_checkpoint)."""
        return model_from_checkpoint(cls, checkpoint)

    def normalise(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - self.mean) / self.std

    def velocity(self, x: torch.Tensor, t: torch.Tensor, mu: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """d x / d t (B, M, F) at x (B, M, F), times t (B,), given mu (B, M, F) and hidden (B, D, T)."""
        t_embedding = self.time(time_embedding(t, self.channels))
        h = self.inp(torch.cat([x, mu], dim=1)) + self.cond(hidden).repeat_interleave(self.mel_per_frame, dim=-1)
        for block in self.blocks:
            h = block(h, t_embedding)
        return self.out(h)

    def loss(self, mel: torch.Tensor, hidden: torch.Tensor, target: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Flow-matching loss: mean squared error of the velocity at a random time of the straight path from
        mu + noise to the target (log-mels (B, M, F) of the durations model and of the recording)."""
        mu, x1 = self.normalise(mel), self.normalise(target)
        x0 = mu + torch.randn(mu.shape, generator=generator, device=mu.device)
        t = torch.rand(mu.size(0), generator=generator, device=mu.device)
        xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * x1
        return ((self.velocity(xt, t, mu, hidden) - (x1 - x0)) ** 2).mean()

    @torch.no_grad()
    def refine(self, mel: torch.Tensor, hidden: torch.Tensor, steps: int) -> torch.Tensor:
        """Refined log-mel (M, F) of the durations model's log-mel (M, F) and hidden states (D, F / r), in `steps`
        Euler steps (synthesis.refiner_steps)."""
        mu = self.normalise(mel.float()).unsqueeze(0)
        hidden = hidden.float().unsqueeze(0)
        x = mu
        for i in range(steps):
            t = torch.full((1,), i / steps, device=mu.device)
            x = x + self.velocity(x, t, mu, hidden) / steps
        return (x[0] * self.std + self.mean).to(mel.dtype)
