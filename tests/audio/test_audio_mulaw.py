"""mu-law companding (tts.audio.mulaw): parity with torchaudio and librosa, round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio.functional as AF

from tts.audio.mulaw import mu_law_compress, mu_law_decode, mu_law_encode

BITS = (1, 2, 4, 8, 10, 12, 16)


def _signal(rng, n=20000):
    """Uniform, Gaussian-quiet and edge values in [-1, 1] (float32)."""
    edges = [-1.0, -0.5, -1e-6, 0.0, 1e-6, 0.5, 1.0]
    quiet = np.clip(0.05 * rng.standard_normal(n // 2), -1, 1)
    return np.concatenate([rng.uniform(-1, 1, n // 2), quiet, edges]).astype(np.float32)


@pytest.mark.parametrize("bits", BITS)
def test_codes_identical_to_torchaudio(rng, bits):
    x = _signal(rng)
    reference = AF.mu_law_encoding(torch.from_numpy(x), 2 ** bits)
    from_torch = mu_law_encode(torch.from_numpy(x), bits)
    from_numpy = mu_law_encode(x, bits)
    assert from_torch.dtype == torch.int64 and isinstance(from_numpy, np.ndarray)
    assert torch.equal(from_torch, reference)
    assert np.array_equal(from_numpy, reference.numpy())
    assert from_numpy.min() == 0 and from_numpy.max() == 2 ** bits - 1


@pytest.mark.parametrize("bits", BITS)
def test_decode_identical_to_torchaudio(bits):
    codes = torch.arange(2 ** bits)
    ours = mu_law_decode(codes, bits)
    assert ours.dtype == torch.float32
    assert torch.equal(ours, AF.mu_law_decoding(codes, 2 ** bits))
    np.testing.assert_array_equal(mu_law_decode(codes.numpy(), bits), ours.numpy())


@pytest.mark.parametrize("bits", (2, 8, 16))
def test_code_grid_round_trip(bits):
    codes = np.arange(2 ** bits)
    assert np.array_equal(mu_law_encode(mu_law_decode(codes, bits), bits), codes)


@pytest.mark.parametrize("bits", (4, 8, 16))
def test_waveform_round_trip_error(rng, bits):
    x = _signal(rng)
    back = mu_law_decode(mu_law_encode(x, bits), bits)
    error = np.abs(back - x)
    mu = 2 ** bits - 1
    # half a code step (1/mu in the compressed domain) times the curve's steepest slope, at |x| = 1
    bound = (1 / mu) * np.log1p(mu) * (1 + mu) / mu
    assert bound / 2 < error.max() <= bound * 1.01
    quiet = np.abs(x) < 0.01  # mu-law spends its codes on quiet samples
    assert error[quiet].max() < error.max() / 5


def test_encode_is_monotonic_and_symmetric(rng):
    x = np.sort(_signal(rng))
    codes = mu_law_encode(x, 8)
    assert np.all(np.diff(codes) >= 0)
    y = rng.uniform(0, 1, 1000).astype(np.float32)
    assert np.array_equal(mu_law_encode(y, 8) + mu_law_encode(-y, 8), np.full(1000, 255))


def test_compress_matches_librosa_curve(rng):
    import librosa

    x = rng.uniform(-1, 1, 5000)  # float64 end to end
    for bits in (4, 8, 16):
        ours = mu_law_compress(x, bits)
        assert ours.dtype == np.float64
        np.testing.assert_allclose(ours, librosa.mu_compress(x, mu=2 ** bits - 1, quantize=False),
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("bits", (4, 8, 10))
def test_codes_relate_to_librosa_by_its_rounding_up(rng, bits):
    """librosa quantises with digitize(right=True): signed codes, rounded up, not to the nearest.

    So librosa + 2**(bits-1) == ceil(scaled) while ours == floor(scaled + 0.5), scaled being the
    compressed value mapped to [0, mu]: equal when the fraction is >= 0.5, one less below it.
    """
    import librosa

    mu = 2 ** bits - 1
    x = rng.uniform(-1, 1, 20000)
    theirs = librosa.mu_compress(x, mu=mu, quantize=True) + 2 ** (bits - 1)
    ours = mu_law_encode(x, bits)
    scaled = (mu_law_compress(x, bits) + 1) / 2 * mu
    assert theirs.min() >= 0 and theirs.max() <= mu
    assert np.array_equal(theirs, np.ceil(scaled).astype(np.int64))
    fraction = scaled - np.floor(scaled)
    assert np.array_equal(ours - theirs, np.where(fraction >= 0.5, 0, -1))
    assert 0.3 < np.mean(ours == theirs) < 0.7  # a real difference, not an off-by-one everywhere


def test_out_of_range_input_is_clipped():
    assert mu_law_encode(np.array([-3.0, 3.0]), 8).tolist() == [0, 255]


def test_bad_arguments():
    with pytest.raises(ValueError, match="bits"):
        mu_law_encode(np.zeros(3), 0)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        mu_law_decode(np.array([0, 256]), 8)
    with pytest.raises(ValueError, match="integer codes"):
        mu_law_decode(np.array([0.5]), 8)


def test_shapes_are_kept():
    x = torch.rand(2, 1, 300) * 2 - 1  # (B, 1, S)
    codes = mu_law_encode(x, 8)
    assert codes.shape == x.shape and mu_law_decode(codes, 8).shape == x.shape
