"""The command line: help for every command, clear errors with non-zero exits."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tts.cli import app

COMMANDS = ["prepare", "train", "synthesize", "plot", "eval", "text", "run", "vocode"]


def test_help_lists_every_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


@pytest.mark.parametrize("command", [["prepare"], ["train"], ["synthesize"], ["text"], ["run"], ["vocode"],
                                     ["plot", "spectrogram"], ["plot", "curves"], ["plot", "codes"],
                                     ["eval", "folder"], ["eval", "model"]])
def test_each_command_has_help(command):
    result = CliRunner().invoke(app, command + ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and len(result.output) > 200


def test_bad_recipe_key_is_a_clear_error(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("audio:\n  sample_rte: 16000\n")
    result = CliRunner().invoke(app, ["prepare", str(recipe)])
    assert result.exit_code == 2
    assert "audio.sample_rte" in result.output and "valid keys" in result.output


def test_bad_override_is_a_clear_error():
    result = CliRunner().invoke(app, ["train", "recipes/demo.yaml", "--set", "ar.train.lr=-1"])
    assert result.exit_code == 2
    assert "ar.train.lr" in result.output


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "tts.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "synthesize" in result.stdout


def test_synthesize_and_eval_share_the_decoding_options(tmp_path):
    for command in (["synthesize"], ["eval", "model"]):
        output = CliRunner().invoke(app, command + ["--help"], env={"COLUMNS": "200"}).output
        for option in ("--pace", "--top-k", "--top-p", "--min-frames-per-phone", "--max-frames-per-phone"):
            assert option in output, (command, option)
        for removed in ("--ar-decode", "--nar-decode", "--mel-contrast", "--decoder"):
            assert removed not in output, (command, removed)
    result = CliRunner().invoke(app, ["eval", "model", str(tmp_path), "--what", "codec", "--pace", "1.2"])
    assert result.exit_code == 1 and "apply to --what model" in result.output


def test_synthesize_reports_a_missing_run(tmp_path):
    out = str(tmp_path / "out.wav")
    result = CliRunner().invoke(app, ["synthesize", "Hello.", out, "--model", str(tmp_path / "none")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_eval_model_names_durations_among_its_choices(tmp_path):
    output = CliRunner().invoke(app, ["eval", "model", "--help"], env={"COLUMNS": "200"}).output
    assert "durations" in output
    result = CliRunner().invoke(app, ["eval", "model", str(tmp_path), "--what", "pitch"])
    assert result.exit_code == 1 and "is not one of model, nar, durations, ar" in result.output


def test_a_tiny_demo_run_trains_then_speaks_with_a_spectrogram(tmp_path):
    """The README's path through the real commands: `tts run` on the demo recipe (a few steps per stage),
    then `tts synthesize --plot`."""
    run = tmp_path / "run"
    tiny = [f"{stage}.train.{key}={value}" for stage in ("codec", "aligner", "ar", "nar")
            for key, value in (("max_steps", 3), ("warmup_steps", 1), ("validate_every", 3),
                               ("checkpoint_every", 3), ("sample_every", 0))]
    sets = [arg for setting in [f"output_dir={run}", "threads=1", *tiny] for arg in ("--set", setting)]
    trained = CliRunner().invoke(app, ["run", "recipes/demo.yaml", *sets])
    assert trained.exit_code == 0, trained.output
    wav, png = tmp_path / "out.wav", tmp_path / "out.png"
    spoken = CliRunner().invoke(app, ["synthesize", "Hello there.", str(wav), "--model", str(run), "--plot", str(png)])
    assert spoken.exit_code == 0, spoken.output
    assert wav.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    assert "real-time factor" in spoken.output


@pytest.mark.parametrize("command", [["export"], ["voices"]])
def test_export_and_voices_explain_themselves(command):
    assert command[0] in CliRunner().invoke(app, ["--help"]).output
    result = CliRunner().invoke(app, command + ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "Usage" in result.output, result.output
    assert ("--dtype" if command == ["export"] else "--model") in result.output


def test_without_a_model_or_a_bundled_voice_synthesize_says_what_to_do(tmp_path, monkeypatch):
    import tts

    monkeypatch.delenv("TTS_VOICE", raising=False)
    monkeypatch.setattr(tts, "__file__", str(tmp_path / "checkout" / "tts" / "__init__.py"))  # no data/voice there
    out = str(tmp_path / "out.wav")
    for command in (["synthesize", "Hello.", out], ["voices"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 1, result.output
        assert f"no bundled voice at {tmp_path / 'checkout' / 'data' / 'voice'}" in result.output
        assert "--model RUN" in result.output and "tts export RUN" in result.output
    result = CliRunner().invoke(app, ["synthesize", "Hello.", out], env={"TTS_VOICE": str(tmp_path / "gone")})
    assert result.exit_code == 1 and f"TTS_VOICE={tmp_path / 'gone'} is not a folder" in result.output
    assert not (tmp_path / "out.wav").exists()


def test_export_of_a_folder_without_a_model_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["export", str(tmp_path / "none"), str(tmp_path / "out")])
    assert result.exit_code == 1 and "cannot export" in result.output and "does not exist" in result.output
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["export", str(tmp_path / "empty"), str(tmp_path / "out")])
    assert result.exit_code == 1 and "no trained model" in result.output
    assert not (tmp_path / "out").exists()


def test_the_bundled_voice_speaks_without_a_model(tmp_path, monkeypatch):
    """data/voice (the exported offline recipe) is what `tts synthesize` speaks with when no --model is given."""
    import soundfile as sf

    monkeypatch.delenv("TTS_VOICE", raising=False)
    listed = CliRunner().invoke(app, ["voices"])
    assert listed.exit_code == 0, listed.output
    assert "101" in listed.output and "flite:slt" in listed.output and "302" in listed.output
    out = tmp_path / "out.wav"
    spoken = CliRunner().invoke(app, ["synthesize", "The little house stood at the end of a quiet road.", str(out),
                                      "--speaker", "202", "--seed", "0"])
    assert spoken.exit_code == 0, spoken.output
    assert "speaker 202" in spoken.output and "refiner" in spoken.output  # its log-mels go through the mel refiner
    wav, rate = sf.read(out)
    assert rate == 16000 and 1.5 < len(wav) / rate < 6.0 and abs(wav).max() > 0.05
