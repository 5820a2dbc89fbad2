"""Prepared data never loses work: damaged shard files are found, named and redone; transcripts that lost a
character are dropped, not learned."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from data_fixtures import make_folder_corpus, make_recipe, write_audio, write_text

from tts.data.corpus import PreparedCorpus
from tts.data.prepare import prepare_corpus
from tts.data.readers import Drop, Utterance, read_folder, read_libritts, read_ljspeech, read_manifest, read_vctk

LOST = "Caf\ufffd au lait."  # a byte lost in some earlier conversion: U+FFFD, the replacement character


def test_a_damaged_shard_is_redone_and_named(tmp_path, text_front_end, caplog):
    recipe = make_recipe(tmp_path, make_folder_corpus(tmp_path / "corpus", speakers=2, per_speaker=5))
    prepare_corpus(recipe)
    prepared = Path(recipe.output_dir) / "prepared"
    audio = next((prepared / "shards" / "00001").glob("audio.*.npy"))
    good = audio.read_bytes()
    others = {p: p.stat().st_mtime_ns for p in prepared.rglob("*.npy") if p != audio}
    record = next(r for r in PreparedCorpus(prepared).records() if r["shard"] == 1)

    # the reader names the file and says what to do
    audio.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=rf"{audio}.*damaged.*tts prepare"):
        PreparedCorpus(prepared).audio(record)

    # prepare finds it, says which and why, and redoes that shard only
    caplog.set_level(logging.INFO)
    prepare_corpus(recipe)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(audio.name in w and str(len(good)) in w for w in warnings), warnings
    assert "1 of 3 shards to prepare (2 already done)" in caplog.text
    assert audio.read_bytes() == good
    assert {p: p.stat().st_mtime_ns for p in others} == others
    assert PreparedCorpus(prepared).audio(record).shape == (record["n_samples"],)

    # same size, other bytes: the checksum finds it
    caplog.clear()
    damaged = bytearray(good)
    middle = len(good) // 2
    damaged[middle:middle + 100] = bytes(b ^ 0xFF for b in good[middle:middle + 100])
    audio.write_bytes(bytes(damaged))
    prepare_corpus(recipe)
    assert any(audio.name in r.getMessage() and "checksum" in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)
    assert audio.read_bytes() == good


def _ljspeech(root: Path) -> Path:
    for n in (1, 2):
        write_audio(root / "wavs" / f"LJ001-000{n}.wav", 0.5, seed=n)
    write_text(root / "metadata.csv", f"LJ001-0001|Good text.|Good text.\nLJ001-0002|{LOST}|{LOST}\n")
    return root


def _libritts(root: Path) -> Path:
    for n, text in ((1, "Good text."), (2, LOST)):
        base = root / "19" / "198" / f"19_198_00000{n}_000000"
        write_audio(base.with_suffix(".wav"), 0.5, seed=n)
        write_text(base.with_name(base.name + ".normalized.txt"), text)
    return root


def _vctk(root: Path) -> Path:
    for n, text in ((1, "Good text."), (2, LOST)):
        write_audio(root / "wav48_silence_trimmed" / "p225" / f"p225_00{n}_mic1.flac", 0.5, seed=n)
        write_text(root / "txt" / "p225" / f"p225_00{n}.txt", text)
    return root


def _folder(root: Path) -> Path:
    for n, text in ((1, "Good text."), (2, LOST)):
        write_audio(root / f"utt{n}.wav", 0.5, seed=n)
        write_text(root / f"utt{n}.txt", text)
    return root


def _csv(root: Path) -> Path:
    for n in (1, 2):
        write_audio(root / f"utt{n}.wav", 0.5, seed=n)
    return write_text(root / "manifest.csv", f"audio,text\nutt1.wav,Good text.\nutt2.wav,{LOST}\n")


def _jsonl(root: Path) -> Path:
    for n in (1, 2):
        write_audio(root / f"utt{n}.wav", 0.5, seed=n)
    rows = [{"audio": "utt1.wav", "text": "Good text."}, {"audio": "utt2.wav", "text": LOST}]
    # ensure_ascii: the character arrives as the escape \ufffd, not as its UTF-8 bytes
    return write_text(root / "manifest.jsonl", "".join(json.dumps(row) + "\n" for row in rows))


@pytest.mark.parametrize("make, read", [
    (_ljspeech, read_ljspeech), (_libritts, read_libritts), (_vctk, read_vctk), (_folder, read_folder),
    (_csv, read_manifest), (_jsonl, read_manifest),
], ids=["ljspeech", "libritts", "vctk", "folder", "manifest-csv", "manifest-jsonl"])
def test_a_lost_character_is_dropped_as_bad_encoding(tmp_path, make, read):
    items = list(read(make(tmp_path / "corpus")))
    kept = [item for item in items if isinstance(item, Utterance)]
    drops = [item for item in items if isinstance(item, Drop)]
    assert [u.text for u in kept] == ["Good text."]  # the other utterance is kept
    assert [d.reason for d in drops] == ["bad_encoding"]
    assert "U+FFFD" in drops[0].detail and str(tmp_path / "corpus") in drops[0].detail
    assert all("\ufffd" not in u.text for u in kept)
