"""The codec: waveform <-> discrete codes, the one interface to EnCodec (its pretrained weights load in
tts/models/pretrained.py).

Two kinds share one interface, `Codec`:
- `encodec_24khz`: the pretrained 24 kHz EnCodec from the `encodec` package (75 frames/s,
  1024 entries per codebook; 6 kbps = 8 codebooks, as VALL-E uses). Its weights download into
  the torch hub cache on first use; offline, `CodecUnavailable` says where to put the file.
- `trained`: an EnCodec model of our own training (`tts train <recipe> --stage codec`), loaded
  from the run folder's codec/best.pt: over the waveform (`tts.models.codec_model.CodecModel`),
  or with `codec.domain: mel` over log-mel frames (`MelCodecModel`), decoding through a trained
  mel vocoder (`codec.vocoder`, default the run's vocoder/best.pt).

Long audio is encoded and decoded in chunks of `chunk_seconds` with `context_seconds` of extra
audio (codes) on each side, so the model never sees more than chunk + 2 x context at once and
memory stays bounded however long the file. Encoding keeps each chunk's central frames;
decoding cross-fades neighbouring chunks linearly across their boundary.

Codes of one codec are meaningless to a model trained on another's: `codec_identity` (kind,
settings and the digest of the weights file) is what prepared corpora and checkpoints record, and
`codec_differences` compares two such records.

Glossary: B batch, S samples, T frames, Q codebooks, D latent width.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tts.checkpoint import read_checkpoint
from tts.config import Recipe
from tts.data.store import file_digest
from tts.device import resolve_device  # noqa: F401 (also used by callers of tts.codec)
from tts.models.pretrained import load_encodec_24khz

log = logging.getLogger(__name__)

CHECKPOINT_DIGEST = "checkpoint_digest"  # key of a codec record: content hash of the weights that made the codes
ENCODEC_24KHZ = dict(sample_rate=24000, hop_length=320, codebook_size=1024)
CONTEXT_SECONDS = 1.0  # audio on each side of a chunk; beyond the encoder's reach for our sizes


class Codec(nn.Module):
    """Encode waveform (B, 1, S) to codes (B, Q, T) and back, in bounded memory.

    Wraps any model with EnCodec's `encoder`, `quantizer` and `decoder` (the pretrained
    `encodec.EncodecModel` or our `CodecModel`). Inputs may live on any device; chunks move to
    the codec's device and results come back on the input's device.
    """

    def __init__(self, model: nn.Module, settings: dict[str, Any], chunk_seconds: float = 30.0,
                 context_seconds: float = CONTEXT_SECONDS):
        super().__init__()
        if chunk_seconds <= 0 or context_seconds < 0:
            raise ValueError(f"chunk_seconds must be > 0 and context_seconds >= 0, got "
                             f"{chunk_seconds} and {context_seconds}")
        self.model = model.eval()
        self._settings = dict(settings)
        self.kind: str = settings["kind"]
        self.sample_rate: int = settings["sample_rate"]
        self.hop_length: int = settings["hop_length"]
        self.n_codebooks: int = settings["n_codebooks"]
        self.codebook_size: int = settings["codebook_size"]
        self.bandwidth: float | None = settings.get("bandwidth")  # kbps; pretrained only
        self.input_gain: float = settings.get("input_gain", 1.0)  # trained only (see CodecModel)
        self.chunk_frames = max(1, round(chunk_seconds * self.frame_rate))
        self.context_frames = min(math.ceil(context_seconds * self.frame_rate), self.chunk_frames)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def bitrate(self) -> float:
        """Bits per second of the codes."""
        return self.frame_rate * self.n_codebooks * math.log2(self.codebook_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def settings(self) -> dict[str, Any]:
        """What identifies the codes: saved with every model and prepared corpus that uses them."""
        return dict(self._settings)

    def forward(self, wav: torch.Tensor, levels: int | None = None) -> torch.Tensor:
        """Resynthesis: decode(encode(wav)) cut to the input length (`levels`: see decode)."""
        return self.decode(self.encode(wav), levels)[..., : wav.shape[-1]]

    # ------------------------------------------------------------------ encode

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """Waveform (B, 1, S) in [-1, 1] at `sample_rate` -> codes (B, Q, ceil(S / hop)) long."""
        if wav.dim() != 3 or wav.shape[1] != 1 or wav.shape[-1] == 0:
            raise ValueError(f"encode expects a waveform of shape (batch, 1, samples > 0), got "
                             f"{tuple(wav.shape)}")
        hop, n_frames = self.hop_length, math.ceil(wav.shape[-1] / self.hop_length)
        codes = torch.empty(wav.shape[0], self.n_codebooks, n_frames, dtype=torch.long,
                            device=wav.device)
        for start, end, left, right in self._chunks(n_frames):
            piece = wav[..., left * hop: right * hop].to(self.device, torch.float32)
            piece_codes = self._encode_piece(piece)  # (B, Q, right - left)
            codes[..., start:end] = piece_codes[..., start - left: end - left].to(wav.device)
        return codes

    def _encode_piece(self, wav: torch.Tensor) -> torch.Tensor:
        with torch.autocast(wav.device.type, enabled=False):  # codes from float32, always
            latent = self.model.encoder(wav * self.input_gain)  # (B, D, T)
            codes = self.model.quantizer.encode(latent, math.ceil(self.frame_rate), self.bandwidth)
        return codes.transpose(0, 1)  # (B, Q, T)

    # ------------------------------------------------------------------ decode

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, levels: int | None = None) -> torch.Tensor:
        """Codes (B, Q, T) -> waveform (B, 1, T x hop), float32 on the codes' device.

        `levels` < Q decodes from the first codebooks alone (a lower bitrate), as if the rest were absent.
        """
        self._check_codes(codes)
        levels = self._check_levels(levels)
        return self._overlap_add(codes.shape[0], codes.shape[-1], codes.device,
                                 lambda left, right: self.latents(codes[..., left:right], levels))

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (B, D, T), e.g. the NAR's expected latents -> waveform (B, 1, T x hop), like decode."""
        if latents.dim() != 3 or latents.shape[-1] == 0 or not latents.dtype.is_floating_point:
            raise ValueError(f"latents must be float with shape (batch, dim, frames > 0), got "
                             f"{tuple(latents.shape)} {latents.dtype}")
        return self._overlap_add(latents.shape[0], latents.shape[-1], latents.device,
                                 lambda left, right: latents[..., left:right].to(self.device, torch.float32))

    def _overlap_add(self, batch: int, n_frames: int, device: torch.device, latents_of) -> torch.Tensor:
        """Decode chunk by chunk (`latents_of(left, right)` gives the latents (B, D, right - left) of
        frames [left, right)), cross-fading the chunks' overlapping context."""
        hop = self.hop_length
        half = self.context_frames * hop // 2  # cross-fade half-width in samples
        wav = torch.zeros(batch, 1, n_frames * hop, device=device)
        for start, end, left, right in self._chunks(n_frames):
            piece = self._decode_latents_piece(latents_of(left, right))  # (B, 1, (right-left) x hop)
            fade_in, fade_out = start * hop - half, end * hop + half  # ramp ends, in samples
            first = fade_in if start > 0 else 0
            last = min(fade_out, n_frames * hop) if end < n_frames else n_frames * hop
            positions = torch.arange(first, last, device=self.device, dtype=torch.float32) + 0.5
            weight = torch.ones_like(positions)
            if start > 0:  # rises across [start*hop - half, start*hop + half)
                weight = weight.minimum(((positions - fade_in) / (2 * half)).clamp(max=1.0))
            if end < n_frames:  # falls across [end*hop - half, end*hop + half): sums to 1
                weight = weight.minimum(((fade_out - positions) / (2 * half)).clamp(max=1.0))
            part = piece[..., first - left * hop: last - left * hop] * weight
            wav[..., first:last] += part.to(device)
        return wav

    def _decode_latents_piece(self, latents: torch.Tensor) -> torch.Tensor:
        with torch.autocast(latents.device.type, enabled=False):
            return self.model.decoder(latents) / self.input_gain

    @torch.no_grad()
    def vocoder_features(self, codes: torch.Tensor, vocoder_input: str) -> torch.Tensor:
        """What a vocoder trained on this codec reads: codes (B, Q, T) -> the decoded log-mel
        (B, M, T x strides) of a mel-domain codec, for a vocoder with input codec_mel."""
        return self.latent_features(self.latents(codes), vocoder_input)

    @torch.no_grad()
    def latent_features(self, latents: torch.Tensor, vocoder_input: str) -> torch.Tensor:
        """vocoder_features from latents (B, D, T) rather than codes."""
        if vocoder_input != "codec_mel":
            raise ValueError(f"a vocoder with input {vocoder_input!r} does not read codec features")
        return self.model.latents_mel(latents.to(self.device, torch.float32))

    @torch.no_grad()
    def codebooks(self) -> torch.Tensor:
        """Every codebook's entries as latent vectors (Q, V, D): latents(codes) is the sum over q of
        codebooks()[q, codes[:, q]]."""
        layers = self.model.quantizer.vq.layers[: self.n_codebooks]
        return torch.stack([layer.project_out(layer._codebook.embed) for layer in layers])

    @torch.no_grad()
    def latents(self, codes: torch.Tensor, levels: int | None = None) -> torch.Tensor:
        """Codes (B, Q, T) -> quantised latents (B, D, T): the sum of each codebook's entry (of the
        first `levels` codebooks only, when given)."""
        self._check_codes(codes)
        levels = self._check_levels(levels)
        return self.model.quantizer.decode(codes[:, :levels].to(self.device).transpose(0, 1))  # (B, D, T)

    def _check_levels(self, levels: int | None) -> int:
        if levels is None:
            return self.n_codebooks
        if not 1 <= levels <= self.n_codebooks:
            raise ValueError(f"levels must be 1 to {self.n_codebooks} (the codec's codebooks), got {levels}")
        return int(levels)

    def _check_codes(self, codes: torch.Tensor) -> None:
        if codes.dim() != 3 or codes.shape[1] != self.n_codebooks or codes.shape[-1] == 0:
            raise ValueError(f"codes must have shape (batch, {self.n_codebooks} codebooks, frames > 0), "
                             f"got {tuple(codes.shape)}")
        if codes.dtype.is_floating_point:
            raise ValueError(f"codes must be integers, got {codes.dtype}")
        low, high = int(codes.min()), int(codes.max())
        if low < 0 or high >= self.codebook_size:
            raise ValueError(f"codes must lie in [0, {self.codebook_size}), got values in [{low}, {high}]")

    def _chunks(self, n_frames: int):
        """(start, end, left, right) frames: each chunk [start, end) and its context [left, right)."""
        for start in range(0, n_frames, self.chunk_frames):
            end = min(start + self.chunk_frames, n_frames)
            yield (start, end, max(0, start - self.context_frames),
                   min(n_frames, end + self.context_frames))


# ---------------------------------------------------------------------- settings


def trained_settings(recipe: Recipe) -> dict[str, Any]:
    """Settings of the recipe's trained codec (what its checkpoint must match)."""
    codec = recipe.codec
    settings = dict(kind="trained", sample_rate=recipe.audio.sample_rate, hop_length=recipe.codec_hop,
                    frame_rate=recipe.codec_frame_rate, n_codebooks=codec.n_codebooks,
                    codebook_size=codec.codebook_size, strides=list(codec.strides),
                    channels=codec.channels, dimension=codec.dimension, lstm_layers=codec.lstm_layers)
    if codec.domain == "mel":  # absent for the waveform domain, so that earlier checkpoints still match
        settings.update(domain="mel", mel=recipe.audio.mel_kwargs())
        return settings
    settings["input_gain"] = round(10 ** (-recipe.audio.loudness_db / 20), 6)  # loudness -> unit RMS
    return settings


def encodec_settings(bandwidth: float) -> dict[str, Any]:
    n_codebooks = int(round(bandwidth * 1000 / 750))  # 75 frames/s x 10 bits per codebook
    return dict(kind="encodec_24khz", bandwidth=float(bandwidth), n_codebooks=n_codebooks,
                frame_rate=ENCODEC_24KHZ["sample_rate"] / ENCODEC_24KHZ["hop_length"], **ENCODEC_24KHZ)


def expected_settings(recipe: Recipe) -> dict[str, Any] | None:
    """The settings `load_codec(recipe)` would report, without loading anything (None: no codec)."""
    if recipe.codec.kind == "none":
        return None
    if recipe.codec.kind == "encodec_24khz":
        return encodec_settings(recipe.codec.bandwidth)
    return trained_settings(recipe)


# ---------------------------------------------------------------------- identity


def codec_checkpoint(recipe: Recipe) -> Path | None:
    """The weights file of the recipe's codec where one is on disk: codec.checkpoint, else (kind
    trained) the run's codec/best.pt; None for weights in the torch hub cache or none at all."""
    candidates = [recipe.codec.checkpoint] if recipe.codec.checkpoint else []
    if recipe.codec.kind == "trained":
        candidates.append(str(Path(recipe.output_dir) / "codec" / "best.pt"))
    return next((Path(c) for c in candidates if Path(c).is_file()), None)


def codec_identity(recipe: Recipe, codec: Codec) -> dict[str, Any]:
    """What makes the codes of the recipe's codec (loaded as `codec`) its own: its kind, its settings
    and the content digest of its weights file (None where there is none). Codes made by codecs
    whose identities differ are not interchangeable, even when the settings agree."""
    checkpoint = codec_checkpoint(recipe)
    return {"kind": recipe.codec.kind, "settings": codec.settings(),
            "checkpoint": file_digest(checkpoint) if checkpoint else None}


def weights_differ(before: str | None, now: str | None) -> bool:
    """Two codec checkpoint digests name other weights (only where both were recorded)."""
    return bool(before and now and before != now)


def codec_differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The keys in which the codec records `now` differ from `before` (a key missing on one side
    differs), CHECKPOINT_DIGEST among them only where both record it and the weights differ."""
    missing = object()
    keys = [k for k in sorted(set(before) | set(now))
            if k != CHECKPOINT_DIGEST and before.get(k, missing) != now.get(k, missing)]
    if weights_differ(before.get(CHECKPOINT_DIGEST), now.get(CHECKPOINT_DIGEST)):
        keys.append(CHECKPOINT_DIGEST)
    return keys


# ---------------------------------------------------------------------- loading


def load_codec(recipe: Recipe, device: str | torch.device, with_vocoder: bool = True) -> Codec | None:
    """The recipe's codec on `device`, or None (kind none, or a trained codec not trained yet).
    `with_vocoder=False`: a mel-domain codec comes without its vocoder (it decodes to log-mel only)."""
    codec, device = recipe.codec, resolve_device(device)
    if codec.kind == "none":
        return None
    if codec.kind == "encodec_24khz":
        model = load_encodec_24khz(codec.checkpoint)
        return Codec(model, encodec_settings(codec.bandwidth), codec.chunk_seconds).to(device)
    path = Path(codec.checkpoint) if codec.checkpoint else Path(recipe.output_dir) / "codec" / "best.pt"
    if not path.is_file():
        if codec.checkpoint:
            raise FileNotFoundError(f"codec.checkpoint {path} does not exist")
        log.info("no trained codec at %s yet (train it with `tts train <recipe> --stage codec`)", path)
        return None
    loaded = codec_from_checkpoint(path, device, chunk_seconds=codec.chunk_seconds,
                                   vocoder=mel_vocoder_path(recipe), with_vocoder=with_vocoder)
    expected = trained_settings(recipe)
    differences = {k: (loaded.settings().get(k), v) for k, v in expected.items()
                   if loaded.settings().get(k) != v}
    if differences:
        detail = ", ".join(f"{k}: checkpoint {a!r} vs recipe {b!r}" for k, (a, b) in differences.items())
        raise ValueError(f"the codec in {path} does not match the recipe ({detail}); retrain it "
                         "(`tts train <recipe> --stage codec`) or restore the recipe's codec keys")
    return loaded


def mel_vocoder_path(recipe: Recipe, run_dir: str | Path | None = None) -> Path:
    """The vocoder a mel-domain codec decodes through: codec.vocoder; else that of the run folder `run_dir`
    (default the recipe's output_dir), run_mel_vocoder."""
    if recipe.codec.vocoder:
        return Path(recipe.codec.vocoder)
    return run_mel_vocoder(Path(run_dir if run_dir is not None else recipe.output_dir))


def run_mel_vocoder(run: Path) -> Path:
    """A run folder's vocoder for its mel-domain codec: the first trained of chain_vocoder/best.pt (fine-tuned on
    the log-mels of the codes NAR's levels), codec_vocoder/best.pt (on the codec's) and vocoder/best.pt."""
    tuned = [run / stage / "best.pt" for stage in ("chain_vocoder", "codec_vocoder")]
    return next((path for path in tuned if path.is_file()), run / "vocoder" / "best.pt")


def codec_from_checkpoint(path: str | Path, device: str | torch.device, chunk_seconds: float = 30.0,
                          vocoder: str | Path | None = None, with_vocoder: bool = True) -> Codec:
    """A trained codec from a checkpoint of the codec stage (its 'codec' settings + generator).

    A mel-domain codec decodes through a mel vocoder: `vocoder` (a checkpoint or run folder;
    default: that of the run the codec checkpoint lies in, `run_mel_vocoder`), whose mel settings
    must be the codec's.
    """
    from tts.models.codec_model import CodecModel, MelCodecModel, with_running_sums

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"codec checkpoint {path} does not exist")
    # Checkpoints of our engine hold RNG states and the recipe besides tensors, so the full
    # unpickler is needed; only load checkpoints you trust.
    checkpoint = read_checkpoint(path)
    if not isinstance(checkpoint, dict) or "codec" not in checkpoint or "modules" not in checkpoint:
        raise ValueError(f"{path} is not a codec checkpoint: expected the keys 'codec' and 'modules' "
                         "that `tts train <recipe> --stage codec` writes")
    settings = checkpoint["codec"]
    if settings.get("kind") != "trained":
        raise ValueError(f"{path} holds settings of a {settings.get('kind')!r} codec, not a trained one")
    state = with_running_sums(checkpoint["modules"]["generator"])  # an export leaves them out
    if settings.get("domain") == "mel":
        model = MelCodecModel.from_settings(settings)
        model.load_state_dict(state)
        if with_vocoder:
            model.attach_vocoder(_mel_vocoder(settings, vocoder or run_mel_vocoder(path.parent.parent), path))
    else:
        model = CodecModel.from_settings(settings)
        model.load_state_dict(state)
    return Codec(model, settings, chunk_seconds).to(resolve_device(device))


def _mel_vocoder(settings: dict[str, Any], vocoder: str | Path, codec_path: Path) -> nn.Module:
    """The generator of the mel vocoder a mel-domain codec decodes through, its settings checked."""
    from tts.vocode import check_mel_settings, load_vocoder

    try:
        loaded = load_vocoder(vocoder, "cpu")
    except FileNotFoundError:
        raise FileNotFoundError(f"the mel-domain codec {codec_path} decodes through a mel vocoder, and there "
                                f"is none at {vocoder}: train it (`tts train <recipe> --stage vocoder`, "
                                "before the codec) or set codec.vocoder to its checkpoint") from None
    check_mel_settings(settings["mel"], loaded.audio, f"the codec {codec_path}", f"the vocoder {loaded.source}")
    if loaded.input == "codec_mel":  # fine-tuned on this codec's decoded log-mels: the same codec
        loaded.check_codec(settings, f"the codec {codec_path}")
    return loaded.generator
