"""Session fixtures for the data tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def text_front_end():
    """Load the G2P model once for the whole session (it takes seconds)."""
    from tts.text import text_to_phones

    text_to_phones("hello world")
    return text_to_phones
