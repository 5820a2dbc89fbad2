"""Our own EnCodec model, assembled from the `encodec` package's modules.

The generator is EnCodec's: a SEANet convolutional encoder (optionally ending in an LSTM), a
residual vector quantiser with EMA codebooks (k-means initialised on the first training batch,
dead codes replaced from the batch), and the mirror SEANet decoder, or (decoder "istft") the
vocoder's ConvTranspose1d generator with an inverse-STFT head reading the quantised latents
(the head that made the vocoder converge fastest here; see the README). The discriminator is
EnCodec's multi-scale STFT discriminator. Only sizes come from the recipe; the layers are the
package's own, so a pretrained EnCodec and ours behave alike in `tts.codec.Codec`.

Glossary: B batch, S samples, T frames, Q codebooks, D latent width.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any, Iterator, Sequence

import torch
from encodec import distrib
from encodec.modules import SEANetDecoder, SEANetEncoder
from encodec.msstftd import MultiScaleSTFTDiscriminator
from encodec.quantization import ResidualVectorQuantizer
from encodec.quantization.core_vq import EuclideanCodebook
from torch import nn

from tts.config import CodecConfig

# STFT sizes of the MS-STFT discriminator (window = FFT size, hop = a quarter): three scales
# as in the package's default, one octave lower than its 24 kHz setting to suit 16 kHz speech.
DISCRIMINATOR_FFTS = (1024, 512, 256)


@contextlib.contextmanager
def quiet_weight_norm() -> Iterator[None]:
    """Silence the deprecation warning that encodec's weight_norm layers raise on construction."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*weight_norm.*", category=FutureWarning)
        yield


class CodecModel(nn.Module):
    """SEANet encoder -> residual VQ -> SEANet decoder, built from the recipe's sizes.

    `strides` follow encodec's `ratios` convention: the decoder upsamples by them in order and
    the encoder downsamples by them in reverse order; their product is the hop in samples.
    `input_gain` scales the waveform on the way in (and back on the way out): speech normalised
    to -20 dBFS reaches the encoder at unit RMS. In an 80-step CPU probe of the demo recipe's
    autoencoder (no quantiser), speech at RMS 0.1 left the output constant (mel distance 1.49
    throughout); at unit RMS the distance fell to 1.20.
    """

    def __init__(self, sample_rate: int, strides: Sequence[int], channels: int, dimension: int,
                 lstm_layers: int, n_codebooks: int, codebook_size: int, input_gain: float = 1.0,
                 dead_code_threshold: float = 2.0, decoder: dict[str, Any] | None = None):
        super().__init__()
        self.sample_rate = sample_rate
        self.strides = tuple(int(s) for s in strides)
        self.hop_length = math.prod(self.strides)
        self.n_codebooks = n_codebooks
        self.codebook_size = codebook_size
        self.input_gain = input_gain
        sizes = dict(channels=1, dimension=dimension, n_filters=channels, ratios=list(self.strides),
                     lstm=lstm_layers, norm="weight_norm", causal=False)
        with quiet_weight_norm():
            self.encoder = SEANetEncoder(**sizes)
            self.decoder = SEANetDecoder(**sizes) if decoder is None else istft_decoder(dimension, decoder)
        if decoder is not None and self.decoder.hop_length != self.hop_length:
            raise ValueError(f"the codec decoder upsamples by {self.decoder.hop_length} samples per frame, "
                             f"the encoder's strides by {self.hop_length}; choose decoder_upsample_rates "
                             "whose product times decoder_istft_n_fft / 4 is the codec hop")
        self.quantizer = ResidualVectorQuantizer(dimension=dimension, n_q=n_codebooks, bins=codebook_size,
                                                 threshold_ema_dead_code=dead_code_threshold)
        for layer in self.quantizer.vq.layers:  # same buffers, repaired training updates
            layer._codebook = RepairedCodebook.replacing(layer._codebook)

    @classmethod
    def from_settings(cls, settings: dict[str, Any], dead_code_threshold: float = 2.0) -> "CodecModel":
        """Build from the settings of a trained codec (`tts.codec.trained_settings`)."""
        decoder = None
        if settings.get("decoder", "seanet") != "seanet":
            decoder = {key: settings[key] for key in ISTFT_DECODER_KEYS}
        return cls(settings["sample_rate"], settings["strides"], settings["channels"],
                   settings["dimension"], settings["lstm_layers"], settings["n_codebooks"],
                   settings["codebook_size"], settings.get("input_gain", 1.0), dead_code_threshold, decoder)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: (reconstruction (B, 1, S), codes (B, Q, T), commitment loss scalar).

        In training mode the quantiser updates its EMA codebooks and passes gradients straight
        through; in eval mode it quantises exactly as `encode` + `decode` do.
        """
        length = wav.shape[-1]
        latent = self.encoder(wav * self.input_gain)  # (B, D, T)
        result = self.quantizer(latent, math.ceil(self.frame_rate))
        recon = self.decoder(result.quantized)[..., :length] / self.input_gain  # (B, 1, S)
        return recon, result.codes.transpose(0, 1), result.penalty  # codes (B, Q, T)


ISTFT_DECODER_KEYS = ("decoder_upsample_rates", "decoder_istft_n_fft", "decoder_channels")


def istft_decoder(dimension: int, settings: dict[str, Any]) -> nn.Module:
    """The vocoder's generator (HiFi-GAN V2 blocks) as a codec decoder: latents (B, D, T) -> (B, 1, T x hop).
    Unlike the vocoder it is not clipped to [-1, 1]: the codec works at `input_gain` times full scale."""
    from tts.models.vocoder import Generator

    return Generator(dimension, settings["decoder_upsample_rates"], settings["decoder_channels"],
                     (3, 7, 11), ((1, 3, 5),) * 3, 2, settings["decoder_istft_n_fft"])


class RepairedCodebook(EuclideanCodebook):
    """encodec's EMA codebook (same buffers and state dict) with its two training updates repaired.

    In encodec 0.1.1, (1) k-means initialisation stores the centroids, not centroid x count, as
    the running sum, so the first EMA step divides a mean by a count again; and (2) a dead entry
    replaced by a batch vector is overwritten in the same step by the EMA update, whose running
    sum and count were left as they were: a never-used entry becomes sum / epsilon, huge and
    never chosen again. On small batches every code but one died within 20 steps. Here the
    running sum and count follow each new value, and k-means runs in O(N x K) memory.
    """

    @classmethod
    def replacing(cls, codebook: EuclideanCodebook) -> "RepairedCodebook":
        size, dim = codebook.embed.shape
        repaired = cls(dim, size, kmeans_init=not bool(codebook.inited), kmeans_iters=codebook.kmeans_iters,
                       decay=codebook.decay, epsilon=codebook.epsilon,
                       threshold_ema_dead_code=codebook.threshold_ema_dead_code)
        repaired.load_state_dict(codebook.state_dict())
        return repaired

    @torch.jit.ignore
    def init_embed_(self, data: torch.Tensor) -> None:
        if self.inited:
            return
        embed, counts = kmeans(data, self.codebook_size, self.kmeans_iters)
        self.embed.data.copy_(embed)
        self.embed_avg.data.copy_(embed * counts[:, None])
        self.cluster_size.data.copy_(counts)
        self.inited.data.fill_(1.0)
        distrib.broadcast_tensors(self.buffers())  # the same codebooks in every process

    def replace_(self, samples: torch.Tensor, mask: torch.Tensor) -> None:
        count = float(self.threshold_ema_dead_code)  # kept only if used again soon
        fresh = samples[torch.randint(0, samples.shape[0], (self.codebook_size,), device=samples.device)]
        self.embed.data.copy_(torch.where(mask[:, None], fresh, self.embed))
        self.embed_avg.data.copy_(torch.where(mask[:, None], fresh * count, self.embed_avg))
        self.cluster_size.data.copy_(self.cluster_size.masked_fill(mask, count))


def kmeans(samples: torch.Tensor, k: int, iters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means: samples (N, D) -> (centroids (K, D), counts (K,)); empty clusters keep
    their previous centroid, and count 0."""
    pick = torch.randperm(samples.shape[0], device=samples.device)[:k] if samples.shape[0] >= k else \
        torch.randint(0, samples.shape[0], (k,), device=samples.device)
    means = samples[pick]  # (K, D)
    counts = torch.zeros(k, device=samples.device)
    for _ in range(iters):
        distance = samples.pow(2).sum(1, keepdim=True) - 2 * samples @ means.t() + means.pow(2).sum(1)  # (N, K)
        nearest = distance.argmin(dim=1)  # (N,)
        counts = torch.bincount(nearest, minlength=k).to(samples.dtype)
        sums = torch.zeros_like(means).index_add_(0, nearest, samples)  # (K, D)
        means = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], means)
    return means, counts


def dead_code_threshold(vectors_per_batch: int, codebook_size: int) -> float:
    """EMA usage below which a codebook entry is replaced by a vector of the batch.

    encodec's default, 2 per batch, suits its training (64 x 1 s at 75 Hz = 4,800 vectors for
    1,024 entries, ~4.7 each); with a CPU batch of 8 x 1 s at 25 Hz (200 vectors) every entry
    would fall below it and be replaced at every step, so no code would keep its meaning. Here
    an entry dies when used less than 0.4 x a uniform share of the batch (encodec's own ratio,
    2 / 4.7), and never above encodec's 2.
    """
    return min(2.0, 0.4 * vectors_per_batch / codebook_size)


def build_discriminator(codec: CodecConfig) -> nn.Module:
    """EnCodec's multi-scale STFT discriminator with `codec.discriminator_channels` filters."""
    ffts = list(DISCRIMINATOR_FFTS)
    with quiet_weight_norm():
        return MultiScaleSTFTDiscriminator(filters=codec.discriminator_channels, n_ffts=ffts,
                                           win_lengths=ffts, hop_lengths=[n // 4 for n in ffts])


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
