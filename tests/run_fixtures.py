"""Tiny trained runs of the shipped recipes on the bundled demo corpus, for tests that need a whole run folder
(tests/test_export.py, tests/scripts/test_durations_spread.py)."""

from pathlib import Path

from tts.config import load_recipe

ROOT = Path(__file__).resolve().parents[1]
DEMO_CORPUS = ROOT / "data" / "demo"


def tiny(sections: tuple[str, ...], steps: int) -> list[str]:
    """`--set` values that train each of `sections` (e.g. "codec.train") `steps` steps, validating at the end."""
    return [f"{section}.{key}={value}" for section in sections
            for key, value in (("max_steps", steps), ("warmup_steps", 1), ("validate_every", steps),
                               ("checkpoint_every", steps), ("sample_every", 0), ("log_every", 1))]


def durations_settings(run: Path) -> list[str]:
    """The offline recipe's durations chain (vocoder, mel codec, aligner, durations), tiny, into `run`."""
    return [f"output_dir={run}", f"data.root={DEMO_CORPUS}", "threads=1",
            "stages=[vocoder, codec, aligner, durations]", "codec.channels=4", "codec.dimension=16",
            "codec.n_codebooks=2", "codec.codebook_size=16", "codec.train.batch_size=2",
            "vocoder.initial_channels=16", "vocoder.train.batch_size=2", "aligner.width=16",
            "durations.width=32", "durations.layers=1", "durations.heads=2", "durations.train.batch_tokens=400",
            "refiner.channels=16", "refiner.blocks=2", "refiner.train.batch_size=2",
            *tiny(("vocoder.train", "codec.train", "aligner.train", "durations.train", "refiner.train"), 2)]


def train_durations_run(run: Path) -> Path:
    """`run`, trained by `tts run` with durations_settings."""
    from tts.pipeline import run_recipe

    run_recipe(load_recipe(ROOT / "recipes" / "offline_durations.yaml", durations_settings(run)))
    return run
