"""Commands that make data and models: text, prepare, train, run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from tts.cli.common import SET_HELP, app, fail, load


@app.command()
def text(
    sentence: str = typer.Argument(..., help="Text to normalise and convert to phones."),
    as_json: bool = typer.Option(False, "--json", help='Print {"normalized": ..., "phones": [...]}.'),
) -> None:
    """Show what the text front end makes of a sentence: normalised words and ARPAbet phones."""
    from tts.text import UnspeakableTextError, text_to_phones

    try:
        normalized, phones = text_to_phones(sentence)
    except UnspeakableTextError as err:
        fail(str(err), 2)
    if as_json:
        typer.echo(json.dumps({"normalized": normalized, "phones": phones}))
    else:
        typer.echo(normalized)
        typer.echo(" ".join(phones))


@app.command()
def prepare(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see recipes/)."),
    overrides: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
    workers: int = typer.Option(1, "--workers", "-j", help="Parallel worker processes."),
    shard: Optional[str] = typer.Option(None, "--shard", help="Prepare one shard i/N only (0-based), "
                                        "e.g. 3/16 in a cluster job array; then run --merge once."),
    merge: bool = typer.Option(False, "--merge", help="Only merge finished shards into the manifest."),
) -> None:
    """Prepare a corpus: text, phones, audio, codec codes, mels, manifest, split, drop report."""
    cfg = load(recipe, overrides)
    from tts.data.prepare import PrepareError, prepare_corpus

    try:
        prepare_corpus(cfg, workers=workers, shard=shard, merge_only=merge)
    except PrepareError as err:
        fail(str(err))


@app.command()
def train(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see recipes/)."),
    stage: Optional[List[str]] = typer.Option(None, "--stage", "-s",
                                              help="Stage to train: vocoder, codec, codec_vocoder, aligner, ar, nar, "
                                                   "chain_vocoder, durations or refiner (repeatable; "
                                                   "default: the recipe's stages)."),
    overrides: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
) -> None:
    """Train the recipe's stages with checkpoints, exact resume, validation and samples."""
    cfg = load(recipe, overrides)
    from tts.train.stages import train_stages
    from tts.train.stopping import TrainingStopped

    try:
        train_stages(cfg, stages=stage or list(cfg.stages))
    except TrainingStopped as err:
        fail(str(err), err.exit_code)  # 143 for SIGTERM, 130 for SIGINT, as the shell reports a signal
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        fail(str(err))


@app.command()
def run(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see recipes/)."),
    overrides: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
    workers: int = typer.Option(1, "--workers", "-j", help="Parallel workers for prepare."),
) -> None:
    """Run a whole recipe: prepare, then every stage; finished steps are skipped."""
    cfg = load(recipe, overrides)
    from tts.pipeline import run_recipe
    from tts.train.stopping import TrainingStopped

    try:
        run_recipe(cfg, workers=workers)
    except TrainingStopped as err:
        fail(str(err), err.exit_code)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        fail(str(err))
