"""AR and NAR stages over a (fake) prepared corpus: batches, training through the engine, samples, stages."""

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tts.models.ar import ARModel
from tts.models.layers import IGNORE
from tts.models.nar import NARModel
from tts.train import stages
from tts.train.ar_task import ARTask
from tts.train.checkpoint import load_checkpoint
from tts.train.engine import train
from tts.train.nar_task import NARTask

sys.path.insert(0, str(Path(__file__).parent))
from train_fixtures import FakeCorpus, tasks_recipe  # noqa: E402


def test_ar_batches_hold_bos_codes_eos_and_skip_the_prompt(tmp_path):
    corpus = FakeCorpus(tmp_path)
    task = ARTask(tasks_recipe(tmp_path), corpus)
    batches = task.train_batches(epoch=0, rank=0, world_size=1)
    assert sum(len(b["ids"]) for b in batches) == 10  # every training utterance once
    assert [b["ids"] for b in batches] == [b["ids"] for b in task.train_batches(0, 0, 1)]
    assert [b["ids"] for b in batches] != [b["ids"] for b in task.train_batches(1, 0, 1)]
    prompts = 0
    for batch in batches:
        assert batch["audio"].size(1) * len(batch["ids"]) <= 80 or len(batch["ids"]) == 1
        for i, utt in enumerate(batch["ids"]):
            codes = torch.from_numpy(corpus._codes[utt][0])
            n = len(codes)
            assert batch["audio"][i, 0] == 16 + 1  # BOS
            assert torch.equal(batch["audio"][i, 1:n + 1], codes)
            target = batch["targets"][i, :n + 1]
            assert target[n] == 16  # EOS
            prompt = int((target == IGNORE).sum())
            assert prompt <= min(5, n // 2)  # prompt_seconds 0.2 x 25 frames/s
            assert torch.equal(target[prompt:n], codes[prompt:])
            assert (batch["targets"][i, n + 1:] == IGNORE).all()
            prompts += prompt > 0
    assert prompts > 0
    halves = [task.train_batches(0, r, 2) for r in range(2)]
    assert len(halves[0]) == len(halves[1]) and not set(halves[0][0]["ids"]) & set(halves[1][0]["ids"])


@pytest.mark.parametrize("task_class", [ARTask, NARTask])
def test_short_first_epochs_start_with_the_shorter_utterances(tmp_path, task_class):
    corpus = FakeCorpus(tmp_path)
    recipe = tasks_recipe(tmp_path)
    section = task_class.name
    recipe = dataclasses.replace(recipe, **{section: dataclasses.replace(getattr(recipe, section),
                                                                          short_first_epochs=2)})
    task = task_class(recipe, corpus)
    data = task.dataset("train")
    length = {item.id: length for item, length in zip(data.items, data.lengths())}
    seen = [sorted(u for b in task.train_batches(e, 0, 1) for u in b["ids"]) for e in range(4)]
    assert len(seen[0]) < len(seen[1]) < len(seen[2]) == len(seen[3]) == 10
    assert set(seen[0]) <= set(seen[1])
    assert max(length[u] for u in seen[0]) <= min(length[u] for u in set(seen[2]) - set(seen[0]))
    plain = task_class(tasks_recipe(tmp_path), corpus)  # after the curriculum: the batches of a run without one
    assert [b["ids"] for b in plain.train_batches(2, 0, 1)] == [b["ids"] for b in task.train_batches(2, 0, 1)]


def test_nar_batches_draw_levels_two_to_q(tmp_path):
    task = NARTask(tasks_recipe(tmp_path), FakeCorpus(tmp_path))
    levels = torch.cat([b["level"] for b in task.train_batches(0, 0, 1)])
    assert set(levels.tolist()) <= {1, 2} and len(set(levels.tolist())) == 2
    batch = task.train_batches(0, 0, 1)[0]
    assert batch["codes"].shape[:2] == (len(batch["ids"]), 3)


def test_ar_then_nar_train_checkpoint_and_write_samples(tmp_path):
    recipe, corpus = tasks_recipe(tmp_path), FakeCorpus(tmp_path)
    train(ARTask(recipe, corpus), tmp_path / "ar")
    checkpoint = load_checkpoint(tmp_path / "ar")
    assert checkpoint["codec"]["n_codebooks"] == 3 and checkpoint["model_config"]["codebook_size"] == 16
    assert isinstance(ARModel.from_checkpoint(checkpoint), ARModel)
    records = [json.loads(line) for line in (tmp_path / "ar" / "metrics.jsonl").read_text().splitlines()]
    assert any("guided_attention" in r for r in records if r["split"] == "train")
    validation = [r for r in records if r["split"] == "validation"][-1]
    assert {"loss", "accuracy", "top10_accuracy"} <= set(validation)
    assert 0 <= validation["attention_penalty"] <= 1 and 0 < validation["phone_attention"] <= 1
    sample = tmp_path / "ar" / "samples" / "step-4"
    assert (sample / "codes.npy").is_file() and (sample / "sample.json").is_file()
    assert (sample / "attention.png").stat().st_size > 1000
    assert np.load(sample / "codes.npy").shape[0] == 1  # codebook 1 only: no NAR yet

    train(NARTask(recipe, corpus), tmp_path / "nar")
    checkpoint = load_checkpoint(tmp_path / "nar")
    assert isinstance(NARModel.from_checkpoint(checkpoint), NARModel)
    records = [json.loads(line) for line in (tmp_path / "nar" / "metrics.jsonl").read_text().splitlines()]
    validation = [r for r in records if r["split"] == "validation"][-1]
    assert {"loss", "loss_level2", "loss_level3", "accuracy_level3", "top10_accuracy_level2"} <= set(validation)
    info = json.loads((tmp_path / "nar" / "samples" / "step-4" / "sample.json").read_text())
    assert len(info["agreement_per_level"]) == 3 and info["agreement_per_level"][0] == 1.0

    # with a trained NAR, AR samples carry every level
    task = ARTask(recipe, corpus)
    model = ARModel.from_checkpoint(load_checkpoint(tmp_path / "ar"))
    folder = tmp_path / "again"
    folder.mkdir()
    task.write_samples({"model": model}, folder, 4, torch.device("cpu"))
    codes = np.load(folder / "codes.npy")
    assert codes.shape[0] == 3 and codes.shape[1] > 0
    assert (folder / "codes.png").is_file() and json.loads((folder / "sample.json").read_text())["levels"] == "all"


@pytest.mark.parametrize("task_class", [ARTask, NARTask])
def test_resuming_on_the_codes_of_another_codec_is_refused(tmp_path, task_class):
    recipe, corpus = tasks_recipe(tmp_path, max_steps=2, sample_every=0), FakeCorpus(tmp_path)
    corpus.settings["codec"]["checkpoint_digest"] = "codec trained 4,000 steps"
    run = tmp_path / task_class.name
    train(task_class(recipe, corpus), run)
    longer = dataclasses.replace(recipe, **{task_class.name: dataclasses.replace(
        getattr(recipe, task_class.name), train=dataclasses.replace(getattr(recipe, task_class.name).train, max_steps=4))})
    corpus.settings["codec"]["checkpoint_digest"] = "the same codec trained on to 12,000 steps"
    with pytest.raises(ValueError, match=r"learned the codes of another codec .*checkpoint_digest.*Move"):
        train(task_class(longer, corpus), run)
    del corpus.settings["codec"]["checkpoint_digest"]  # checkpoints of older corpora carry no digest: settings alone
    corpus.settings["codec"]["codebook_size"] = 32
    with pytest.raises(ValueError, match="differs in codebook_size"):
        train(task_class(longer, corpus), run)
    corpus.settings["codec"].update(codebook_size=16, checkpoint_digest="codec trained 4,000 steps")
    train(task_class(longer, corpus), run)  # the codes it learned: resumes
    assert load_checkpoint(run / "last.pt")["step"] == 4


def test_stages_skip_complete_and_name_missing_ones(tmp_path, monkeypatch):
    recipe = tasks_recipe(tmp_path)
    (tmp_path / "ar").mkdir()
    (tmp_path / "ar" / "ckpt-4.pt").write_bytes(b"")  # the final checkpoint of max_steps 4
    stages.train_stages(recipe, ["ar"])  # skipped: would fail for want of a prepared corpus otherwise
    monkeypatch.setitem(stages.TASKS, "vocoder", ("tts.train.no_such_task", "VocoderTask"))
    with pytest.raises(RuntimeError, match="stage vocoder is not built yet"):
        stages.train_stages(recipe, ["vocoder"])
    with pytest.raises(RuntimeError, match="unknown stage"):
        stages.train_stages(recipe, ["tacotron"])


class FakeCodec:
    n_codebooks, sample_rate, hop_length = 3, 16000, 640

    def __init__(self):
        self.decoded = []  # what each decode call read: "codes" or "latents"

    def decode(self, codes):
        assert codes.shape[:2] == (1, 3)
        self.decoded.append("codes")
        return torch.randn(1, 1, codes.shape[-1] * self.hop_length) * 0.1

    def codebooks(self):
        return torch.randn(3, 16, 8)  # (Q, V, D)

    def decode_latents(self, latents):
        assert latents.shape[:2] == (1, 8)
        self.decoded.append("latents")
        return torch.randn(1, 1, latents.shape[-1] * self.hop_length) * 0.1


@pytest.mark.parametrize("nar_decode", ["expected", "argmax"])
def test_samples_through_a_codec_are_wav_and_spectrogram(tmp_path, nar_decode):
    recipe, corpus = tasks_recipe(tmp_path, max_steps=1, sample_every=0), FakeCorpus(tmp_path)
    recipe = dataclasses.replace(recipe, synthesis=dataclasses.replace(recipe.synthesis, nar_decode=nar_decode))
    train(NARTask(recipe, corpus), tmp_path / "nar")
    task = NARTask(recipe, corpus)
    task._codec, task._codec_tried = FakeCodec(), True
    model = NARModel.from_checkpoint(load_checkpoint(tmp_path / "nar"))
    task.write_samples({"model": model}, tmp_path, 1, torch.device("cpu"))
    assert task._codec.decoded == ["latents" if nar_decode == "expected" else "codes"]  # as synthesis decodes
    import soundfile

    wav, rate = soundfile.read(tmp_path / "generated.wav")
    assert rate == 16000 and len(wav) == 14 * 640  # utt00 has 14 frames
    assert (tmp_path / "spectrogram.png").stat().st_size > 1000
    assert json.loads((tmp_path / "sample.json").read_text())["wav"] == "generated.wav"


def mel_recipe(tmp_path, weight: float = 1.0):
    recipe = tasks_recipe(tmp_path)
    return dataclasses.replace(recipe, ar=dataclasses.replace(recipe.ar, mel_loss=weight))


def test_ar_mel_targets_line_up_with_the_codes_each_position_predicts(tmp_path):
    """Position t (input: BOS or code t - 1) predicts code t and mel frames [4t, 4t + 4); past the
    recording's end the frames are silence (the log floor)."""
    from tts.audio.spectral import LOG_FLOOR

    corpus = FakeCorpus(tmp_path)
    task = ARTask(mel_recipe(tmp_path), corpus)
    assert task.mel_per_frame == 4 and task.model_config()["mel_per_frame"] == 4
    batch = task.train_batches(0, 0, 1)[0]
    B, T1 = batch["audio"].shape
    assert batch["mel"].shape == (B, T1, 4, 80)
    data = task.dataset("train")
    index = next(i for i, item in enumerate(data.items) if item.id == batch["ids"][0])
    n = data.items[index].n_frames
    mel = batch["mel"][0]  # (T + 1, 4, 80)
    torch.testing.assert_close(mel[2, 1, 0], torch.tensor((2 * 4 + 1) / 100))
    torch.testing.assert_close(mel[n - 1, :2, 7], torch.tensor([(4 * n - 4) / 100, (4 * n - 3) / 100]))
    assert torch.all(mel[n - 1, 2:] == float(np.log(LOG_FLOOR)))  # the two missing frames
    assert "mel" not in ARTask(tasks_recipe(tmp_path), corpus).train_batches(0, 0, 1)[0]


def test_ar_mel_l1_counts_target_frames_only(tmp_path):
    task = ARTask(mel_recipe(tmp_path), FakeCorpus(tmp_path))
    batch = task.train_batches(0, 0, 1)[0]
    wanted = (batch["targets"] != IGNORE) & (batch["targets"] != 16)
    wrong = batch["mel"].clone()
    wrong[~wanted] += 5.0  # prompt, EOS and padding positions: not scored
    assert task.mel_l1(wrong, batch).item() == pytest.approx(0.0)
    wrong[wanted] += 0.5
    assert task.mel_l1(wrong, batch).item() == pytest.approx(0.5)


def test_ar_with_a_mel_head_trains_logs_and_loads(tmp_path):
    corpus = FakeCorpus(tmp_path)
    train(ARTask(mel_recipe(tmp_path, 0.5), corpus), tmp_path / "ar")
    model = ARModel.from_checkpoint(load_checkpoint(tmp_path / "ar"))
    assert model.has_mel_head and model.mel_per_frame == 4
    records = [json.loads(line) for line in (tmp_path / "ar" / "metrics.jsonl").read_text().splitlines()]
    assert any("mel_l1" in r for r in records if r["split"] == "train")
    validation = [r for r in records if r["split"] == "validation"][-1]
    assert validation["loss"] == pytest.approx(validation["token_loss"] + 0.5 * validation["mel_l1"])
    assert (tmp_path / "ar" / "samples" / "step-4" / "sample.json").is_file()  # no vocoder: mel.wav skipped


def test_ar_mel_head_needs_whole_mel_frames_per_code(tmp_path):
    recipe = mel_recipe(tmp_path)
    recipe = dataclasses.replace(recipe, audio=dataclasses.replace(recipe.audio, hop_length=150))
    with pytest.raises(ValueError, match="ar.mel_loss needs a whole number of mel frames"):
        ARTask(recipe, FakeCorpus(tmp_path)).model_config()


def mel_nar_recipe(tmp_path, noise: float = 0.5):
    recipe = tasks_recipe(tmp_path)
    return dataclasses.replace(recipe, nar=dataclasses.replace(recipe.nar, predict="mel", code_noise=noise))


def test_mel_nar_batches_hold_mel_targets_and_noisy_codebook_one(tmp_path):
    corpus = FakeCorpus(tmp_path)
    task = NARTask(mel_nar_recipe(tmp_path, noise=0.9), corpus)
    assert task.model_config()["mel_per_frame"] == 4 and task.model_config()["mel_bins"] == 80
    batches = task.train_batches(0, 0, 1)
    batch = batches[0]
    B, Q, T = batch["codes"].shape
    assert batch["mel"].shape == (B, T, 4, 80) and batch["noisy_first"].shape == (B, T)
    data = task.dataset("train")
    index = next(i for i, item in enumerate(data.items) if item.id == batch["ids"][0])
    torch.testing.assert_close(batch["mel"][0, 2, 1, 0], torch.tensor((2 * 4 + 1) / 100))  # frame t: mel [4t, 4t + 4)
    assert data.items[index].n_frames == int(batch["audio_lengths"][0])
    changed, target = [], []
    for b in batches:
        P = b["prompt_lengths"]
        for i in range(len(b["ids"])):
            n, p = int(b["audio_lengths"][i]), int(P[i])
            assert torch.equal(b["noisy_first"][i, :p], b["codes"][i, 0, :p])  # the prompt is kept
            changed.append(int((b["noisy_first"][i, p:n] != b["codes"][i, 0, p:n]).sum()))
            target.append(n - p)
    assert 0 < sum(changed) < 0.9 * sum(target)  # on average under half of 0.9 (and random codes can agree)
    again = NARTask(mel_nar_recipe(tmp_path, noise=0.9), corpus).train_batches(0, 0, 1)[0]
    assert torch.equal(again["noisy_first"], batch["noisy_first"])  # drawn with the batch: the same on resume
    clean = NARTask(mel_nar_recipe(tmp_path, noise=0.0), corpus).train_batches(0, 0, 1)[0]
    assert torch.equal(clean["noisy_first"], clean["codes"][:, 0])
    assert "mel" not in NARTask(tasks_recipe(tmp_path), corpus).train_batches(0, 0, 1)[0]


def test_mel_nar_l1_reads_the_given_codes_and_counts_target_frames_only(tmp_path):
    task = NARTask(mel_nar_recipe(tmp_path), FakeCorpus(tmp_path))
    batch = task.train_batches(0, 0, 1)[0]
    T = batch["codes"].size(2)
    wanted = (torch.arange(T)[None] < batch["audio_lengths"][:, None]) & \
        (torch.arange(T)[None] >= batch["prompt_lengths"][:, None])

    class Echo(torch.nn.Module):  # predicts the targets, off by `shift` where codebook 1 is code 0
        shift = 0.0

        def mel(self, phones, phone_lengths, codes, audio_lengths, prompt_lengths):
            return batch["mel"] + 5.0 * (~wanted)[..., None, None] + self.shift * (codes[:, 0] == 0)[..., None, None]

    echo = Echo()
    assert task._mel(echo, batch, batch["codes"][:, 0]).item() == pytest.approx(0.0)  # off-target: not scored
    echo.shift = 1.0
    zeros = torch.zeros_like(batch["codes"][:, 0])
    assert task._mel(echo, batch, zeros).item() == pytest.approx(1.0)  # the codes it is given are read


def test_mel_nar_trains_validates_and_loads_and_ar_samples_say_so(tmp_path):
    recipe, corpus = mel_nar_recipe(tmp_path), FakeCorpus(tmp_path)
    train(NARTask(recipe, corpus), tmp_path / "nar")
    model = NARModel.from_checkpoint(load_checkpoint(tmp_path / "nar"))
    assert model.predicts_mel and model.mel_per_frame == 4
    records = [json.loads(line) for line in (tmp_path / "nar" / "metrics.jsonl").read_text().splitlines()]
    validation = [r for r in records if r["split"] == "validation"][-1]
    assert validation["loss"] == validation["mel_l1"] and validation["mel_l1_noisy"] > 0
    assert json.loads((tmp_path / "nar" / "samples" / "step-4" / "sample.json").read_text())["codebook_1"] == "true codes"
    train(ARTask(recipe, corpus), tmp_path / "ar")
    info = json.loads((tmp_path / "ar" / "samples" / "step-4" / "sample.json").read_text())
    assert info["levels"].startswith("codebook 1 (the NAR's mel frames")


def test_mel_nar_needs_whole_mel_frames_per_code(tmp_path):
    recipe = mel_nar_recipe(tmp_path)
    recipe = dataclasses.replace(recipe, audio=dataclasses.replace(recipe.audio, hop_length=150))
    with pytest.raises(ValueError, match="nar.predict: mel needs a whole number of mel frames"):
        NARTask(recipe, FakeCorpus(tmp_path)).model_config()


class CertainAR(torch.nn.Module):
    """Teacher-forced logits sure of code 3 at every position (V = 16 codes + EOS + BOS)."""

    def forward(self, phones, phone_lengths, audio, audio_lengths, **_):
        logits = torch.full((*audio.shape, 18), -1e4)
        logits[..., 3] = 0.0
        return logits, None


def test_scheduled_sampling_feeds_the_models_draws_after_the_prompt(tmp_path):
    recipe = tasks_recipe(tmp_path)
    task = ARTask(dataclasses.replace(recipe, ar=dataclasses.replace(recipe.ar, scheduled_sampling=0.5)),
                  FakeCorpus(tmp_path))
    batch = task.train_batches(0, 0, 1)[0]
    mixed = task.own_draws(CertainAR(), batch, 0.999, step=7)
    audio, targets = batch["audio"], batch["targets"]
    scored = (targets[:, :-1] != IGNORE) & (targets[:, :-1] < 16)  # position t predicts code t = input t + 1
    assert torch.equal(mixed["audio"][:, 0], audio[:, 0])  # BOS
    assert torch.equal(mixed["audio"][:, 1:][~scored], audio[:, 1:][~scored])  # the prompt's frames and padding
    assert torch.all(mixed["audio"][:, 1:][scored] == 3)  # the model's draws
    assert mixed["own_draws"] == int(scored.sum()) > 0
    half = task.own_draws(CertainAR(), batch, 0.5, step=7)
    changed = (half["audio"] != audio) & (audio != 3)
    assert 0 < changed.sum() < scored.sum()
    assert torch.equal(half["audio"], task.own_draws(CertainAR(), batch, 0.5, step=7)["audio"])  # seeded by step
    assert not torch.equal(half["audio"], task.own_draws(CertainAR(), batch, 0.5, step=8)["audio"])
    assert torch.equal(task.own_draws(CertainAR(), batch, 0.0, step=7)["audio"], audio)


def test_ar_trains_with_scheduled_sampling_and_logs_its_share(tmp_path):
    recipe = tasks_recipe(tmp_path)
    recipe = dataclasses.replace(recipe, ar=dataclasses.replace(recipe.ar, scheduled_sampling=0.3))
    train(ARTask(recipe, FakeCorpus(tmp_path)), tmp_path / "ar")
    records = [json.loads(line) for line in (tmp_path / "ar" / "metrics.jsonl").read_text().splitlines()]
    shares = [r["own_draws"] for r in records if r["split"] == "train"]
    assert shares and all(0 <= s <= 1 for s in shares) and max(shares) > 0


def durations_recipe(tmp_path):
    recipe = tasks_recipe(tmp_path)
    return dataclasses.replace(recipe, nar=dataclasses.replace(recipe.nar, predict="mel", condition="durations"))


def test_aligner_trains_validates_and_draws_its_attention(tmp_path):
    from tts.models.alignment import Aligner
    from tts.train.aligner_task import AlignerTask

    recipe, corpus = durations_recipe(tmp_path), FakeCorpus(tmp_path)
    task = AlignerTask(recipe, corpus)
    batch = task.train_batches(0, 0, 1)[0]
    i = 0
    record = next(r for r in corpus.records() if r["id"] == batch["ids"][i])
    assert int(batch["frame_lengths"][i]) == record["n_mel_frames"] and batch["frames"].size(2) == 80
    frames = batch["frames"][i, :record["n_mel_frames"]]
    assert frames.mean(dim=0).abs().max() < 1e-5 and (frames.std(dim=0) - 1).abs().max() < 1e-3  # per-bin normalised
    train(task, tmp_path / "aligner")
    records = [json.loads(line) for line in (tmp_path / "aligner" / "metrics.jsonl").read_text().splitlines()]
    validation = [r for r in records if r["split"] == "validation"][-1]
    assert np.isfinite(validation["loss"]) and 0 < validation["path_attention"] <= 1
    model = Aligner.from_checkpoint(load_checkpoint(tmp_path / "aligner"))
    assert model.width == 16
    sample = tmp_path / "aligner" / "samples" / "step-4"
    assert (sample / "attention.png").stat().st_size > 0
    info = json.loads((sample / "sample.json").read_text())
    assert len(info["durations_ms"]) == len(corpus.records("validation")[0]["phones"])
    assert sum(ms for _, ms in info["durations_ms"]) == 10 * corpus.records("validation")[0]["n_mel_frames"]
    with pytest.raises(ValueError, match="not a checkpoint of the aligner"):
        Aligner.from_checkpoint(load_checkpoint(tmp_path / "aligner") | {"model_config": None, "modules": {}})


def test_aligner_is_a_stage(tmp_path):
    from tts.train.aligner_task import AlignerTask

    assert isinstance(stages.load_task(durations_recipe(tmp_path), "aligner"), AlignerTask)


def test_durations_come_from_the_aligner_and_fit_every_utterance(tmp_path):
    from tts.train.aligner_task import AlignerTask
    from tts.train.durations import durations_path, load_durations

    recipe, corpus = durations_recipe(tmp_path), FakeCorpus(tmp_path)
    task = NARTask(recipe, corpus)
    with pytest.raises(RuntimeError, match="train the aligner first"):
        task.train_batches(0, 0, 1)[0]
    train(AlignerTask(recipe, corpus), tmp_path / "aligner")
    durations = load_durations(recipe, task)
    assert durations_path(recipe).is_file()
    for split in ("train", "validation"):
        for item in task.dataset(split).items:
            d = durations[item.id]
            assert len(d) == len(item.phones) and int(d.sum()) == item.n_frames and d.min() >= 0
    batch = task.train_batches(0, 0, 1)[0]
    B, Q, T = batch["codes"].shape
    assert batch["frame_phone"].shape == (B, T) and batch["durations"].shape == batch["phones"].shape
    for i in range(B):
        d = batch["durations"][i, :int(batch["phone_lengths"][i])]
        n = int(batch["audio_lengths"][i])
        expected = torch.repeat_interleave(torch.arange(len(d)), d)
        assert torch.equal(batch["frame_phone"][i, :n], expected)
        starts = torch.cumsum(d, 0) - d
        assert torch.equal(batch["duration_wanted"][i, :len(d)], starts >= batch["prompt_lengths"][i])
    # a durations file of another corpus is refused by name
    np.savez(durations_path(recipe), ids=np.asarray(["other"]), lengths=np.asarray([1]),
             durations=np.asarray([1], dtype=np.int16), aligner_step=0)
    with pytest.raises(RuntimeError, match="has no durations of utterance"):
        NARTask(recipe, corpus).train_batches(0, 0, 1)[0]


def test_durations_nar_trains_validates_loads_and_speaks_its_samples(tmp_path):
    from tts.train.aligner_task import AlignerTask

    recipe, corpus = durations_recipe(tmp_path), FakeCorpus(tmp_path)
    train(AlignerTask(recipe, corpus), tmp_path / "aligner")
    train(ARTask(recipe, corpus), tmp_path / "ar")
    train(NARTask(recipe, corpus), tmp_path / "nar")
    model = NARModel.from_checkpoint(load_checkpoint(tmp_path / "nar"))
    assert model.reads_durations and model.predicts_mel
    records = [json.loads(line) for line in (tmp_path / "nar" / "metrics.jsonl").read_text().splitlines()]
    assert {"mel_l1", "duration_loss"} <= set(next(r for r in records if r["split"] == "train"))
    validation = [r for r in records if r["split"] == "validation"][-1]
    assert validation["loss"] == pytest.approx(validation["mel_l1"] + validation["duration_loss"])
    assert validation["duration_error"] >= 0
    info = json.loads((tmp_path / "nar" / "samples" / "step-4" / "sample.json").read_text())
    assert info["frames"] > 0 and "true_frames" in info
    folder = tmp_path / "again"
    folder.mkdir()
    ARTask(recipe, corpus).write_samples({"model": ARModel.from_checkpoint(load_checkpoint(tmp_path / "ar"))},
                                         folder, 4, torch.device("cpu"))
    assert json.loads((folder / "sample.json").read_text())["levels"].startswith("codebook 1 only (the NAR reads")


class ToneCorpus(FakeCorpus):
    """FakeCorpus whose utterance i is a tone of 100 + 25 i Hz with four harmonics."""

    def audio(self, record):
        f0 = 100.0 + 25.0 * int(record["id"][3:])
        t = np.arange(record["n_frames"] * 640) / self.sample_rate
        return sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5)).astype(np.float32)


def test_pitch_nar_reads_each_phones_pitch_and_trains_on_it(tmp_path):
    from tts.text.symbols import VOICED
    from tts.train.aligner_task import AlignerTask
    from tts.train.pitch import pitch_path, read_pitch

    recipe = durations_recipe(tmp_path)
    recipe = dataclasses.replace(recipe, nar=dataclasses.replace(recipe.nar, pitch=True))
    corpus = ToneCorpus(tmp_path)
    train(AlignerTask(recipe, corpus), tmp_path / "aligner")
    task = NARTask(recipe, corpus)
    batch = task.train_batches(0, 0, 1)[0]
    pitch, (mean, std) = read_pitch(pitch_path(recipe))
    assert batch["pitch"].shape == batch["phones"].shape
    hz = {}
    for i, utterance in enumerate(batch["ids"]):
        record = next(r for r in corpus.records() if r["id"] == utterance)
        z = batch["pitch"][i, :len(record["phones"])]
        voiced = torch.tensor([p in VOICED for p in record["phones"]])
        assert torch.isnan(z[~voiced]).all()  # voiceless phones carry none
        known = z[~torch.isnan(z)]
        if len(known):
            hz[utterance] = float(torch.exp(known * std + mean).median())
            assert abs(hz[utterance] / (100 + 25 * int(utterance[3:])) - 1) < 0.05
    assert hz
    train(task, tmp_path / "nar")
    model = NARModel.from_checkpoint(load_checkpoint(tmp_path / "nar"))
    assert model.pitch
    records = [json.loads(line) for line in (tmp_path / "nar" / "metrics.jsonl").read_text().splitlines()]
    assert "pitch_loss" in next(r for r in records if r["split"] == "train")
    validation = [r for r in records if r["split"] == "validation"][-1]
    assert validation["loss"] == pytest.approx(validation["mel_l1"] + validation["duration_loss"]
                                               + validation["pitch_loss"], rel=1e-5)
    assert validation["pitch_error"] >= 0
    # a pitch file of another corpus is refused by name
    np.savez(pitch_path(recipe), ids=np.asarray(["other"]), lengths=np.asarray([1]),
             pitch=np.asarray([0.0], dtype=np.float32), mean=0.0, std=1.0)
    with pytest.raises(RuntimeError, match="has no pitch of utterance"):
        NARTask(recipe, corpus).train_batches(0, 0, 1)[0]


def test_nar_vocoder_hears_the_nar_at_each_recordings_durations(tmp_path):
    import math

    from tts.audio.spectral import LOG_FLOOR
    from tts.train.aligner_task import AlignerTask
    from tts.train.nar_mels import NARMelCorpus, compute_nar_mels, nar_mels_path, read_nar_mels

    recipe, corpus = durations_recipe(tmp_path), FakeCorpus(tmp_path)
    path = nar_mels_path(tmp_path)
    with pytest.raises(RuntimeError, match="train the NAR first"):
        compute_nar_mels(recipe, corpus, path)
    train(AlignerTask(recipe, corpus), tmp_path / "aligner")
    train(NARTask(recipe, corpus), tmp_path / "nar")
    compute_nar_mels(recipe, corpus, path)
    mels = read_nar_mels(path)
    assert set(mels) == {r["id"] for r in corpus.records()}  # fewer than TRAIN_UTTERANCES: all of them
    for record in corpus.records():
        assert mels[record["id"]].shape == (4 * record["n_frames"], 80)  # the recording's own codec frames x r
    wrapped = NARMelCorpus(corpus, mels)
    record = corpus.records("validation")[0]
    mel = wrapped.mel(record)
    assert mel.shape == corpus.mel(record).shape  # cut to the recording's mel frames
    assert np.allclose(mel, mels[record["id"]].T[:, :mel.shape[1]].astype(np.float32))
    short = dict(record, n_mel_frames=4 * record["n_frames"] + 3)
    assert np.allclose(wrapped.mel(short)[:, -3:], math.log(LOG_FLOOR))  # padded with silence
    assert wrapped.codes(record) is corpus.codes(record) and wrapped.sample_rate == corpus.sample_rate
    only = NARMelCorpus(corpus, {record["id"]: mels[record["id"]]})
    assert [r["id"] for r in only.records()] == [record["id"]]
