"""Recipes as typed config: one frozen dataclass per YAML section.

`load_recipe(path, overrides)` reads YAML, applies `key.sub=value` overrides, and
builds the dataclasses. Unknown keys, wrong types and impossible values fail here,
at load time, with the dotted key, the bad value and what is allowed. Derived values
(codec hop and frame rate, vocoder upsampling) are properties, never typed twice.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml


class ConfigError(ValueError):
    """A recipe key with a bad value; the message names the dotted key and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str, source: str | None = None):
        where = f"{source}: " if source else ""
        super().__init__(f"{where}recipe key '{key}' = {value!r} is invalid: {allowed}")
        self.key, self.value, self.allowed = key, value, allowed


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(key, value, allowed)


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and bookkeeping for one training stage (shared engine)."""

    lr: float = 1e-3  # peak learning rate, reached at the end of warmup
    betas: tuple[float, float] = (0.9, 0.98)  # AdamW betas
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    schedule: Literal["noam", "constant", "cosine"] = "noam"  # noam: linear rise then 1/sqrt(step);
    # cosine: linear rise then half a cosine down to 0 at max_steps
    warmup_steps: int = 200  # optimiser steps of linear warmup
    max_steps: int = 1000  # optimiser steps in total
    batch_tokens: int = 6000  # AR/NAR: max tokens (phones + frames) per batch
    batch_size: int = 8  # codec/vocoder: segments per batch
    segment_seconds: float = 1.0  # codec/vocoder: length of random training crops
    grad_accum: int = 1  # micro-batches per optimiser step
    grad_clip: float = 1.0  # max global gradient norm (0 = off)
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 on CUDA, fp32 on CPU
    log_every: int = 10  # steps between progress lines / metrics records
    validate_every: int = 200  # steps between validation passes
    checkpoint_every: int = 200  # steps between checkpoints
    sample_every: int = 500  # steps between audio + spectrogram samples (0 = off)
    keep_last: int = 3  # checkpoints kept besides best.pt
    max_nonfinite: int = 20  # consecutive non-finite steps before the run stops
    num_workers: int = 0  # data-loader worker processes
    init_from: Optional[str] = None  # checkpoint of this stage whose weights start a new run (fine-tuning);
    # the optimiser and schedule start afresh; ignored when the run resumes from its own last.pt

    def validate(self) -> None:
        _check(self.lr > 0, "lr", self.lr, "a positive learning rate")
        _check(all(0 <= b < 1 for b in self.betas), "betas", self.betas, "two numbers in [0, 1)")
        _check(self.warmup_steps >= 0, "warmup_steps", self.warmup_steps, ">= 0")
        _check(self.max_steps > 0, "max_steps", self.max_steps, "> 0")
        _check(self.batch_tokens > 0, "batch_tokens", self.batch_tokens, "> 0")
        _check(self.batch_size > 0, "batch_size", self.batch_size, "> 0")
        _check(self.segment_seconds > 0, "segment_seconds", self.segment_seconds, "> 0 seconds")
        _check(self.grad_accum >= 1, "grad_accum", self.grad_accum, ">= 1")
        _check(self.grad_clip >= 0, "grad_clip", self.grad_clip, ">= 0 (0 turns clipping off)")
        for key in ("log_every", "validate_every", "checkpoint_every"):
            _check(getattr(self, key) > 0, key, getattr(self, key), "> 0 steps")
        _check(self.sample_every >= 0, "sample_every", self.sample_every, ">= 0 (0 = off)")
        _check(self.keep_last >= 1, "keep_last", self.keep_last, ">= 1")
        _check(self.max_nonfinite >= 1, "max_nonfinite", self.max_nonfinite, ">= 1")
        _check(self.num_workers >= 0, "num_workers", self.num_workers, ">= 0")
        _check(self.schedule != "cosine" or self.max_steps > self.warmup_steps, "max_steps", self.max_steps,
               f"> warmup_steps ({self.warmup_steps}) for the cosine schedule")


@dataclass(frozen=True)
class AudioConfig:
    """Audio as every stage sees it, and the log-mel features the vocoder reads."""

    sample_rate: int = 16000  # Hz; every file is resampled to it
    n_fft: int = 1024  # FFT size in samples
    win_length: int = 1024  # analysis window in samples (<= n_fft)
    hop_length: int = 160  # mel hop in samples; must divide the codec hop
    n_mels: int = 80  # mel bins
    f_min: float = 0.0  # Hz
    f_max: Optional[float] = None  # Hz; null = sample_rate / 2
    trim_db: float = 40.0  # trim leading/trailing audio quieter than peak - trim_db (0 = off)
    loudness_db: float = -20.0  # RMS level in dBFS after normalisation

    @property
    def mel_frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def fmax(self) -> float:
        return self.f_max if self.f_max is not None else self.sample_rate / 2

    def stft_kwargs(self) -> dict[str, int]:
        """The STFT settings as plain numbers: `linear_spectrogram(wav, **audio.stft_kwargs())`."""
        return {"n_fft": self.n_fft, "hop_length": self.hop_length, "win_length": self.win_length}

    def mel_kwargs(self) -> dict[str, int | float]:
        """The settings that define log-mel features, as plain numbers (f_max resolved), for
        tts.audio.spectral: `log_mel(wav, **audio.mel_kwargs())`. Trim and loudness are not among
        them: they change the audio, not how its features are made."""
        return {"sample_rate": self.sample_rate, **self.stft_kwargs(), "n_mels": self.n_mels,
                "f_min": float(self.f_min), "f_max": float(self.fmax)}

    def validate(self) -> None:
        _check(self.sample_rate >= 8000, "sample_rate", self.sample_rate, ">= 8000 Hz")
        _check(self.n_fft > 0, "n_fft", self.n_fft, "> 0")
        _check(0 < self.win_length <= self.n_fft, "win_length", self.win_length,
               f"in (0, n_fft={self.n_fft}]")
        _check(0 < self.hop_length <= self.win_length, "hop_length", self.hop_length,
               f"in (0, win_length={self.win_length}]")
        _check(self.n_mels > 0, "n_mels", self.n_mels, "> 0")
        _check(0 <= self.f_min < self.fmax <= self.sample_rate / 2, "f_max", self.f_max,
               f"f_min < f_max <= sample_rate/2 = {self.sample_rate / 2}")
        _check(self.trim_db >= 0, "trim_db", self.trim_db, ">= 0 dB (0 = no trimming)")
        _check(self.loudness_db < 0, "loudness_db", self.loudness_db, "< 0 dBFS")


@dataclass(frozen=True)
class TextConfig:
    """Text front end."""

    language: Literal["en-us"] = "en-us"  # only English (g2p_en) for now
    keep_punctuation: bool = True  # keep , . ? ! etc. as phone-sequence tokens


@dataclass(frozen=True)
class DataConfig:
    """Where the corpus is, how it is read, and what `prepare` keeps."""

    reader: Literal["ljspeech", "libritts", "vctk", "manifest", "folder"] = "folder"
    root: str = "data/demo"  # corpus folder (or manifest file for reader=manifest)
    vctk_mic: Literal["mic1", "mic2"] = "mic1"  # VCTK microphone
    libritts_text: Literal["normalized", "original"] = "normalized"  # LibriTTS transcript kind
    speakers: tuple[str, ...] = ()  # keep only these speakers (empty = all)
    min_duration: float = 0.5  # seconds; shorter utterances are dropped (too_short)
    max_duration: float = 20.0  # seconds; longer ones are dropped (too_long)
    min_phones: int = 2  # utterances with fewer phones are dropped
    max_phones: int = 400  # utterances with more phones are dropped
    min_sample_rate: int = 16000  # Hz; files recorded below it are dropped (low_sample_rate)
    silence_db: float = -60.0  # dBFS RMS below which audio counts as silent
    clip_fraction: float = 0.01  # share of samples at full scale above which audio is clipped
    validation_fraction: float = 0.05  # share of each speaker's utterances held out
    validation_min: int = 1  # at least this many validation utterances per speaker with >= 2
    shard_utterances: int = 256  # utterances per feature shard file

    def validate(self) -> None:
        _check(self.min_duration >= 0, "min_duration", self.min_duration, ">= 0 seconds")
        _check(self.max_duration > self.min_duration, "max_duration", self.max_duration,
               f"> min_duration = {self.min_duration}")
        _check(self.min_phones >= 1, "min_phones", self.min_phones, ">= 1")
        _check(self.max_phones > self.min_phones, "max_phones", self.max_phones,
               f"> min_phones = {self.min_phones}")
        _check(self.silence_db < 0, "silence_db", self.silence_db, "< 0 dBFS")
        _check(0 < self.clip_fraction <= 1, "clip_fraction", self.clip_fraction, "in (0, 1]")
        _check(0 <= self.validation_fraction < 1, "validation_fraction",
               self.validation_fraction, "in [0, 1)")
        _check(self.validation_min >= 0, "validation_min", self.validation_min, ">= 0")
        _check(self.shard_utterances >= 1, "shard_utterances", self.shard_utterances, ">= 1")


@dataclass(frozen=True)
class CodecConfig:
    """EnCodec: pretrained 24 kHz, or a model of our own training from encodec's modules."""

    kind: Literal["encodec_24khz", "trained", "none"] = "trained"
    bandwidth: float = 6.0  # encodec_24khz: kbps, one of 1.5, 3, 6, 12, 24 (6 = 8 codebooks)
    checkpoint: Optional[str] = None  # weights file; null = torch hub cache / run folder
    domain: Literal["waveform", "mel"] = "waveform"  # trained: what the encoder reads and the decoder
    # writes: samples (EnCodec), or log-mel frames with a mel vocoder making the waveform (see README)
    vocoder: Optional[str] = None  # domain mel: the mel vocoder checkpoint; null = {output_dir}/vocoder/best.pt
    strides: tuple[int, ...] = (8, 5, 4, 2)  # trained: encoder strides; product = codec hop (in
    # samples; in mel frames for domain mel)
    channels: int = 32  # trained: SEANet base channels
    dimension: int = 128  # trained: latent width
    lstm_layers: int = 2  # trained: LSTM layers after the convolutions (0 = none)
    n_codebooks: int = 4  # trained: residual VQ codebooks (Q)
    codebook_size: int = 1024  # trained: entries per codebook
    quantizer_dropout: float = 0.0  # trained: share of training batches quantised with a random
    # number of codebooks 1..Q (SoundStream's quantizer dropout), so that the first codebooks decode well alone
    chunk_seconds: float = 30.0  # encode/decode long audio in chunks of this length
    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=3e-4, warmup_steps=500,
                                                                   max_steps=20000))

    @property
    def hop_length(self) -> int:
        """Samples per codec frame (a mel-domain codec's hop also needs the mel hop: Recipe.codec_hop)."""
        if self.kind == "encodec_24khz":
            return 320
        if self.domain == "mel":
            raise ValueError("a mel-domain codec's hop depends on audio.hop_length: use Recipe.codec_hop")
        return math.prod(self.strides)

    @property
    def mel_frames_per_code(self) -> int:
        """Domain mel: log-mel frames per codec frame (the product of the strides)."""
        return math.prod(self.strides)

    @property
    def pretrained_codebooks(self) -> int:
        # EnCodec 24 kHz: 75 frames/s x 10 bits per codebook = 0.75 kbps per codebook
        return int(round(self.bandwidth * 1000 / 750))

    @property
    def codebooks(self) -> int:
        return self.pretrained_codebooks if self.kind == "encodec_24khz" else self.n_codebooks

    def validate(self) -> None:
        if self.kind == "encodec_24khz":
            _check(self.bandwidth in (1.5, 3.0, 6.0, 12.0, 24.0), "bandwidth", self.bandwidth,
                   "one of 1.5, 3, 6, 12, 24 kbps")
        _check(len(self.strides) >= 1 and all(s >= 1 for s in self.strides), "strides",
               self.strides, "a list of positive integers")
        _check(self.channels >= 1, "channels", self.channels, ">= 1")
        _check(self.dimension >= 1, "dimension", self.dimension, ">= 1")
        _check(self.lstm_layers >= 0, "lstm_layers", self.lstm_layers, ">= 0")
        _check(self.n_codebooks >= 1, "n_codebooks", self.n_codebooks, ">= 1")
        _check(self.codebook_size >= 2, "codebook_size", self.codebook_size, ">= 2")
        _check(0 <= self.quantizer_dropout <= 1, "quantizer_dropout", self.quantizer_dropout, "in [0, 1]")
        _check(self.chunk_seconds > 0, "chunk_seconds", self.chunk_seconds, "> 0 seconds")


@dataclass(frozen=True)
class TransformerSize:
    """The size of a transformer stack, shared by the ar, nar and durations sections (each adds its own
    keys). Presets: tiny (CPU demo) to VALL-E (12 x 1024 x 16)."""

    width: int = 256  # model width D
    layers: int = 4  # transformer blocks
    heads: int = 4  # attention heads; must divide width
    dropout: float = 0.1  # dropout on the residual branches (and on attention weights unless set below)
    attention_dropout: Optional[float] = None  # dropout on attention weights (None = dropout); 0 skips
    # drawing a (heads x N x N) mask per layer, which cost a quarter of a CPU step here
    max_positions: int = 4096  # longest phones + frames sequence

    def validate(self) -> None:
        _check(self.width >= 1, "width", self.width, ">= 1")
        _check(self.layers >= 1, "layers", self.layers, ">= 1")
        _check(self.heads >= 1 and self.width % self.heads == 0, "heads", self.heads,
               f"a positive divisor of width = {self.width}")
        _check(0 <= self.dropout < 1, "dropout", self.dropout, "in [0, 1)")
        _check(self.attention_dropout is None or 0 <= self.attention_dropout < 1, "attention_dropout",
               self.attention_dropout, "null (= dropout) or in [0, 1)")
        _check(self.max_positions >= 16, "max_positions", self.max_positions, ">= 16")


@dataclass(frozen=True)
class _SpeechModel(TransformerSize):
    """Keys of every model trained on the prepared codes with a voice prompt (ar, nar, durations)."""

    prompt_seconds: float = 3.0  # training: longest voice prompt (a prefix of the utterance), seconds
    short_first_epochs: int = 0  # training: epoch e < n uses only the shortest (e + 1) / (n + 1) of utterances
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> None:
        super().validate()
        _check(self.prompt_seconds >= 0, "prompt_seconds", self.prompt_seconds, ">= 0 seconds")
        _check(self.short_first_epochs >= 0, "short_first_epochs", self.short_first_epochs, ">= 0 epochs (0 = off)")


@dataclass(frozen=True)
class ARConfig(_SpeechModel):
    """The AR model (stage ar): codebook 1 of the codec, sampled frame by frame after the phones."""

    guided_attention: float = 0.0  # weight of the diagonal attention loss on phones (0 = off)

    def validate(self) -> None:
        super().validate()
        _check(self.guided_attention >= 0, "guided_attention", self.guided_attention, ">= 0 (0 = off)")


@dataclass(frozen=True)
class NARConfig(_SpeechModel):
    """The NAR model (stage nar): codebooks 2..Q of the codec, given codebook 1, the phones and the prompt."""


@dataclass(frozen=True)
class DurationsConfig(_SpeechModel):
    """The durations model (stage durations): a non-autoregressive model over log-mels that predicts each
    phone's duration and the log-mel frames that speak it, trained at the aligner's durations (stage
    aligner); it speaks alone, through the mel vocoder, with no AR (README "Durations")."""


def _aligner_train() -> "TrainConfig":
    return TrainConfig(lr=1e-3, schedule="cosine", warmup_steps=100, max_steps=2000, batch_tokens=12000,
                       validate_every=250, checkpoint_every=250, sample_every=500, log_every=20)


@dataclass(frozen=True)
class AlignerConfig:
    """The aligner of stage aligner: phones and log-mel frames encoded into one space, trained without
    labels by the forward-sum loss; its durations train the durations model (README "Durations")."""

    width: int = 128  # encoder width D
    kernel: int = 3  # convolution kernel of both encoders
    short_first_epochs: int = 0  # epoch e < n uses only the shortest (e + 1) / (n + 1) of utterances
    train: TrainConfig = field(default_factory=_aligner_train)  # batch_tokens: phones + mel frames

    def validate(self) -> None:
        _check(self.width >= 1, "width", self.width, ">= 1")
        _check(self.kernel >= 1 and self.kernel % 2 == 1, "kernel", self.kernel, "an odd number >= 1")
        _check(self.short_first_epochs >= 0, "short_first_epochs", self.short_first_epochs, ">= 0 epochs (0 = off)")


@dataclass(frozen=True)
class VocoderConfig:
    """ConvTranspose1d upsampling generator (HiFi-GAN style) trained as a GAN."""

    input: Literal["mel", "codec_mel"] = "mel"  # features it turns into waveform: log-mel, or the log-mel a
    # mel-domain codec decodes from the prepared codes (stage codec_vocoder: a mel vocoder fine-tuned on what
    # the codec will feed it)
    upsample_rates: tuple[int, ...] = (5, 4, 4, 2)  # product (times the iSTFT hop) must equal audio.hop_length
    initial_channels: int = 128  # channels before the first upsampling layer
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)  # multi-receptive-field kernels (HiFi-GAN V2)
    resblock_dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))  # one per kernel
    resblock_convs: int = 2  # convolutions per dilation: 2 (HiFi-GAN V1/V2) or 1 (V3)
    istft_n_fft: int = 0  # 0 = the last layer writes samples; N = it writes an N-point spectrum, hop N / 4 (iSTFTNet)
    discriminator_channels: int = 4  # first-layer width of each discriminator (HiFi-GAN: 32)
    discriminator_periods: tuple[int, ...] = (2, 3, 5, 7, 11)  # multi-period discriminator, samples
    discriminator_scales: int = 3  # multi-scale discriminator: rates 1, 1/2, 1/4, ... (0 = off)
    mel_loss_weight: float = 45.0  # weight of the multi-resolution log-mel L1 in the generator loss
    feature_loss_weight: float = 2.0  # weight of discriminator feature matching
    adversarial_start: int = 0  # generator steps on the mel loss alone before the discriminators join
    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=2e-4, betas=(0.8, 0.99),
                                                                   schedule="constant",
                                                                   segment_seconds=0.5))
    codec_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        lr=3e-4, betas=(0.8, 0.99), schedule="cosine", warmup_steps=100, max_steps=2000, segment_seconds=0.5))
    # stage codec_vocoder: fine-tunes the trained mel vocoder on the log-mels a mel-domain codec decodes
    # from the prepared codes (init_from: the run's vocoder/best.pt unless set)
    durations_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        lr=3e-4, betas=(0.8, 0.99), schedule="cosine", warmup_steps=100, max_steps=2000, segment_seconds=0.5))
    # stage durations_vocoder: fine-tunes the trained mel vocoder on the log-mels the durations model speaks at
    # the aligner's durations of each recording (ground-truth-aligned; init_from: the run's vocoder/best.pt unless set)
    durations_utterances: int = 4000  # stage durations_vocoder: training recordings the durations model speaks
    # for it (0 = all of them)

    @property
    def istft_hop(self) -> int:
        """Samples per frame of the inverse-STFT head (1 without one)."""
        return self.istft_n_fft // 4 if self.istft_n_fft else 1

    @property
    def upsampling(self) -> int:
        """Samples per input frame: the product of the strides, times the iSTFT hop."""
        return math.prod(self.upsample_rates) * self.istft_hop

    def validate(self) -> None:
        _check(self.resblock_convs in (1, 2), "resblock_convs", self.resblock_convs, "1 or 2")
        _check(self.istft_n_fft == 0 or (self.istft_n_fft >= 8 and self.istft_n_fft % 4 == 0),  # hop: a quarter
               "istft_n_fft", self.istft_n_fft, "0 (off) or a multiple of 4, at least 8")
        _check(all(k % 2 == 1 for k in self.resblock_kernel_sizes), "resblock_kernel_sizes",
               self.resblock_kernel_sizes, "odd kernel sizes")
        _check(self.discriminator_channels >= 1, "discriminator_channels",
               self.discriminator_channels, ">= 1")
        _check(all(p >= 2 for p in self.discriminator_periods), "discriminator_periods",
               self.discriminator_periods, "periods >= 2 samples")
        _check(self.discriminator_scales >= 0 and (self.discriminator_scales or self.discriminator_periods),
               "discriminator_scales", self.discriminator_scales,
               ">= 0, and not 0 when discriminator_periods is empty")
        _check(self.mel_loss_weight >= 0, "mel_loss_weight", self.mel_loss_weight, ">= 0")
        _check(self.feature_loss_weight >= 0, "feature_loss_weight", self.feature_loss_weight, ">= 0")
        _check(self.adversarial_start >= 0, "adversarial_start", self.adversarial_start, ">= 0 steps")
        _check(self.durations_utterances >= 0, "durations_utterances", self.durations_utterances,
               ">= 0 recordings (0 = all)")
        _check(len(self.upsample_rates) >= 1 and all(r >= 1 for r in self.upsample_rates),
               "upsample_rates", self.upsample_rates, "a list of positive integers")
        _check(self.initial_channels >= 2 ** len(self.upsample_rates), "initial_channels",
               self.initial_channels, f">= 2 ** len(upsample_rates) = {2 ** len(self.upsample_rates)}")
        _check(len(self.resblock_dilations) == len(self.resblock_kernel_sizes),
               "resblock_dilations", self.resblock_dilations,
               f"one tuple per kernel size ({len(self.resblock_kernel_sizes)})")


@dataclass(frozen=True)
class SynthesisConfig:
    """Decoding options: the recipe's defaults, which `tts synthesize` options replace one by one.

    The AR chain reads the sampling keys (temperature .. repetition_max), decoder and kv_cache; the
    durations model reads pace; both read sentence_pause and batch.
    """

    temperature: float = 1.0  # AR sampling temperature (0 = greedy)
    top_k: int = 0  # keep the k most likely tokens (0 = off)
    top_p: float = 1.0  # nucleus sampling mass (1 = off)
    seed: int = 0  # random seed for sampling
    max_frames_per_phone: float = 20.0  # AR stops (with a warning) after phones x this frames
    min_frames_per_phone: float = 0.0  # the AR may not end before phones x this frames (0 = off)
    repetition_window: int = 0  # frames looked back by the repetition guard (0 = off)
    repetition_max: int = 0  # a token seen more often than this in the window is resampled
    decoder: Literal["codec", "vocoder"] = "codec"  # AR chain: what turns the NAR's latents into waveform
    sentence_pause: float = 0.25  # seconds of silence between sentences of a long text
    pace: float = 1.0  # durations model: each phone this many times its predicted length (above 1 slower)
    kv_cache: bool = True  # AR: keep keys and values of the prefix (false recomputes it each step: comparison only)
    batch: bool = True  # decode a text's sentences as one batch (false: one by one, for comparison only)

    def validate(self) -> None:
        _check(self.temperature >= 0, "temperature", self.temperature, ">= 0 (0 = greedy)")
        _check(self.top_k >= 0, "top_k", self.top_k, ">= 0 (0 = off)")
        _check(0 < self.top_p <= 1, "top_p", self.top_p, "in (0, 1]")
        _check(self.max_frames_per_phone > 0, "max_frames_per_phone", self.max_frames_per_phone,
               "> 0")
        _check(0 <= self.min_frames_per_phone < self.max_frames_per_phone, "min_frames_per_phone",
               self.min_frames_per_phone, ">= 0 and below max_frames_per_phone")
        _check(self.repetition_window >= 0, "repetition_window", self.repetition_window, ">= 0")
        _check(self.repetition_max >= 0, "repetition_max", self.repetition_max, ">= 0")
        _check(self.sentence_pause >= 0, "sentence_pause", self.sentence_pause, ">= 0 seconds")
        _check(self.pace > 0, "pace", self.pace, "> 0 (1 = the predicted lengths, above 1 slower)")


STAGES = ("codec", "ar", "nar", "vocoder", "codec_vocoder", "aligner", "durations", "durations_vocoder")


@dataclass(frozen=True)
class Recipe:
    """A whole recipe: where things go, which stages run, and every section."""

    name: str = "recipe"  # a label for logs and plots
    output_dir: str = "runs/recipe"  # run folder: prepared data, checkpoints, samples
    seed: int = 1234  # global seed (data split, initialisation, data order)
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    threads: int = 0  # CPU threads per training process (0 = torch's default: one per core)
    stages: tuple[str, ...] = ("codec", "ar", "nar")  # stages `tts train` runs, in order
    audio: AudioConfig = field(default_factory=AudioConfig)
    text: TextConfig = field(default_factory=TextConfig)
    data: DataConfig = field(default_factory=DataConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    ar: ARConfig = field(default_factory=ARConfig)
    nar: NARConfig = field(default_factory=NARConfig)
    durations: DurationsConfig = field(default_factory=DurationsConfig)
    vocoder: VocoderConfig = field(default_factory=VocoderConfig)
    aligner: AlignerConfig = field(default_factory=AlignerConfig)
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)

    @property
    def codec_hop(self) -> int:
        """Samples per codec frame, whatever the codec's domain."""
        if self.codec.kind == "trained" and self.codec.domain == "mel":
            return self.codec.mel_frames_per_code * self.audio.hop_length
        return self.codec.hop_length

    @property
    def codec_frame_rate(self) -> float:
        return self.audio.sample_rate / self.codec_hop

    def codec_vocoder_recipe(self) -> "Recipe":
        """The recipe stage codec_vocoder trains with (and its checkpoints carry): a vocoder-stage
        recipe reading the codec's decoded log-mels (input codec_mel), trained by vocoder.codec_train,
        starting from the run's vocoder/best.pt unless codec_train.init_from names another checkpoint."""
        train = self.vocoder.codec_train
        if not train.init_from:
            train = dataclasses.replace(train, init_from=str(Path(self.output_dir) / "vocoder" / "best.pt"))
        return dataclasses.replace(self, stages=("vocoder",),
                                   vocoder=dataclasses.replace(self.vocoder, input="codec_mel", train=train))

    def durations_vocoder_recipe(self) -> "Recipe":
        """The recipe stage durations_vocoder trains with (and its checkpoints carry): a vocoder-stage recipe
        on log-mels (the durations model's, tts/train/durations_vocoder_task.py), trained by
        vocoder.durations_train, starting from the run's vocoder/best.pt unless durations_train.init_from
        names another checkpoint."""
        train = self.vocoder.durations_train
        if not train.init_from:
            train = dataclasses.replace(train, init_from=str(Path(self.output_dir) / "vocoder" / "best.pt"))
        return dataclasses.replace(self, stages=("vocoder",),
                                   vocoder=dataclasses.replace(self.vocoder, input="mel", train=train))

    def validate(self) -> None:
        _check(bool(self.stages) and all(s in STAGES for s in self.stages), "stages",
               self.stages, f"a non-empty list drawn from {list(STAGES)}")
        _check(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
               "device", self.device, "auto, cpu, cuda or cuda:N")
        _check(self.threads >= 0, "threads", self.threads, ">= 0 (0 = torch's default)")
        if "durations_vocoder" in self.stages:
            _check(_before(self.stages, "durations", "durations_vocoder"), "stages", self.stages,
                   "durations before durations_vocoder (it hears the durations model's log-mels)")
        if "durations" in self.stages:
            _check(_before(self.stages, "aligner", "durations"), "stages", self.stages,
                   "aligner before durations (the durations model trains at the aligner's durations)")
        if self.codec.kind == "encodec_24khz":
            _check(self.audio.sample_rate == 24000, "audio.sample_rate", self.audio.sample_rate,
                   "24000 Hz, the rate of codec.kind=encodec_24khz")
        if self.vocoder.input == "codec_mel":
            _check(self.codec.kind == "trained" and self.codec.domain == "mel", "vocoder.input",
                   self.vocoder.input, "mel: codec_mel needs codec.domain mel")
        if "codec_vocoder" in self.stages:
            _check(self.codec.kind == "trained" and self.codec.domain == "mel", "stages", self.stages,
                   "stages without codec_vocoder: it fine-tunes a mel vocoder for codec.domain mel only")
            _check(self.vocoder.input == "mel", "vocoder.input", self.vocoder.input,
                   "mel: stage codec_vocoder fine-tunes the mel vocoder of stage vocoder")
        if "durations_vocoder" in self.stages:
            _check(self.vocoder.input == "mel", "vocoder.input", self.vocoder.input,
                   "mel: stage durations_vocoder fine-tunes the mel vocoder of stage vocoder")
        _check(self.codec_hop % self.audio.hop_length == 0, "audio.hop_length",
               self.audio.hop_length,
               f"a divisor of the codec hop ({self.codec_hop} samples) so that mel "
               "frames line up with codec frames")
        istft = f" times the iSTFT hop {self.vocoder.istft_hop}" if self.vocoder.istft_n_fft else ""
        _check(self.vocoder.upsampling == self.audio.hop_length, "vocoder.upsample_rates",
               self.vocoder.upsample_rates,
               f"rates whose product{istft} ({self.vocoder.upsampling}) equals audio.hop_length "
               f"({self.audio.hop_length} samples per mel frame)")

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)


def _before(stages: tuple[str, ...], first: str, then: str) -> bool:
    """Whether `first` is among the stages, before `then`."""
    return first in stages and then in stages and stages.index(first) < stages.index(then)


# --------------------------------------------------------------------------- loading


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [_to_plain(v) for v in obj]
    return obj


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} values"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str, base: Any = None) -> Any:
    """Check `value` against the annotation `tp` and convert lists to tuples.

    `base` is the field's default; a partial mapping for a nested section keeps the rest of it
    (so `codec.train: {lr: ...}` keeps the codec's own training defaults, not TrainConfig's).
    """
    origin = typing.get_origin(tp)
    bad = ConfigError(key, value, f"expected {_type_name(tp)}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad
        return _build(tp, value, key, base)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise bad
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise bad
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise bad
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")  # a bug in this file


def _build(cls: type, data: dict[str, Any], prefix: str = "", base: Any = None) -> Any:
    hints = typing.get_type_hints(cls)
    defaults = base if base is not None else cls()
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            dotted = f"{prefix}.{key}" if prefix else key
            raise ConfigError(dotted, data[key], "unknown key; valid keys here are " + ", ".join(names))
    kwargs = {}
    for name in names:
        if name in data:
            dotted = f"{prefix}.{name}" if prefix else name
            kwargs[name] = _coerce(data[name], hints[name], dotted, getattr(defaults, name))
    obj = dataclasses.replace(defaults, **kwargs)
    if hasattr(obj, "validate"):
        try:
            obj.validate()
        except ConfigError as err:
            dotted = f"{prefix}.{err.key}" if prefix else err.key
            raise ConfigError(dotted, err.value, err.allowed) from None
    return obj


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(dotted, value, f"'{part}' is not a section")
        node = child
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one `--set key.sub=value` override; the value is read as YAML (3e-4, [8, 5], null)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override {text!r} must look like section.key=value, e.g. ar.train.lr=3e-4")
    value = yaml.safe_load(raw) if raw.strip() else ""
    if isinstance(value, str) and _looks_like_float(value):  # YAML 1.1 reads '3e-4' as a string
        value = float(value)
    return key.strip(), value


def _looks_like_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return any(c in text.lower() for c in "e.") and text.strip().lower() not in ("nan", "inf", "-inf")


def _float_fix(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _float_fix(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_float_fix(v) for v in node]
    if isinstance(node, str) and _looks_like_float(node):
        return float(node)
    return node


def recipe_from_dict(data: dict[str, Any], overrides: tuple[str, ...] | list[str] = (),
                     source: str | None = None) -> Recipe:
    """Build and validate a Recipe from a plain mapping plus `key=value` overrides."""
    data = _float_fix(data)
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(data, key, value)
    try:
        recipe = _build(Recipe, data)
        recipe.validate()
    except ConfigError as err:
        if source:
            raise ConfigError(err.key, err.value, err.allowed, source) from None
        raise
    return recipe


def load_recipe(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> Recipe:
    """Load a YAML recipe, apply overrides, validate; errors name the file and the dotted key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe {path} does not exist; the shipped ones are in recipes/")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a recipe must be a mapping of sections, got {type(data).__name__}")
    return recipe_from_dict(data, overrides, source=str(path))


def save_recipe(recipe: Recipe, path: str | Path) -> None:
    """Write the resolved recipe as YAML (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False), encoding="utf-8")
    tmp.replace(path)
