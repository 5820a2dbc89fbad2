"""Our own EnCodec model, assembled from the `encodec` package's modules.

The generator is EnCodec's: a SEANet convolutional encoder (optionally ending in an LSTM), a
residual vector quantiser with EMA codebooks (k-means initialised on the first training batch,
dead codes replaced from the batch), and the mirror SEANet decoder. Only sizes come from the
recipe; the layers are the package's own, so a pretrained EnCodec and ours behave alike in
`tts.codec.Codec`.

Glossary: B batch, S samples, T frames, Q codebooks, D latent width.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np
import torch
from encodec import distrib
from encodec.modules import SEANetDecoder, SEANetEncoder
from encodec.quantization import ResidualVectorQuantizer
from encodec.quantization.core_vq import EuclideanCodebook
from torch import nn


@contextlib.contextmanager
def quiet_weight_norm() -> Iterator[None]:
    """Silence the deprecation warning that encodec's weight_norm layers raise on construction."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*weight_norm.*", category=FutureWarning)
        yield


def dropout_levels(probability: float, n_codebooks: int, seed: int, step: int) -> int | None:
    """Quantizer dropout: the codebooks a training step quantises with. With `probability` the
    step draws 1..Q uniformly (a function of seed and step alone: the same on every rank and after a
    resume), else None (all Q)."""
    if probability <= 0:
        return None
    rng = np.random.default_rng([seed, step, 0x5D])
    if rng.random() >= probability:
        return None
    return int(rng.integers(1, n_codebooks + 1))


class CodecPass(NamedTuple):
    """What a codec's training pass returns."""

    output: torch.Tensor  # the reconstruction: waveform (B, 1, S) or log-mel (B, M, F)
    codes: torch.Tensor  # (B, levels, T)
    commit: torch.Tensor  # mean commitment loss (scalar)
    first: torch.Tensor  # (B, D, T): codebook 1's entries, with the gradient passed straight through to the
    # encoder (what a phone classifier on codebook 1 trains the encoder by: codec.phone_weight)


def quantize(quantizer: nn.Module, latent: torch.Tensor, levels: int | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Residual VQ of latents (B, D, T) with the first `levels` codebooks (None = all): (quantized
    latents (B, D, T), codes (B, levels, T), mean commitment loss, codebook 1's entries (B, D, T) with
    the gradient passed straight through to `latent`)."""
    n_q = len(quantizer.vq.layers)
    levels = n_q if levels is None else int(levels)
    if not 1 <= levels <= n_q:
        raise ValueError(f"levels must be 1 to {n_q} (the codec's codebooks), got {levels}")
    quantized, codes, commit = quantizer.vq(latent, n_q=levels)
    first = quantizer.vq.layers[0].decode(codes[0])  # (B, D, T)
    return quantized, codes.transpose(0, 1), commit.mean(), latent + (first - latent).detach()


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
                 dead_code_threshold: float = 2.0):
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
            self.decoder = SEANetDecoder(**sizes)
        self.quantizer = ResidualVectorQuantizer(dimension=dimension, n_q=n_codebooks, bins=codebook_size,
                                                 threshold_ema_dead_code=dead_code_threshold)
        for layer in self.quantizer.vq.layers:  # same buffers, repaired training updates
            layer._codebook = RepairedCodebook.replacing(layer._codebook)

    @classmethod
    def from_settings(cls, settings: dict[str, Any], dead_code_threshold: float = 2.0) -> "CodecModel":
        """Build from the settings of a trained codec (`tts.codec.trained_settings`)."""
        if settings.get("decoder", "seanet") != "seanet":
            raise ValueError(f"a codec with decoder {settings['decoder']!r} cannot be built: only the SEANet "
                             "decoder remains; train the codec again")
        return cls(settings["sample_rate"], settings["strides"], settings["channels"],
                   settings["dimension"], settings["lstm_layers"], settings["n_codebooks"],
                   settings["codebook_size"], settings.get("input_gain", 1.0), dead_code_threshold)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def forward(self, wav: torch.Tensor, levels: int | None = None) -> CodecPass:
        """Training pass: reconstruction (B, 1, S), codes, commitment loss and codebook 1's latents.

        In training mode the quantiser updates its EMA codebooks and passes gradients straight
        through; in eval mode it quantises exactly as `encode` + `decode` do. `levels` < Q uses the
        first codebooks alone (quantizer dropout in training; a lower bitrate).
        """
        length = wav.shape[-1]
        latent = self.encoder(wav * self.input_gain)  # (B, D, T)
        quantized, codes, commit, first = quantize(self.quantizer, latent, levels)
        recon = self.decoder(quantized)[..., :length] / self.input_gain  # (B, 1, S)
        return CodecPass(recon, codes, commit, first)


class MelCodecModel(nn.Module):
    """A codec over log-mel frames: SEANet encoder on the mel -> residual VQ -> SEANet decoder
    back to the mel, with a mel vocoder (attached for inference) making the waveform.

    The same encodec modules as `CodecModel`, with the mel bins as their input channels and
    strides counted in mel frames ((2, 2) over a 10 ms mel hop = 25 codec frames/s). Training
    (`forward`) goes mel -> mel and needs no waveform at all, which is what makes it cheap on a
    CPU; `encoder` and `decoder` are the waveform-facing modules `tts.codec.Codec` calls:
    waveform (B, 1, S) -> latents (B, D, ceil(S / hop)) and latents (B, D, T) -> waveform
    (B, 1, T x hop), the latter only once `attach_vocoder` gave it a vocoder.
    """

    def __init__(self, mel: dict[str, Any], strides: Sequence[int], channels: int, dimension: int,
                 lstm_layers: int, n_codebooks: int, codebook_size: int, dead_code_threshold: float = 2.0):
        super().__init__()
        self.mel_settings = dict(mel)  # the settings of log_mel as plain numbers (AudioConfig.mel_kwargs)
        self.strides = tuple(int(s) for s in strides)
        self.mel_frames_per_code = math.prod(self.strides)
        self.hop_length = self.mel_frames_per_code * int(self.mel_settings["hop_length"])
        self.sample_rate = int(self.mel_settings["sample_rate"])
        self.n_codebooks, self.codebook_size = n_codebooks, codebook_size
        sizes = dict(channels=int(self.mel_settings["n_mels"]), dimension=dimension, n_filters=channels,
                     ratios=list(self.strides), lstm=lstm_layers, norm="weight_norm", causal=False)
        with quiet_weight_norm():
            self.mel_encoder = SEANetEncoder(**sizes)
            self.mel_decoder = SEANetDecoder(**sizes)
        self.quantizer = ResidualVectorQuantizer(dimension=dimension, n_q=n_codebooks, bins=codebook_size,
                                                 threshold_ema_dead_code=dead_code_threshold)
        for layer in self.quantizer.vq.layers:
            layer._codebook = RepairedCodebook.replacing(layer._codebook)
        self.encoder = _MelEncoder(self)
        self.decoder = _MelDecoder(self)

    @classmethod
    def from_settings(cls, settings: dict[str, Any], dead_code_threshold: float = 2.0) -> "MelCodecModel":
        return cls(settings["mel"], settings["strides"], settings["channels"], settings["dimension"],
                   settings["lstm_layers"], settings["n_codebooks"], settings["codebook_size"],
                   dead_code_threshold)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def mel_latents(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel (B, M, T x strides) -> encoder latents (B, D, T)."""
        return self.mel_encoder((mel - MEL_CENTRE) / MEL_SPREAD)

    def latents_mel(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (B, D, T) -> log-mel (B, M, T x strides)."""
        return self.mel_decoder(latents) * MEL_SPREAD + MEL_CENTRE

    def forward(self, mel: torch.Tensor, levels: int | None = None) -> CodecPass:
        """Training pass on log-mel (B, M, T x strides): reconstructed log-mel, codes, commitment loss and
        codebook 1's latents. The quantiser trains by EMA in training mode, as in `CodecModel`; `levels`
        as there."""
        if mel.shape[-1] % self.mel_frames_per_code:
            raise ValueError(f"mel frames ({mel.shape[-1]}) must be a multiple of the codec's "
                             f"{self.mel_frames_per_code} mel frames per code")
        quantized, codes, commit, first = quantize(self.quantizer, self.mel_latents(mel), levels)
        return CodecPass(self.latents_mel(quantized), codes, commit, first)

    def attach_vocoder(self, generator: nn.Module) -> None:
        """The mel vocoder's generator (weight norm removed) that `decoder` ends in. It is kept
        out of the codec's state dict: the codec checkpoint holds the codec alone."""
        generator.requires_grad_(False)
        object.__setattr__(self, "_vocoder", generator.eval())  # not registered: stays out of state_dict

    @property
    def vocoder(self) -> nn.Module | None:
        """The attached vocoder generator, or None."""
        return self.__dict__.get("_vocoder")

    def _apply(self, fn, *args, **kwargs):  # .to(device) moves the attached vocoder too
        if self.vocoder is not None:
            self.vocoder._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)


class _MelEncoder(nn.Module):
    """Waveform (B, 1, S) -> latents (B, D, ceil(S / hop)): the log-mel (centred frames, the
    prepared corpus's), padded with silence to whole codec frames, through the mel encoder."""

    def __init__(self, codec: MelCodecModel):
        super().__init__()
        from tts.audio.spectral import MelSpectrogram

        self.features = MelSpectrogram(**codec.mel_settings)
        object.__setattr__(self, "codec", codec)  # a back-reference, not a submodule

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        from tts.audio.spectral import LOG_FLOOR

        codec = self.codec
        frames = math.ceil(wav.shape[-1] / codec.hop_length) * codec.mel_frames_per_code
        with torch.autocast(wav.device.type, enabled=False):
            mel = self.features(wav.float())[..., :frames]  # (B, M, <= frames)
        mel = nn.functional.pad(mel, (0, frames - mel.shape[-1]), value=math.log(LOG_FLOOR))
        return codec.mel_latents(mel)


class _MelDecoder(nn.Module):
    """Latents (B, D, T) -> waveform (B, 1, T x hop) through the log-mel and the attached vocoder."""

    def __init__(self, codec: MelCodecModel):
        super().__init__()
        object.__setattr__(self, "codec", codec)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        vocoder = self.codec.vocoder
        if vocoder is None:
            raise RuntimeError("this mel-domain codec has no vocoder attached: it decodes codes to log-mel "
                               "only (latents_mel); load it with tts.codec.load_codec to get waveforms")
        return vocoder(self.codec.latents_mel(latents)).clamp(-1.0, 1.0)


MEL_CENTRE, MEL_SPREAD = -5.0, 3.0  # natural-log mel of speech at -20 dBFS spans about -11.5 to 2


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


CODEBOOK = "._codebook."  # the prefix of an EMA codebook's buffers in a codec's state dict (encodec's quantizer)
RUNNING_SUM = "embed_avg"  # its EMA running sum: training state, which an export leaves out


def without_running_sums(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A codec's state dict for synthesis alone: the codebooks' EMA running sums left out (encoding and decoding
    read only the entries, `embed`)."""
    return {key: value for key, value in state.items() if not key.endswith(CODEBOOK + RUNNING_SUM)}


def with_running_sums(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A codec's state dict with each running sum an export left out rebuilt as entry x count (the EMA's own
    relation), so that it loads into the model as a training checkpoint does."""
    rebuilt = dict(state)
    for key, embed in state.items():
        if not key.endswith(CODEBOOK + "embed"):
            continue
        codebook = key.removesuffix("embed")  # "...._codebook."
        if codebook + RUNNING_SUM not in state:
            count = state.get(codebook + "cluster_size", torch.ones(embed.shape[0]))
            rebuilt[codebook + RUNNING_SUM] = embed.float() * count.float()[:, None]
    return rebuilt


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


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
