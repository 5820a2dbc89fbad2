"""The codec training stage: data, the reconstruction loss, a loss that falls, the engine end to end."""

from __future__ import annotations

import json

import pytest
import torch
from codec_fixtures import recipe, corpus, FakeCorpus, tiny_recipe  # noqa: F401 (fixtures)

from tts.codec import codec_from_checkpoint, load_codec, trained_settings
from tts.train.codec_task import CodecTask


def test_training_crops_are_deterministic_per_epoch_and_sharded(recipe, corpus):
    task = CodecTask(recipe, corpus=corpus)
    first, again = task.train_batches(0, 0, 1), task.train_batches(0, 0, 1)
    assert len(first) == 1 and torch.equal(first[0]["wav"], again[0]["wav"])
    assert first[0]["wav"].shape == (4, 1, task.segment_length) and task.segment_length == 1600
    assert not torch.equal(task.train_batches(1, 0, 1)[0]["wav"], first[0]["wav"])
    big = CodecTask(tiny_recipe(recipe.output_dir, train={"batch_size": 2}), corpus=FakeCorpus(corpus.folder, 8))
    rank0, rank1 = big.train_batches(0, 0, 2), big.train_batches(0, 1, 2)
    assert len(rank0) == len(rank1) == 2
    ids0 = {i for b in rank0 for i in b["ids"]}
    ids1 = {i for b in rank1 for i in b["ids"]}
    assert not ids0 & ids1 and len(ids0 | ids1) == 8


def test_validation_batches_are_fixed_and_padded(recipe, corpus):
    task = CodecTask(recipe, corpus=corpus)
    batches = list(task.validation_batches())
    assert [b["ids"] for b in batches] == [["utt6", "utt7"]]
    wav = batches[0]["wav"]
    assert wav.shape[-1] % 64 == 0 and wav.shape[-1] >= max(batches[0]["n_samples"])
    assert batches[0]["n_samples"] == [len(corpus.audio(r)) for r in corpus.records("validation")]
    assert task.validation_batches() is task.validation_batches()


def test_only_kind_trained_is_trainable(tmp_path):
    with pytest.raises(ValueError, match="only kind 'trained'"):
        CodecTask(tiny_recipe(tmp_path, kind="none"))


def test_each_step_trains_the_generator_on_its_reconstruction(recipe, corpus):
    task = CodecTask(recipe, corpus=corpus)
    modules = task.build_modules()
    assert set(modules) == {"generator"} and task.optimizer_groups() == {"generator": ["generator"]}
    steps = list(task.train_step(modules, task.train_batches(0, 0, 1)[0], 3, torch.device("cpu")))
    assert [name for name, _, _ in steps] == ["generator"]
    _, loss, logs = steps[0]
    assert {"mel", "wav_l1", "commit", "loss"} <= set(logs)
    assert logs["loss"] == pytest.approx(logs["mel"] + logs["wav_l1"] + logs["commit"], rel=1e-5)
    loss.backward()
    assert all(p.grad is not None for p in modules["generator"].encoder.parameters())


def test_a_short_training_loop_lowers_the_loss(recipe, corpus):
    """Drive the task with an AdamW optimiser, as the engine does: the reconstruction falls."""
    torch.manual_seed(0)
    task = CodecTask(recipe, corpus=corpus)
    modules = task.build_modules()
    optimizers = {"generator": torch.optim.AdamW(modules["generator"].parameters(), lr=3e-3)}
    batch = task.train_batches(0, 0, 1)[0]
    mel = []
    for step in range(30):
        for name, loss, logs in task.train_step(modules, batch, step, torch.device("cpu")):
            optimizers[name].zero_grad()
            loss.backward()
            optimizers[name].step()
        mel.append(logs["mel"])
    assert sum(mel[-5:]) / 5 < 0.8 * sum(mel[:3]) / 3, mel
    validation = task.validate(modules, next(iter(task.validation_batches())), torch.device("cpu"))
    assert set(validation) == {"loss", "mel_distance", "wav_l1"}


def test_the_engine_trains_the_codec_that_load_codec_returns(tmp_path, corpus):
    from tts.train.engine import train

    recipe = tiny_recipe(tmp_path / "run")
    task = CodecTask(recipe, corpus=corpus)
    run_dir = train(task, tmp_path / "run" / "codec")
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {"mel", "wav_l1", "commit"} <= set(lines[-2]) | set(lines[-3])
    assert any(line["split"] == "validation" and "mel_distance" in line for line in lines)
    checkpoint = torch.load(run_dir / "best.pt", weights_only=False)
    assert checkpoint["codec"] == trained_settings(recipe)
    codec = load_codec(recipe, "cpu")
    assert codec is not None and codec.settings() == trained_settings(recipe)
    for name, value in checkpoint["modules"]["generator"].items():
        assert torch.equal(codec.model.state_dict()[name], value), name
    last = codec_from_checkpoint(run_dir / "last.pt", "cpu")
    wav = torch.from_numpy(corpus.audio(corpus.records()[0]))[None, None]
    assert last.encode(wav).shape == (1, 2, -(-wav.shape[-1] // 64))


def test_write_samples_writes_a_wav_and_a_png(recipe, corpus, tmp_path):
    task = CodecTask(recipe, corpus=corpus)
    modules = task.build_modules()
    task.write_samples(modules, tmp_path / "samples", 7, torch.device("cpu"))
    names = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert names == ["codec-0000007-utt6.png", "codec-0000007-utt6.wav", "reference-utt6.wav"]


def test_phone_weight_labels_the_waveform_codecs_frames_by_their_middle_sample(tmp_path, corpus):
    import numpy as np

    from tts.data.store import write_ragged
    from tts.text.symbols import encode
    from tts.models.layers import IGNORE
    from tts.data.durations import mel_durations_path

    recipe = tiny_recipe(tmp_path / "run", phone_weight=0.5)
    hop = recipe.audio.hop_length
    record = corpus.records()[0]
    n_mel = record["n_samples"] // hop + 1
    record.update(phones=["S", "IY1"], n_mel_frames=n_mel)
    durations = np.array([n_mel // 2, n_mel - n_mel // 2], dtype=np.int16)
    mel_durations_path(recipe).parent.mkdir(parents=True)
    write_ragged(mel_durations_path(recipe), "durations", [record["id"]], [durations], aligner_step=1)
    task = CodecTask(recipe, corpus=corpus)
    start, length = 100, task.per_code * (record["n_samples"] // task.per_code)
    labels = task.collate([record], [start], length)["phones"][0]
    ids = np.repeat(encode(record["phones"]), durations)
    for j, label in enumerate(labels.tolist()):
        mel = (start + task.per_code * j + task.per_code // 2) // hop
        assert label == (ids[mel] if mel < n_mel else IGNORE), j
    assert set(labels.tolist()) >= set(encode(record["phones"]))
    out = task.build_modules()["generator"](task.collate([record], [start], length)["wav"])
    assert out.first.shape[-1] == labels.shape[0]
    modules = task.build_modules()
    batch = task.collate(corpus.records()[1:3], [0, 0], length)  # utterances the aligner never heard
    assert (batch["phones"] == IGNORE).all()
    ((_, loss, logs),) = list(task.train_step(modules, batch, 0, torch.device("cpu")))
    assert torch.isfinite(loss) and logs["phone_ce"] == 0.0
