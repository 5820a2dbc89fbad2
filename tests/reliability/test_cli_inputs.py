"""Bad inputs to the command line and to recipes: a clear error (no traceback) before any work, nothing written
where it should not be, and no silent wrong result."""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tts.cli import app

REPOSITORY = Path(__file__).resolve().parents[2]
DEMO = str(REPOSITORY / "recipes" / "demo.yaml")


def _no_model_load(monkeypatch):
    """Make loading a run fail loudly, so that a check that must come first is seen to come first."""
    from tts.synthesize import Synthesizer

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr(Synthesizer, "from_run", classmethod(refuse))


def _clear_error(result, *words: str, code: int | None = None) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code != 0 if code is None else result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, (word, result.output)


@pytest.mark.parametrize("name", ["folder", "notes.txt", "speech.mp3x"])
def test_synthesize_output_path_is_checked_before_any_work(tmp_path, monkeypatch, name):
    _no_model_load(monkeypatch)
    out = tmp_path / name
    if name == "folder":
        out.mkdir()
        (out / "keep.wav").write_bytes(b"RIFF")
    result = CliRunner().invoke(app, ["synthesize", "Hello there.", str(out), "--model", str(tmp_path)])
    _clear_error(result, str(out), ".wav", ".flac", ".ogg", code=2)
    if name == "folder":
        assert sorted(p.name for p in out.iterdir()) == ["keep.wav"]
    else:
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["folder"] if name == "folder" else [])


def test_synthesize_batch_output_that_is_a_file_is_refused_before_any_work(tmp_path, monkeypatch):
    _no_model_load(monkeypatch)
    lines, out = tmp_path / "lines.txt", tmp_path / "taken"
    lines.write_text("One line.\nAnother line.\n")
    out.write_text("not a folder")
    result = CliRunner().invoke(app, ["synthesize", "--batch", str(lines), str(out), "--model", str(tmp_path)])
    _clear_error(result, str(out), "not a folder", code=2)
    assert out.read_text() == "not a folder"


def test_synthesize_output_in_an_unwritable_folder_is_refused(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    _no_model_load(monkeypatch)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = CliRunner().invoke(app, ["synthesize", "Hi.", str(locked / "out.wav"), "--model", str(tmp_path)])
        _clear_error(result, str(locked), "not writable", code=2)
    finally:
        locked.chmod(0o755)


def test_written_wav_respects_the_umask(tmp_path):
    from tts.audio.io import save_audio

    previous = os.umask(0o022)
    try:
        save_audio(tmp_path / "a.wav", np.zeros(160, np.float32), 16000)
        os.umask(0o027)
        save_audio(tmp_path / "b.wav", np.zeros(160, np.float32), 16000)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.wav").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.wav").stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]  # no temporary left


def test_malformed_override_value_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["prepare", DEMO, "--set", "ar.train.lr=[1,2", "--set", f"output_dir={tmp_path}"])
    _clear_error(result, "ar.train.lr=[1,2", "section.key=value", code=2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", ["", "# only a comment\n\n   # and another\n"])
def test_empty_recipe_is_refused(tmp_path, content):
    recipe = tmp_path / "empty.yaml"
    recipe.write_text(content)
    result = CliRunner().invoke(app, ["prepare", str(recipe)])
    _clear_error(result, str(recipe), "empty", code=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.yaml"]
    assert recipe.read_text() == content


def test_duplicate_recipe_key_is_refused(tmp_path):
    from tts.config import load_recipe

    recipe = tmp_path / "twice.yaml"
    recipe.write_text(f"output_dir: {tmp_path / 'run'}\naudio:\n  sample_rate: 16000\n"
                      "codec:\n  channels: 4\naudio:\n  trim_db: 30\n")
    result = CliRunner().invoke(app, ["prepare", str(recipe)])
    _clear_error(result, str(recipe), "'audio'", "lines 2 and 6", code=2)
    assert not (tmp_path / "run").exists()
    nested = tmp_path / "nested.yaml"
    nested.write_text("ar:\n  train:\n    lr: 0.1\n    warmup_steps: 3\n    lr: 0.2\n")
    with pytest.raises(ValueError, match=r"'ar.train.lr'.*lines 3 and 5"):
        load_recipe(nested)


def test_empty_output_dir_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["prepare", DEMO, "--set", "output_dir="])
    _clear_error(result, "output_dir", code=2)
    assert list(tmp_path.iterdir()) == []
    result = CliRunner().invoke(app, ["prepare", DEMO, "--set", "output_dir=  "])
    _clear_error(result, "output_dir", code=2)


@pytest.mark.parametrize("option, value, key", [("--temperature", "-1", "temperature"), ("--top-k", "-3", "top_k"),
                                                ("--top-p", "0", "top_p"), ("--top-p", "1.5", "top_p"),
                                                ("--pace", "0", "pace"), ("--pace", "-2", "pace")])
def test_bad_synthesis_option_is_refused(tmp_path, monkeypatch, option, value, key):
    _no_model_load(monkeypatch)
    out = tmp_path / "out.wav"
    result = CliRunner().invoke(app, ["synthesize", "Hello.", str(out), "--model", str(tmp_path), option, value])
    _clear_error(result, key, value, code=2)
    assert not out.exists()


def _prompt_synthesizer(monkeypatch):
    """A synthesizer whose codec is never reached: a prompt that passes the checks is encoded by a stub."""
    from tts.config import recipe_from_dict
    from tts.synthesize import Synthesizer

    synth = Synthesizer.__new__(Synthesizer)
    synth.recipe = recipe_from_dict({})

    class Encoder:
        def encode(self, wav):
            import torch

            return torch.zeros(1, 2, 5, dtype=torch.long)

    synth.codec = Encoder()
    return synth


@pytest.mark.parametrize("kind, reason", [("silent", "silent"), ("clipped", "clipped")])
def test_unusable_prompt_wav_is_refused(tmp_path, monkeypatch, kind, reason):
    from tts.audio.io import save_audio

    t = np.arange(16000) / 16000
    wav = np.zeros(16000, np.float32) if kind == "silent" else np.sign(np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    path = tmp_path / f"{kind}.wav"
    save_audio(path, wav, 16000)
    synth = _prompt_synthesizer(monkeypatch)
    with pytest.raises(ValueError) as err:
        synth.prompt_from_wav(path, "a reference clip")
    assert str(path) in str(err.value) and reason in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{kind}.wav"]


def test_low_rate_prompt_wav_is_used_with_a_warning(tmp_path, monkeypatch, caplog):
    from tts.audio.io import save_audio

    t = np.arange(8000) / 8000
    path = tmp_path / "phone.wav"
    save_audio(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 8000)
    synth = _prompt_synthesizer(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="tts.synthesize"):
        prompt = synth.prompt_from_wav(path, "a reference clip")
    assert prompt.codes.shape == (2, 5)
    assert any("8000 Hz" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records), caplog.text


def test_zero_sample_synthesis_reports_no_real_time_factor(tmp_path, monkeypatch):
    from tts.synthesize import SynthesisResult, Synthesizer

    class Silent:
        recipe = None

        def options(self, **changes):
            return None

        def prompt_from_speaker(self, speaker=None):
            return None

        def synthesize(self, text, prompt, options):
            return SynthesisResult(text, [text], np.zeros(0, np.float32), 16000, [], False, {"ar": 0.8, "nar": 0.1})

    monkeypatch.setattr(Synthesizer, "from_run", classmethod(lambda cls, *a, **k: Silent()))
    out = tmp_path / "out.wav"
    result = CliRunner().invoke(app, ["synthesize", "Hello.", str(out), "--model", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "real-time factor n/a" in result.output
    assert "nothing was spoken" in result.output
    assert "real-time factor 0" not in result.output and "e+" not in result.output
    assert not re.search(r"\d{6,}", result.output), result.output
