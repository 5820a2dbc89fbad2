"""One frozen dataclass per recipe section (audio, text, data, codec, ar, nar, durations, aligner,
vocoder, synthesis); each validates its own keys."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Optional

from tts.config.base import TrainConfig, _check


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
    # writes: samples (EnCodec), or log-mel frames with a mel vocoder making the waveform (docs/codec.md)
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
    phone_weight: float = 0.0  # trained: weight of a phone classifier on codebook 1's entries (cross-entropy
    # against the phone the aligner hears in each frame; needs stage aligner first): codebook 1 carries the
    # phones, what the AR chain needs (docs/codec.md)
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
        _check(self.phone_weight >= 0 and (self.phone_weight == 0 or self.kind == "trained"), "phone_weight",
               self.phone_weight, ">= 0 (0 = off), and 0 unless kind is trained (only our own codec trains)")
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
    """The AR model (stage ar): codebook 1 of the codec, decoded frame by frame after the phones."""


@dataclass(frozen=True)
class NARConfig(_SpeechModel):
    """The NAR model (stage nar): codebooks 2..Q of the codec, given codebook 1, the phones and the prompt."""

    level2_share: float = 0.5  # training: share of utterances trained on level 2, the one codebook 1 predicts
    # best (the rest draw 3..Q uniformly; 1 / (Q - 1) draws every level alike; docs/ar-chain.md)

    def validate(self) -> None:
        super().validate()
        _check(0 < self.level2_share <= 1, "level2_share", self.level2_share, "a share in (0, 1]")


@dataclass(frozen=True)
class DurationsConfig(_SpeechModel):
    """The durations model (stage durations): a non-autoregressive model over log-mels that predicts each
    phone's duration and the log-mel frames that speak it, trained at the aligner's durations (stage
    aligner); it speaks alone, through the mel vocoder, with no AR (docs/durations.md)."""


def _refiner_train() -> "TrainConfig":
    return TrainConfig(lr=1e-3, betas=(0.9, 0.999), schedule="cosine", warmup_steps=200, max_steps=7000,
                       weight_decay=0.0, batch_size=16,
                       segment_seconds=1.28, validate_every=500, checkpoint_every=250, sample_every=1000,
                       log_every=20)


@dataclass(frozen=True)
class RefinerConfig:
    """The mel refiner of stage refiner: conditional flow matching from the durations model's log-mels (and its
    hidden states) to the recordings', integrated in a few Euler steps before the vocoder (docs/refiner.md)."""

    channels: int = 192  # width of the velocity network
    blocks: int = 8  # gated dilated residual blocks (dilations 1, 2, 4, 8, repeating)
    kernel: int = 5  # convolution kernel of each block
    utterances: int = 4000  # training recordings the durations model speaks for it (0 = all), at the aligner's
    # durations; every validation recording too
    train: TrainConfig = field(default_factory=_refiner_train)  # batch_size crops of segment_seconds

    def validate(self) -> None:
        _check(self.channels >= 8 and self.channels % 8 == 0, "channels", self.channels, "a multiple of 8")
        _check(self.blocks >= 1, "blocks", self.blocks, ">= 1")
        _check(self.kernel >= 1 and self.kernel % 2 == 1, "kernel", self.kernel, "an odd number >= 1")
        _check(self.utterances >= 0, "utterances", self.utterances, ">= 0 recordings (0 = all)")


def _aligner_train() -> "TrainConfig":
    return TrainConfig(lr=1e-3, schedule="cosine", warmup_steps=100, max_steps=2000, batch_tokens=12000,
                       validate_every=250, checkpoint_every=250, sample_every=500, log_every=20)


@dataclass(frozen=True)
class AlignerConfig:
    """The aligner of stage aligner: phones and log-mel frames encoded into one space, trained without
    labels by the forward-sum loss; its durations train the durations model (docs/durations.md)."""

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
    mel_loss_windows: tuple[float, ...] = (0.016, 0.032, 0.064)  # seconds: one log-mel resolution of the loss each
    mel_loss_bands: int = 80  # most mel bands of a loss resolution (each has at most n_fft / 8)
    feature_loss_weight: float = 2.0  # weight of discriminator feature matching
    adversarial_start: int = 0  # generator steps on the mel loss alone before the discriminators join
    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=2e-4, betas=(0.8, 0.99),
                                                                   schedule="constant",
                                                                   segment_seconds=0.5))
    codec_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        lr=3e-4, betas=(0.8, 0.99), schedule="cosine", warmup_steps=100, max_steps=2000, segment_seconds=0.5))
    # stage codec_vocoder: fine-tunes the trained mel vocoder on the log-mels a mel-domain codec decodes
    # from the prepared codes (init_from: the run's vocoder/best.pt unless set)
    chain_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        lr=3e-4, betas=(0.8, 0.99), schedule="cosine", warmup_steps=100, max_steps=6000, segment_seconds=0.5))
    # stage chain_vocoder: fine-tunes the mel vocoder on the log-mels the codec decodes from each recording's true
    # codebook 1 and the NAR's levels 2..Q (init_from: the run's codec_vocoder/best.pt, else vocoder/best.pt, unless set)
    chain_utterances: int = 2000  # stage chain_vocoder: training recordings the NAR fills in for it (0 = all)

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
        _check(len(self.mel_loss_windows) >= 1 and all(w > 0 for w in self.mel_loss_windows), "mel_loss_windows",
               self.mel_loss_windows, "a list of positive window lengths in seconds")
        _check(self.mel_loss_bands >= 1, "mel_loss_bands", self.mel_loss_bands, ">= 1")
        _check(self.feature_loss_weight >= 0, "feature_loss_weight", self.feature_loss_weight, ">= 0")
        _check(self.adversarial_start >= 0, "adversarial_start", self.adversarial_start, ">= 0 steps")
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

    The AR chain reads the sampling keys (temperature .. repetition_max) and kv_cache; the
    durations model reads pace; both read sentence_pause and batch.
    """

    temperature: float = 0.0  # AR: 0 = greedy (measured best, docs/ar-chain.md); > 0 samples at it
    top_k: int = 0  # keep the k most likely tokens (0 = off)
    top_p: float = 1.0  # nucleus sampling mass (1 = off)
    seed: int = 0  # random seed for sampling
    max_frames_per_phone: float = 20.0  # AR stops (with a warning) after phones x this frames
    min_frames_per_phone: float = 0.0  # the AR may not end before phones x this frames (0 = off)
    repetition_window: int = 0  # frames looked back by the repetition guard (0 = off)
    repetition_max: int = 0  # a token seen more often than this in the window is resampled
    sentence_pause: float = 0.25  # seconds of silence between sentences of a long text
    pace: float = 1.0  # durations model: each phone this many times its predicted length (above 1 slower)
    refiner_steps: int = 5  # mel refiner: Euler steps of its flow (10 within noise of 5 at twice the cost)
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
        _check(self.refiner_steps >= 1, "refiner_steps", self.refiner_steps, ">= 1 Euler step")
