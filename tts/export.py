"""A trained run exported as a voice: what synthesis needs from it and nothing else.

    export_run(Path("runs/offline"), Path("data/voice"))   # `tts export runs/offline data/voice`

`synthesis` overrides (`--set synthesis.pace=1.08`) change the voice's decoding defaults, in recipe.yaml and in
every checkpoint's recipe (which synthesis reads); the models' other keys are what they were trained with.

The exported folder has a run's layout, so that tts/loading.py loads it as it loads a run:

    recipe.yaml            the resolved recipe of the chain's main model
    export.json            the chain, the weights' dtype, and each model's file, step and size
    <stage>/best.pt        one weights-only checkpoint per model the chain loads (tts.loading.ar_chain_files,
                           durations_chain_files): stage, step, recipe, phone inventory, settings and the
                           inference module alone (no optimiser, scheduler, random state, discriminator or
                           the codebooks' EMA running sums), and the storage of its weights (tts.models.storage)
    voices.json            each training speaker: engine and voice name, reference clip, its text and phones
    speakers/<id>.wav      the reference clip: the training recording a prompt of that speaker is drawn from
                           (tts.synthesize.reference_record), as prepared, 16-bit

Weights are stored as fp16 (half the size), fp32, or int8 (about a quarter: the weight matrices as int8 with a
scale per row, the rest as fp16; tts/models/storage.py); loading brings them back to the models' fp32 parameters.
The exported checkpoints record the digest of the exported codec file as the codec they learned, so the
loader's check that models and codec belong together holds for the folder as it held for the run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tts.models.codec_model import without_running_sums
from tts.models.storage import STORAGES, store

log = logging.getLogger(__name__)

EXPORT_FILE = "export.json"
# what a checkpoint keeps: what the loaders read, and where it came from; training state stays behind
INFERENCE_KEYS = ("stage", "step", "recipe", "symbols", "versions", "model_config", "codec", "audio",
                  "vocoder_input", "hop_length")
INFERENCE_MODULES = ("model", "generator")  # the discriminators only train
SPEAKERS_FOLDER = "speakers"


@dataclasses.dataclass(frozen=True)
class ExportedFile:
    """One file of an export: its path in the folder, its size and, for a model, the step it was trained to and
    the storage of its weights (fp16, fp32 or int8)."""

    path: str
    bytes: int
    step: int | None = None
    dtype: str | None = None


@dataclasses.dataclass(frozen=True)
class Export:
    """What `export_run` wrote."""

    folder: Path
    chain: str  # "ar" or "durations"
    dtype: str
    files: list[ExportedFile]

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)


def export_run(run_dir: Path, out: Path, dtype: str = "fp16", synthesis: Sequence[str] = ()) -> Export:
    """Export the chain a run folder speaks through (as tts.loading.load_run loads it) and its speakers into `out`.

    The run is loaded first, so a missing model or a codec that is not the models' own is refused with the
    loader's error. `out` must not exist, be empty, or be an earlier export (it is replaced whole). `synthesis`:
    `synthesis.KEY=VALUE` overrides of the decoding defaults the voice speaks with.
    """
    from tts.loading import ar_chain_files, durations_chain_files, load_run
    from tts.synthesize import ARChain

    if dtype not in STORAGES:
        raise ValueError(f"--dtype {dtype!r}: use {', '.join(STORAGES)}")
    run_dir, out = Path(run_dir), Path(out)
    _check_output(run_dir, out)
    _check_synthesis_keys(synthesis)  # before the run loads; values are checked against its recipe
    try:
        chain, corpus, steps, voices = load_run(run_dir)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"cannot export {run_dir}: {err}") from None
    recipe = dataclasses.replace(chain.recipe, synthesis=_synthesis_defaults(chain.recipe, synthesis))
    is_ar = isinstance(chain, ARChain)
    files = (ar_chain_files if is_ar else durations_chain_files)(run_dir, recipe)
    if recipe.codec.kind == "trained" and "codec" not in files:
        raise FileNotFoundError(f"{run_dir} has no codec/best.pt: the exported folder must hold the trained codec "
                                "its models learned (it encodes voice prompts); train it with `tts train <recipe> "
                                "--stage codec`")
    staging = out.with_name(f".{out.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)  # left by an export that was killed
    staging.mkdir(parents=True)
    written = _write_models(files, staging, dtype, dataclasses.asdict(recipe.synthesis))
    _write_recipe(recipe, staging)
    written += _write_voices(staging, run_dir, corpus, voices, recipe)
    export = Export(out, "ar" if is_ar else "durations", dtype, written)
    (staging / EXPORT_FILE).write_text(json.dumps(
        {"format": 1, "chain": export.chain, "dtype": dtype, "run": str(run_dir), "steps": steps,
         "synthesis_set": list(synthesis), "files": [dataclasses.asdict(f) for f in written]}, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)  # an earlier export (checked above)
    staging.rename(out)
    log.info("exported %s (%s, %s) into %s: %.1f MB", run_dir, export.chain, dtype, out, export.total_bytes / 1e6)
    return export


def _check_output(run_dir: Path, out: Path) -> None:
    """ValueError unless `out` can take an export: new, empty, or an earlier export; never the run itself."""
    if out.resolve() == run_dir.resolve() or run_dir.resolve() in out.resolve().parents:
        raise ValueError(f"export into {out}: choose a folder outside the run {run_dir}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"export into {out}: it is a file; choose a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / EXPORT_FILE).is_file():
        raise ValueError(f"export into {out}: the folder holds other files (it is not an earlier export); "
                         "choose a new or empty folder")


def _check_synthesis_keys(overrides: Sequence[str]) -> None:
    """ValueError for an override that is not `synthesis.KEY=VALUE` (the models were trained with their keys)."""
    from tts.config import parse_override

    for text in overrides:
        if not parse_override(text)[0].startswith("synthesis."):
            raise ValueError(f"--set {text}: an export changes only decoding defaults (synthesis.KEY=VALUE, e.g. "
                             "synthesis.pace=1.1); the models keep the recipe they were trained with")


def _synthesis_defaults(recipe: Any, overrides: Sequence[str]) -> Any:
    """The recipe's synthesis section with `synthesis.KEY=VALUE` overrides (_check_synthesis_keys), typed and
    checked; ValueError naming an unknown key or a bad value."""
    from tts.config import ConfigError, recipe_from_dict

    try:
        return recipe_from_dict({"synthesis": dataclasses.asdict(recipe.synthesis)}, list(overrides)).synthesis
    except ConfigError as err:
        raise ValueError(str(err)) from None


def _write_models(files: dict[str, Path], folder: Path, dtype: str, synthesis: dict[str, Any]) -> list[ExportedFile]:
    """Each model's checkpoint, weights only, into <folder>/<stage>/best.pt, its recipe's synthesis section
    `synthesis`; the codec first, so that the others can name its file's digest as the codec they learned."""
    from tts.checkpoint import read_checkpoint, save_checkpoint
    from tts.codec import CHECKPOINT_DIGEST
    from tts.data.store import file_digest

    written, digest = [], None
    for stage in sorted(files, key=lambda name: name != "codec"):
        checkpoint = weights_only(read_checkpoint(files[stage]), dtype)
        checkpoint["recipe"] = {**checkpoint["recipe"], "synthesis": synthesis}
        codec = checkpoint.get("codec")
        if digest and isinstance(codec, dict) and codec.get(CHECKPOINT_DIGEST):
            checkpoint["codec"] = {**codec, CHECKPOINT_DIGEST: digest}
        path = folder / stage / "best.pt"
        save_checkpoint(checkpoint, path)
        if stage == "codec":
            digest = file_digest(path)
        written.append(ExportedFile(f"{stage}/best.pt", path.stat().st_size, int(checkpoint.get("step", 0)), dtype))
    return written


def weights_only(checkpoint: dict[str, Any], dtype: str = "fp16") -> dict[str, Any]:
    """A checkpoint for synthesis alone: the keys the loaders read and the inference module's weights (a codec's
    without its codebooks' running sums), stored as `dtype` (fp16, fp32 or int8: tts.models.storage); the recipe's
    codec.vocoder and codec.checkpoint cleared (the export holds them)."""
    kept = {key: checkpoint[key] for key in INFERENCE_KEYS if key in checkpoint}
    modules = {name: without_running_sums(state) for name, state in checkpoint["modules"].items()
               if name in INFERENCE_MODULES}
    if not modules:
        raise ValueError(f"a checkpoint of stage {checkpoint.get('stage')!r} holds none of the modules "
                         f"{INFERENCE_MODULES} (it has {sorted(checkpoint['modules'])})")
    stored = {name: store(state, dtype) for name, state in modules.items()}  # name -> (state, scales)
    kept["storage"] = dtype
    kept["modules"] = {name: state for name, (state, _) in stored.items()}
    if dtype == "int8":
        kept["scales"] = {name: scales for name, (_, scales) in stored.items()}
    recipe = dict(kept["recipe"])
    codec = dict(recipe.get("codec") or {})
    if codec.get("kind", "trained") == "trained":
        codec.update(vocoder=None, checkpoint=None)  # the codec and its vocoder lie in the exported folder
    kept["recipe"] = {**recipe, "codec": codec}
    return kept


def _write_recipe(recipe, folder: Path) -> None:
    """recipe.yaml: the chain's resolved recipe, its codec and codec vocoder those of the folder."""
    if recipe.codec.kind == "trained":
        recipe = dataclasses.replace(recipe, codec=dataclasses.replace(recipe.codec, vocoder=None, checkpoint=None))
    from tts.config import save_recipe

    save_recipe(recipe, folder / "recipe.yaml")


def _write_voices(folder: Path, run_dir: Path, corpus, voices: list, recipe) -> list[ExportedFile]:
    """voices.json and speakers/<id>.wav: from the run's prepared corpus, or copied from an exported run."""
    import soundfile

    from tts.loading import VOICES_FILE, corpus_voices, speaker_names

    entries, written = [], []
    if corpus is not None:
        voices = corpus_voices(corpus, speaker_names(Path(recipe.data.root)))
        records = {r["id"]: r for r in corpus.records("all")}
    elif not voices:
        log.warning("%s has no prepared corpus (prepared/manifest.jsonl): the export has no speakers, and speaks "
                    "without a voice prompt unless given one", run_dir)
    for n, voice in enumerate(voices):
        path = folder / SPEAKERS_FOLDER / f"{_file_name(voice.speaker)}.wav"
        if path.exists():  # two ids that make the same file name
            path = path.with_name(f"{path.stem}-{n}.wav")
        path.parent.mkdir(parents=True, exist_ok=True)
        if not 2.0 <= voice.duration <= 4.0:
            log.warning("speaker %s: no training recording of 2-4 s; its reference clip is %.1f s (%s)",
                        voice.speaker, voice.duration, voice.utterance)
        if corpus is not None:
            wav = corpus.audio(records[voice.utterance])  # (S,) float32: the stored int16 / 32768
            pcm = np.round(wav * 32768.0).clip(-32768, 32767).astype(np.int16)  # the stored samples exactly
            soundfile.write(path, pcm, corpus.sample_rate, subtype="PCM_16")
        else:
            shutil.copyfile(voice.audio, path)
        relative = path.relative_to(folder).as_posix()
        entries.append({"speaker": voice.speaker, "name": voice.name, "audio": relative, "text": voice.text,
                        "phones": list(voice.phones), "utterance": voice.utterance,
                        "duration": round(voice.duration, 3)})
        written.append(ExportedFile(relative, path.stat().st_size))
    if entries:  # one speaker a line
        lines = ",\n    ".join(json.dumps(entry, ensure_ascii=False) for entry in entries)
        (folder / VOICES_FILE).write_text(f'{{"format": 1, "sample_rate": {recipe.audio.sample_rate}, "speakers": [\n'
                                          f"    {lines}\n]}}\n", encoding="utf-8")
    return written


def _file_name(speaker: str) -> str:
    """A speaker id as a file name (ids are corpus folder names, but a manifest may hold any text)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", speaker) or "speaker"
