"""STFT, mel features, Griffin-Lim and the multi-resolution mel loss (tts.audio.spectral)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from audio_fixtures import harmonic

from tts.audio.spectral import (LOG_FLOOR, MelSpectrogram, MultiResolutionMelLoss, griffin_lim, griffin_lim_from_log_mel,
                                hz_to_mel, istft, linear_spectrogram, log_mel, magnitude, mel_filterbank, mel_frames,
                                mel_resolutions, mel_to_hz, mel_to_linear, multi_resolution_mel_distance, phase,
                                power, stft)
from tts.config import AudioConfig

AUDIO_CONFIGS = [
    AudioConfig(),  # 16 kHz, n_fft 1024, hop 160, 80 mels
    AudioConfig(sample_rate=22050, n_fft=1024, win_length=800, hop_length=200, n_mels=64,
                f_min=50.0, f_max=8000.0),
    AudioConfig(sample_rate=24000, n_fft=512, win_length=512, hop_length=120, n_mels=100),
]


def _librosa_log_mel(wav: np.ndarray, audio: AudioConfig) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    mel = librosa.feature.melspectrogram(y=wav, sr=audio.sample_rate, n_fft=audio.n_fft,
                                         hop_length=audio.hop_length, win_length=audio.win_length,
                                         n_mels=audio.n_mels, fmin=audio.f_min, fmax=audio.fmax, power=1.0)
    return np.log(np.maximum(mel, LOG_FLOOR)), mel


# --------------------------------------------------------------------------- STFT


@pytest.mark.parametrize("n_fft, hop, win", [(1024, 160, None), (512, 128, 512), (1024, 256, 800),
                                             (400, 100, 400), (256, 64, 200)])
def test_stft_istft_round_trip(rng, n_fft, hop, win):
    wav = torch.from_numpy(rng.uniform(-1, 1, (3, 12347)).astype(np.float32))  # odd length
    spec = stft(wav, n_fft, hop, win)
    assert spec.shape == (3, n_fft // 2 + 1, mel_frames(12347, hop)) and spec.is_complex()
    back = istft(spec, hop, win, length=12347)
    assert back.shape == wav.shape
    assert (back - wav).abs().max() < 1e-5


def test_stft_matches_librosa(rng):
    import librosa

    wav = rng.standard_normal(5000)  # float64: the algorithms must agree, not just the rounding
    ours = stft(wav, 512, 128, 400).numpy()
    theirs = librosa.stft(wav, n_fft=512, hop_length=128, win_length=400)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-9 * np.abs(theirs).max()


def test_magnitude_phase_power(rng):
    spec = stft(rng.standard_normal(4000).astype(np.float32), 256, 64)
    assert torch.allclose(torch.polar(magnitude(spec), phase(spec)), spec, atol=1e-4)
    assert torch.allclose(power(spec), magnitude(spec) ** 2, rtol=1e-5, atol=1e-6)
    assert (magnitude(spec) >= 0).all() and (phase(spec).abs() <= math.pi).all()


def test_stft_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        stft(np.zeros(0, np.float32), 256, 64)


def test_linear_spectrogram_is_the_stft_magnitude_without_the_channel_axis(rng):
    wav = torch.from_numpy(rng.uniform(-1, 1, (2, 1, 4000)).astype(np.float32))  # (B, 1, S)
    spec = linear_spectrogram(wav, 512, 128, 400)
    assert spec.shape == (2, 257, mel_frames(4000, 128))
    assert torch.equal(spec, magnitude(stft(wav[:, 0], 512, 128, 400)))
    assert torch.equal(linear_spectrogram(wav, **AudioConfig(n_fft=512, win_length=400, hop_length=128).stft_kwargs()),
                       spec)


# --------------------------------------------------------------------------- mel scale and filterbank


def test_mel_scale_matches_librosa_and_inverts():
    import librosa

    hz = np.array([0.0, 50.0, 440.0, 999.0, 1000.0, 1001.0, 4000.0, 11025.0])
    for htk in (False, True):
        np.testing.assert_allclose(hz_to_mel(hz, htk), librosa.hz_to_mel(hz, htk=htk), rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz, htk), htk), hz, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("rate, n_fft, n_mels, f_min, f_max", [
    (16000, 1024, 80, 0.0, None), (22050, 1024, 80, 0.0, 8000.0), (24000, 2048, 128, 50.0, None),
    (8000, 256, 40, 20.0, 3800.0)])
@pytest.mark.parametrize("htk", [False, True])
def test_filterbank_matches_librosa(rate, n_fft, n_mels, f_min, f_max, htk):
    import librosa

    ours = mel_filterbank(rate, n_fft, n_mels, f_min, f_max, htk=htk)
    theirs = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max, htk=htk)
    assert ours.shape == theirs.shape == (n_mels, n_fft // 2 + 1)
    assert np.abs(ours.numpy() - theirs).max() <= 1e-6 * theirs.max()


def test_filterbank_without_norm_peaks_at_one():
    bank = mel_filterbank(16000, 2048, 40, norm=None)
    assert bank.max(dim=1).values.min() > 0.5 and bank.max() <= 1.0


def test_filterbank_rejects_impossible_bands():
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(16000, 512, 40, f_max=9000.0)


# --------------------------------------------------------------------------- log-mel


@pytest.mark.parametrize("audio", AUDIO_CONFIGS, ids=["16k", "22k-win800", "24k-512"])
def test_log_mel_matches_librosa_on_noise(rng, audio):
    wav = (0.1 * rng.standard_normal(audio.sample_rate)).astype(np.float32)
    ours = log_mel(wav, **audio.mel_kwargs())
    reference, _ = _librosa_log_mel(wav, audio)
    assert ours.dtype == torch.float32 and ours.shape == reference.shape
    assert ours.shape[-1] == mel_frames(len(wav), audio.hop_length)
    assert np.abs(ours.numpy() - reference).max() < 1e-5


def test_log_mel_matches_librosa_in_float64():
    audio = AUDIO_CONFIGS[0]
    wav = harmonic(audio.sample_rate, 1.0).astype(np.float64)
    reference, _ = _librosa_log_mel(wav, audio)
    assert np.abs(log_mel(wav, **audio.mel_kwargs()).numpy() - reference).max() < 1e-5


def test_log_mel_matches_librosa_on_tonal_audio_where_it_is_audible():
    """Deep spectral valleys show float32 FFT rounding near the floor; audible bins agree tightly."""
    audio = AUDIO_CONFIGS[0]
    wav = np.concatenate([np.zeros(3000, np.float32), harmonic(audio.sample_rate, 1.0)])
    ours = log_mel(wav, **audio.mel_kwargs()).numpy()
    reference, mel = _librosa_log_mel(wav, audio)
    difference = np.abs(ours - reference)
    assert difference[mel > 1e-3].max() < 1e-4
    assert difference.max() < 5e-3


def test_settings_default_as_in_torchaudio_and_the_recipe_maps_onto_them():
    wav = harmonic(16000, 0.3)
    plain = log_mel(wav, sample_rate=16000, n_fft=1024, hop_length=160, n_mels=80)  # window n_fft, band to 8 kHz
    assert torch.equal(plain, log_mel(wav, **AudioConfig().mel_kwargs()))
    assert not torch.equal(plain, log_mel(wav, **AudioConfig(f_max=4000.0).mel_kwargs()))
    assert not torch.equal(plain, log_mel(wav, **AudioConfig(win_length=800).mel_kwargs()))


def test_log_floor():
    settings = AudioConfig().mel_kwargs()
    silent = log_mel(np.zeros(1600, np.float32), **settings)
    assert torch.all(silent == math.log(LOG_FLOOR))
    assert log_mel(harmonic(16000, 0.2), **settings).max() > math.log(LOG_FLOOR) + 5


@pytest.mark.parametrize("audio", AUDIO_CONFIGS[:2], ids=["16k", "22k-win800"])
def test_module_equals_function_and_batches_equal_singles(audio):
    module = MelSpectrogram(**audio.mel_kwargs())
    waves = torch.stack([torch.from_numpy(harmonic(audio.sample_rate, 0.5, f0)) for f0 in (110, 170, 230)])
    batch = module(waves[:, None, :])  # (B, 1, S) -> (B, M, T)
    assert batch.shape == (3, audio.n_mels, mel_frames(waves.shape[-1], audio.hop_length))
    for i in range(3):
        single = module(waves[i])  # (S,) -> (M, T)
        assert (batch[i] - single).abs().max() < 1e-5
        assert (single - log_mel(waves[i].numpy(), **audio.mel_kwargs())).abs().max() < 1e-5
    assert torch.equal(module(waves), batch)  # (B, S) too


def test_module_holds_window_and_filterbank_as_buffers():
    module = MelSpectrogram(sample_rate=16000, n_fft=1024, hop_length=160, n_mels=64)
    buffers = dict(module.named_buffers())
    assert buffers["window"].shape == (1024,) and buffers["filterbank"].shape == (64, 513)
    assert list(module.parameters()) == []
    assert module.state_dict() == {}  # derived from the settings, so not saved in checkpoints
    assert torch.equal(buffers["filterbank"], mel_filterbank(16000, 1024, 64))


def test_module_is_differentiable():
    wav = torch.from_numpy(harmonic(16000, 0.3)).requires_grad_()
    MelSpectrogram(**AudioConfig().mel_kwargs())(wav).sum().backward()
    assert wav.grad is not None and torch.isfinite(wav.grad).all() and wav.grad.abs().sum() > 0


# --------------------------------------------------------------------------- Griffin-Lim


def _spectral_convergence(wav: torch.Tensor, target: torch.Tensor, hop: int) -> float:
    rebuilt = magnitude(stft(wav, 2 * (target.shape[-2] - 1), hop))
    return float(torch.linalg.norm(rebuilt - target) / torch.linalg.norm(target))


def test_griffin_lim_from_linear_magnitude():
    wav = harmonic(16000, 1.0)
    target = magnitude(stft(wav, 512, 128))
    fast = griffin_lim(target, 128, n_iter=32, length=len(wav))
    classic = griffin_lim(target, 128, n_iter=32, momentum=0.0, length=len(wav))
    assert fast.shape == (len(wav),)
    assert _spectral_convergence(fast, target, 128) < 0.1
    assert _spectral_convergence(fast, target, 128) < _spectral_convergence(classic, target, 128)
    assert torch.equal(fast, griffin_lim(target, 128, n_iter=32, length=len(wav)))  # seeded


def test_griffin_lim_batches():
    waves = np.stack([harmonic(16000, 0.5, 120), harmonic(16000, 0.5, 200)])
    target = magnitude(stft(waves, 512, 128))  # (2, F, T)
    out = griffin_lim(target, 128, n_iter=16)
    assert out.shape == (2, (target.shape[-1] - 1) * 128)
    for i in range(2):
        assert _spectral_convergence(out[i], target[i], 128) < 0.2


def test_mel_to_linear_is_non_negative_and_fits_better_than_the_pseudo_inverse():
    audio = AudioConfig()
    mel = torch.exp(log_mel(harmonic(16000, 0.5), **audio.mel_kwargs()))  # (M, T)
    bank = mel_filterbank(audio.sample_rate, audio.n_fft, audio.n_mels)
    linear = mel_to_linear(mel, sample_rate=audio.sample_rate, n_fft=audio.n_fft)
    assert linear.shape == (audio.n_fft // 2 + 1, mel.shape[-1]) and (linear >= 0).all()
    clipped_pinv = (torch.linalg.pinv(bank) @ mel).clamp(min=0)
    fit = torch.linalg.norm(bank @ linear - mel) / torch.linalg.norm(mel)
    assert fit < 0.05
    assert fit < torch.linalg.norm(bank @ clipped_pinv - mel) / torch.linalg.norm(mel)


def test_griffin_lim_from_log_mel_reproduces_the_features():
    settings = AudioConfig().mel_kwargs()
    wav = harmonic(16000, 1.0)
    features = log_mel(wav, **settings)
    rebuilt = griffin_lim_from_log_mel(features, **settings, length=len(wav))
    assert rebuilt.shape == (len(wav),) and torch.isfinite(rebuilt).all()
    again = log_mel(rebuilt, **settings)
    loud = features > features.max() - 6  # within ~50 dB of the peak
    assert (again - features)[loud].abs().mean() < 0.5
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal(len(wav)).astype(np.float32) * 0.05)
    assert (log_mel(noise, **settings) - features)[loud].abs().mean() > 1.0  # the check can fail


def test_griffin_lim_from_log_mel_checks_the_mel_bins():
    with pytest.raises(ValueError, match="80 mel bins"):
        griffin_lim_from_log_mel(torch.zeros(64, 10), **AudioConfig().mel_kwargs())


# --------------------------------------------------------------------------- multi-resolution loss


def test_resolutions_scale_with_the_rate():
    assert [r[0] for r in mel_resolutions(16000)] == [256, 512, 1024]
    assert [r[0] for r in mel_resolutions(24000)] == [512, 1024, 2048]
    for n_fft, hop, n_mels in mel_resolutions(22050):
        assert hop == n_fft // 4 and n_mels <= n_fft // 8
        bank = mel_filterbank(22050, n_fft, n_mels)
        assert (bank.sum(dim=1) > 0).all()  # no empty filter


def test_multi_resolution_loss_properties(rng):
    loss = MultiResolutionMelLoss(16000)
    clean = torch.from_numpy(harmonic(16000, 0.5))[None, None]  # (1, 1, S)
    noise = torch.from_numpy(rng.standard_normal(clean.shape[-1]).astype(np.float32))[None, None]
    assert float(loss(clean, clean)) == 0.0
    small, large = loss(clean + 0.001 * noise, clean), loss(clean + 0.05 * noise, clean)
    assert 0 < float(small) < float(large)
    prediction = (clean + 0.05 * noise).requires_grad_()
    loss(prediction, clean).backward()
    assert torch.isfinite(prediction.grad).all() and prediction.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same shape"):
        loss(clean, clean[..., :-1])


def test_multi_resolution_distance(rng):
    clean = harmonic(16000, 0.5)
    noise = rng.standard_normal(len(clean)).astype(np.float32)
    assert multi_resolution_mel_distance(clean, clean, 16000) == 0.0
    near = multi_resolution_mel_distance(clean + 0.001 * noise, clean, 16000)
    far = multi_resolution_mel_distance(clean + 0.05 * noise, clean, 16000)
    assert 0 < near < far
    cropped = multi_resolution_mel_distance(clean, np.concatenate([clean, np.zeros(80, np.float32)]), 16000)
    assert cropped == 0.0  # compared over the shorter length
    assert isinstance(far, float)


@pytest.mark.gpu
def test_module_on_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    audio = AudioConfig()
    wav = torch.from_numpy(harmonic(16000, 0.5))[None, None]
    module = MelSpectrogram(**audio.mel_kwargs())
    on_gpu = module.to("cuda")(wav.cuda()).cpu()
    assert (on_gpu - MelSpectrogram(**audio.mel_kwargs())(wav)).abs().max() < 1e-4
    loss = MultiResolutionMelLoss(16000).to("cuda")
    assert float(loss(wav.cuda(), wav.cuda())) == 0.0
