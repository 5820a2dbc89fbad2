"""scripts/corpus/metadata.py and files.py: the corpus's tables, its settings guard and README."""

import json

import pytest

from corpus import files, metadata
from corpus.sentences import Sentence
from corpus.voices import VOICES


def test_check_settings_records_and_refuses_other_settings(tmp_path):
    out = tmp_path / "corpus"
    metadata.check_settings(out, {"seed": 0, "hours": 1.0})
    metadata.check_settings(out, {"seed": 0, "hours": 1.0})  # the same settings resume
    assert json.loads((out / "corpus.json").read_text()) == {"seed": 0, "hours": 1.0}
    with pytest.raises(RuntimeError, match="hours, seed"):
        metadata.check_settings(out, {"seed": 1, "hours": 2.0})


def test_write_tsv_refuses_a_tab_inside_a_cell(tmp_path):
    files.write_tsv(tmp_path / "ok.tsv", ["a", "b"], [["1", 2]])
    assert (tmp_path / "ok.tsv").read_text() == "a\tb\n1\t2\n"
    with pytest.raises(ValueError, match="tab or newline"):
        files.write_tsv(tmp_path / "bad.tsv", ["a"], [["x\ty"]])
    assert not list(tmp_path.glob("*.tmp"))


def test_write_metadata_tables_and_readme(tmp_path, monkeypatch):
    monkeypatch.setattr(metadata, "engine_versions", lambda voices: {"flite": "2.2-5"})
    sentence = Sentence("3_000001_000002", 3, '"Oh, yes," said she.', "Oh, yes, said she.", ("OW",))
    counts = {"candidates": 10, "odd_or_length": 4, "not_in_lexicon": 2, "duplicate": 1, "kept": 3}
    metadata.write_metadata(tmp_path, list(VOICES[:2]), [VOICES[-1]], [(sentence, VOICES[0])], counts,
                            {"101": (3, 12.34)}, bundle=True, command_line="--bundle --out x")
    speakers = [line.split("\t") for line in (tmp_path / "speakers.tsv").read_text().splitlines()]
    assert speakers[1] == ["101", "flite", "slt", "-", "F", "yes", "3", "12.3"]
    assert speakers[2][-2:] == ["0", "0.0"]
    held = (tmp_path / "heldout.tsv").read_text().splitlines()[1].split("\t")
    assert held == ["3_000001_000002", "101", "heldout/101_3_000001_000002.wav", '"Oh, yes," said she.',
                    "Oh, yes, said she."]
    readme = (tmp_path / "README.md").read_text()
    assert "scripts/make_corpus.py --bundle --out x" in readme and "Contents: 3 training utterances" in readme
    assert "Selection: 10 sentences in the source; 3 kept" in readme and "A tiny corpus" in readme
    assert "Missing here (not used): espeak-ng:en+m3[-p=40,-s=165]" in readme and "flite 2.2-5" in readme
    assert (tmp_path / "LICENSE").read_text() == metadata.SOURCE_NOTE + "\n"
