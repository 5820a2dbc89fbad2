"""AR, NAR, aligner and durations stages over a (fake) prepared corpus: batches, training through the engine,
samples, stages."""

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tts.checkpoint import load_checkpoint
from tts.models.ar import ARModel
from tts.models.durations import DurationsModel
from tts.models.layers import IGNORE
from tts.models.nar import NARModel
from tts.train import stages
from tts.train.ar_task import ARTask
from tts.train.durations_task import DurationsTask
from tts.train.engine import train
from tts.train.nar_task import NARTask

sys.path.insert(0, str(Path(__file__).parent))
from train_fixtures import FakeCorpus, tasks_recipe  # noqa: E402


def speech_task(task_class, recipe, corpus: FakeCorpus):
    """The task over the fake corpus, with its made-up aligner durations (the AR's pointer learns them)."""
    return task_class(recipe, corpus, durations=corpus.durations())


def test_ar_batches_hold_bos_codes_eos_and_skip_the_prompt(tmp_path):
    corpus = FakeCorpus(tmp_path)
    task = speech_task(ARTask, tasks_recipe(tmp_path), corpus)
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
    task = speech_task(task_class, recipe, corpus)
    data = task.dataset("train")
    length = {item.id: length for item, length in zip(data.items, data.lengths())}
    seen = [sorted(u for b in task.train_batches(e, 0, 1) for u in b["ids"]) for e in range(4)]
    assert len(seen[0]) < len(seen[1]) < len(seen[2]) == len(seen[3]) == 10
    assert set(seen[0]) <= set(seen[1])
    assert max(length[u] for u in seen[0]) <= min(length[u] for u in set(seen[2]) - set(seen[0]))
    plain = speech_task(task_class, tasks_recipe(tmp_path), corpus)  # after the curriculum: the batches of a run without one
    assert [b["ids"] for b in plain.train_batches(2, 0, 1)] == [b["ids"] for b in task.train_batches(2, 0, 1)]


def test_nar_batches_draw_levels_two_to_q(tmp_path):
    task = NARTask(tasks_recipe(tmp_path), FakeCorpus(tmp_path))
    levels = torch.cat([b["level"] for b in task.train_batches(0, 0, 1)])
    assert set(levels.tolist()) <= {1, 2} and len(set(levels.tolist())) == 2
    batch = task.train_batches(0, 0, 1)[0]
    assert batch["codes"].shape[:2] == (len(batch["ids"]), 3)


@pytest.mark.parametrize("share", [0.5, 0.2, 1.0])
def test_nar_trains_level_two_for_its_share_of_utterances_and_the_others_alike(share):
    from tts.train.nar_task import draw_levels

    levels = draw_levels(20000, 6, share, np.random.default_rng(0)).numpy()  # 0-based: 1 is level 2
    counts = np.bincount(levels, minlength=6)
    assert counts[0] == 0 and abs(counts[1] / 20000 - share) < 0.015
    if share < 1:
        upper = counts[2:] / counts[2:].sum()
        assert np.all(np.abs(upper - 0.25) < 0.02)  # levels 3..6 alike
    assert set(draw_levels(50, 2, 0.3, np.random.default_rng(0)).tolist()) == {1}  # only level 2 to draw


def test_ar_then_nar_train_checkpoint_and_write_samples(tmp_path):
    recipe, corpus = tasks_recipe(tmp_path), FakeCorpus(tmp_path)
    train(speech_task(ARTask, recipe, corpus), tmp_path / "ar")
    checkpoint = load_checkpoint(tmp_path / "ar")
    assert checkpoint["codec"]["n_codebooks"] == 3 and checkpoint["model_config"]["codebook_size"] == 16
    assert isinstance(ARModel.from_checkpoint(checkpoint), ARModel)
    records = [json.loads(line) for line in (tmp_path / "ar" / "metrics.jsonl").read_text().splitlines()]
    validation = [r for r in records if r["split"] == "validation"][-1]
    assert {"loss", "accuracy", "top10_accuracy"} <= set(validation)
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
    task = speech_task(ARTask, recipe, corpus)
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
    train(speech_task(task_class, recipe, corpus), run)
    longer = dataclasses.replace(recipe, **{task_class.name: dataclasses.replace(
        getattr(recipe, task_class.name), train=dataclasses.replace(getattr(recipe, task_class.name).train, max_steps=4))})
    corpus.settings["codec"]["checkpoint_digest"] = "the same codec trained on to 12,000 steps"
    with pytest.raises(ValueError, match=r"learned the codes of another codec .*checkpoint_digest.*Move"):
        train(speech_task(task_class, longer, corpus), run)
    del corpus.settings["codec"]["checkpoint_digest"]  # checkpoints of older corpora carry no digest: settings alone
    corpus.settings["codec"]["codebook_size"] = 32
    with pytest.raises(ValueError, match="differs in codebook_size"):
        train(speech_task(task_class, longer, corpus), run)
    corpus.settings["codec"].update(codebook_size=16, checkpoint_digest="codec trained 4,000 steps")
    train(speech_task(task_class, longer, corpus), run)  # the codes it learned: resumes
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


def test_samples_through_a_codec_are_wav_and_spectrogram(tmp_path):
    recipe, corpus = tasks_recipe(tmp_path, max_steps=1, sample_every=0), FakeCorpus(tmp_path)
    train(NARTask(recipe, corpus), tmp_path / "nar")
    task = NARTask(recipe, corpus)
    task._codec, task._codec_tried = FakeCodec(), True
    model = NARModel.from_checkpoint(load_checkpoint(tmp_path / "nar"))
    task.write_samples({"model": model}, tmp_path, 1, torch.device("cpu"))
    assert task._codec.decoded == ["latents"]  # the NAR's expected latents, as synthesis decodes them
    import soundfile

    wav, rate = soundfile.read(tmp_path / "generated.wav")
    assert rate == 16000 and len(wav) == 14 * 640  # utt00 has 14 frames
    assert (tmp_path / "spectrogram.png").stat().st_size > 1000
    assert json.loads((tmp_path / "sample.json").read_text())["wav"] == "generated.wav"


def test_aligner_trains_validates_and_draws_its_attention(tmp_path):
    from tts.models.alignment import Aligner
    from tts.train.aligner_task import AlignerTask

    recipe, corpus = tasks_recipe(tmp_path), FakeCorpus(tmp_path)
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

    assert isinstance(stages.load_task(tasks_recipe(tmp_path), "aligner"), AlignerTask)


def test_mel_durations_come_from_the_aligner_without_codes(tmp_path):
    from tts.data.durations import mel_durations_path
    from tts.train.aligner_task import AlignerTask
    from tts.train.durations import load_mel_durations

    recipe, corpus = tasks_recipe(tmp_path), FakeCorpus(tmp_path)
    corpus.has_codes = False
    corpus.codes = None  # the codec stage comes before any codes
    train(AlignerTask(recipe, corpus), tmp_path / "aligner")
    durations = load_mel_durations(recipe, corpus)
    assert mel_durations_path(recipe).is_file()
    assert set(durations) == {r["id"] for r in corpus.records()}
    for record in corpus.records():
        d = durations[record["id"]]
        assert len(d) == len(record["phones"]) and int(d.sum()) == record["n_mel_frames"] and d.min() >= 0


def test_durations_come_from_the_aligner_and_fit_every_utterance(tmp_path):
    from tts.data.durations import durations_path
    from tts.train.aligner_task import AlignerTask
    from tts.train.durations import load_durations

    recipe, corpus = tasks_recipe(tmp_path), FakeCorpus(tmp_path)
    task = DurationsTask(recipe, corpus)
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
    with pytest.raises(RuntimeError, match="has no durations of the 8 phones of utt02.*delete the file"):
        DurationsTask(recipe, corpus).train_batches(0, 0, 1)[0]


def test_codec_frame_durations_are_rounded_from_the_codec_stages_mel_durations(tmp_path):
    """The AR's durations come from mel_durations.npz where it holds every utterance of the same aligner
    checkpoint, equal to reading them off the aligner again; a file of another checkpoint is not used."""
    from tts.checkpoint import read_checkpoint
    from tts.data.store import write_ragged
    from tts.data.durations import durations_path, mel_durations_path
    from tts.train.aligner_task import AlignerTask
    from tts.train.durations import load_durations, load_mel_durations

    recipe, corpus = tasks_recipe(tmp_path), FakeCorpus(tmp_path)
    train(AlignerTask(recipe, corpus), tmp_path / "aligner")
    read_again = load_durations(recipe, DurationsTask(recipe, corpus))
    durations_path(recipe).unlink()
    mel = load_mel_durations(recipe, corpus)
    rounded = load_durations(recipe, DurationsTask(recipe, corpus))
    assert set(rounded) == set(read_again) and all(np.array_equal(rounded[i], read_again[i]) for i in rounded)
    # the mel file of another aligner step, with every duration moved to the first phone: not used
    durations_path(recipe).unlink()
    ids = sorted(mel)
    moved = [np.concatenate([[mel[i].sum()], np.zeros(len(mel[i]) - 1, dtype=mel[i].dtype)]) for i in ids]
    write_ragged(mel_durations_path(recipe), "durations", ids, moved, aligner_step=-5)
    assert all(np.array_equal(d, read_again[i]) for i, d in load_durations(recipe, DurationsTask(recipe, corpus)).items())
    # the same file at the checkpoint's step: used (its moved durations come through, rounded)
    durations_path(recipe).unlink()
    write_ragged(mel_durations_path(recipe), "durations", ids, moved,
                 aligner_step=int(read_checkpoint(tmp_path / "aligner" / "best.pt")["step"]))
    used = load_durations(recipe, DurationsTask(recipe, corpus))
    assert all(d[1:].sum() == 0 for d in used.values())


def test_durations_batches_hold_mel_targets_lined_up_with_the_codec_frames(tmp_path):
    """Frame t holds the log-mel frames [4t, 4t + 4); past the recording's end they are silence."""
    from tts.audio.spectral import LOG_FLOOR
    from tts.train.aligner_task import AlignerTask

    recipe, corpus = tasks_recipe(tmp_path), FakeCorpus(tmp_path)
    train(AlignerTask(recipe, corpus), tmp_path / "aligner")
    task = DurationsTask(recipe, corpus)
    assert task.mel_per_frame == 4 and task.model_config()["mel_per_frame"] == 4
    batch = task.train_batches(0, 0, 1)[0]
    B, Q, T = batch["codes"].shape
    assert batch["mel"].shape == (B, T, 4, 80)
    n = int(batch["audio_lengths"][0])
    mel = batch["mel"][0]  # (T, 4, 80)
    torch.testing.assert_close(mel[2, 1, 0], torch.tensor((2 * 4 + 1) / 100))
    torch.testing.assert_close(mel[n - 1, :2, 7], torch.tensor([(4 * n - 4) / 100, (4 * n - 3) / 100]))
    assert torch.all(mel[n - 1, 2:] == float(np.log(LOG_FLOOR)))  # the two frames the recording lacks
    odd = dataclasses.replace(recipe, audio=dataclasses.replace(recipe.audio, hop_length=150))
    with pytest.raises(ValueError, match="needs a whole number of mel frames per codec frame"):
        DurationsTask(odd, corpus).model_config()


def test_durations_model_trains_validates_loads_and_speaks_its_samples(tmp_path):
    from tts.train.aligner_task import AlignerTask

    recipe, corpus = tasks_recipe(tmp_path), FakeCorpus(tmp_path)
    train(AlignerTask(recipe, corpus), tmp_path / "aligner")
    train(DurationsTask(recipe, corpus), tmp_path / "durations")
    model = DurationsModel.from_checkpoint(load_checkpoint(tmp_path / "durations"))
    assert model.mel_per_frame == 4 and model.n_codebooks == 3
    records = [json.loads(line) for line in (tmp_path / "durations" / "metrics.jsonl").read_text().splitlines()]
    assert {"mel_l1", "duration_loss"} <= set(next(r for r in records if r["split"] == "train"))
    validation = [r for r in records if r["split"] == "validation"][-1]
    assert validation["loss"] == pytest.approx(validation["mel_l1"] + validation["duration_loss"])
    assert validation["duration_error"] >= 0
    # the model keeps its validation pass's squared log error over all its phones (what synthesis speaks the mean
    # length with): a new pass over the saved weights finds the same, and a second pass does not add to the first
    kept = float(model.duration_variance)
    assert kept > 0
    task = DurationsTask(recipe, corpus)
    for _ in range(2):
        squared = phones = 0.0
        for batch in task.validation_batches():
            task.validate({"model": model}, batch, torch.device("cpu"))
            wanted = batch["duration_wanted"]
            _, log_frames = model(batch["phones"], batch["phone_lengths"], batch["codes"], batch["audio_lengths"],
                                  batch["prompt_lengths"], batch["frame_phone"], batch["place"])
            squared += float(((log_frames - torch.log1p(batch["durations"].float())) ** 2)[wanted].sum())
            phones += int(wanted.sum())
        assert float(model.duration_variance) == pytest.approx(squared / phones, rel=1e-4)
        assert float(model.duration_variance) == pytest.approx(kept, rel=1e-4)
    info = json.loads((tmp_path / "durations" / "samples" / "step-4" / "sample.json").read_text())
    assert info["frames"] > 0 and "true_frames" in info and "wav" not in info  # no vocoder yet: not voiced


def test_durations_stage_loads_its_task_and_train_config(tmp_path):
    recipe = tasks_recipe(tmp_path)
    assert isinstance(stages.load_task(recipe, "durations"), DurationsTask)
    assert stages.stage_config(recipe, "durations") is recipe.durations.train


def test_spoken_mel_corpus_gives_each_recording_the_models_frames_cut_or_padded_to_its_own(tmp_path):
    import math

    from tts.audio.spectral import LOG_FLOOR
    from tts.train.spoken_mels import SpokenMelCorpus

    corpus = FakeCorpus(tmp_path)
    rng = np.random.default_rng(0)
    mels = {r["id"]: rng.normal(size=(4 * r["n_frames"], 80)).astype(np.float16) for r in corpus.records()}
    wrapped = SpokenMelCorpus(corpus, mels)
    record = corpus.records("validation")[0]
    mel = wrapped.mel(record)
    assert mel.shape == corpus.mel(record).shape  # cut to the recording's mel frames
    assert np.allclose(mel, mels[record["id"]].T[:, :mel.shape[1]].astype(np.float32))
    short = dict(record, n_mel_frames=4 * record["n_frames"] + 3)
    assert np.allclose(wrapped.mel(short)[:, -3:], math.log(LOG_FLOOR))  # padded with silence
    assert wrapped.codes(record) is corpus.codes(record) and wrapped.sample_rate == corpus.sample_rate
    only = SpokenMelCorpus(corpus, {record["id"]: mels[record["id"]]})
    assert [r["id"] for r in only.records()] == [record["id"]]


def test_chain_vocoder_is_a_stage_that_starts_from_the_codec_vocoder(tmp_path):
    from tts.train.chain_vocoder_task import ChainVocoderTask

    recipe = tasks_recipe(tmp_path)
    task = stages.load_task(recipe, "chain_vocoder")
    assert isinstance(task, ChainVocoderTask) and task.recipe.vocoder.input == "mel"
    assert task.recipe.vocoder.train.init_from == str(tmp_path / "vocoder" / "best.pt")  # no codec_vocoder yet
    (tmp_path / "codec_vocoder").mkdir()
    (tmp_path / "codec_vocoder" / "best.pt").write_bytes(b"")
    assert stages.load_task(recipe, "chain_vocoder").recipe.vocoder.train.init_from == str(
        tmp_path / "codec_vocoder" / "best.pt")
    assert stages.stage_config(recipe, "chain_vocoder") is recipe.vocoder.chain_train


def test_chain_vocoder_hears_the_nar_fill_in_each_recordings_true_codebook_1(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from tts.train.spoken_mels import read_spoken_mels
    from tts.train.chain_vocoder_task import compute_chain_mels

    recipe, corpus = tasks_recipe(tmp_path), FakeCorpus(tmp_path)
    torch.manual_seed(0)
    books = torch.randn(3, 16, 8)  # (Q, V, E)
    decoded = []  # log-mels: 4 mel frames per codec frame, 80 bins
    codec = SimpleNamespace(codebooks=lambda: books, latent_features=lambda z, what: decoded.append(z) or (
        z.repeat_interleave(4, -1).repeat(1, 10, 1)))
    path = tmp_path / "chain_vocoder" / "chain_mels.npz"
    with pytest.raises(RuntimeError, match="nar/best.pt does not exist: train it first"):
        compute_chain_mels(recipe, corpus, path, codec)
    train(NARTask(recipe, corpus), tmp_path / "nar")
    heard = []
    generate = NARModel.generate
    monkeypatch.setattr(NARModel, "generate", lambda self, phones, first, *rest, **options: (
        heard.extend(first), generate(self, phones, first, *rest, **options))[1])
    compute_chain_mels(recipe, corpus, path, codec)
    mels = read_spoken_mels(path)
    assert set(mels) == {r["id"] for r in corpus.records()}
    by_length = {}
    for record in corpus.records():
        assert mels[record["id"]].shape == (4 * record["n_frames"], 80)
        by_length.setdefault(record["n_frames"], []).append(torch.as_tensor(corpus.codes(record)[0]))
    assert len(heard) == len(corpus.records())
    for first in heard:  # each recording's own codebook 1
        assert any(torch.equal(first, true) for true in by_length[len(first)])
    for z, first in zip(decoded, heard):  # codebook 1's entries plus the NAR's expected levels 2..Q
        upper = z[0] - books[0, first].T  # (E, T)
        assert upper.abs().mean() > 0.1 and not torch.allclose(upper[:, :1], upper[:, 1:2])


def test_refiner_hears_the_durations_model_and_learns_its_frames(tmp_path):
    """Stage refiner: its pairs are the durations model's log-mels and hidden states at each recording's
    durations; it trains, validates against the recordings, and its checkpoint loads as the refiner."""
    from tts.models.refiner import MelRefiner
    from tts.train.aligner_task import AlignerTask
    from tts.train.spoken_mels import read_spoken_mels
    from tts.train.refiner_task import FILE, RefinerTask, compute_pairs

    recipe = dataclasses.replace(tasks_recipe(tmp_path), stages=("aligner", "durations", "refiner"))
    recipe = dataclasses.replace(recipe, refiner=dataclasses.replace(
        recipe.refiner, channels=16, blocks=2, train=dataclasses.replace(
            recipe.durations.train, batch_size=2, segment_seconds=0.16)))
    corpus = FakeCorpus(tmp_path)
    with pytest.raises(RuntimeError, match="train the durations model first"):
        compute_pairs(recipe, corpus, tmp_path / "refiner" / FILE)
    train(AlignerTask(recipe, corpus), tmp_path / "aligner")
    train(DurationsTask(recipe, corpus), tmp_path / "durations")
    task = stages.load_task(recipe, "refiner")
    assert isinstance(task, RefinerTask) and stages.stage_config(recipe, "refiner") is recipe.refiner.train
    task._corpus = corpus
    train(task, tmp_path / "refiner")
    pairs = read_spoken_mels(tmp_path / "refiner" / FILE)
    assert set(pairs) == {r["id"] for r in corpus.records()}
    for record in corpus.records():
        assert pairs[record["id"]].shape == (record["n_frames"], 4 * 80 + 32)  # r M log-mels, then D hidden
    batch = task.train_batches(0, 0, 1)[0]
    crop = task.crop
    assert batch["mel"].shape == batch["target"].shape == (2, 80, 4 * crop) and batch["hidden"].shape == (2, 32, crop)
    record = corpus.records("train")[0]
    n = min(record["n_frames"], record["n_mel_frames"] // 4)  # codec frames that the recording's log-mels cover
    whole = task.collate([record], [0], n + 2)  # two more: the edge frames repeat
    assert np.allclose(whole["target"][0, :, :4 * n].numpy(), corpus.mel(record)[:, :4 * n])
    assert np.allclose(whole["target"][0, :, 4 * n:].numpy(), np.tile(corpus.mel(record)[:, 4 * n - 4:4 * n], (1, 2)))
    assert np.allclose(whole["mel"][0, :, :4 * n].numpy(),
                       pairs[record["id"]][:n, :320].astype(np.float32).reshape(-1, 80).T)
    metrics = [json.loads(line) for line in (tmp_path / "refiner" / "metrics.jsonl").read_text().splitlines()]
    validation = [m for m in metrics if m["split"] == "validation"][-1]
    assert {"loss", "refined_l1", "input_l1"} <= set(validation)
    assert (tmp_path / "refiner" / "samples" / "step-4" / "mel_spectrogram.png").is_file()
    model = MelRefiner.from_checkpoint(load_checkpoint(tmp_path / "refiner"))
    assert model.hidden_width == 32 and float(model.std.min()) > 0
    with pytest.raises(Exception, match="durations before refiner"):
        dataclasses.replace(recipe, stages=("refiner", "durations")).validate()
