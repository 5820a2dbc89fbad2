"""What every command shares: the typer apps, the options that synthesize and eval model both take,
errors as messages, and loading a recipe."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    help="tts: a staged, recipe-driven text-to-speech toolkit (prepare -> train -> synthesize -> eval).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
plot_app = typer.Typer(help="PNG plots: spectrograms, training curves, code maps.", no_args_is_help=True)
eval_app = typer.Typer(help="Numbers for intelligibility and fidelity (WER, MCD, mel distance, speaker similarity).",
                       no_args_is_help=True)
app.add_typer(plot_app, name="plot")
app.add_typer(eval_app, name="eval")

SET_HELP = "Override a recipe key, e.g. --set ar.train.lr=3e-4 (repeatable; values are YAML)."
# options that tts synthesize and tts eval model share
TEMPERATURE_OPTION = typer.Option(None, "--temperature", help="AR sampling temperature (0 = greedy; default: the "
                                  "recipe's).")
TOP_K_OPTION = typer.Option(None, "--top-k", help="Sample among the k most likely tokens (0 = off).")
TOP_P_OPTION = typer.Option(None, "--top-p", help="Nucleus sampling mass (1 = off).")
MIN_FRAMES_PER_PHONE_OPTION = typer.Option(None, "--min-frames-per-phone", help="The AR may not end before phones "
                                           "x this frames (0 = off; default: the recipe's).")
MAX_FRAMES_PER_PHONE_OPTION = typer.Option(None, "--max-frames-per-phone", help="The AR ends (with a warning) "
                                           "after phones x this frames (default: the recipe's).")
PACE_OPTION = typer.Option(None, "--pace", help="The durations model speaks each phone this many times its "
                           "predicted length (above 1 slower; default: the recipe's).")
REFINER_STEPS_OPTION = typer.Option(None, "--refiner-steps", help="Euler steps of the mel refiner, for a run that "
                                    "has one (default: the recipe's synthesis.refiner_steps).")


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug messages.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def load(recipe: Path, overrides: Optional[List[str]]):
    from tts.config import load_recipe

    try:
        return load_recipe(recipe, overrides or [], warn_retired=True)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err), 2)
