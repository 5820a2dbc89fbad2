"""Fixtures for the never-lose-work tests: the toy training task, the data helpers, a prepared demo corpus."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
for folder in ("train", "data"):  # train_fixtures.py, data_fixtures.py
    if str(TESTS / folder) not in sys.path:
        sys.path.insert(0, str(TESTS / folder))

from reliability_fixtures import DEMO_RECIPE, demo_overrides  # noqa: E402


@pytest.fixture(scope="session")
def demo_prepared(tmp_path_factory) -> Path:
    """recipes/demo.yaml's corpus (data/demo) prepared once: the prepared/ folder."""
    from tts.config import load_recipe
    from tts.data.prepare import prepare_corpus

    run = tmp_path_factory.mktemp("demo") / "run"
    prepare_corpus(load_recipe(DEMO_RECIPE, demo_overrides(run)))
    return run / "prepared"


@pytest.fixture
def demo_run(demo_prepared, tmp_path) -> Path:
    """A run folder of its own holding a copy of the prepared demo corpus."""
    run = tmp_path / "run"
    shutil.copytree(demo_prepared, run / "prepared")
    return run


@pytest.fixture(scope="session")
def text_front_end():
    """Load the G2P model once for the whole session (it takes seconds)."""
    from tts.text import text_to_phones

    text_to_phones("hello world")
    return text_to_phones
