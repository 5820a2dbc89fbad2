"""A whole recipe, stage after stage: prepare, then each training stage; finished work is skipped.

Every step is idempotent (prepare redoes no finished shard, a stage whose final checkpoint exists
is skipped), so running a recipe again after a kill continues where it stopped.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from tts.config import Recipe, save_recipe

log = logging.getLogger(__name__)


def run_recipe(recipe: Recipe, workers: int = 1) -> None:
    """Prepare the corpus and train every stage the recipe names, in order."""
    from tts.data.prepare import prepare_corpus
    from tts.train.stages import train_stages

    run_dir = Path(recipe.output_dir)
    save_recipe(recipe, run_dir / "recipe.yaml")
    timings: list[tuple[str, float]] = []

    def timed(label: str, fn, *args, **kwargs) -> None:
        start = time.perf_counter()
        log.info("== %s ==", label)
        fn(*args, **kwargs)
        timings.append((label, time.perf_counter() - start))

    timed("prepare", prepare_corpus, recipe, workers=workers)
    for stage in recipe.stages:
        timed(f"train {stage}", train_stages, recipe, [stage])
        if stage == "codec":
            # the codes stage of prepare runs now that the codec exists; audio and mels are reused
            timed("prepare (codes)", prepare_corpus, recipe, workers=workers)
    for label, seconds in timings:
        log.info("%-16s %7.1f s", label, seconds)
