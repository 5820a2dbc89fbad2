"""A trained run folder, loaded for synthesis: which chain of models it holds, their checkpoints, the
codec whose codes they learned, the vocoder that hears them, and its prepared corpus (for prompts).

A run with ar/ speaks through the AR chain (ar/, nar/, the codec and a mel-domain codec's vocoder); a run with
durations/ and no ar/ through the durations model (durations/, the codec for prompts, and the mel
vocoder/), its log-mels refined by refiner/ once trained.
The chains themselves are in tts/synthesize.py.

A folder written by `tts export` (tts/export.py) has the same layout with weights-only checkpoints
(fp16, fp32 or int8: tts/models/storage.py; tts.checkpoint.read_checkpoint turns int8 matrices back
into fp32 and load_state_dict casts fp16 to the models' fp32, so each model loads as from a run) and,
instead of a prepared corpus, voices.json: each speaker's reference clip (speakers/<id>.wav) with its
text and phones. Without --model, `tts synthesize` speaks with the bundled voice (`bundled_voice`).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Optional

import torch

from tts.config import Recipe, recipe_from_dict
from tts.synthesize import ARChain, DurationsChain, Voice, reference_record

log = logging.getLogger(__name__)

VOICES_FILE = "voices.json"  # an exported folder's speakers
VOICE_ENV = "TTS_VOICE"  # names the folder `tts synthesize` speaks with when no --model is given


def load_run(run_dir: Path, device: str = "cpu", quantize: Optional[str] = None, vocoder: Optional[Path] = None):
    """(chain, prepared corpus or None, training step of each model, voices of an exported folder or [])
    of a run folder or an exported one; `vocoder` (a checkpoint or stage folder) replaces the run's mel vocoder."""
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
    chain, steps = load(run_dir, torch_device, vocoder)
    log.info("loaded %s from %s", ", ".join(f"{name} step {step}" for name, step in steps.items()), run_dir)
    if quantize == "int8":
        for model in chain.models:
            quantize_int8(model)
    corpus = None
    if (run_dir / "prepared" / "manifest.jsonl").is_file():
        from tts.data.corpus import PreparedCorpus

        corpus = PreparedCorpus(run_dir / "prepared")
    voices = read_voices(run_dir) if (run_dir / VOICES_FILE).is_file() else []
    return chain, corpus, steps, voices


def load_ar_chain(run_dir: Path, device: torch.device,
                  vocoder: Optional[Path] = None) -> tuple[ARChain, dict[str, int]]:
    """The run's ar/ and nar/ checkpoints and the codec they learned (a mel-domain codec's decoding through
    `vocoder` if given); and their steps."""
    from tts.models.ar import ARModel
    from tts.models.nar import NARModel

    ar, nar = stage_checkpoint(run_dir, "ar"), stage_checkpoint(run_dir, "nar")
    if nar.get("codec") != ar.get("codec"):
        raise ValueError(f"{run_dir}: the AR and NAR were trained on different codecs "
                         f"({ar.get('codec')} vs {nar.get('codec')}); retrain one of them")
    recipe = recipe_from_dict(ar["recipe"])
    if vocoder is not None and (recipe.codec.kind != "trained" or recipe.codec.domain != "mel"):
        raise ValueError(f"--vocoder {vocoder}: this run's codec ({recipe.codec.kind}, {recipe.codec.domain} domain) "
                         "writes samples itself; only a mel-domain codec decodes through a mel vocoder")
    chain = ARChain(recipe, ARModel.from_checkpoint(ar).to(device), NARModel.from_checkpoint(nar).to(device),
                    run_codec(recipe, run_dir, device, ar.get("codec"), vocoder=vocoder))
    return chain, {"ar": int(ar.get("step", 0)), "nar": int(nar.get("step", 0))}


def load_durations_chain(run_dir: Path, device: torch.device,
                         vocoder: Optional[Path] = None) -> tuple[DurationsChain, dict[str, int]]:
    """The run's durations/ checkpoint, its refiner/ if trained, its codec (prompts are codes), and `vocoder`,
    else the mel vocoder durations_chain_files names; and their steps."""
    from tts.models.durations import DurationsModel
    from tts.models.refiner import MelRefiner
    from tts.vocode import load_vocoder

    checkpoint = stage_checkpoint(run_dir, "durations")
    recipe = recipe_from_dict(checkpoint["recipe"])
    files = durations_chain_files(run_dir, recipe)
    if (run_dir / "durations_vocoder" / "best.pt").is_file():
        log.warning("%s: durations_vocoder/ is a retired stage's vocoder and is not used; the run speaks through "
                    "vocoder/ (docs/experiments/durations-vocoder.md)", run_dir)
    vocoder = load_vocoder(vocoder or files["vocoder"], device)
    steps = {"durations": int(checkpoint.get("step", 0))}
    refiner = None
    if "refiner" in files:
        refined = stage_checkpoint(run_dir, "refiner")
        refiner, steps["refiner"] = MelRefiner.from_checkpoint(refined).to(device), int(refined.get("step", 0))
    if vocoder.input != "mel":
        raise ValueError(f"{vocoder.source} reads {vocoder.input}, but the durations model's log-mels need a "
                         "vocoder of true log-mels (vocoder.input: mel)")
    # the codec only encodes voice prompts here: a mel-domain codec needs no vocoder of its own
    codec = run_codec(recipe, run_dir, device, checkpoint.get("codec"), with_vocoder=False)
    chain = DurationsChain(recipe, DurationsModel.from_checkpoint(checkpoint).to(device), codec, vocoder, refiner)
    return chain, steps


def ar_chain_files(run_dir: Path, recipe: Recipe) -> dict[str, Path]:
    """The checkpoint file of each model the AR chain of a run folder loads, by the stage folder it comes
    from: ar, nar, a trained codec and the mel vocoder a mel-domain codec decodes through (chain_vocoder,
    codec_vocoder or vocoder)."""
    from tts.checkpoint import find_checkpoint

    return {"ar": find_checkpoint(run_dir / "ar"), "nar": find_checkpoint(run_dir / "nar"),
            **codec_files(run_dir, recipe, with_vocoder=True)}


def durations_chain_files(run_dir: Path, recipe: Recipe) -> dict[str, Path]:
    """The checkpoint file of each model the durations chain of a run folder loads, by the stage folder it
    comes from: durations, its mel refiner once trained (refiner), the vocoder of true log-mels (vocoder); and a
    trained codec."""
    from tts.checkpoint import find_checkpoint

    refiner = run_dir / "refiner" / "best.pt"
    models = {"refiner": refiner} if refiner.is_file() else {}
    return {"durations": find_checkpoint(run_dir / "durations"), **models, "vocoder": run_dir / "vocoder" / "best.pt",
            **codec_files(run_dir, recipe, with_vocoder=False)}


def codec_files(run_dir: Path, recipe: Recipe, with_vocoder: bool) -> dict[str, Path]:
    """The run's trained codec (codec/best.pt) and, `with_vocoder`, the mel vocoder a mel-domain codec decodes
    through (by its stage folder: chain_vocoder, codec_vocoder or vocoder); {} for a pretrained codec."""
    from tts.codec import mel_vocoder_path

    codec_file = run_dir / "codec" / "best.pt"
    if recipe.codec.kind != "trained" or not codec_file.is_file():
        return {}
    files = {"codec": codec_file}
    if with_vocoder and recipe.codec.domain == "mel":
        vocoder = mel_vocoder_path(recipe, run_dir)
        files[vocoder.parent.name if vocoder.parent.parent == run_dir else "codec_vocoder"] = vocoder
    return files


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


def run_codec(recipe: Recipe, run_dir: Path, device: torch.device, trained_on: Optional[dict[str, Any]],
              with_vocoder: bool = True, vocoder: Optional[Path] = None):
    """The codec whose codes the models learned: the run's codec/best.pt, or the recipe's pretrained one
    (`with_vocoder=False`: a mel-domain codec comes without its vocoder; it encodes, it does not decode;
    `vocoder`: the mel vocoder it decodes through instead of the run's)."""
    from tts.codec import codec_from_checkpoint, load_codec, mel_vocoder_path

    if vocoder is not None:  # codec.vocoder names the mel vocoder a mel-domain codec decodes through
        recipe = dataclasses.replace(recipe, codec=dataclasses.replace(recipe.codec, vocoder=str(vocoder)))
    codec_file = run_dir / "codec" / "best.pt"
    if recipe.codec.kind == "trained" and codec_file.is_file():
        codec = codec_from_checkpoint(codec_file, device, vocoder=mel_vocoder_path(recipe, run_dir),
                                      with_vocoder=with_vocoder)
    else:
        codec = load_codec(recipe, device, with_vocoder=with_vocoder)
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


# ---------------------------------------------------------------------- voices


def bundled_voice() -> Path:
    """The folder `tts synthesize` speaks with when given no --model: the one TTS_VOICE names, else the
    voice bundled at data/voice/ of the repository (written by `tts export`)."""
    import os

    import tts

    named = os.environ.get(VOICE_ENV)
    folder = Path(named) if named else Path(tts.__file__).resolve().parents[1] / "data" / "voice"
    if named and not folder.is_dir():
        raise FileNotFoundError(f"{VOICE_ENV}={named} is not a folder: point it at a folder written by "
                                "`tts export RUN OUT`, or unset it")
    if not folder.is_dir():
        raise FileNotFoundError(f"no bundled voice at {folder}: pass --model RUN (a trained run folder or one "
                                f"written by `tts export`), or export a trained run there with `tts export RUN "
                                f"{folder}` (or into any folder that {VOICE_ENV} then names)")
    return folder


def load_voices(folder: Path) -> list[Voice]:
    """The speakers a folder can speak as: an exported folder's voices.json, else the training speakers of a
    run's prepared corpus (each with the recording its prompt is drawn from); [] when it has neither."""
    if (folder / VOICES_FILE).is_file():
        return read_voices(folder)
    if not (folder / "prepared" / "manifest.jsonl").is_file():
        return []
    from tts.data.corpus import PreparedCorpus

    return corpus_voices(PreparedCorpus(folder / "prepared"), speaker_names(run_corpus_root(folder)))


def read_voices(folder: Path) -> list[Voice]:
    """The voices of an exported folder's voices.json, their clips as paths in that folder."""
    import json

    path = folder / VOICES_FILE
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["speakers"]
        return [Voice(str(e["speaker"]), str(e["name"]), folder / e["audio"], str(e["text"]), list(e["phones"]),
                      str(e["utterance"]), float(e["duration"])) for e in entries]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a voices file written by `tts export` ({type(err).__name__}: {err}); "
                         "export the run again") from None


def corpus_voices(corpus, names: dict[str, str]) -> list[Voice]:
    """Each training speaker of a prepared corpus with its reference recording (`reference_record`): the
    recording's path in the corpus it was prepared from, its text and phones; `names` by speaker id."""
    records = corpus.records("train") or corpus.records("all")
    voices = []
    for speaker in sorted({r["speaker"] for r in records}):
        record = reference_record(records, speaker)
        voices.append(Voice(speaker, names.get(speaker, speaker), Path(record.get("audio_path", "")),
                            record["text"], list(record["phones"]), record["id"], float(record["duration"])))
    return voices


def run_corpus_root(run_dir: Path) -> Optional[Path]:
    """The corpus folder a run was prepared from (data.root of its recipe.yaml), or None."""
    from tts.config import load_recipe

    if not (run_dir / "recipe.yaml").is_file():
        return None
    try:
        return Path(load_recipe(run_dir / "recipe.yaml").data.root)
    except (ValueError, FileNotFoundError) as err:
        log.warning("%s: %s; speakers are named by their ids", run_dir / "recipe.yaml", err)
        return None


def speaker_names(corpus_root: Optional[Path]) -> dict[str, str]:
    """Speaker id -> the engine and voice that spoke it ("flite:slt", with any settings in brackets), from the
    speakers.tsv of a corpus made by scripts/make_corpus.py; {} where the corpus has no such table."""
    import csv

    table = corpus_root / "speakers.tsv" if corpus_root is not None else None
    if table is None or not table.is_file():
        return {}
    with open(table, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows or not {"speaker", "engine", "voice"} <= set(rows[0]):
        return {}  # another corpus's speaker table (LibriTTS: READER, GENDER, SUBSET, NAME)
    names = {}
    for row in rows:
        settings = (row.get("settings") or "-").strip()
        names[row["speaker"]] = f"{row['engine']}:{row['voice']}" + ("" if settings in ("", "-") else f"[{settings}]")
    return names
