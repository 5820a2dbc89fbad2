"""GAN vocoder: a ConvTranspose1d upsampling generator and its discriminators.

The generator follows HiFi-GAN: a convolution widens the input features, then each
upsampling layer (kernel = 2 x stride) multiplies the length by its stride exactly and is
followed by a multi-receptive-field block (the mean of residual blocks with different kernel
sizes and dilations); leaky ReLU between layers, tanh at the output. The product of the
strides is the hop of the input features, so T frames become T x hop samples, no more, no less.

With `istft_n_fft` = N the last layer writes, instead of samples, an N-point spectrum (log
magnitude and phase) at 4 / N of the sample rate, and an inverse STFT (hop N / 4) turns it into
samples, as iSTFTNet does: the strides then multiply to hop / (N / 4), and the costly layers at
the full sample rate are skipped.

Two discriminators judge the waveform: multi-period (the signal folded into 2-D by each
period) and multi-scale (the signal at 1, 1/2, 1/4 of the rate). Losses are least-squares
adversarial, feature matching and (in the training task) L1 on log-mel.

Shapes: B batch, S samples, T frames, C channels, M mel bins.
log-mel (B, M, T) -> waveform (B, 1, S) with S = T x hop.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from tts.audio.spectral import hann_window
from tts.config import Recipe, VocoderConfig

LRELU_SLOPE = 0.1  # HiFi-GAN's slope between layers
MAX_LOG_MAGNITUDE = math.log(100.0)  # the iSTFT head's magnitudes are clipped at 100 (40 dB over full scale)

# (logits, feature maps) of one sub-discriminator
DiscriminatorOutput = tuple[torch.Tensor, list[torch.Tensor]]


def upsample_padding(stride: int) -> tuple[int, int, int]:
    """(kernel, padding, output_padding) that make a ConvTranspose1d multiply length by `stride`.

    Output length is (T - 1) * stride - 2 * padding + kernel + output_padding; with
    kernel = 2 * stride that is T * stride when 2 * padding - output_padding = stride,
    so odd strides need output_padding = 1. Stride 1 (no upsampling) uses kernel 3, because
    output_padding must stay below the stride.
    """
    if stride < 1:
        raise ValueError(f"upsampling stride must be >= 1, got {stride}")
    kernel = 2 * stride if stride > 1 else 3
    padding = -(-(kernel - stride) // 2)  # ceil((kernel - stride) / 2)
    return kernel, padding, 2 * padding - (kernel - stride)


class ResidualBlock(nn.Module):
    """Dilated residual units with one kernel size: x + conv(lrelu(x)) per dilation.

    `convs_per_unit` = 2 adds a second, undilated convolution to each unit (HiFi-GAN V1/V2);
    1 keeps one dilated convolution per unit (HiFi-GAN V3).
    """

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int], convs_per_unit: int = 2):
        super().__init__()
        self.units = nn.ModuleList()
        for dilation in dilations:
            convs = [nn.Conv1d(channels, channels, kernel_size, dilation=d,
                               padding=d * (kernel_size - 1) // 2)
                     for d in (dilation, 1)[:convs_per_unit]]
            self.units.append(nn.ModuleList(convs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, S) -> (B, C, S)
        for convs in self.units:
            y = x
            for conv in convs:
                y = conv(F.leaky_relu(y, LRELU_SLOPE))
            x = x + y
        return x


class Generator(nn.Module):
    """Features (B, in_channels, T) -> waveform (B, 1, T * hop_length), hop_length = prod(upsample_rates)
    (in [-1, 1]), or prod(upsample_rates) * istft_n_fft / 4 with the inverse-STFT head."""

    def __init__(self, in_channels: int, upsample_rates: Sequence[int], initial_channels: int,
                 resblock_kernel_sizes: Sequence[int], resblock_dilations: Sequence[Sequence[int]],
                 resblock_convs: int = 2, istft_n_fft: int = 0):
        super().__init__()
        if any(k % 2 == 0 for k in resblock_kernel_sizes):
            raise ValueError(f"resblock kernel sizes must be odd (same-length padding), "
                             f"got {list(resblock_kernel_sizes)}")
        if len(resblock_dilations) != len(resblock_kernel_sizes):
            raise ValueError(f"one dilation list per kernel size: {len(resblock_kernel_sizes)} kernels, "
                             f"{len(resblock_dilations)} dilation lists")
        if initial_channels < 2 ** len(upsample_rates):
            raise ValueError(f"initial_channels={initial_channels} is too small to halve "
                             f"{len(upsample_rates)} times")
        if istft_n_fft and (istft_n_fft < 8 or istft_n_fft % 4):
            raise ValueError(f"istft_n_fft must be 0 (off) or a multiple of 4, at least 8; got {istft_n_fft}")
        self.upsample_rates = tuple(upsample_rates)
        self.istft_n_fft = istft_n_fft
        self.istft_hop = istft_n_fft // 4 if istft_n_fft else 1
        self.hop_length = math.prod(self.upsample_rates) * self.istft_hop
        self.in_channels = in_channels
        self.pre = nn.Conv1d(in_channels, initial_channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.blocks = nn.ModuleList()
        channels = initial_channels
        for rate in self.upsample_rates:
            kernel, padding, output_padding = upsample_padding(rate)
            self.ups.append(nn.ConvTranspose1d(channels, channels // 2, kernel, rate,
                                               padding=padding, output_padding=output_padding))
            channels //= 2
            self.blocks.append(nn.ModuleList(
                ResidualBlock(channels, k, d, resblock_convs)
                for k, d in zip(resblock_kernel_sizes, resblock_dilations)))
        # the iSTFT head writes N / 2 + 1 log magnitudes and as many phases per frame
        self.post = nn.Conv1d(channels, istft_n_fft + 2 if istft_n_fft else 1, 7, padding=3)
        if istft_n_fft:
            self.register_buffer("window", hann_window(istft_n_fft), persistent=False)
        self._weight_norm = False
        self.apply_weight_norm()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.pre(features)  # (B, C, T)
        for up, blocks in zip(self.ups, self.blocks):
            x = up(F.leaky_relu(x, LRELU_SLOPE))  # (B, C/2, T * rate)
            x = sum(block(x) for block in blocks) / len(blocks)  # multi-receptive-field fusion
        x = self.post(F.leaky_relu(x))  # (B, 1, S) or (B, 2F, S / istft_hop); default slope, as HiFi-GAN
        if not self.istft_n_fft:
            return torch.tanh(x)
        return self._inverse_stft(x)

    def _inverse_stft(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2F, T') log magnitudes and phases -> (B, 1, T' x istft_hop) samples."""
        log_magnitude, phase = x.float().chunk(2, dim=1)  # (B, F, T') each
        magnitude = log_magnitude.clamp(max=MAX_LOG_MAGNITUDE).exp()
        spec = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))  # (B, F, T')
        wav = torch.istft(spec, self.istft_n_fft, self.istft_hop, self.istft_n_fft, self.window,
                          center=True, length=x.shape[-1] * self.istft_hop)  # (B, S)
        return wav[:, None]  # (B, 1, S), unbounded (`tts.vocode.Vocoder` clips at inference)

    def _convs(self) -> list[nn.Module]:
        return [m for m in self.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))]

    def apply_weight_norm(self) -> None:
        """Weight norm on every convolution (training)."""
        if not self._weight_norm:
            for conv in self._convs():
                weight_norm(conv)
            self._weight_norm = True

    def remove_weight_norm(self) -> None:
        """Fold weight norm into plain weights (inference): same outputs, less work per call."""
        if self._weight_norm:
            for conv in self._convs():
                parametrize.remove_parametrizations(conv, "weight")
            self._weight_norm = False


def build_generator(recipe: Recipe) -> Generator:
    """The recipe's generator over its log-mels (weight norm on); checks that its strides multiply
    to the mel hop."""
    cfg: VocoderConfig = recipe.vocoder
    if cfg.upsampling != recipe.audio.hop_length:
        raise ValueError(f"vocoder.upsample_rates {list(cfg.upsample_rates)} (with the iSTFT hop "
                         f"{cfg.istft_hop}) multiply to {cfg.upsampling}, but the log-mel has a hop of "
                         f"{recipe.audio.hop_length} samples; choose rates whose product is the hop")
    return Generator(recipe.audio.n_mels, cfg.upsample_rates, cfg.initial_channels,
                     cfg.resblock_kernel_sizes, cfg.resblock_dilations, cfg.resblock_convs,
                     cfg.istft_n_fft)


# --------------------------------------------------------------------------- discriminators


def _gcd_groups(channels_in: int, channels_out: int, groups: int) -> int:
    return math.gcd(math.gcd(channels_in, channels_out), groups)


class PeriodDiscriminator(nn.Module):
    """Folds (B, 1, S) into (B, 1, S / period, period) and judges it with (k x 1) 2-D convolutions."""

    def __init__(self, period: int, channels: int):
        super().__init__()
        self.period = period
        widths = [1, channels, 4 * channels, 16 * channels, 32 * channels, 32 * channels]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(c_in, c_out, (5, 1), (3, 1) if i < 4 else 1, padding=(2, 0)))
            for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])))
        self.post = weight_norm(nn.Conv2d(widths[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutput:
        batch, _, length = wav.shape
        if length % self.period:
            wav = F.pad(wav, (0, self.period - length % self.period), mode="reflect")
        x = wav.view(batch, 1, -1, self.period)  # (B, 1, S / period, period)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        x = self.post(x)
        features.append(x)
        return x.flatten(1), features  # logits (B, frames x period)


class ScaleDiscriminator(nn.Module):
    """Strided, grouped 1-D convolutions over the waveform at one rate."""

    def __init__(self, channels: int):
        super().__init__()
        c = channels
        # (out channels, kernel, stride, groups); channels = 32 gives HiFi-GAN's sizes (128 ... 1024)
        layers = [(4 * c, 15, 1, 1), (4 * c, 41, 2, 4), (8 * c, 41, 2, 16), (16 * c, 41, 4, 16),
                  (32 * c, 41, 4, 16), (32 * c, 41, 1, 16), (32 * c, 5, 1, 1)]
        convs, c_in = [], 1
        for c_out, kernel, stride, groups in layers:
            convs.append(weight_norm(nn.Conv1d(c_in, c_out, kernel, stride, padding=(kernel - 1) // 2,
                                               groups=_gcd_groups(c_in, c_out, groups))))
            c_in = c_out
        self.convs = nn.ModuleList(convs)
        self.post = weight_norm(nn.Conv1d(c_in, 1, 3, padding=1))

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutput:
        x, features = wav, []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        x = self.post(x)
        features.append(x)
        return x.flatten(1), features


class Discriminator(nn.Module):
    """Multi-period plus multi-scale discriminators; returns one (logits, features) per sub-discriminator."""

    def __init__(self, channels: int = 4, periods: Sequence[int] = (2, 3, 5, 7, 11), scales: int = 3):
        super().__init__()
        self.periods = nn.ModuleList(PeriodDiscriminator(p, channels) for p in periods)
        self.scales = nn.ModuleList(ScaleDiscriminator(channels) for _ in range(scales))

    def forward(self, wav: torch.Tensor) -> list[DiscriminatorOutput]:  # wav (B, 1, S)
        outputs = [d(wav) for d in self.periods]
        for i, d in enumerate(self.scales):
            if i:
                wav = F.avg_pool1d(wav, 4, 2, padding=2)  # (B, 1, ~S / 2)
            outputs.append(d(wav))
        return outputs


def build_discriminator(recipe: Recipe) -> Discriminator:
    cfg = recipe.vocoder
    return Discriminator(cfg.discriminator_channels, cfg.discriminator_periods, cfg.discriminator_scales)


# --------------------------------------------------------------------------- losses


def discriminator_loss(real: list[DiscriminatorOutput], fake: list[DiscriminatorOutput]) -> torch.Tensor:
    """Least squares: real logits toward 1, fake toward 0, summed over sub-discriminators."""
    return sum(((1 - r) ** 2).mean() + (f ** 2).mean() for (r, _), (f, _) in zip(real, fake))


def generator_adversarial_loss(fake: list[DiscriminatorOutput]) -> torch.Tensor:
    """Least squares: fake logits toward 1."""
    return sum(((1 - f) ** 2).mean() for f, _ in fake)


def feature_matching_loss(real: list[DiscriminatorOutput], fake: list[DiscriminatorOutput]) -> torch.Tensor:
    """L1 between the discriminators' feature maps on real (held fixed) and generated audio."""
    return sum(F.l1_loss(f, r.detach())
               for (_, real_maps), (_, fake_maps) in zip(real, fake)
               for r, f in zip(real_maps, fake_maps))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
