"""Audio utilities: files and levels (io), mu-law (mulaw), spectra, mels and Griffin-Lim (spectral)."""

from tts.audio.io import (AudioError, audio_info, clipped_fraction, load_audio, normalize_loudness,
                          normalize_peak, resample, rms_db, save_audio, trim_silence)
from tts.audio.mulaw import mu_law_compress, mu_law_decode, mu_law_encode
from tts.audio.spectral import (LOG_FLOOR, MelSpectrogram, MultiResolutionMelLoss, griffin_lim,
                                griffin_lim_from_log_mel, istft, log_mel, magnitude, mel_filterbank,
                                mel_frames, mel_to_linear, multi_resolution_mel_distance, phase, power,
                                stft)

__all__ = [
    "AudioError", "audio_info", "clipped_fraction", "load_audio", "normalize_loudness", "normalize_peak",
    "resample", "rms_db", "save_audio", "trim_silence",
    "mu_law_compress", "mu_law_decode", "mu_law_encode",
    "LOG_FLOOR", "MelSpectrogram", "MultiResolutionMelLoss", "griffin_lim", "griffin_lim_from_log_mel",
    "istft", "log_mel", "magnitude", "mel_filterbank", "mel_frames", "mel_to_linear",
    "multi_resolution_mel_distance", "phase", "power", "stft",
]
