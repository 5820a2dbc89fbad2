"""`tts text` through the real typer app."""

import json

from typer.testing import CliRunner

from tts.cli import app


def test_text_json(phonemizer):
    result = CliRunner().invoke(app, ["text", "Dr. Smith paid $5.50 on 3/4/2021.", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["normalized"] == ("doctor smith paid five dollars and fifty cents on march fourth, "
                                     "twenty twenty-one.")
    phones = payload["phones"]
    assert phones[:6] == ["D", "AA1", "K", "T", "ER0", "_"]
    assert phones[-1] == "." and "," in phones
    assert phones.count("_") == len(payload["normalized"].split()) - 1


def test_text_plain_prints_words_then_phones(phonemizer):
    result = CliRunner().invoke(app, ["text", "Hello, world."])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-2:] == ["hello, world.", "HH AH0 L OW1 , _ W ER1 L D ."]


def test_unspeakable_text_exits_non_zero_with_a_clear_message():
    result = CliRunner().invoke(app, ["text", "😀 !!!"])
    assert result.exit_code != 0
    assert "nothing to speak" in result.stderr and "'😀 !!!'" in result.stderr
    assert "Traceback" not in result.output
