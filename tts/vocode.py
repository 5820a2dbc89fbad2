"""Turn log-mel features back into waveform: a trained vocoder, or Griffin-Lim as the baseline.

A vocoder checkpoint carries the mel settings it was trained on; features made with any other
settings (rate, FFT size, hop, mel bins, band) are refused with a ValueError naming what
differs, because a vocoder fed the wrong features produces buzz rather than an error.

Shapes: B batch, S samples, T frames, M mel bins.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from tts.checkpoint import read_checkpoint
from tts.config import AudioConfig, Recipe, recipe_from_dict

log = logging.getLogger(__name__)

# the AudioConfig fields that change log-mel features (trim and loudness only change the audio)
MEL_KEYS = ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "f_min", "f_max")
CHECKPOINT_NAME = "best.pt"
MAX_PEAK = 0.99  # written audio louder than this is scaled down rather than clipped


def mel_settings(audio: AudioConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The settings that define log-mel features (`AudioConfig.mel_kwargs`, f_max resolved) of an
    audio section, or of one stored in a checkpoint or prepared corpus as a mapping."""
    if isinstance(audio, AudioConfig):
        return audio.mel_kwargs()
    data = dict(audio)
    missing = [k for k in MEL_KEYS if k not in data and k != "f_max"]
    if missing:
        raise ValueError(f"mel settings {data} lack {missing}")
    return AudioConfig(**{k: data.get(k) for k in MEL_KEYS}).mel_kwargs()


def check_mel_settings(expected: AudioConfig | Mapping[str, Any], given: AudioConfig | Mapping[str, Any],
                       expected_name: str = "the vocoder", given_name: str = "the features") -> None:
    """Raise ValueError naming every mel setting that differs between two feature definitions."""
    a, b = mel_settings(expected), mel_settings(given)
    differences = [f"{key}: {a[key]} for {expected_name}, {b[key]} for {given_name}"
                   for key in MEL_KEYS if a[key] != b[key]]
    if differences:
        raise ValueError(f"mel settings of {expected_name} and {given_name} differ ("
                         + "; ".join(differences) + "); make the features with the same audio settings "
                         "or train a vocoder on these")


class Vocoder:
    """A trained generator ready for inference (weight norm folded), with the settings it expects."""

    def __init__(self, generator: torch.nn.Module, recipe: Recipe, extras: Mapping[str, Any],
                 source: Path, device: torch.device):
        self.generator = generator
        self.recipe = recipe
        self.audio: AudioConfig = recipe.audio
        self.input: str = recipe.vocoder.input
        self.hop_length: int = recipe.audio.hop_length
        self.sample_rate: int = recipe.audio.sample_rate
        self.codec_settings: dict[str, Any] | None = extras.get("codec")
        self.source = source
        self.device = device

    def check_audio(self, audio: AudioConfig | Mapping[str, Any], name: str = "the features") -> None:
        """ValueError when `audio` would make different mel features than the vocoder was trained on."""
        check_mel_settings(self.audio, audio, f"the vocoder ({self.source})", name)

    def check_codec(self, settings: Mapping[str, Any], name: str = "the codec") -> None:
        """ValueError when a vocoder fine-tuned on a codec's decoded log-mels (input codec_mel) is
        fed those of another codec."""
        if self.input == "mel":
            raise ValueError(f"the vocoder {self.source} reads log-mel, not codec features")
        mine = self.codec_settings or {}
        differences = [f"{k}: {mine.get(k)!r} vs {settings.get(k)!r}" for k in sorted(set(mine) | set(settings))
                       if mine.get(k) != settings.get(k)]
        if differences:
            raise ValueError(f"the vocoder {self.source} was trained on the log-mels of another codec than "
                             f"{name} ({'; '.join(differences)})")

    @torch.no_grad()
    def __call__(self, features: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Features (M, T) or (B, M, T) -> waveform (B, 1, T * hop) on the vocoder's device."""
        x = torch.as_tensor(np.asarray(features) if not isinstance(features, torch.Tensor) else features)
        x = x.float().to(self.device)
        if x.dim() == 2:
            x = x[None]  # (1, M, T)
        channels = self.generator.in_channels
        if x.dim() != 3 or x.shape[1] != channels:
            raise ValueError(f"the vocoder {self.source} expects {channels} mel bins as (M, T) or (B, M, T), "
                             f"got features of shape {tuple(x.shape)}")
        return self.generator(x).clamp(-1.0, 1.0)  # (B, 1, T * hop); the iSTFT head is not bounded by tanh


def find_checkpoint(run_dir_or_ckpt: str | Path) -> Path:
    """A vocoder checkpoint file: the path itself, {run}/vocoder/best.pt or {stage folder}/best.pt."""
    path = Path(run_dir_or_ckpt)
    candidates = [path] if path.is_file() else [path / "vocoder" / CHECKPOINT_NAME, path / CHECKPOINT_NAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no vocoder checkpoint at {' or '.join(map(str, candidates))}; "
                            "train one with `tts train <recipe.yaml> --stage vocoder`")


def load_vocoder(run_dir_or_ckpt: str | Path, device: str | torch.device = "cpu") -> Vocoder:
    """Load a trained vocoder from a run folder ({run}/vocoder/best.pt) or a checkpoint file."""
    from tts.models.vocoder import build_generator

    path = find_checkpoint(run_dir_or_ckpt)
    device = torch.device(device)
    # our own run folders: the checkpoint also holds optimiser and RNG state, not only tensors
    checkpoint = read_checkpoint(path)
    if checkpoint.get("stage") != "vocoder":
        raise ValueError(f"{path} is a checkpoint of stage {checkpoint.get('stage')!r}, not of the vocoder")
    recipe = recipe_from_dict(checkpoint["recipe"])
    stored_audio = checkpoint.get("audio")
    if stored_audio is None:
        raise ValueError(f"{path} carries no mel settings ('audio'); it was not written by the vocoder stage")
    check_mel_settings(stored_audio, recipe.audio, f"{path} (stored settings)", "its recipe")
    generator = build_generator(recipe)
    generator.load_state_dict(checkpoint["modules"]["generator"])
    generator.remove_weight_norm()
    generator.eval().to(device)
    log.info("loaded vocoder %s (step %s, input %s, %d Hz, hop %d)", path, checkpoint.get("step"),
             recipe.vocoder.input, recipe.audio.sample_rate, recipe.audio.hop_length)
    return Vocoder(generator, recipe, checkpoint, path, device)


def _read_features(source: Path, audio: AudioConfig, loudness: bool) -> tuple[torch.Tensor, int, float]:
    """Log-mel (M, T) of a wav (at audio.sample_rate) or from a .npy; the output length in samples;
    and the gain applied to the wav first (`loudness`: brought to audio.loudness_db, the level
    the vocoder was trained at) so that the caller can undo it."""
    from tts.audio.io import load_audio, normalize_loudness
    from tts.audio.spectral import log_mel

    if not source.is_file():
        raise FileNotFoundError(f"{source} does not exist")
    if source.suffix.lower() == ".npy":
        mel = np.load(source)
        if mel.ndim == 3 and mel.shape[0] == 1:
            mel = mel[0]
        if mel.ndim != 2 or not np.issubdtype(mel.dtype, np.floating):
            raise ValueError(f"{source}: expected a float log-mel array (M, T), got {mel.dtype} {mel.shape}")
        if mel.shape[0] != audio.n_mels:
            raise ValueError(f"{source} has {mel.shape[0]} mel bins (rows) but the settings in use have "
                             f"n_mels = {audio.n_mels}; pass a log-mel (M, T) made with the same settings")
        features = torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32))
        return features, (mel.shape[1] - 1) * audio.hop_length, 1.0
    wav, _ = load_audio(source, audio.sample_rate)
    gain = 1.0
    if loudness and np.abs(wav).max(initial=0.0) > 0:
        normalized = normalize_loudness(wav, audio.loudness_db)
        gain = float(np.abs(normalized).max() / np.abs(wav).max())
        wav = normalized
    return log_mel(wav, **audio.mel_kwargs()), wav.shape[-1], gain  # (M, T), S, gain


def vocode_file(source: str | Path, out: str | Path, model: str | Path | None = None,
                griffin_lim: bool = False) -> Path:
    """Copy-synthesis: a wav (its own log-mel) or a .npy log-mel (M, T) -> `out` wav.

    With `model` (a run folder or checkpoint) the trained vocoder is used and its mel settings
    apply; a wav is brought to the training loudness (audio.loudness_db) before its log-mel is
    taken, and the result back to the wav's own level. Without a model, or with griffin_lim=True,
    Griffin-Lim (with the model's mel settings if one is given, else AudioConfig defaults).
    """
    from tts.audio.io import save_audio
    from tts.audio.spectral import griffin_lim_from_log_mel

    source, out = Path(source), Path(out)
    vocoder = load_vocoder(model, "cpu") if model is not None else None
    if vocoder is not None and vocoder.input != "mel":
        raise ValueError(f"the vocoder {vocoder.source} was fine-tuned on a codec's log-mels (input "
                         f"{vocoder.input}); `vocode` needs a vocoder of stage vocoder (or use --griffin-lim)")
    audio = vocoder.audio if vocoder is not None else AudioConfig()
    use_vocoder = vocoder is not None and not griffin_lim
    mel, n_samples, gain = _read_features(source, audio, loudness=use_vocoder)  # (M, T)
    if use_vocoder:
        wav = vocoder(mel)[0, 0, :n_samples].cpu().numpy() / gain  # (S,) back at the input's level
        method = f"vocoder {vocoder.source}"
    else:
        wav = griffin_lim_from_log_mel(mel, **audio.mel_kwargs(), length=n_samples).numpy()  # (S,)
        method = "Griffin-Lim"
    peak = float(np.abs(wav).max(initial=0.0))
    if peak > MAX_PEAK:  # Griffin-Lim's phases can add up beyond full scale: lower the level, never clip
        log.warning("%s: peak %.2f scaled down to %.2f to avoid clipping", out, peak, MAX_PEAK)
        wav = wav * (MAX_PEAK / peak)
    save_audio(out, wav, audio.sample_rate)
    log.info("%s -> %s (%.2f s at %d Hz, %s)", source, out, n_samples / audio.sample_rate,
             audio.sample_rate, method)
    return out
