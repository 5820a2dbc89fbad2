"""`prepare_corpus`: stages, storage, drop report, statistics, idempotence and stage invalidation."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from data_fixtures import make_folder_corpus, make_recipe, speechlike, write_audio, write_text

from tts.audio.io import load_audio, normalize_loudness, trim_silence
from tts.audio.spectral import MelSpectrogram
from tts.config import recipe_from_dict
from tts.data.corpus import PreparedCorpus
from tts.data.prepare import PrepareError, prepare_corpus


def with_changes(recipe, **sections):
    """A copy of the recipe with some keys of some sections changed."""
    data = recipe.to_dict()
    for section, changes in sections.items():
        data[section].update(changes)
    return recipe_from_dict(data)


def stage_runs(result) -> dict[str, int]:
    return {stage: t["shards"] for stage, t in result["timings"].items() if stage != "setup"}


def manifest(recipe) -> list[dict]:
    path = Path(recipe.output_dir) / "prepared" / "manifest.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def dropped(recipe) -> dict[str, tuple[str, str]]:
    """id -> (reason, speaker) from dropped.tsv."""
    lines = (Path(recipe.output_dir) / "prepared" / "dropped.tsv").read_text().splitlines()
    assert lines[0] == "id\tspeaker\taudio_path\treason\tdetail"
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(r) == 5 for r in rows)
    return {r[0]: (r[3], r[1]) for r in rows}


@pytest.fixture
def small(tmp_path, text_front_end):
    root = make_folder_corpus(tmp_path / "corpus", speakers=2, per_speaker=5, seconds=1.2)
    return make_recipe(tmp_path, root)


def test_prepare_writes_a_compact_readable_corpus(small):
    result = prepare_corpus(small)
    assert stage_runs(result) == {"text": 3, "audio": 3, "mel": 3, "codes": 0}
    corpus = PreparedCorpus(small.output_dir)  # the run folder works as well as prepared/
    records = corpus.records("all")
    assert len(records) == 10 and corpus.speakers == ["spk0", "spk1"] and not corpus.has_codes
    record = corpus.record("spk1/utt03")
    for key in ("id", "speaker", "text", "normalized", "phones", "duration", "n_samples",
                "n_mel_frames", "n_frames", "shard", "offsets", "split"):
        assert key in record
    assert record["phones"] and all(isinstance(p, str) for p in record["phones"])

    # audio: exactly load -> resample -> trim -> level, stored as int16
    wav, _ = load_audio(record["audio_path"], 16000)
    expected = normalize_loudness(trim_silence(wav, 16000, small.audio.trim_db), small.audio.loudness_db)
    got = corpus.audio(record)
    assert got.dtype == np.float32 and got.shape == (record["n_samples"],) == expected.shape
    assert np.abs(got - expected).max() < 1e-4
    assert record["duration"] == pytest.approx(record["n_samples"] / 16000, abs=1e-4)
    assert 1.1 < record["duration"] < 1.35  # 1.2 s of tone, the 0.1 s silences trimmed

    # mel: the recipe's log-mel of the stored audio, (M, T), within float16 rounding
    mel = corpus.mel(record)
    reference = MelSpectrogram(**small.audio.mel_kwargs())(torch.from_numpy(got)).numpy()
    assert mel.shape == reference.shape == (40, record["n_mel_frames"])
    assert np.abs(mel - reference).max() < 0.02

    # a few files per shard, never one per utterance
    files = [p for p in (Path(small.output_dir) / "prepared").rglob("*") if p.is_file()]
    assert len(files) <= 4 + 5 * 3
    assert corpus.settings["audio"]["n_mels"] == 40

    # split: every speaker holds out at least one utterance and trains on the rest
    for speaker in corpus.speakers:
        splits = [r["split"] for r in records if r["speaker"] == speaker]
        assert "validation" in splits and "train" in splits
    stats = json.loads((Path(small.output_dir) / "prepared" / "stats.json").read_text())
    assert stats["all"]["utterances"] == 10 and stats["all"]["speakers"] == 2
    assert stats["train"]["utterances"] + stats["validation"]["utterances"] == 10
    assert stats["all"]["hours"] == pytest.approx(sum(r["duration"] for r in records) / 3600, abs=1e-4)


def test_rerun_redoes_nothing(small):
    prepare_corpus(small)
    prepared = Path(small.output_dir) / "prepared"
    before = {p: p.stat().st_mtime_ns for p in prepared.rglob("*") if p.is_file()}
    result = prepare_corpus(small)
    assert stage_runs(result) == {"text": 0, "audio": 0, "mel": 0, "codes": 0}
    assert {p: p.stat().st_mtime_ns for p in prepared.rglob("*") if p.is_file()} == before


def test_changing_n_mels_redoes_only_mels(small):
    prepare_corpus(small)
    shards = Path(small.output_dir) / "prepared" / "shards"
    audio_files = {p: p.stat().st_mtime_ns for p in shards.rglob("audio.*")}
    changed = with_changes(small, audio={"n_mels": 24})
    result = prepare_corpus(changed)
    assert stage_runs(result) == {"text": 0, "audio": 0, "mel": 3, "codes": 0}
    assert {p: p.stat().st_mtime_ns for p in shards.rglob("audio.*")} == audio_files
    corpus = PreparedCorpus(changed.output_dir)
    assert corpus.mel(corpus.records()[0]).shape[0] == 24
    assert len(list(shards.rglob("mel.*.npy"))) == 3  # the old mels are gone


def test_changing_loudness_redoes_audio_and_mels_not_text(small):
    prepare_corpus(small)
    result = prepare_corpus(with_changes(small, audio={"loudness_db": -26.0}))
    assert stage_runs(result) == {"text": 0, "audio": 3, "mel": 3, "codes": 0}


def test_changing_a_limit_only_merges_again(small):
    prepare_corpus(small)
    assert len(manifest(small)) == 10
    stricter = with_changes(small, data={"max_phones": 25})
    result = prepare_corpus(stricter)
    assert stage_runs(result) == {"text": 0, "audio": 0, "mel": 0, "codes": 0}
    kept = manifest(stricter)
    assert all(len(r["phones"]) <= 25 for r in kept) and len(kept) < 10
    assert {reason for reason, _ in dropped(stricter).values()} == {"too_many_phones"}


def test_half_written_outputs_are_not_trusted(small):
    prepare_corpus(small)
    shard = Path(small.output_dir) / "prepared" / "shards" / "00001"
    meta = next(shard.glob("audio.*.json"))
    array = meta.with_suffix(".npy")
    good = np.load(array)
    # a kill between writing the array and its record: the array is there, the record is not
    np.save(array, good[: len(good) // 2])
    meta.unlink()
    (shard / ".mel.x.npy.123.tmp").write_bytes(b"partial")
    result = prepare_corpus(small)
    assert stage_runs(result)["audio"] == 1
    assert np.array_equal(np.load(array), good)
    assert not list(shard.glob("*.tmp")) and not list(shard.glob(".*.tmp"))


def test_corpus_pickles_without_its_memory_maps(small):
    import pickle

    prepare_corpus(small)
    corpus = PreparedCorpus(Path(small.output_dir) / "prepared")
    record = corpus.records("train")[0]
    corpus.audio(record)
    copy = pickle.loads(pickle.dumps(corpus))
    assert copy._arrays == {} and np.array_equal(copy.audio(record), corpus.audio(record))
    with pytest.raises(ValueError, match="codes"):
        corpus.codes(record)
    with pytest.raises(ValueError, match="split"):
        corpus.records("test")


# --------------------------------------------------------------------------- bad input


def make_bad_corpus(root: Path) -> dict[str, str]:
    """A folder corpus with one utterance of every kind of problem; returns id -> expected reason."""
    ok = "This sentence is perfectly fine."
    for n in range(3):
        write_audio(root / "good" / f"g{n}.wav", 1.0, seed=n)
        write_text(root / "good" / f"g{n}.txt", ok)
    write_audio(root / "stereo" / "s48.wav", 1.0, rate=48000, channels=2)
    write_text(root / "stereo" / "s48.txt", ok)
    expected = {}

    def bad(name, reason, audio=None, text: str | bytes | None = ok):
        (root / "bad").mkdir(parents=True, exist_ok=True)
        if audio is not None:
            audio(root / "bad" / f"{name}.wav")
        if text is not None:
            write_text(root / "bad" / f"{name}.txt", text)
        expected[f"bad/{name}"] = reason

    bad("corrupt", "unreadable_audio", lambda p: p.write_bytes(b"RIFF....WAVEfmt " + os.urandom(300)))
    bad("notaudio", "unreadable_audio", lambda p: p.write_bytes(b"just some text, not a wave file"))

    def truncated(path):
        write_audio(path, 1.0)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    bad("truncated", "unreadable_audio", truncated)
    bad("zero_length", "empty_audio", lambda p: p.write_bytes(b""))
    bad("no_samples", "empty_audio", lambda p: sf.write(str(p), np.zeros(0, np.float32), 16000))
    bad("narrowband", "low_sample_rate", lambda p: write_audio(p, 1.0, rate=8000))
    bad("silent", "silent", lambda p: write_audio(p, wav=np.zeros(16000, np.float32)))
    bad("clipped", "clipped", lambda p: write_audio(p, wav=np.clip(speechlike(1.0, 16000) * 8, -1, 1)))
    bad("short", "too_short", lambda p: write_audio(p, 0.2))
    bad("long", "too_long", lambda p: write_audio(p, 3.5))
    bad("empty_text", "empty_text", lambda p: write_audio(p, 1.0), text="   ")
    bad("punctuation", "unspeakable_text", lambda p: write_audio(p, 1.0), text="!!! ???")
    bad("latin1", "bad_encoding", lambda p: write_audio(p, 1.0), text="Caf\u00e9 cr\u00e8me.".encode("latin-1"))
    bad("few_phones", "too_few_phones", lambda p: write_audio(p, 1.0), text="Oh.")
    bad("many_phones", "too_many_phones", lambda p: write_audio(p, 1.0), text=" ".join([ok] * 8))
    bad("no_transcript", "missing_transcript", lambda p: write_audio(p, 1.0), text=None)
    bad("no_audio", "missing_audio", None)
    return expected


def test_bad_input_is_reported_never_fatal(tmp_path, text_front_end, caplog):
    expected = make_bad_corpus(tmp_path / "corpus")
    recipe = make_recipe(tmp_path, tmp_path / "corpus", max_duration=3.0, min_phones=4, max_phones=120)
    with caplog.at_level(logging.INFO, logger="tts.data"):
        prepare_corpus(recipe)
    got = dropped(recipe)
    assert {k: v[0] for k, v in got.items()} == expected
    assert all(speaker == "bad" for _, speaker in got.values())
    kept = {r["id"]: r for r in manifest(recipe)}
    assert set(kept) == {"good/g0", "good/g1", "good/g2", "stereo/s48"}
    # stereo 48 kHz is kept: downmixed, resampled to 16 kHz
    assert 0.95 < kept["stereo/s48"]["duration"] < 1.1
    assert kept["stereo/s48"]["n_samples"] == round(kept["stereo/s48"]["duration"] * 16000)
    log = caplog.text
    assert "data.max_duration" in log and "data.min_phones" in log  # limits printed at start
    assert "by reason:" in log and "unreadable_audio 3" in log and "by speaker: bad 17" in log
    stats = json.loads((Path(recipe.output_dir) / "prepared" / "stats.json").read_text())
    assert stats["dropped"]["by_reason"]["unreadable_audio"] == 3 and stats["dropped"]["total"] == 17


def test_nothing_usable_fails_with_the_summary(tmp_path, text_front_end):
    root = tmp_path / "corpus"
    write_audio(root / "a.wav", 0.2)
    write_text(root / "a.txt", "Too short to keep.")
    write_text(root / "b.txt", "No audio at all.")
    with pytest.raises(PrepareError, match=r"(?s)no usable utterances.*too_short 1.*missing_audio 1"):
        prepare_corpus(make_recipe(tmp_path, root))
    with pytest.raises(PrepareError, match="cannot read the corpus"):
        prepare_corpus(make_recipe(tmp_path, tmp_path / "absent"))


# --------------------------------------------------------------------------- shards and merge


def test_shard_jobs_then_merge_equal_one_run(tmp_path, text_front_end):
    root = make_folder_corpus(tmp_path / "corpus", speakers=3, per_speaker=4, seconds=0.8)
    whole = make_recipe(tmp_path / "whole", root)
    parts = make_recipe(tmp_path / "parts", root)
    prepare_corpus(whole)
    prepare_corpus(parts, shard="0/2")
    with pytest.raises(PrepareError, match=r"1 of 3 shards are not finished: 1 \(text, audio, mel\)"):
        prepare_corpus(parts, merge_only=True)
    assert not (Path(parts.output_dir) / "prepared" / "manifest.jsonl").exists()
    result = prepare_corpus(parts, shard="1/2")
    assert stage_runs(result)["audio"] == 1
    prepare_corpus(parts, merge_only=True)
    assert manifest(parts) == manifest(whole)
    a, b = PreparedCorpus(whole.output_dir), PreparedCorpus(parts.output_dir)
    for record in a.records():
        assert np.array_equal(a.audio(record), b.audio(record))
        assert np.array_equal(a.mel(record), b.mel(record))
    with pytest.raises(PrepareError, match="0 <= i < N"):
        prepare_corpus(parts, shard="2/2")


# --------------------------------------------------------------------------- codec stage


def save_tiny_codec(recipe) -> Path:
    """A trained-codec checkpoint (random weights) where load_codec looks for it."""
    from tts.codec import trained_settings
    from tts.models.codec_model import CodecModel

    torch.manual_seed(0)
    settings = trained_settings(recipe)
    model = CodecModel.from_settings(settings)
    path = Path(recipe.output_dir) / "codec" / "best.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"codec": settings, "modules": {"generator": model.state_dict()}}, path)
    return path


def test_code_usage_counts_entries_and_perplexity():
    from tts.data.report import code_usage, summary_text

    uniform = np.array([[0, 5], [1, 5], [2, 5], [3, 5]] * 10)  # level 1: 4 entries evenly; level 2: one
    usage = code_usage([uniform[:30], uniform[30:]], codebook_size=8, frame_rate=25.0)
    assert usage["frames"] == 40
    assert usage["levels"] == [{"level": 1, "used": 4, "perplexity": 4.0}, {"level": 2, "used": 1, "perplexity": 1.0}]
    assert code_usage([uniform, uniform], 8, 25.0, limit=10)["frames"] == 10  # bounded work on big corpora
    stats = {"train": {"utterances": 1, "hours": 0.1, "speakers": 1}, "validation": {"utterances": 0, "hours": 0.0,
             "speakers": 0}, "all": {"utterances": 1, "hours": 0.1, "speakers": 1}, "has_codes": True,
             "codes": usage, "dropped": {"total": 0}, "left_out_by_data_speakers": 0}
    text = summary_text(stats, Path("prepared"))
    assert "entries used:  4 1" in text and "perplexity:    4 1" in text
    assert "codebook(s) 2 use fewer than half their entries" in text  # level 1 uses exactly half


def test_codec_stage_runs_later_on_prepared_audio(tmp_path, text_front_end, caplog):
    root = make_folder_corpus(tmp_path / "corpus", speakers=1, per_speaker=3, seconds=0.6)
    recipe = dataclasses.replace(make_recipe(tmp_path, root), codec=recipe_from_dict({"codec": {
        "kind": "trained", "strides": [4, 4, 4, 5], "channels": 4, "dimension": 16, "lstm_layers": 0,
        "n_codebooks": 2, "codebook_size": 16}}).codec)
    with caplog.at_level(logging.WARNING, logger="tts.data"):
        first = prepare_corpus(recipe)
    assert "codec stage skipped" in caplog.text and "--stage codec" in caplog.text
    assert not PreparedCorpus(recipe.output_dir).has_codes
    save_tiny_codec(recipe)
    second = prepare_corpus(recipe)
    assert stage_runs(first)["codes"] == 0
    assert stage_runs(second) == {"text": 0, "audio": 0, "mel": 0, "codes": 1}
    corpus = PreparedCorpus(recipe.output_dir)
    assert corpus.has_codes and corpus.settings["codec"]["n_codebooks"] == 2
    from tts.data.store import file_digest

    weights = Path(recipe.output_dir) / "codec" / "best.pt"  # the models trained on these codes record it
    assert corpus.settings["codec"]["checkpoint_digest"] == file_digest(weights)
    usage = json.loads((Path(recipe.output_dir) / "prepared" / "stats.json").read_text())["codes"]
    train_frames = sum(r["n_frames"] for r in corpus.records("train"))
    assert usage["frames"] == train_frames and [level["level"] for level in usage["levels"]] == [1, 2]
    counts = np.bincount(np.concatenate([corpus.codes(r)[1] for r in corpus.records("train")]), minlength=16)
    assert usage["levels"][1]["used"] == int((counts > 0).sum())
    assert 1 <= usage["levels"][0]["perplexity"] <= usage["levels"][0]["used"] <= 16
    from tts.codec import load_codec

    codec = load_codec(recipe, "cpu")
    for record in corpus.records():
        codes = corpus.codes(record)
        assert codes.dtype == np.int64 and codes.shape == (2, -(-record["n_samples"] // 320))
        assert record["n_frames"] == codes.shape[1]
        wav = torch.from_numpy(corpus.audio(record))[None, None]
        assert torch.equal(codec.encode(wav)[0], torch.from_numpy(codes))
    # a retrained codec (new checkpoint) invalidates the codes only
    torch.manual_seed(1)
    path = Path(recipe.output_dir) / "codec" / "best.pt"
    checkpoint = torch.load(path, weights_only=False)
    for tensor in checkpoint["modules"]["generator"].values():
        if tensor.is_floating_point():
            tensor.add_(0.01 * torch.randn_like(tensor))
    torch.save(checkpoint, path)
    assert stage_runs(prepare_corpus(recipe)) == {"text": 0, "audio": 0, "mel": 0, "codes": 1}


# --------------------------------------------------------------------------- command line


def test_cli_prepare_exits_non_zero_when_nothing_is_usable(tmp_path, text_front_end):
    from typer.testing import CliRunner

    from tts.cli import app
    from tts.config import save_recipe

    root = tmp_path / "corpus"
    write_audio(root / "a.wav", 1.0, rate=8000)
    write_text(root / "a.txt", "Recorded on the telephone.")
    recipe_file = tmp_path / "recipe.yaml"
    save_recipe(make_recipe(tmp_path, root), recipe_file)
    result = CliRunner().invoke(app, ["prepare", str(recipe_file)])
    assert result.exit_code == 1
    assert "no usable utterances" in result.output and "low_sample_rate 1" in result.output
    result = CliRunner().invoke(app, ["prepare", str(recipe_file), "--set", "data.min_sample_rate=8000"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["prepare", str(recipe_file), "--shard", "one/two"])
    assert result.exit_code == 1 and "i/N" in result.output


def test_text_stage_keeps_or_leaves_out_punctuation(text_front_end):
    from tts.data.readers import Utterance
    from tts.data.stages import text_items

    utts = (Utterance("a", "s", "Hello, world.", "a.wav"), Utterance("b", "s", "?!", "b.wav"))
    kept, plain = text_items(utts, True), text_items(utts, False)
    assert "," in kept[0]["phones"] and "." in kept[0]["phones"]
    assert plain[0]["phones"] == [p for p in kept[0]["phones"] if p not in ",."]
    assert kept[1]["drop"] == plain[1]["drop"] == "unspeakable_text"
