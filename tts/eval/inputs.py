"""What `tts eval folder` reads: a folder of x.wav + x.txt, or a manifest (.jsonl or .tsv).

A manifest has one utterance per line (JSON object, or TSV row under a header line) with the
fields audio and text, and optionally id, speaker, reference and prompt; relative paths are
relative to the manifest. Reference and prompt folders hold files named like the audio.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
MANIFEST_NAMES = ("manifest.jsonl", "manifest.tsv")


@dataclass(frozen=True)
class Item:
    """One utterance of a folder to score."""

    id: str
    audio: Path
    text: str
    speaker: str | None = None
    reference: Path | None = None
    prompt: Path | None = None


def read_items(folder: str | Path, reference: str | Path | None = None,
               prompts: str | Path | None = None) -> list[Item]:
    """Utterances of a folder (x.wav + x.txt), a manifest (.jsonl/.tsv) or a folder holding one.

    A manifest has the fields audio and text, optionally id, speaker, reference and prompt;
    relative paths are relative to the manifest. `reference` / `prompts` folders hold files with
    the same names as the audio and take precedence over manifest fields.
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{folder} does not exist")
    manifest = folder if folder.is_file() else next(
        (folder / name for name in MANIFEST_NAMES if (folder / name).is_file()), None)
    items = _read_manifest(manifest) if manifest is not None else _read_pairs(folder)
    if not items:
        raise ValueError(f"{folder}: nothing to score; give a folder of x.wav with x.txt transcripts "
                         f"or a manifest ({' or '.join(MANIFEST_NAMES)}) with audio and text fields")
    for option, field in ((reference, "reference"), (prompts, "prompt")):
        if option is not None:
            items = _attach(items, Path(option), field)
    return items


def _read_pairs(folder: Path) -> list[Item]:
    items, missing = [], []
    for audio in sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
        text_file = audio.with_suffix(".txt")
        if text_file.is_file():
            items.append(Item(audio.stem, audio, text_file.read_text(encoding="utf-8").strip()))
        else:
            missing.append(audio.name)
    if missing:
        log.warning("%d audio files have no .txt transcript and are not scored: %s", len(missing),
                    ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
    return items


def _read_manifest(path: Path) -> list[Item]:
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif path.suffix == ".tsv":
        lines = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = [dict(zip(lines[0], values)) for values in lines[1:]] if lines else []
    else:
        raise ValueError(f"{path}: a manifest must be .jsonl or .tsv (with a header line)")
    items = []
    for number, row in enumerate(rows, 1):
        if not row.get("audio") or "text" not in row:
            raise ValueError(f"{path}: entry {number} lacks the 'audio' or 'text' field (has {sorted(row)})")
        audio = path.parent / row["audio"]
        items.append(Item(
            id=str(row.get("id") or Path(row["audio"]).stem), audio=audio, text=str(row["text"]),
            speaker=str(row["speaker"]) if row.get("speaker") not in (None, "") else None,
            reference=path.parent / row["reference"] if row.get("reference") else None,
            prompt=path.parent / row["prompt"] if row.get("prompt") else None))
    return items


def _attach(items: list[Item], folder: Path, field: str) -> list[Item]:
    """Point each item at the file of the same name in `folder` (any audio suffix)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{field} folder {folder} does not exist")
    found = {p.stem: p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES}
    missing = [item.audio.stem for item in items if item.audio.stem not in found]
    if len(missing) == len(items):
        raise FileNotFoundError(f"no {field} in {folder} has the name of an utterance "
                                f"(looked for {', '.join(missing[:3])}, ...)")
    if missing:
        log.warning("%d utterances have no %s in %s: %s", len(missing), field, folder, ", ".join(missing[:5]))
    return [dataclasses.replace(item, **{field: found.get(item.audio.stem)}) for item in items]
