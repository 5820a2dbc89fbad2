"""Fixtures for the audio tests: a seeded generator and a helper that writes audio files."""

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def write(tmp_path):
    """write(name, data (S,) or (S, C), rate, **soundfile kwargs) -> path under tmp_path."""
    def _write(name, data, rate, **kwargs):
        path = tmp_path / name
        sf.write(str(path), data, rate, **kwargs)
        return path
    return _write
