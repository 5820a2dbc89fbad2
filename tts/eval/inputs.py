"""What `tts eval folder` reads: a folder of x.wav + x.txt, or a manifest (.jsonl or .tsv).

A manifest has one utterance per line (JSON object, or TSV row under a header line) with the
fields audio and text, and optionally id, speaker, reference and prompt; relative paths are
relative to the manifest. Reference and prompt folders hold files named like the audio.

Transcripts and manifests are UTF-8 (a byte-order mark is allowed); a file that is not, or whose
text holds U+FFFD (a character lost in an earlier conversion), stops with an error naming it
rather than being scored against garbled words. An empty transcript is read, logged, and scored
without a WER (tts/eval/score.py marks it unscorable).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from tts.data.readers import decode_text, lost_character

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


def read_text(path: Path) -> str:
    """A UTF-8 text file (BOM allowed); ValueError naming it when it is not UTF-8 or lost a character."""
    text, problem = decode_text(path.read_bytes(), str(path))
    if text is None:
        raise ValueError(f"{problem}. Transcripts and manifests must be UTF-8")
    return text


def _read_pairs(folder: Path) -> list[Item]:
    items, missing, empty = [], [], []
    for audio in sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
        text_file = audio.with_suffix(".txt")
        if text_file.is_file():
            items.append(Item(audio.stem, audio, read_text(text_file).strip()))
            if not items[-1].text:
                empty.append(str(text_file))
        else:
            missing.append(audio.name)
    if missing:
        log.warning("%d audio files have no .txt transcript and are not scored: %s", len(missing), _some(missing))
    _warn_empty(empty)
    return items


def _some(names: list[str]) -> str:
    return ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")


def _warn_empty(empty: list[str]) -> None:
    if empty:
        log.warning("%d empty transcript(s): no WER for them (marked unscorable), their other measures are kept: %s",
                    len(empty), _some(empty))


def _read_manifest(path: Path) -> list[Item]:
    if path.suffix == ".jsonl":
        rows = [_json_row(path, number, line) for number, line in enumerate(read_text(path).splitlines(), 1)
                if line.strip()]
    elif path.suffix == ".tsv":
        lines = [line.split("\t") for line in read_text(path).splitlines() if line.strip()]
        rows = [dict(zip(lines[0], values)) for values in lines[1:]] if lines else []
    else:
        raise ValueError(f"{path}: a manifest must be .jsonl or .tsv (with a header line)")
    items, empty = [], []
    for number, row in enumerate(rows, 1):
        if not row.get("audio") or "text" not in row:
            raise ValueError(f"{path}: entry {number} lacks the 'audio' or 'text' field (has {sorted(row)})")
        if not str(row["text"]).strip():
            empty.append(f"{path} entry {number}")
        audio = path.parent / row["audio"]
        items.append(Item(
            id=str(row.get("id") or Path(row["audio"]).stem), audio=audio, text=str(row["text"]),
            speaker=str(row["speaker"]) if row.get("speaker") not in (None, "") else None,
            reference=path.parent / row["reference"] if row.get("reference") else None,
            prompt=path.parent / row["prompt"] if row.get("prompt") else None))
    _warn_empty(empty)
    return items


def _json_row(path: Path, number: int, line: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} line {number}: not valid JSON ({err.msg})") from None
    if not isinstance(row, dict):
        raise ValueError(f"{path} line {number}: expected a JSON object with audio and text")
    problem = lost_character(str(row.get("text", "")), f"{path} line {number}")
    if problem:  # a JSON escape \ufffd: the character was lost before the file was written
        raise ValueError(f"{problem}. Transcripts and manifests must be UTF-8")
    return row


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
