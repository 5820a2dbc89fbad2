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
        for option in ("--pace", "--mel-contrast", "--top-k", "--top-p", "--min-frames-per-phone"):
            assert option in output, (command, option)
    result = CliRunner().invoke(app, ["eval", "model", str(tmp_path), "--what", "codec", "--pace", "1.2"])
    assert result.exit_code == 1 and "apply to --what model" in result.output
