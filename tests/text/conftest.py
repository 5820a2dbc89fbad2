"""Text front end fixtures: the phonemizer loads once per test session (a few seconds)."""

import pytest


@pytest.fixture(scope="session")
def phonemizer():
    from tts.text import load_phonemizer

    return load_phonemizer()
