"""Corpus readers: each turns one on-disk layout into utterances, and its problems into drop records.

A reader never raises for a bad utterance: a transcript with no audio, audio with no transcript
and a transcript that cannot be read or decoded each become a `Drop` with a reason code, and
reading goes on. Only a corpus that cannot be read at all (no root, a manifest without the
`audio` and `text` columns) raises `ValueError`/`FileNotFoundError`.

Transcripts are read as UTF-8 (a byte-order mark is allowed). A transcript that is not valid
UTF-8 is dropped with reason `bad_encoding` rather than guessed at: a wrong guess would teach
the model wrong text without anyone noticing. The detail names the offending byte; convert the
file (e.g. `iconv -f latin1 -t utf-8`) and prepare again. A transcript holding U+FFFD, the
replacement character that an earlier conversion left where it lost a byte, is dropped the same
way (by every reader, whether the character came as UTF-8 bytes or as a JSON escape): its word
can no longer be read. In files that hold many transcripts (LJSpeech's metadata.csv, a manifest)
only the affected lines are dropped.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Union

from tts.config import DataConfig

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")

# Every reason an utterance can be dropped for, with what it means (written into the docs and
# used to check that a drop names a known reason).
REASONS: dict[str, str] = {
    "missing_audio": "a transcript whose audio file does not exist",
    "missing_transcript": "an audio file with no transcript",
    "unreadable_transcript": "a transcript file that exists but cannot be read",
    "bad_encoding": "a transcript that is not valid UTF-8, or holds U+FFFD (a character lost in a conversion)",
    "bad_manifest_line": "a manifest line that cannot be parsed or lacks audio/text",
    "duplicate_id": "a second utterance with an id already seen",
    "unreadable_audio": "an audio file that cannot be decoded (corrupt, truncated, not audio)",
    "empty_audio": "an audio file with no samples (zero-length file or empty after trimming)",
    "low_sample_rate": "audio recorded below data.min_sample_rate",
    "empty_text": "an empty transcript",
    "unspeakable_text": "text that the front end cannot turn into words",
    "g2p_failed": "the grapheme-to-phoneme converter failed",
    "silent": "audio quieter than data.silence_db (RMS, dBFS)",
    "clipped": "more than data.clip_fraction of the samples at full scale",
    "too_short": "shorter than data.min_duration after trimming",
    "too_long": "longer than data.max_duration after trimming",
    "too_few_phones": "fewer phone tokens than data.min_phones",
    "too_many_phones": "more phone tokens than data.max_phones",
}


@dataclass(frozen=True)
class Utterance:
    """One utterance as a corpus lists it: raw transcript and where its audio is."""

    id: str
    speaker: str
    text: str
    audio_path: str


@dataclass(frozen=True)
class Drop:
    """An utterance left out, and why (reason is a key of REASONS)."""

    id: str
    speaker: str
    audio_path: str
    reason: str
    detail: str

    def __post_init__(self) -> None:
        assert self.reason in REASONS, self.reason


Item = Union[Utterance, Drop]


# --------------------------------------------------------------------------- transcripts


REPLACEMENT_CHARACTER = "\ufffd"


def decode_text(raw: bytes, where: str) -> tuple[str | None, str]:
    """UTF-8 text (BOM allowed) or (None, a detail naming the first bad byte or the lost character)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        byte = raw[err.start:err.start + 1].hex()
        return None, (f"{where}: byte 0x{byte} at offset {err.start} is not UTF-8; "
                      "convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)")
    detail = lost_character(text, where)
    return (None, detail) if detail else (text, "")


def lost_character(text: str, where: str) -> str:
    """A detail naming the first U+FFFD in `text` (a byte lost in an earlier conversion), or ""."""
    at = text.find(REPLACEMENT_CHARACTER)
    if at < 0:
        return ""
    return (f"{where}: U+FFFD, the replacement character that a conversion leaves where it lost a byte, at "
            f"character {at} ({text[max(0, at - 20):at + 20]!r}); restore the text from its source and prepare again")


def _read_transcript(path: Path, utt_id: str, speaker: str, audio: str) -> Item | str:
    """The text of a one-utterance transcript file, or a Drop."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        return Drop(utt_id, speaker, audio, "unreadable_transcript", f"{path}: {err.strerror or err}")
    text, detail = decode_text(raw, str(path))
    if text is None:
        return Drop(utt_id, speaker, audio, "bad_encoding", detail)
    return " ".join(text.split())


def _split_lines(raw: bytes) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line bytes without the newline), skipping blank lines."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for number, line in enumerate(raw.splitlines(), start=1):
        if line.strip():
            yield number, line


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def _require_dir(root: Path, what: str) -> None:
    if not root.is_dir():
        raise FileNotFoundError(f"{what} corpus folder {root} does not exist (data.root)")


# --------------------------------------------------------------------------- LJSpeech


def read_ljspeech(root: Path) -> Iterator[Item]:
    """LJSpeech: metadata.csv lines `id|text|normalized text`, audio in wavs/<id>.wav; one speaker "LJ"."""
    _require_dir(root, "LJSpeech")
    metadata = root / "metadata.csv"
    if not metadata.is_file():
        raise FileNotFoundError(f"LJSpeech corpus {root} has no metadata.csv")
    speaker, listed = "LJ", set()
    for number, line in _split_lines(metadata.read_bytes()):
        where = f"{metadata} line {number}"
        text, detail = decode_text(line, where)
        utt_id = line.split(b"|", 1)[0].decode("ascii", "replace").strip()
        audio = root / "wavs" / f"{utt_id}.wav"
        if text is None:
            listed.add(utt_id)
            yield Drop(utt_id, speaker, str(audio), "bad_encoding", detail)
            continue
        fields = text.split("|")
        if len(fields) < 2 or not fields[0].strip():
            yield Drop(f"{metadata.name}:{number}", speaker, "", "bad_manifest_line",
                       f"{where}: expected 'id|text|normalized text', got {text[:60]!r}")
            continue
        listed.add(utt_id)
        # the third column spells out numbers and abbreviations; use it when present
        chosen = fields[2] if len(fields) >= 3 and fields[2].strip() else fields[1]
        if not audio.is_file():
            yield Drop(utt_id, speaker, str(audio), "missing_audio", f"{where}: {audio} does not exist")
            continue
        yield Utterance(utt_id, speaker, " ".join(chosen.split()), str(audio))
    wavs = root / "wavs"
    for audio in _audio_files(wavs) if wavs.is_dir() else []:
        if audio.stem not in listed:
            yield Drop(audio.stem, speaker, str(audio), "missing_transcript",
                       f"{audio.name} is not listed in {metadata}")


# --------------------------------------------------------------------------- LibriTTS


def read_libritts(root: Path, text_kind: str = "normalized") -> Iterator[Item]:
    """LibriTTS: <speaker>/<chapter>/<id>.wav with <id>.normalized.txt and <id>.original.txt.

    `root` may be one subset (train-clean-100) or a folder holding several; the speaker is the
    folder two levels above each file. Files less than two folders deep are not utterances.
    """
    _require_dir(root, "LibriTTS")
    suffix = f".{text_kind}.txt"
    seen_audio: set[Path] = set()

    def in_chapter(path: Path) -> bool:  # files outside <speaker>/<chapter>/ (e.g. extras) are not utterances
        return len(path.relative_to(root).parts) >= 3

    for transcript in sorted(filter(in_chapter, root.rglob(f"*{suffix}"))):
        utt_id = transcript.name[: -len(suffix)]
        speaker = transcript.parent.parent.name
        audio = transcript.with_name(utt_id + ".wav")
        if not audio.is_file():
            yield Drop(utt_id, speaker, str(audio), "missing_audio", f"{transcript}: {audio.name} does not exist")
            continue
        seen_audio.add(audio)
        item = _read_transcript(transcript, utt_id, speaker, str(audio))
        yield item if isinstance(item, Drop) else Utterance(utt_id, speaker, item, str(audio))
    for audio in sorted(filter(in_chapter, root.rglob("*.wav"))):
        if audio not in seen_audio:
            other = "original" if text_kind == "normalized" else "normalized"
            hint = (f" (there is a .{other}.txt; set data.libritts_text: {other})"
                    if audio.with_name(f"{audio.stem}.{other}.txt").is_file() else "")
            yield Drop(audio.stem, audio.parent.parent.name, str(audio), "missing_transcript",
                       f"{audio} has no {audio.stem}{suffix}{hint}")


# --------------------------------------------------------------------------- VCTK


def read_vctk(root: Path, mic: str = "mic1") -> Iterator[Item]:
    """VCTK 0.92: txt/<spk>/<id>.txt and wav48_silence_trimmed/<spk>/<id>_<mic>.flac."""
    _require_dir(root, "VCTK")
    txt_root, wav_root = root / "txt", root / "wav48_silence_trimmed"
    if not txt_root.is_dir() and not wav_root.is_dir():
        raise FileNotFoundError(f"VCTK corpus {root} has neither txt/ nor wav48_silence_trimmed/")
    seen_audio: set[Path] = set()
    for transcript in sorted(txt_root.glob("*/*.txt")) if txt_root.is_dir() else []:
        speaker, utt_id = transcript.parent.name, transcript.stem
        audio = wav_root / speaker / f"{utt_id}_{mic}.flac"
        if not audio.is_file():
            yield Drop(utt_id, speaker, str(audio), "missing_audio", f"{transcript}: {audio} does not exist")
            continue
        seen_audio.add(audio)
        item = _read_transcript(transcript, utt_id, speaker, str(audio))
        yield item if isinstance(item, Drop) else Utterance(utt_id, speaker, item, str(audio))
    for audio in sorted(wav_root.glob(f"*/*_{mic}.flac")) if wav_root.is_dir() else []:
        if audio not in seen_audio:
            utt_id = audio.stem[: -len(mic) - 1]
            yield Drop(utt_id, audio.parent.name, str(audio), "missing_transcript",
                       f"{audio} has no {txt_root / audio.parent.name / (utt_id + '.txt')}")


# --------------------------------------------------------------------------- generic manifest


def _manifest_rows(path: Path) -> Iterator[tuple[int, dict | None, str, str]]:
    """(line number, row, "", "") or (line number, None, reason, detail) for each non-blank line."""
    lines = list(_split_lines(path.read_bytes()))
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        for number, line in lines:
            text, detail = decode_text(line, f"{path} line {number}")
            if text is None:
                yield number, None, "bad_encoding", detail
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as err:
                yield number, None, "bad_manifest_line", f"{path} line {number}: not valid JSON ({err.msg})"
                continue
            if not isinstance(row, dict):
                yield number, None, "bad_manifest_line", f"{path} line {number}: expected a JSON object"
                continue
            yield number, row, "", ""
        return
    if suffix not in (".csv", ".tsv"):
        raise ValueError(f"manifest {path}: unknown format '{suffix}'; use .csv, .tsv or .jsonl")
    delimiter = "\t" if suffix == ".tsv" else ","
    if not lines:
        raise ValueError(f"manifest {path} is empty; its first line must name the columns (audio, text, speaker)")
    header_text, detail = decode_text(lines[0][1], f"{path} line {lines[0][0]}")
    if header_text is None:
        raise ValueError(detail)
    header = next(csv.reader([header_text], delimiter=delimiter))
    header = [h.strip() for h in header]
    missing = {"audio", "text"} - set(header)
    if missing:
        raise ValueError(f"manifest {path} line {lines[0][0]}: header {header} lacks "
                         f"{sorted(missing)}; the columns are audio, text and optional speaker, id")
    for number, line in lines[1:]:
        text, detail = decode_text(line, f"{path} line {number}")
        if text is None:
            yield number, None, "bad_encoding", detail
            continue
        values = next(csv.reader(io.StringIO(text), delimiter=delimiter))
        if len(values) != len(header):
            yield number, None, "bad_manifest_line", (f"{path} line {number}: {len(values)} fields, the header has "
                                 f"{len(header)} ({delimiter!r}-separated; quote text that contains it)")
            continue
        yield number, dict(zip(header, values)), "", ""


def read_manifest(path: Path) -> Iterator[Item]:
    """A manifest (CSV/TSV with a header, or JSONL) with columns audio, text, optional speaker and id.

    Audio paths are relative to the manifest's folder (absolute ones are used as they are). The
    id defaults to the audio path without its suffix, the speaker to "default".
    """
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} does not exist (data.root must name the manifest file)")
    base = path.parent
    for number, row, reason, detail in _manifest_rows(path):
        line_id = f"{path.name}:{number}"
        if row is None:
            yield Drop(line_id, "", "", reason, detail)
            continue
        audio_value = str(row.get("audio") or "").strip()
        text = row.get("text")
        speaker = str(row.get("speaker") or "default").strip() or "default"
        if not audio_value or text is None or not isinstance(text, str):
            yield Drop(line_id, speaker, audio_value, "bad_manifest_line",
                       f"{path} line {number}: needs a non-empty 'audio' and a string 'text'")
            continue
        lost = lost_character(text, f"{path} line {number}")  # a JSON escape \ufffd is not seen in the bytes
        if lost:
            yield Drop(line_id, speaker, audio_value, "bad_encoding", lost)
            continue
        audio = Path(audio_value) if Path(audio_value).is_absolute() else base / audio_value
        utt_id = str(row.get("id") or "").strip() or str(Path(audio_value).with_suffix("")).replace("\\", "/")
        if not audio.is_file():
            yield Drop(utt_id, speaker, str(audio), "missing_audio", f"{path} line {number}: {audio} does not exist")
            continue
        yield Utterance(utt_id, speaker, " ".join(text.split()), str(audio))


# --------------------------------------------------------------------------- folder of pairs


def read_folder(root: Path) -> Iterator[Item]:
    """A folder of x.wav + x.txt pairs; the speaker is the first sub-folder's name, or "default"."""
    _require_dir(root, "folder")

    def speaker_of(path: Path) -> str:
        parts = path.relative_to(root).parts
        return parts[0] if len(parts) > 1 else "default"

    def id_of(path: Path) -> str:
        return path.relative_to(root).with_suffix("").as_posix()

    with_audio: set[Path] = set()
    for audio in _audio_files(root):
        transcript = audio.with_suffix(".txt")
        utt_id, speaker = id_of(audio), speaker_of(audio)
        if not transcript.is_file():
            yield Drop(utt_id, speaker, str(audio), "missing_transcript", f"{audio} has no {transcript.name}")
            continue
        with_audio.add(transcript)
        item = _read_transcript(transcript, utt_id, speaker, str(audio))
        yield item if isinstance(item, Drop) else Utterance(utt_id, speaker, item, str(audio))
    for transcript in sorted(root.rglob("*.txt")):
        if transcript not in with_audio:
            yield Drop(id_of(transcript), speaker_of(transcript), "", "missing_audio",
                       f"{transcript} has no audio file ({', '.join(AUDIO_SUFFIXES)}) of the same name")


# --------------------------------------------------------------------------- dispatch


def reader_for(data: DataConfig) -> Callable[[], Iterator[Item]]:
    """The reader the recipe names, bound to its root and options."""
    root = Path(data.root)
    readers: dict[str, Callable[[], Iterator[Item]]] = {
        "ljspeech": lambda: read_ljspeech(root),
        "libritts": lambda: read_libritts(root, data.libritts_text),
        "vctk": lambda: read_vctk(root, data.vctk_mic),
        "manifest": lambda: read_manifest(root),
        "folder": lambda: read_folder(root),
    }
    return readers[data.reader]


def read_corpus(data: DataConfig) -> tuple[list[Utterance], list[Drop], int]:
    """All utterances (sorted by id, ids unique), the drops, and how many data.speakers left out."""
    utterances: dict[str, Utterance] = {}
    drops: list[Drop] = []
    wanted = set(data.speakers)
    left_out = 0
    for item in reader_for(data)():
        if wanted and item.speaker not in wanted:
            left_out += 1
            continue
        if isinstance(item, Drop):
            drops.append(item)
        elif item.id in utterances:
            drops.append(Drop(item.id, item.speaker, item.audio_path, "duplicate_id",
                              f"id {item.id!r} also names {utterances[item.id].audio_path}"))
        else:
            utterances[item.id] = item
    return [utterances[k] for k in sorted(utterances)], drops, left_out
