"""Fixtures for codec tests (helpers live in codec_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from codec_fixtures import FakeCorpus, tiny_recipe

from tts.config import Recipe


@pytest.fixture
def recipe(tmp_path: Path) -> Recipe:
    return tiny_recipe(tmp_path / "run")


@pytest.fixture
def corpus(tmp_path: Path) -> FakeCorpus:
    return FakeCorpus(tmp_path / "prepared")
