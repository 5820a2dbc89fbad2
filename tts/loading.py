"""A trained run folder, loaded for synthesis: which chain of models it holds, their checkpoints, the
codec whose codes they learned, the vocoder that hears them, and its prepared corpus (for prompts).

A run with ar/ speaks through the AR chain (ar/, nar/, the codec, vocoder/ if trained); a run with
durations/ and no ar/ through the durations model (durations/, the codec for prompts, and the mel
vocoder: durations_vocoder/ once trained, else vocoder/). The chains themselves are in tts/synthesize.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import torch

from tts.config import Recipe, recipe_from_dict
from tts.synthesize import ARChain, DurationsChain

log = logging.getLogger(__name__)


def load_run(run_dir: Path, device: str = "cpu", quantize: Optional[str] = None):
    """(chain, prepared corpus or None, training step of each model) of a run folder."""
    from tts.device import resolve_device
    from tts.text import load_phonemizer

    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist; train one with `tts run <recipe>`")
    if quantize not in (None, "none", "int8"):
        raise ValueError(f"--quantize {quantize!r}: only int8 (dynamic, linear layers, CPU) is offered")
    if not (run_dir / "ar").is_dir() and not (run_dir / "durations").is_dir():
        raise FileNotFoundError(f"{run_dir} has no trained model (neither ar/ nor durations/); train it first "
                                "with `tts run <recipe>`")
    load_phonemizer()  # G2P loads with the models, not inside the first sentence's timing
    torch_device = resolve_device(device)
    load = load_ar_chain if (run_dir / "ar").is_dir() else load_durations_chain
    chain, steps = load(run_dir, torch_device)
    log.info("loaded %s from %s", ", ".join(f"{name} step {step}" for name, step in steps.items()), run_dir)
    if quantize == "int8":
        for model in chain.models:
            quantize_int8(model)
    corpus = None
    if (run_dir / "prepared" / "manifest.jsonl").is_file():
        from tts.data.corpus import PreparedCorpus

        corpus = PreparedCorpus(run_dir / "prepared")
    return chain, corpus, steps


def load_ar_chain(run_dir: Path, device: torch.device) -> tuple[ARChain, dict[str, int]]:
    """The run's ar/ and nar/ checkpoints, the codec they learned and a vocoder if any; and their steps."""
    from tts.models.ar import ARModel
    from tts.models.nar import NARModel
    from tts.vocode import load_vocoder

    ar, nar = stage_checkpoint(run_dir, "ar"), stage_checkpoint(run_dir, "nar")
    if nar.get("codec") != ar.get("codec"):
        raise ValueError(f"{run_dir}: the AR and NAR were trained on different codecs "
                         f"({ar.get('codec')} vs {nar.get('codec')}); retrain one of them")
    recipe = recipe_from_dict(ar["recipe"])
    vocoder_file = run_dir / "vocoder" / "best.pt"
    chain = ARChain(recipe, ARModel.from_checkpoint(ar).to(device), NARModel.from_checkpoint(nar).to(device),
                    run_codec(recipe, run_dir, device, ar.get("codec")),
                    load_vocoder(vocoder_file, device) if vocoder_file.is_file() else None)
    return chain, {"ar": int(ar.get("step", 0)), "nar": int(nar.get("step", 0))}


def load_durations_chain(run_dir: Path, device: torch.device) -> tuple[DurationsChain, dict[str, int]]:
    """The run's durations/ checkpoint, its codec (prompts are codes), the vocoder fine-tuned on its
    log-mels (durations_vocoder/) or else the run's mel vocoder (vocoder/); and its step."""
    from tts.models.durations import DurationsModel
    from tts.vocode import load_vocoder

    checkpoint = stage_checkpoint(run_dir, "durations")
    recipe = recipe_from_dict(checkpoint["recipe"])
    tuned = run_dir / "durations_vocoder" / "best.pt"
    vocoder = load_vocoder(tuned if tuned.is_file() else run_dir / "vocoder" / "best.pt", device)
    if vocoder.input != "mel":
        raise ValueError(f"{vocoder.source} reads {vocoder.input}, but the durations model's log-mels need a "
                         "vocoder of true log-mels (vocoder.input: mel)")
    chain = DurationsChain(recipe, DurationsModel.from_checkpoint(checkpoint).to(device),
                           run_codec(recipe, run_dir, device, checkpoint.get("codec")), vocoder)
    return chain, {"durations": int(checkpoint.get("step", 0))}


def stage_checkpoint(run_dir: Path, stage: str) -> dict[str, Any]:
    """The checkpoint of a run's stage folder (best.pt, else last.pt), its phone inventory checked."""
    from tts.checkpoint import load_checkpoint
    from tts.text.symbols import SYMBOLS

    folder = run_dir / stage
    if not folder.is_dir():
        raise FileNotFoundError(f"{run_dir} has no trained {stage} ({folder} is missing); train it first with "
                                f"`tts train <recipe> --stage {stage}` or `tts run <recipe>`")
    checkpoint = load_checkpoint(folder)
    saved = checkpoint.get("symbols")
    if saved is not None and list(saved) != list(SYMBOLS):
        raise ValueError(f"{folder}: the checkpoint's phone inventory differs from this version's "
                         f"({len(saved)} vs {len(SYMBOLS)} symbols); use the version it was trained with")
    return checkpoint


def run_codec(recipe: Recipe, run_dir: Path, device: torch.device, trained_on: Optional[dict[str, Any]]):
    """The codec whose codes the models learned: the run's codec/best.pt, or the recipe's pretrained one."""
    from tts.codec import codec_from_checkpoint, load_codec, mel_vocoder_path

    codec_file = run_dir / "codec" / "best.pt"
    if recipe.codec.kind == "trained" and codec_file.is_file():
        codec = codec_from_checkpoint(codec_file, device, vocoder=mel_vocoder_path(recipe, run_dir))
    else:
        codec = load_codec(recipe, device)
    if codec is None:
        raise FileNotFoundError(f"{run_dir}: no codec to decode with (codec.kind = {recipe.codec.kind}); "
                                "train it with `tts train <recipe> --stage codec`")
    check_codec(codec, trained_on, codec_file if codec_file.is_file() else recipe.codec.checkpoint, run_dir)
    return codec


def check_codec(codec, trained_on: Optional[dict[str, Any]], checkpoint: Optional[str | Path], run_dir: Path) -> None:
    """ValueError unless `codec` is the one whose codes the models learned: the same settings and,
    where the corpus recorded it, the same weights file (a codec trained on after the models, with the
    same settings, makes other codes)."""
    from tts.codec import CHECKPOINT_DIGEST, codec_differences
    from tts.data.store import file_digest

    if trained_on is None:
        return
    now = codec.settings()
    if trained_on.get(CHECKPOINT_DIGEST) and checkpoint is not None and Path(checkpoint).is_file():
        now[CHECKPOINT_DIGEST] = file_digest(Path(checkpoint))
    differences = codec_differences(trained_on, now)
    if any(k != CHECKPOINT_DIGEST for k in differences):
        recorded = {k: v for k, v in trained_on.items() if k != CHECKPOINT_DIGEST}
        raise ValueError(f"{run_dir}: the codec found ({codec.settings()}) differs from the one the "
                         f"models were trained on ({recorded})")
    if differences:
        raise ValueError(f"{run_dir}: the codec checkpoint {checkpoint} is not the one whose codes the models "
                         "were trained on (it was trained further or replaced since). Put that codec back, or "
                         "prepare the codes again (`tts prepare <recipe>`) and retrain the models")


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of the transformer's linear layers (CPU inference; the heads stay float)."""
    import warnings

    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore", DeprecationWarning)
        model.transformer = quantize_dynamic(model.transformer, {torch.nn.Linear}, dtype=torch.qint8)
    return model
