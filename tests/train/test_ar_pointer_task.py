"""Stage ar over a (fake) prepared corpus: batches that tell each frame its phone and move, training with the
move head, the aligner's durations it needs."""

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tts.checkpoint import load_checkpoint
from tts.models.ar import ARModel
from tts.models.ar_pointer import MOVES
from tts.models.layers import IGNORE
from tts.train.ar_task import ARTask
from tts.train.engine import train
from tts.train.nar_task import NARTask

sys.path.insert(0, str(Path(__file__).parent))
from train_fixtures import FakeCorpus, tasks_recipe  # noqa: E402


def test_pointer_batches_tell_each_frame_its_phone_and_its_move(tmp_path, caplog):
    corpus = FakeCorpus(tmp_path)
    durations = corpus.durations(off_by={"utt05": 3})
    task = ARTask(tasks_recipe(tmp_path), corpus, durations=durations)
    with caplog.at_level(logging.WARNING):
        batches = list(task.train_batches(epoch=0, rank=0, world_size=1))
    assert "1 of 12 utterances' durations do not sum to their frames" in caplog.text
    assert int(task.phone_durations["utt05"].sum()) == corpus._codes["utt05"].shape[1]
    prompts, empty = 0, 0
    for batch in batches:
        assert batch["frame_index"].shape == batch["moves"].shape == batch["audio"].shape
        for i, utt in enumerate(batch["ids"]):
            d = task.phone_durations[utt]
            n, L = len(corpus._codes[utt][0]), len(d)
            frame = torch.repeat_interleave(torch.arange(L), d)  # (n,) the phone of each frame
            prompt = int((batch["targets"][i, :n + 1] == IGNORE).sum())
            assert prompt == 0 or prompt in (torch.cumsum(d, 0) - d).tolist()  # the prompt ends at a phone start
            assert (batch["frame_index"][i, :prompt] == -1).all() and (batch["moves"][i, :prompt] == IGNORE).all()
            assert torch.equal(batch["frame_index"][i, prompt:n], frame[prompt:])
            step = torch.diff(torch.cat([frame, torch.tensor([L])]))[prompt:].clamp(max=MOVES - 1)
            assert torch.equal(batch["moves"][i, prompt:n], step)
            assert batch["frame_index"][i, n] == L and batch["moves"][i, n] == IGNORE
            assert batch["targets"][i, n] == 16  # EOS stays the code target where the pointer has passed the end
            prompts += prompt > 0
            empty += int((d == 0).sum())
    assert prompts > 0 and empty > 0


def test_pointer_ar_trains_both_heads_checkpoints_its_alignment_and_writes_samples(tmp_path):
    recipe, corpus = tasks_recipe(tmp_path), FakeCorpus(tmp_path)
    train(ARTask(recipe, corpus, durations=corpus.durations()), tmp_path / "ar")
    checkpoint = load_checkpoint(tmp_path / "ar")
    assert checkpoint["model_config"]["alignment"] == "window"
    assert isinstance(ARModel.from_checkpoint(checkpoint), ARModel)
    records = [json.loads(line) for line in (tmp_path / "ar" / "metrics.jsonl").read_text().splitlines()]
    training = next(r for r in records if r["split"] == "train")
    assert {"move_loss", "move_accuracy", "code_loss"} <= set(training)
    validation = [r for r in records if r["split"] == "validation"][-1]
    assert 0 <= validation["move_accuracy"] <= 1
    assert validation["loss"] == pytest.approx(validation["code_loss"] + validation["move_loss"], rel=1e-5)
    sample = tmp_path / "ar" / "samples" / "step-4"
    assert (sample / "attention.png").is_file() and (sample / "sample.json").is_file()
    assert np.load(sample / "codes.npy").shape[0] == 1


def test_the_pointer_needs_the_aligner_and_computes_its_durations(tmp_path):
    from tts.train.aligner_task import AlignerTask
    from tts.data.durations import durations_path

    recipe, corpus = tasks_recipe(tmp_path), FakeCorpus(tmp_path)
    with pytest.raises(RuntimeError, match="train the aligner first"):
        ARTask(recipe, corpus).train_batches(0, 0, 1)[0]
    train(AlignerTask(recipe, corpus), tmp_path / "aligner")
    batch = ARTask(recipe, corpus).train_batches(0, 0, 1)[0]
    assert durations_path(recipe).is_file()
    assert batch["frame_index"].shape == batch["audio"].shape


def test_only_stage_ar_records_an_alignment(tmp_path):
    corpus = FakeCorpus(tmp_path)
    assert ARTask(tasks_recipe(tmp_path), corpus).model_config()["alignment"] == "window"
    nar = NARTask(tasks_recipe(tmp_path), corpus)
    assert "alignment" not in nar.model_config() and "frame_index" not in nar.train_batches(0, 0, 1)[0]
