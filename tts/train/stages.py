"""`train_stages(recipe, stages)`: find each stage's Task by name and train it into its run folder.

Task modules are imported only when their stage runs, so a stage whose module is not there
does not stop the others from training.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from tts.config import STAGES, TUNED_VOCODERS, Recipe
from tts.checkpoint import is_complete, read_checkpoint

log = logging.getLogger(__name__)

TASKS = {  # stage -> (module, class)
    "codec": ("tts.train.codec_task", "CodecTask"),
    "ar": ("tts.train.ar_task", "ARTask"),
    "nar": ("tts.train.nar_task", "NARTask"),
    "vocoder": ("tts.train.vocoder_task", "VocoderTask"),
    "codec_vocoder": ("tts.train.vocoder_task", "VocoderTask"),  # the vocoder fine-tuned on codec log-mels
    "aligner": ("tts.train.aligner_task", "AlignerTask"),  # phone durations for stage durations
    "durations": ("tts.train.durations_task", "DurationsTask"),
    "refiner": ("tts.train.refiner_task", "RefinerTask"),  # flow matching from the durations model's log-mels
    "chain_vocoder": ("tts.train.chain_vocoder_task", "ChainVocoderTask"),  # ... on the codes NAR's log-mels
}
MEL_CODEC_TASK = ("tts.train.mel_codec_task", "MelCodecTask")  # the codec stage of codec.domain mel


def load_task(recipe: Recipe, stage: str):
    """The Task object of a stage; RuntimeError when the stage is unknown or not built yet."""
    if stage not in TASKS:
        raise RuntimeError(f"unknown stage {stage!r}; the stages are {', '.join(STAGES)}")
    module_name, class_name = TASKS[stage]
    if stage == "codec" and recipe.codec.kind == "trained" and recipe.codec.domain == "mel":
        module_name, class_name = MEL_CODEC_TASK
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        raise RuntimeError(f"stage {stage} is not built yet ({module_name} is missing)") from None
    if not hasattr(module, class_name):
        raise RuntimeError(f"stage {stage} is not built yet ({module_name} has no {class_name})")
    if stage in TUNED_VOCODERS:
        return getattr(module, class_name)(recipe.tuned_vocoder_recipe(stage), run_recipe=recipe)
    return getattr(module, class_name)(recipe)


def stage_config(recipe: Recipe, stage: str):
    """The TrainConfig of a stage (recipe.<stage>.train; a vocoder fine-tuning stage's section of vocoder:, e.g.
    codec_train for codec_vocoder)."""
    if stage in TUNED_VOCODERS:
        return getattr(recipe.vocoder, TUNED_VOCODERS[stage][0])
    return getattr(recipe, stage).train


def train_stages(recipe: Recipe, stages: list[str]) -> None:
    """Train each stage in order; a stage whose final checkpoint exists is skipped."""
    from tts.train.engine import train

    for stage in stages:
        if stage not in TASKS:
            raise RuntimeError(f"unknown stage {stage!r}; the stages are {', '.join(STAGES)}")
        run_dir = Path(recipe.output_dir) / stage
        max_steps = stage_config(recipe, stage).max_steps
        if is_complete(run_dir, max_steps):
            log.info("%s: already complete (%s exists); skipped", stage, run_dir / f"ckpt-{max_steps}.pt")
            if stage == "codec_vocoder":
                _warn_if_other_codec(recipe, run_dir / f"ckpt-{max_steps}.pt")
            continue
        task = load_task(recipe, stage)
        log.info("training %s into %s", stage, run_dir)
        train(task, run_dir)


def _warn_if_other_codec(recipe: Recipe, checkpoint: Path) -> None:
    """A complete codec_vocoder fine-tuned on the codes of an earlier codec checkpoint still decodes,
    but was fitted to another codec's log-mels: say so, and how to fine-tune it again."""
    from tts.data.corpus import PreparedCorpus, prepared_folder
    from tts.codec import CHECKPOINT_DIGEST, weights_differ

    try:
        now = ((PreparedCorpus(prepared_folder(recipe)).settings or {}).get("codec") or {}).get(CHECKPOINT_DIGEST)
    except (FileNotFoundError, ValueError):
        return
    if now and weights_differ(read_checkpoint(checkpoint).get("codec_digest"), now):
        log.warning("codec_vocoder: %s was fine-tuned on the codes of an earlier codec checkpoint; the codec "
                    "now decodes through a vocoder fitted to another codec's log-mels. Move %s aside to "
                    "fine-tune it on the current codes", checkpoint, checkpoint.parent)
