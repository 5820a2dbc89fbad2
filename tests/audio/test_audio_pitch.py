"""YIN per frame and the median per phone: the pitch the durations model reads with durations.pitch."""

import numpy as np
import pytest

from tts.audio.pitch import frame_log_f0, phone_log_f0


@pytest.mark.parametrize("f0", [90.0, 200.0, 320.0])
def test_yin_finds_the_f0_of_a_voice_like_tone_one_value_per_centred_frame(f0):
    sample_rate, hop = 16000, 160
    t = np.arange(sample_rate) / sample_rate
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)).astype(np.float32)  # harmonics 1..5
    log_f0 = frame_log_f0(tone, sample_rate, hop)
    assert log_f0.shape == (1 + len(tone) // hop,)
    assert abs(np.exp(np.median(log_f0)) / f0 - 1) < 0.02


def test_phone_pitch_is_the_median_over_its_frames_and_nan_where_unvoiced_or_empty():
    log_f0 = np.log(np.array([100, 100, 400, 100, 200, 200, 200, 50, 300, 300], dtype=np.float32))
    durations = np.array([4, 3, 0, 1, 2, 3])  # sums to 13: the last phone runs past the 10 frames
    voiced = np.array([True, True, True, False, True, True])
    pitch = phone_log_f0(log_f0, durations, voiced)
    assert np.allclose(np.exp(pitch[[0, 1, 4]]), [100, 200, 300])  # the 400 Hz slip does not move phone 0
    assert np.isnan(pitch[2]) and np.isnan(pitch[3])  # no frame; voiceless
    assert np.isnan(pitch[5])  # its frames lie past the end
