"""Each reader on a fixture in its corpus's exact on-disk layout, problems included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_fixtures import make_folder_corpus, write_audio, write_text

from tts.config import DataConfig
from tts.data.readers import (REASONS, Drop, Utterance, read_corpus, read_folder, read_libritts,
                              read_ljspeech, read_manifest, read_vctk)

LATIN1 = "Caf\u00e9 au lait, s'il vous pla\u00eet.".encode("latin-1")


def split_items(items):
    items = list(items)
    utts = {i.id: i for i in items if isinstance(i, Utterance)}
    drops = {i.id: i for i in items if isinstance(i, Drop)}
    assert len(utts) + len(drops) == len(items)
    return utts, drops


# --------------------------------------------------------------------------- LJSpeech


@pytest.fixture
def ljspeech(tmp_path):
    root = tmp_path / "LJSpeech-1.1"
    for n in (1, 2, 3, 5):
        write_audio(root / "wavs" / f"LJ001-000{n}.wav", 0.5, 22050, seed=n)
    lines = [
        b"LJ001-0001|Printing, in 1450, was new.|Printing, in fourteen fifty, was new.",
        b"LJ001-0002|in being comparatively modern.|",  # empty third column: the second is used
        b"LJ001-0003|Caf\xe9 au lait.|Caf\xe9 au lait.",  # latin-1, not UTF-8
        b"LJ001-0004|No audio for this one.|No audio for this one.",
    ]
    write_text(root / "metadata.csv", b"\n".join(lines) + b"\n")
    return root


def test_ljspeech_layout(ljspeech):
    utts, drops = split_items(read_ljspeech(ljspeech))
    assert set(utts) == {"LJ001-0001", "LJ001-0002"}
    assert utts["LJ001-0001"].text == "Printing, in fourteen fifty, was new."  # normalized column
    assert utts["LJ001-0002"].text == "in being comparatively modern."
    assert all(u.speaker == "LJ" for u in utts.values())
    assert Path(utts["LJ001-0001"].audio_path) == ljspeech / "wavs" / "LJ001-0001.wav"
    assert drops["LJ001-0003"].reason == "bad_encoding"
    assert "metadata.csv line 3" in drops["LJ001-0003"].detail and "0xe9" in drops["LJ001-0003"].detail
    assert drops["LJ001-0004"].reason == "missing_audio"
    assert drops["LJ001-0005"].reason == "missing_transcript"


def test_ljspeech_without_metadata_raises(tmp_path):
    (tmp_path / "wavs").mkdir()
    with pytest.raises(FileNotFoundError, match="metadata.csv"):
        list(read_ljspeech(tmp_path))


# --------------------------------------------------------------------------- LibriTTS


@pytest.fixture
def libritts(tmp_path):
    root = tmp_path / "LibriTTS" / "train-clean-100"
    chapter = root / "19" / "198"
    for n in range(3):
        base = chapter / f"19_198_00000{n}_000000"
        write_audio(base.with_suffix(".wav"), 0.5, 24000, seed=n)
        write_text(Path(f"{base}.normalized.txt"), f"Chapter {['one', 'two', 'three'][n]} begins.")
        write_text(Path(f"{base}.original.txt"), f"Chapter {n + 1} begins.")
    other = root / "26" / "495"
    write_audio(other / "26_495_000004_000000.wav", 0.5, 24000)  # only .original.txt
    write_text(other / "26_495_000004_000000.original.txt", "Only the original.")
    write_text(other / "26_495_000005_000000.normalized.txt", "Audio is missing.")
    write_audio(other / "26_495_000006_000000.wav", 0.5, 24000)
    write_text(other / "26_495_000006_000000.normalized.txt", LATIN1)
    write_text(chapter / "19_198.trans.tsv", "ignored\tfile\n")  # LibriTTS ships these; not transcripts
    write_audio(root / "extras" / "jingle.wav", 0.5, 24000)  # not in <speaker>/<chapter>/: not an utterance
    return root


def test_libritts_normalized(libritts):
    utts, drops = split_items(read_libritts(libritts, "normalized"))
    assert set(utts) == {f"19_198_00000{n}_000000" for n in range(3)}
    assert utts["19_198_000001_000000"].text == "Chapter two begins."
    assert utts["19_198_000001_000000"].speaker == "19"
    assert utts["19_198_000001_000000"].audio_path.endswith("19/198/19_198_000001_000000.wav")
    assert drops["26_495_000004_000000"].reason == "missing_transcript"
    assert "data.libritts_text: original" in drops["26_495_000004_000000"].detail
    assert drops["26_495_000005_000000"].reason == "missing_audio"
    assert drops["26_495_000006_000000"].reason == "bad_encoding"
    assert drops["26_495_000006_000000"].speaker == "26"
    assert "jingle" not in drops and len(drops) == 3


def test_libritts_original(libritts):
    utts, drops = split_items(read_libritts(libritts, "original"))
    assert utts["19_198_000001_000000"].text == "Chapter 2 begins."
    assert utts["26_495_000004_000000"].text == "Only the original."
    assert drops["26_495_000006_000000"].reason == "missing_transcript"


def test_libritts_root_above_subsets(libritts):
    utts, _ = split_items(read_libritts(libritts.parent, "normalized"))
    assert "19_198_000000_000000" in utts and utts["19_198_000000_000000"].speaker == "19"


# --------------------------------------------------------------------------- VCTK


@pytest.fixture
def vctk(tmp_path):
    root = tmp_path / "VCTK-Corpus-0.92"
    for spk in ("p225", "p226"):
        for n in (1, 2):
            utt = f"{spk}_00{n}"
            write_text(root / "txt" / spk / f"{utt}.txt", f"Please call Stella number {n}.\n")
            for mic in ("mic1", "mic2"):
                write_audio(root / "wav48_silence_trimmed" / spk / f"{utt}_{mic}.flac", 0.5, 48000,
                            seed=n + (mic == "mic2"))
    write_text(root / "txt" / "p226" / "p226_003.txt", "No recording of this one.")
    write_audio(root / "wav48_silence_trimmed" / "p315" / "p315_001_mic1.flac", 0.5, 48000)  # no txt/
    return root


@pytest.mark.parametrize("mic", ["mic1", "mic2"])
def test_vctk_layout(vctk, mic):
    utts, drops = split_items(read_vctk(vctk, mic))
    assert set(utts) == {"p225_001", "p225_002", "p226_001", "p226_002"}
    assert utts["p225_002"].audio_path.endswith(f"p225/p225_002_{mic}.flac")
    assert utts["p225_002"].text == "Please call Stella number 2."
    assert utts["p226_001"].speaker == "p226"
    assert drops["p226_003"].reason == "missing_audio"
    if mic == "mic1":
        assert drops["p315_001"].reason == "missing_transcript" and drops["p315_001"].speaker == "p315"
    else:
        assert "p315_001" not in drops


# --------------------------------------------------------------------------- manifest


def _manifest_audio(folder: Path) -> None:
    write_audio(folder / "clips" / "a.wav", 0.5)
    write_audio(folder / "clips" / "b.flac", 0.5, 22050)


def test_manifest_csv_relative_paths(tmp_path, monkeypatch):
    folder = tmp_path / "corpus"
    _manifest_audio(folder)
    write_text(folder / "list.csv", "audio,text,speaker\n"
               'clips/a.wav,"Hello, world.",anna\n'
               "clips/b.flac,Second line,\n"
               "clips/missing.wav,No audio,anna\n"
               "clips/a.wav\n")
    monkeypatch.chdir(tmp_path)  # paths resolve against the manifest, not the working directory
    utts, drops = split_items(read_manifest(Path("corpus/list.csv")))
    assert utts["clips/a"].text == "Hello, world." and utts["clips/a"].speaker == "anna"
    assert utts["clips/b"].speaker == "default"
    assert Path(utts["clips/b"].audio_path).resolve() == (folder / "clips" / "b.flac").resolve()
    assert drops["clips/missing"].reason == "missing_audio"
    assert "list.csv line 4" in drops["clips/missing"].detail
    assert drops["list.csv:5"].reason == "bad_manifest_line" and "line 5" in drops["list.csv:5"].detail


def test_manifest_tsv_and_ids(tmp_path):
    _manifest_audio(tmp_path)
    write_text(tmp_path / "list.tsv", "id\taudio\ttext\n"
               "first\tclips/a.wav\tA tab, separated, line.\n"
               "second\tclips/b.flac\t" .encode() + LATIN1 + b"\n")
    utts, drops = split_items(read_manifest(tmp_path / "list.tsv"))
    assert utts["first"].text == "A tab, separated, line."
    assert drops["list.tsv:3"].reason == "bad_encoding" and "list.tsv line 3" in drops["list.tsv:3"].detail


def test_manifest_jsonl(tmp_path):
    _manifest_audio(tmp_path)
    lines = [json.dumps({"audio": "clips/a.wav", "text": "Json one.", "speaker": "bob"}),
             "{not json",
             json.dumps({"audio": "clips/b.flac"}),
             json.dumps({"audio": str((tmp_path / "clips" / "b.flac").resolve()), "text": "Absolute."})]
    write_text(tmp_path / "list.jsonl", "\n".join(lines) + "\n")
    utts, drops = split_items(read_manifest(tmp_path / "list.jsonl"))
    assert utts["clips/a"].speaker == "bob"
    assert any(u.text == "Absolute." for u in utts.values())
    assert drops["list.jsonl:2"].reason == "bad_manifest_line" and "not valid JSON" in drops["list.jsonl:2"].detail
    assert drops["list.jsonl:3"].reason == "bad_manifest_line"


def test_manifest_without_required_columns_names_the_file(tmp_path):
    write_text(tmp_path / "list.csv", "path,transcript\nx.wav,hi\n")
    with pytest.raises(ValueError, match=r"list.csv line 1.*lacks \['audio', 'text'\]"):
        list(read_manifest(tmp_path / "list.csv"))
    with pytest.raises(ValueError, match="unknown format"):
        list(read_manifest(write_text(tmp_path / "list.txt", "x")))


# --------------------------------------------------------------------------- folder


def test_folder_pairs(tmp_path):
    root = make_folder_corpus(tmp_path / "corpus", speakers=2, per_speaker=2)
    write_audio(root / "top.wav", 0.5)
    write_text(root / "top.txt", "At the top.")
    write_audio(root / "spk0" / "orphan.wav", 0.5)
    write_text(root / "spk1" / "lonely.txt", "No audio.")
    write_audio(root / "spk1" / "latin.wav", 0.5)
    write_text(root / "spk1" / "latin.txt", LATIN1)
    write_audio(root / "spk1" / "empty.wav", 0.5)
    write_text(root / "spk1" / "empty.txt", "  \n")
    utts, drops = split_items(read_folder(root))
    assert utts["top"].speaker == "default"
    assert utts["spk0/utt00"].speaker == "spk0" and utts["spk1/utt01"].speaker == "spk1"
    assert utts["spk1/empty"].text == ""  # dropped later as empty_text, with the other text checks
    assert drops["spk0/orphan"].reason == "missing_transcript"
    assert drops["spk1/lonely"].reason == "missing_audio"
    assert drops["spk1/latin"].reason == "bad_encoding" and "latin.txt" in drops["spk1/latin"].detail


def test_read_corpus_sorts_filters_and_reports(tmp_path):
    root = make_folder_corpus(tmp_path / "c", speakers=3, per_speaker=2)
    write_text(root / "spk2" / "x.txt", "No audio.")
    utts, drops, left_out = read_corpus(DataConfig(reader="folder", root=str(root)))
    assert [u.id for u in utts] == sorted(u.id for u in utts) and len(utts) == 6
    assert [d.reason for d in drops] == ["missing_audio"]
    utts, drops, left_out = read_corpus(DataConfig(reader="folder", root=str(root), speakers=("spk1",)))
    assert {u.speaker for u in utts} == {"spk1"} and left_out == 5 and not drops


def test_read_corpus_reports_duplicate_ids(tmp_path):
    write_audio(tmp_path / "a.wav", 0.5)
    write_text(tmp_path / "list.csv", "id,audio,text\nsame,a.wav,One.\nsame,a.wav,Two.\n")
    utts, drops, _ = read_corpus(DataConfig(reader="manifest", root=str(tmp_path / "list.csv")))
    assert [u.text for u in utts] == ["One."]
    assert [d.reason for d in drops] == ["duplicate_id"]


def test_missing_root_raises(tmp_path):
    for reader in ("ljspeech", "libritts", "vctk", "folder"):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            read_corpus(DataConfig(reader=reader, root=str(tmp_path / "nowhere")))


def test_every_reason_is_documented():
    assert all(text for text in REASONS.values())
    with pytest.raises(AssertionError):
        Drop("x", "s", "", "no_such_reason", "")
