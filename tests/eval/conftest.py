"""Fixtures for the evaluation tests: short real speech clips made by flite (skipped without it)."""

from pathlib import Path

import pytest
from eval_fixtures import OTHER_SENTENCE, SENTENCE, flite_clip


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Two sentences by two voices: slt_1, slt_2, rms_1, rms_2."""
    folder = tmp_path_factory.mktemp("flite")
    return {f"{voice}_{number}": flite_clip(folder, voice, text, f"{voice}_{number}")
            for voice in ("slt", "rms") for number, text in ((1, SENTENCE), (2, OTHER_SENTENCE))}
