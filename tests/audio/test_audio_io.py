"""Loading, saving, resampling, levels and trimming (tts.audio.io)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf
import torch
from audio_fixtures import harmonic, level_db, tone

from tts.audio.io import (AudioError, audio_info, clipped_fraction, load_audio, normalize_loudness,
                          normalize_peak, resample, rms_db, save_audio, trim_silence)

# --------------------------------------------------------------------------- loading


@pytest.mark.parametrize("suffix, subtype, tolerance", [
    (".wav", "PCM_16", 1 / 32768), (".wav", "FLOAT", 0.0), (".flac", "PCM_24", 1 / 2 ** 23)])
def test_save_load_round_trip(tmp_path, suffix, subtype, tolerance):
    wav = harmonic(16000, 0.5)
    path = tmp_path / f"a{suffix}"
    save_audio(path, wav, 16000, subtype=subtype)
    back, rate = load_audio(path)
    assert rate == 16000 and back.dtype == np.float32 and back.shape == wav.shape
    assert np.abs(back - wav).max() <= tolerance


def test_ogg_loads_close_to_the_original(tmp_path):
    wav = harmonic(16000, 1.0)
    save_audio(tmp_path / "a.ogg", wav, 16000)
    back, rate = load_audio(tmp_path / "a.ogg")
    assert rate == 16000
    n = min(len(back), len(wav))
    assert abs(n - len(wav)) < 0.01 * len(wav)
    assert np.corrcoef(back[:n], wav[:n])[0, 1] > 0.95  # lossy, but the same signal


def test_stereo_48k_becomes_mono_16k(write):
    left, right = tone(48000, 1.0, 440, 0.6), tone(48000, 1.0, 440, 0.2)
    path = write("stereo.flac", np.stack([left, right], axis=1), 48000, subtype="PCM_24")
    assert audio_info(path) == (48000, 2, 48000)
    wav, rate = load_audio(path, 16000)
    assert rate == 16000 and wav.ndim == 1 and wav.dtype == np.float32 and len(wav) == 16000
    expected = tone(16000, 1.0, 440, 0.4)  # channel mean
    inner = slice(800, -800)  # away from the resampler's edges
    assert np.abs(wav[inner] - expected[inner]).max() < 1e-3


def test_opposite_channels_average_to_silence(write):
    left = tone(16000, 0.5, 300)
    wav, _ = load_audio(write("anti.wav", np.stack([left, -left], axis=1), 16000, subtype="FLOAT"))
    assert np.abs(wav).max() == 0.0


def test_8k_input_upsampled_to_16k_has_nothing_above_4k(write):
    path = write("narrow.wav", tone(8000, 1.0, 1000) + tone(8000, 1.0, 3000, 0.2), 8000)
    wav, rate = load_audio(path, 16000)
    assert rate == 16000 and len(wav) == 16000
    spectrum = np.abs(np.fft.rfft(wav[2000:-2000] * np.hanning(12000)))
    freqs = np.fft.rfftfreq(12000, 1 / 16000)
    peak_hz = freqs[spectrum.argmax()]
    assert abs(peak_hz - 1000) < 5
    above = spectrum[freqs > 4200].max() / spectrum.max()
    assert 20 * np.log10(above) < -60


def test_load_without_rate_keeps_the_file_rate(write):
    wav, rate = load_audio(write("a.wav", tone(22050, 0.2, 440), 22050))
    assert rate == 22050 and len(wav) == 4410


# --------------------------------------------------------------------------- errors


def test_missing_file_is_named(tmp_path):
    with pytest.raises(AudioError, match="nope.wav.*no such file"):
        load_audio(tmp_path / "nope.wav")


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(AudioError, match="not a file"):
        load_audio(tmp_path)


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty.wav.*0 bytes"):
        load_audio(tmp_path / "empty.wav")


def test_garbage_bytes(tmp_path, rng):
    (tmp_path / "noise.wav").write_bytes(rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError, match="noise.wav.*cannot decode"):
        load_audio(tmp_path / "noise.wav")
    with pytest.raises(AudioError, match="noise.wav"):
        audio_info(tmp_path / "noise.wav")


def test_header_only_wav_has_no_samples(write):
    path = write("none.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="none.wav.*no samples"):
        load_audio(path)


def test_truncated_wav(write):
    path = write("cut.wav", tone(16000, 1.0, 440), 16000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # header still promises a full second
    with pytest.raises(AudioError, match="cut.wav.*truncated"):
        load_audio(path)


def test_streaming_wav_with_placeholder_size_loads(write):
    path = write("stream.wav", tone(16000, 0.25, 440), 16000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    at = data.index(b"data") + 4
    data[at:at + 4] = struct.pack("<I", 0xFFFFFFFF)  # a writer that never came back to fix it
    path.write_bytes(bytes(data))
    wav, _ = load_audio(path)
    assert len(wav) == 4000


def test_truncated_flac(write):
    path = write("cut.flac", harmonic(16000, 2.0), 16000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="cut.flac"):
        load_audio(path)


def test_nan_samples(write):
    wav = tone(16000, 0.1, 440)
    wav[10] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        load_audio(write("nan.wav", wav, 16000, subtype="FLOAT"))


# --------------------------------------------------------------------------- saving


def test_save_is_atomic_and_tidy(tmp_path):
    out = tmp_path / "deep" / "er" / "x.wav"
    save_audio(out, torch.from_numpy(tone(16000, 0.1, 440))[None, None], 16000)  # (1, 1, S) tensor
    save_audio(out, tone(16000, 0.2, 440), 16000)  # overwrite
    assert sorted(p.name for p in out.parent.iterdir()) == ["x.wav"]
    assert sf.info(str(out)).frames == 3200


def test_failed_save_leaves_the_old_file(tmp_path):
    out = tmp_path / "x.wav"
    save_audio(out, tone(16000, 0.1, 440), 16000)
    with pytest.raises(ValueError):
        save_audio(out, np.full(100, np.nan, np.float32), 16000)
    with pytest.raises(Exception):
        save_audio(out, tone(16000, 0.1, 440), 16000, subtype="NOT_A_SUBTYPE")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.wav"]
    assert sf.info(str(out)).frames == 1600


def test_save_refuses_multichannel(tmp_path):
    with pytest.raises(ValueError, match="mono"):
        save_audio(tmp_path / "x.wav", np.zeros((2, 100), np.float32), 16000)


# --------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("orig, new", [(48000, 16000), (44100, 16000), (22050, 16000), (16000, 24000)])
def test_resample_keeps_a_tone(orig, new):
    out = resample(tone(orig, 1.0, 440), orig, new)
    expected = tone(new, 1.0, 440)
    assert out.dtype == np.float32 and len(out) == len(expected)
    inner = slice(new // 20, -new // 20)
    assert np.abs(out[inner] - expected[inner]).max() < 1e-3


def test_resample_removes_what_the_new_rate_cannot_hold():
    out = resample(tone(48000, 1.0, 12000), 48000, 16000)  # above the new Nyquist (8 kHz)
    assert level_db(out[1000:-1000]) < level_db(tone(16000, 1.0, 12000)) - 60


def test_resample_torch_and_batches():
    wav = torch.from_numpy(np.stack([tone(48000, 0.5, 440), tone(48000, 0.5, 880)]))  # (2, S)
    out = resample(wav, 48000, 16000)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 8000) and out.dtype == torch.float32
    single = resample(wav[1].numpy(), 48000, 16000)
    np.testing.assert_allclose(out[1].numpy(), single, atol=1e-6)
    assert resample(wav, 16000, 16000) is wav


# --------------------------------------------------------------------------- levels


def test_rms_db_of_known_signals():
    assert rms_db(tone(16000, 1.0, 1000, 1.0)) == pytest.approx(-3.0103, abs=1e-3)
    assert rms_db(np.full(100, 0.1, np.float32)) == pytest.approx(-20.0, abs=1e-4)
    assert rms_db(np.zeros(100, np.float32)) == -200.0
    assert rms_db(np.zeros(0, np.float32)) == -200.0


def test_clipped_fraction():
    wav = tone(16000, 1.0, 200, 0.5)
    assert clipped_fraction(wav) == 0.0
    wav[:1600] = 1.0
    wav[1600:2400] = -1.0
    assert clipped_fraction(wav) == pytest.approx(0.15)
    assert clipped_fraction(np.clip(tone(16000, 1.0, 200, 2.0), -1, 1)) > 0.5


def test_loudness_reaches_the_target(rng):
    wav = (0.01 * rng.standard_normal(16000)).astype(np.float32)
    out = normalize_loudness(wav, -20.0)
    assert level_db(out) == pytest.approx(-20.0, abs=0.01)
    assert out.dtype == np.float32


def test_loudness_never_clips():
    wav = np.zeros(16000, np.float32)
    wav[100] = 0.5  # one click: reaching -20 dB RMS would need a peak far beyond full scale
    out = normalize_loudness(wav, -20.0, max_peak=0.99)
    assert np.abs(out).max() == pytest.approx(0.99, rel=1e-6)
    assert level_db(out) < -20.0


def test_loudness_leaves_silence_and_accepts_torch():
    silence = np.zeros(100, np.float32)
    assert np.array_equal(normalize_loudness(silence, -20.0), silence)
    out = normalize_loudness(torch.full((100,), 0.5), -20.0)
    assert isinstance(out, torch.Tensor) and float(out.pow(2).mean().sqrt()) == pytest.approx(0.1, rel=1e-4)


def test_peak_normalisation():
    out = normalize_peak(tone(16000, 0.1, 440, 0.1), 0.9)
    assert np.abs(out).max() == pytest.approx(0.9, rel=1e-5)


# --------------------------------------------------------------------------- trimming


def _padded_speech(rng, lead=0.5, body=1.0, tail=0.3, rate=16000):
    floor = (1e-4 * rng.standard_normal(int((lead + body + tail) * rate))).astype(np.float32)  # -80 dB
    start = int(lead * rate)
    floor[start:start + int(body * rate)] += harmonic(rate, body)
    return floor, start, start + int(body * rate)


def test_trim_cuts_leading_and_trailing_silence(rng):
    wav, start, end = _padded_speech(rng)
    out = trim_silence(wav, 16000, top_db=40)
    kept_from = int(np.flatnonzero(wav == out[0])[0])  # where the kept part began (noise values are unique)
    assert 0 <= start - kept_from <= 400  # at most one 25 ms frame of margin
    assert 0 <= (kept_from + len(out)) - end <= 400
    assert np.array_equal(out, wav[kept_from:kept_from + len(out)])


def test_trim_keeps_inner_pauses(rng):
    first, _, _ = _padded_speech(rng, 0.2, 0.5, 0.4)
    second, _, _ = _padded_speech(rng, 0.0, 0.5, 0.2)
    out = trim_silence(np.concatenate([first, second]), 16000, top_db=40)
    assert len(out) > 16000 * (0.5 + 0.4 + 0.5) - 400


def test_trim_off_and_degenerate_inputs(rng):
    wav, _, _ = _padded_speech(rng)
    assert trim_silence(wav, 16000, top_db=0) is wav
    zeros = np.zeros(8000, np.float32)
    assert len(trim_silence(zeros, 16000, 40)) == 8000
    assert len(trim_silence(zeros[:100], 16000, 40)) == 100


def test_trim_works_on_tensors(rng):
    wav, _, _ = _padded_speech(rng)
    out = trim_silence(torch.from_numpy(wav), 16000, 40)
    assert isinstance(out, torch.Tensor)
    assert np.array_equal(out.numpy(), trim_silence(wav, 16000, 40))
