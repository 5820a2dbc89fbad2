"""Evaluation inputs never turn into a wrong number: a transcript that is not UTF-8 is named, an empty one is
reported as unscorable while the rest is scored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from tts.cli import app


def tone(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 3 * t)).astype(np.float32), rate)
    return path


def test_a_latin1_transcript_is_named(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    tone(folder / "a.wav")
    (folder / "a.txt").write_bytes("Caf\u00e9 au lait.".encode("latin-1"))
    result = CliRunner().invoke(app, ["eval", "folder", str(folder)])
    assert result.exit_code != 0
    assert str(folder / "a.txt") in result.output and "UTF-8" in result.output
    assert (folder / "a.txt").read_bytes() == "Caf\u00e9 au lait.".encode("latin-1")  # left as it was

    manifest = tmp_path / "manifest.tsv"
    manifest.write_bytes("audio\ttext\nout/a.wav\tCaf\u00e9.\n".encode("latin-1"))
    result = CliRunner().invoke(app, ["eval", "folder", str(manifest)])
    assert result.exit_code != 0 and str(manifest) in result.output and "UTF-8" in result.output


def test_an_empty_transcript_is_unscorable_not_a_number(tmp_path, caplog):
    folder = tmp_path / "out"
    folder.mkdir()
    tone(folder / "empty.wav")
    (folder / "empty.txt").write_text("  \n")
    tone(folder / "words.wav", seconds=1.5)
    (folder / "words.txt").write_text("She opened the door.\n")
    output = tmp_path / "result.json"
    result = CliRunner().invoke(app, ["eval", "folder", str(folder), "--output", str(output)])
    assert result.exit_code == 0, result.output
    data = json.loads(output.read_text())
    by_id = {u["id"]: u for u in data["utterances"]}
    assert by_id["empty"]["wer"] is None and by_id["empty"]["errors"] is None
    assert "no words" in by_id["empty"]["unscorable"] and by_id["empty"]["audio"] == str(folder / "empty.wav")
    assert any(str(folder / "empty.txt") in r.getMessage() and "empty" in r.getMessage() for r in caplog.records)
    assert by_id["empty"]["seconds"] > 0  # its other measures are still there
    words = by_id["words"]
    assert words["reference_words"] == 4 and isinstance(words["wer"], float)
    total = data["aggregate"]
    assert total["utterances"] == 2 and total["unscorable"] == 1
    assert total["reference_words"] == 4 and total["wer"] == words["wer"]
    assert "unscorable" in result.output
