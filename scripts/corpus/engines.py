"""How each speech engine is called: texts and output paths in, "" or what went wrong out.

A synthesizer writes one wav per text at the engine's own rate; synthesis.py converts them to the corpus
format. A failure is reported, not raised, so that a job goes on with its other sentences.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from corpus.voices import Voice

Synthesizer = Callable[[Voice, list[str], list[Path]], str]  # (voice, texts, wav paths) -> "" or an error


def run_engine(command: list[str], timeout: float) -> str:
    """Run an engine; '' on success, else what went wrong (the job goes on with the next sentence)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as err:
        return str(err)
    return "" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-300:]}"


def synthesize_flite(voice: Voice, texts: list[str], paths: list[Path]) -> str:
    options = [arg for key, value in voice.settings for arg in ("--setf", f"{key}={value}")]
    errors = [run_engine(["flite", "-voice", voice.name, *options, "-t", text, "-o", str(path)], 120)
              for text, path in zip(texts, paths)]
    return "; ".join(e for e in errors if e)


def synthesize_espeak(voice: Voice, texts: list[str], paths: list[Path]) -> str:
    options = [arg for pair in voice.settings for arg in pair]
    errors = [run_engine(["espeak-ng", "-v", voice.name, *options, "-w", str(path), text], 120)
              for text, path in zip(texts, paths)]
    return "; ".join(e for e in errors if e)


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def synthesize_festival(voice: Voice, texts: list[str], paths: list[Path]) -> str:
    # one festival process for the whole job: starting festival costs ~0.3 s
    lines = [f"(voice_{voice.name})"]
    lines += [f"(Parameter.set '{key} {value})" for key, value in voice.settings]
    lines += [f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) {_scheme_string(str(path))} 'riff)"
              for text, path in zip(texts, paths)]
    script = paths[0].parent / "job.scm"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run_engine(["festival", "-b", str(script)], 60 + 30 * len(texts))


SYNTHESIZERS: dict[str, Synthesizer] = {
    "flite": synthesize_flite, "festival": synthesize_festival, "espeak-ng": synthesize_espeak,
}
