"""The mel-domain codec: config, model shapes, training stage, loading with its vocoder, chunking."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from codec_fixtures import recipe, corpus, speechlike, tiny_recipe  # noqa: F401 (fixtures)

from tts.audio.spectral import log_mel
from tts.codec import Codec, codec_from_checkpoint, load_codec, trained_settings
from tts.config import ConfigError
from tts.models.codec_model import MelCodecModel
from tts.train.mel_codec_task import MelCodecTask
from tts.train.stages import load_task


def mel_recipe(output_dir: Path, **codec):
    """tiny_recipe's audio (hop 64) with a mel codec of strides (2, 2): 256 samples per code."""
    settings = dict(domain="mel", strides=[2, 2], channels=8)
    settings.update(codec)
    return tiny_recipe(output_dir, **settings)


class FakeMelCorpus:
    """What MelCodecTask reads: records(split), mel(record), audio(record), settings, folder."""

    def __init__(self, recipe, folder: Path, n_train: int = 6, n_validation: int = 2):
        self.folder, self.sample_rate = folder, 16000
        self.settings = {"audio": dataclasses.asdict(recipe.audio)}
        self._audio, self._mel, self._records = {}, {}, []
        for i in range(n_train + n_validation):
            utt = f"utt{i}"
            wav = speechlike(0.5 * (1 + 0.25 * (i % 3)), seed=i)
            self._audio[utt], self._mel[utt] = wav, log_mel(wav, **recipe.audio.mel_kwargs()).numpy()
            self._records.append({"id": utt, "speaker": "s", "n_samples": len(wav),
                                  "n_mel_frames": self._mel[utt].shape[-1],
                                  "split": "train" if i < n_train else "validation"})

    def records(self, split: str = "all") -> list[dict]:
        return [r for r in self._records if split == "all" or r["split"] == split]

    def mel(self, record: dict) -> np.ndarray:
        return self._mel[record["id"]]

    def audio(self, record: dict) -> np.ndarray:
        return self._audio[record["id"]]


def save_vocoder(recipe, path: Path, **audio) -> Path:
    """A vocoder checkpoint as the vocoder stage writes it (random weights)."""
    from tts.models.vocoder import build_discriminator, build_generator

    if audio:
        recipe = dataclasses.replace(recipe, audio=dataclasses.replace(recipe.audio, **audio))
    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"stage": "vocoder", "step": 1, "recipe": recipe.to_dict(),
                "audio": dataclasses.asdict(recipe.audio),
                "modules": {"generator": build_generator(recipe).state_dict(),
                            "discriminator": build_discriminator(recipe).state_dict()}}, path)
    return path


@pytest.fixture
def recipe(tmp_path):
    return mel_recipe(tmp_path / "run")


@pytest.fixture
def corpus(recipe, tmp_path):
    return FakeMelCorpus(recipe, tmp_path / "prepared")


# ---------------------------------------------------------------------- config


def test_the_hop_counts_mel_frames(recipe):
    assert recipe.codec_hop == 256 and recipe.codec_frame_rate == 62.5
    settings = trained_settings(recipe)
    assert settings["domain"] == "mel" and settings["hop_length"] == 256 and "input_gain" not in settings
    assert settings["mel"]["hop_length"] == 64 and settings["mel"]["n_mels"] == recipe.audio.n_mels
    with pytest.raises(ValueError, match="Recipe.codec_hop"):
        recipe.codec.hop_length  # noqa: B018 (samples per frame need the mel hop)
    waveform = tiny_recipe(recipe.output_dir)
    assert waveform.codec_hop == waveform.codec.hop_length == 64 and "domain" not in trained_settings(waveform)


def test_the_domain_is_waveform_or_mel(tmp_path):
    with pytest.raises(ConfigError, match="codec.domain"):
        mel_recipe(tmp_path, domain="spectrum")


def test_load_task_picks_the_mel_stage(recipe):
    assert isinstance(load_task(recipe, "codec"), MelCodecTask)
    assert type(load_task(tiny_recipe(recipe.output_dir), "codec")).__name__ == "CodecTask"


# ---------------------------------------------------------------------- model


def test_model_shapes_and_frame_check(recipe):
    torch.manual_seed(0)
    model = MelCodecModel.from_settings(trained_settings(recipe))
    mel = torch.randn(3, recipe.audio.n_mels, 24) - 5
    recon, codes, commit, _ = model(mel)
    assert recon.shape == mel.shape and codes.shape == (3, 2, 6) and commit.dim() == 0
    with pytest.raises(ValueError, match="multiple of the codec's 4 mel frames"):
        model(mel[..., :23])
    assert all(not k.startswith(("encoder.", "decoder.")) for k in model.state_dict())
    with pytest.raises(RuntimeError, match="no vocoder attached"):
        model.decoder(torch.randn(1, 16, 3))


def test_waveform_encoding_reads_the_same_log_mel_as_the_corpus(recipe, corpus):
    """Codes of a waveform = codes of its prepared log-mel (padded with silence to whole frames)."""
    torch.manual_seed(0)
    model = MelCodecModel.from_settings(trained_settings(recipe))
    record = corpus.records()[1]
    model.eval()
    with torch.no_grad():
        model(torch.from_numpy(corpus.mel(record))[None, :, :16])  # k-means start on a first batch
        wav = torch.from_numpy(corpus.audio(record))[None, None]
        n_codes = math.ceil(wav.shape[-1] / 256)
        mel = torch.from_numpy(corpus.mel(record))[None]
        mel = torch.nn.functional.pad(mel, (0, 4 * n_codes - mel.shape[-1]), value=math.log(1e-5))[..., :4 * n_codes]
        from_wav = model.quantizer.encode(model.encoder(wav), 62)
        from_mel = model.quantizer.encode(model.mel_latents(mel), 62)
    assert from_wav.shape[-1] == n_codes and torch.equal(from_wav, from_mel)


# ---------------------------------------------------------------------- training


def test_crops_are_deterministic_and_whole_codes(recipe, corpus):
    task = MelCodecTask(recipe, corpus=corpus)
    first, again = task.train_batches(0, 0, 1), task.train_batches(0, 0, 1)
    assert torch.equal(first[0]["mel"], again[0]["mel"])
    assert first[0]["mel"].shape == (4, recipe.audio.n_mels, task.segment_length)
    assert task.segment_length % 4 == 0 and task.segment_length >= 0.1 * 16000 / 64
    (validation,) = task.validation_batches()
    assert validation["ids"] == ["utt6", "utt7"] and validation["mel"].shape[-1] % 4 == 0
    assert validation["n_mel_frames"] == [corpus.mel(r).shape[-1] for r in corpus.records("validation")]


def test_a_short_training_loop_lowers_the_mel_loss(recipe, corpus):
    torch.manual_seed(0)
    task = MelCodecTask(recipe, corpus=corpus)
    modules = task.build_modules()
    assert task.optimizer_groups() == {"generator": ["generator"]}
    optimizer = torch.optim.AdamW(modules["generator"].parameters(), lr=3e-3)
    batch = task.train_batches(0, 0, 1)[0]
    losses = []
    for step in range(40):
        ((name, loss, logs),) = list(task.train_step(modules, batch, step, torch.device("cpu")))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(logs["mel_l1"])
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:3]) / 3, losses
    metrics = task.validate(modules, next(iter(task.validation_batches())), torch.device("cpu"))
    assert set(metrics) == {"loss", "mel_l1", "mel_l1_level1"} and math.isfinite(metrics["loss"])


def test_quantizer_dropout_draws_the_levels_per_step():
    from tts.models.codec_model import dropout_levels

    draws = [dropout_levels(0.5, 4, seed=7, step=step) for step in range(400)]
    assert draws == [dropout_levels(0.5, 4, seed=7, step=step) for step in range(400)]  # resumable, rank-free
    assert draws != [dropout_levels(0.5, 4, seed=8, step=step) for step in range(400)]
    assert 0.4 < draws.count(None) / 400 < 0.6
    assert {d for d in draws if d is not None} == {1, 2, 3, 4}
    assert all(dropout_levels(0.0, 4, seed=7, step=step) is None for step in range(50))
    assert all(dropout_levels(1.0, 4, seed=7, step=step) is not None for step in range(50))


def test_training_with_fewer_codebooks_quantises_with_the_first_ones(recipe, corpus):
    torch.manual_seed(0)
    model = MelCodecModel.from_settings(trained_settings(recipe)).eval()
    first_batch = torch.cat([torch.from_numpy(corpus.mel(r))[None, :, :24] for r in corpus.records()[1:]])
    mel = torch.from_numpy(corpus.mel(corpus.records()[0]))[None, :, :24]
    with torch.no_grad():
        model(first_batch)  # k-means start on other utterances: codebook 1 does not hold these latents exactly
        recon, codes, _, _ = model(mel, 1)
        full, all_codes, _, _ = model(mel)
        first_only = model.latents_mel(model.quantizer.vq.layers[0].decode(all_codes[:, 0]))
    assert codes.shape == (1, 1, 6) and torch.equal(codes[:, 0], all_codes[:, 0])
    torch.testing.assert_close(recon, first_only)
    assert not torch.allclose(recon, full)
    with pytest.raises(ValueError, match="levels must be 1 to 2"):
        model(mel, 3)


def test_the_task_logs_the_levels_it_trained_with(tmp_path, corpus):
    recipe = mel_recipe(tmp_path / "run", quantizer_dropout=1.0)
    task = MelCodecTask(recipe, corpus=corpus)
    modules = task.build_modules()
    batch = task.train_batches(0, 0, 1)[0]
    levels = {list(task.train_step(modules, batch, step, torch.device("cpu")))[0][2]["levels"] for step in range(12)}
    assert levels == {1.0, 2.0}
    plain = MelCodecTask(mel_recipe(tmp_path / "plain"), corpus=corpus)
    assert "levels" not in list(plain.train_step(plain.build_modules(), batch, 0, torch.device("cpu")))[0][2]
    with pytest.raises(ConfigError, match="quantizer_dropout"):
        mel_recipe(tmp_path / "bad", quantizer_dropout=1.5)


def test_the_engine_trains_a_codec_that_decodes_through_its_vocoder(recipe, corpus, tmp_path):
    from tts.train.engine import train

    run_dir = train(MelCodecTask(recipe, corpus=corpus), Path(recipe.output_dir) / "codec")
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any(line["split"] == "validation" and "mel_l1" in line for line in lines)
    with pytest.raises(FileNotFoundError, match="decodes through a mel vocoder"):
        load_codec(recipe, "cpu")
    encoder_only = load_codec(recipe, "cpu", with_vocoder=False)  # what `tts prepare` needs
    first = torch.from_numpy(corpus.audio(corpus.records()[0]))[None, None]
    assert encoder_only.encode(first).shape == (1, 2, math.ceil(first.shape[-1] / 256))
    save_vocoder(recipe, Path(recipe.output_dir) / "vocoder" / "best.pt")
    codec = load_codec(recipe, "cpu")
    assert codec.settings() == trained_settings(recipe) and (codec.hop_length, codec.n_codebooks) == (256, 2)
    checkpoint = torch.load(run_dir / "best.pt", weights_only=False)
    for name, value in checkpoint["modules"]["generator"].items():
        assert torch.equal(codec.model.state_dict()[name], value), name
    wav = torch.from_numpy(corpus.audio(corpus.records()[0]))[None, None]
    codes = codec.encode(wav)
    out = codec.decode(codes)
    assert codes.shape == (1, 2, math.ceil(wav.shape[-1] / 256)) and out.shape == (1, 1, codes.shape[-1] * 256)
    assert out.abs().max() <= 1.0 and torch.isfinite(out).all()
    # elsewhere: codec.vocoder names the vocoder; a vocoder of other mel settings is refused
    other = save_vocoder(recipe, tmp_path / "elsewhere" / "voc.pt")
    moved = dataclasses.replace(recipe, codec=dataclasses.replace(recipe.codec, vocoder=str(other)))
    assert load_codec(moved, "cpu").decode(codes).shape == out.shape
    wrong = save_vocoder(recipe, tmp_path / "wrong" / "voc.pt", f_max=6000.0)
    with pytest.raises(ValueError, match="f_max"):
        codec_from_checkpoint(run_dir / "best.pt", "cpu", vocoder=wrong)


def test_chunked_encoding_matches_whole(recipe, corpus):
    torch.manual_seed(0)
    model = MelCodecModel.from_settings(trained_settings(recipe))
    model.eval()
    with torch.no_grad():
        model(torch.from_numpy(np.concatenate([corpus.mel(r)[:, :16] for r in corpus.records()], -1))[None])
    settings = trained_settings(recipe)
    wav = torch.from_numpy(np.concatenate([corpus.audio(r) for r in corpus.records()]))[None, None]
    whole = Codec(model, settings, chunk_seconds=60.0).encode(wav)
    chunked = Codec(model, settings, chunk_seconds=0.5, context_seconds=0.2).encode(wav)
    assert whole.shape == chunked.shape
    assert (whole == chunked).float().mean() > 0.97  # frames next to a chunk edge may differ


def test_write_samples_plots_and_speaks_when_a_vocoder_exists(recipe, corpus, tmp_path):
    task = MelCodecTask(recipe, corpus=corpus)
    modules = task.build_modules()
    task.write_samples(modules, tmp_path / "a", 3, torch.device("cpu"))
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["codec-0000003-utt6.png"]
    save_vocoder(recipe, Path(recipe.output_dir) / "vocoder" / "best.pt")
    task.write_samples(modules, tmp_path / "b", 3, torch.device("cpu"))
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["codec-0000003-utt6.png", "codec-0000003-utt6.wav"]


# ---------------------------------------------------------------------- a vocoder fine-tuned on the codec's log-mels


class FakeCodedCorpus(FakeMelCorpus):
    """FakeMelCorpus with prepared codes of a codec (what `tts prepare` stores after the codec stage)."""

    def __init__(self, recipe, folder: Path, codec: Codec):
        super().__init__(recipe, folder)
        self.has_codes = True
        self._codes = {r["id"]: codec.encode(torch.from_numpy(self.audio(r))[None, None])[0].numpy()
                       for r in self._records}
        for r in self._records:
            r["n_frames"] = self._codes[r["id"]].shape[-1]

    def codes(self, record: dict) -> np.ndarray:
        return self._codes[record["id"]]


def test_config_of_codec_mel_vocoders(tmp_path):
    recipe = mel_recipe(tmp_path, train={})
    coded = dataclasses.replace(recipe, vocoder=dataclasses.replace(recipe.vocoder, input="codec_mel"))
    coded.validate()
    assert coded.vocoder.upsampling == coded.audio.hop_length == 64  # the generator still turns mel frames into samples
    from tts.config import recipe_from_dict

    with pytest.raises(ConfigError, match="vocoder.input"):  # codec_mel needs a mel-domain codec
        recipe_from_dict({"output_dir": str(tmp_path), "audio": {"hop_length": 64, "n_fft": 256, "win_length": 256},
                          "vocoder": {"input": "codec_mel", "upsample_rates": [4, 4, 4]},
                          "codec": {"kind": "trained", "strides": [4, 4, 4]}})


def test_a_codec_mel_vocoder_trains_on_decoded_mels_and_the_codec_decodes_through_it(recipe, corpus, tmp_path):
    from tts.train.engine import train
    from tts.train.vocoder_task import VocoderTask

    run = Path(recipe.output_dir)
    train(MelCodecTask(recipe, corpus=corpus), run / "codec")
    save_vocoder(recipe, run / "vocoder" / "best.pt")
    codec = load_codec(recipe, "cpu")
    coded = dataclasses.replace(recipe, vocoder=dataclasses.replace(
        recipe.vocoder, input="codec_mel", train=dataclasses.replace(
            recipe.vocoder.train, max_steps=2, batch_size=2, segment_seconds=0.1, validate_every=2,
            checkpoint_every=2, sample_every=0, log_every=1)))
    task = VocoderTask(coded, corpus=FakeCodedCorpus(recipe, tmp_path / "coded", codec))
    batch = task.train_batches(0, 0, 1)[0]
    assert batch["features"].dtype == torch.long and batch["audio"].shape[-1] == batch["features"].shape[-1] * 256
    features = task._inputs(batch, torch.device("cpu"))
    assert features.shape == (2, recipe.audio.n_mels, batch["features"].shape[-1] * 4)
    expected = codec.model.latents_mel(codec.latents(batch["features"]))
    assert torch.allclose(features, expected, atol=1e-5)
    train(task, tmp_path / "gta" / "vocoder")
    # the codec decodes through the fine-tuned vocoder; a codec with other settings is refused
    tuned = codec_from_checkpoint(run / "codec" / "best.pt", "cpu", vocoder=tmp_path / "gta" / "vocoder" / "best.pt")
    codes = codec.encode(torch.from_numpy(corpus.audio(corpus.records()[0]))[None, None])
    assert tuned.decode(codes).shape == (1, 1, codes.shape[-1] * 256)
    other = mel_recipe(tmp_path / "other", n_codebooks=3)
    train(MelCodecTask(other, corpus=corpus), tmp_path / "other" / "codec")
    with pytest.raises(ValueError, match="another codec"):
        codec_from_checkpoint(tmp_path / "other" / "codec" / "best.pt", "cpu",
                              vocoder=tmp_path / "gta" / "vocoder" / "best.pt")


def test_stage_codec_vocoder_fine_tunes_the_run_vocoder_and_becomes_the_codec_decoder(recipe, corpus, tmp_path):
    import shutil

    from tts.codec import mel_vocoder_path
    from tts.config import load_recipe, recipe_from_dict
    from tts.loading import codec_files
    from tts.train.engine import train
    from tts.train.stages import stage_config

    run = Path(recipe.output_dir)
    recipe = dataclasses.replace(recipe, stages=("vocoder", "codec", "codec_vocoder"), vocoder=dataclasses.replace(
        recipe.vocoder, codec_train=dataclasses.replace(
            recipe.vocoder.codec_train, max_steps=2, warmup_steps=1, batch_size=2, segment_seconds=0.1,
            validate_every=2, checkpoint_every=2, sample_every=0, log_every=1)))
    recipe.validate()
    train(MelCodecTask(recipe, corpus=corpus), run / "codec")
    save_vocoder(recipe, run / "vocoder" / "best.pt")
    assert mel_vocoder_path(recipe) == run / "vocoder" / "best.pt"  # nothing fine-tuned yet
    codec = load_codec(recipe, "cpu")
    task = load_task(recipe, "codec_vocoder")
    assert task.recipe.vocoder.input == "codec_mel" and task.recipe.stages == ("vocoder",)
    assert task.train_config.init_from == str(run / "vocoder" / "best.pt") and task.train_config.max_steps == 2
    assert stage_config(recipe, "codec_vocoder").max_steps == 2
    task._corpus = FakeCodedCorpus(recipe, tmp_path / "coded", codec)
    task._corpus.settings["codec"] = {"checkpoint_digest": "the codec at 4,000 steps"}
    train(task, run / "codec_vocoder")
    assert torch.load(run / "codec_vocoder" / "last.pt", weights_only=False)["codec_digest"] == "the codec at 4,000 steps"
    assert load_recipe(run / "recipe.yaml").stages == recipe.stages  # the run keeps its own recipe
    checkpoint = torch.load(run / "codec_vocoder" / "best.pt", weights_only=False)
    assert checkpoint["stage"] == "vocoder" and checkpoint["vocoder_input"] == "codec_mel"
    recipe_from_dict(checkpoint["recipe"])  # a valid recipe of its own
    assert mel_vocoder_path(recipe) == run / "codec_vocoder" / "best.pt"  # now the codec decodes through it
    tuned = load_codec(recipe, "cpu")
    codes = codec.encode(torch.from_numpy(corpus.audio(corpus.records()[0]))[None, None])
    assert tuned.decode(codes).shape == (1, 1, codes.shape[-1] * 256)
    (run / "chain_vocoder").mkdir()  # stage chain_vocoder's vocoder, fine-tuned on the AR chain's log-mels
    shutil.copyfile(run / "vocoder" / "best.pt", run / "chain_vocoder" / "best.pt")
    assert mel_vocoder_path(recipe) == run / "chain_vocoder" / "best.pt"  # comes before codec_vocoder
    assert codec_files(run, recipe, with_vocoder=True) == {"codec": run / "codec" / "best.pt",
                                                           "chain_vocoder": run / "chain_vocoder" / "best.pt"}


def test_codec_vocoder_knows_the_codec_checkpoint_it_was_fitted_to(recipe, corpus, tmp_path, monkeypatch, caplog):
    import logging
    import types

    from tts.train import stages
    from tts.train.engine import train

    run = Path(recipe.output_dir)
    short = dict(warmup_steps=1, batch_size=2, segment_seconds=0.1, validate_every=2, checkpoint_every=2,
                 sample_every=0, log_every=1)
    recipe = dataclasses.replace(recipe, vocoder=dataclasses.replace(
        recipe.vocoder, codec_train=dataclasses.replace(recipe.vocoder.codec_train, max_steps=2, **short)))
    train(MelCodecTask(recipe, corpus=corpus), run / "codec")
    save_vocoder(recipe, run / "vocoder" / "best.pt")
    coded = FakeCodedCorpus(recipe, tmp_path / "coded", load_codec(recipe, "cpu"))
    coded.settings["codec"] = {"checkpoint_digest": "the codec at 4,000 steps"}
    task = load_task(recipe, "codec_vocoder")
    task._corpus = coded
    train(task, run / "codec_vocoder")
    coded.settings["codec"] = {"checkpoint_digest": "the codec trained on to 12,000 steps"}
    longer = dataclasses.replace(recipe, vocoder=dataclasses.replace(
        recipe.vocoder, codec_train=dataclasses.replace(recipe.vocoder.codec_train, max_steps=4)))
    task = load_task(longer, "codec_vocoder")
    task._corpus = coded
    with pytest.raises(ValueError, match="codes of another codec checkpoint"):
        train(task, run / "codec_vocoder")
    monkeypatch.setattr("tts.data.corpus.PreparedCorpus", lambda folder: types.SimpleNamespace(settings=coded.settings))
    with caplog.at_level(logging.WARNING, logger="tts.train.stages"):
        stages.train_stages(recipe, ["codec_vocoder"])  # complete: skipped, with a warning
    assert "fine-tuned on the codes of an earlier codec checkpoint" in caplog.text


def test_stage_codec_vocoder_needs_a_mel_codec_and_a_mel_vocoder(tmp_path):
    from tts.config import recipe_from_dict

    base = {"output_dir": str(tmp_path), "stages": ["vocoder", "codec", "codec_vocoder"],
            "audio": {"hop_length": 64, "n_fft": 256, "win_length": 256}}
    with pytest.raises(ConfigError, match="stages"):
        recipe_from_dict({**base, "vocoder": {"upsample_rates": [4, 4, 4]}, "codec": {"kind": "trained"}})
    with pytest.raises(ConfigError, match="vocoder.input"):
        recipe_from_dict({**base, "vocoder": {"input": "codec_mel", "upsample_rates": [4, 4, 4]},
                          "codec": {"kind": "trained", "domain": "mel", "strides": [2, 2]}})


# ---------------------------------------------------------------------- codebook 1 learns the phones


def _with_phones(recipe, corpus, phones=("HH", "AH0", "L", "OW1")):
    """Gives every record `phones` and writes the aligner's mel durations: the frames split evenly."""
    from tts.data.store import write_ragged
    from tts.data.durations import mel_durations_path

    ids, values = [], []
    for record in corpus.records():
        record["phones"] = list(phones)
        n = int(record["n_mel_frames"])
        ids.append(record["id"])
        values.append(np.diff(np.linspace(0, n, len(phones) + 1).round().astype(np.int16)))
    mel_durations_path(recipe).parent.mkdir(parents=True, exist_ok=True)
    write_ragged(mel_durations_path(recipe), "durations", ids, values, aligner_step=1)
    return dict(zip(ids, values))


def test_phone_weight_labels_each_code_frame_with_the_phone_the_aligner_hears_there(tmp_path, corpus):
    from tts.text.symbols import encode
    from tts.models.layers import IGNORE

    recipe = mel_recipe(tmp_path / "run", phone_weight=0.5)
    durations = _with_phones(recipe, corpus)
    task = MelCodecTask(recipe, corpus=corpus)
    record = corpus.records()[0]
    n = int(record["n_mel_frames"])
    start, length = 3, 4 * (n // 4 + 1)  # runs past the end
    labels = task.collate([record], [start], length)["phones"][0]  # (length / 4,)
    ids = np.repeat(encode(record["phones"]), durations[record["id"]])  # the phone of each mel frame
    for j, label in enumerate(labels.tolist()):
        middle = start + 4 * j + 2
        assert label == (ids[middle] if middle < n else IGNORE), j
    assert (labels == IGNORE).any() and (labels != IGNORE).sum() >= 3
    assert "phones" not in MelCodecTask(mel_recipe(tmp_path / "plain"), corpus=corpus).collate([record], [0], 8)


def test_phone_weight_trains_the_encoder_through_codebook_1(tmp_path, corpus):
    recipe = mel_recipe(tmp_path / "run", phone_weight=1.0)
    _with_phones(recipe, corpus)
    task = MelCodecTask(recipe, corpus=corpus)
    torch.manual_seed(0)
    modules = task.build_modules()
    assert task.optimizer_groups() == {"generator": ["generator", "phones"]}
    batch = task.train_batches(0, 0, 1)[0]
    out = modules["generator"](batch["mel"])
    task.phone_loss(modules, out.first, batch).backward()
    encoder = modules["generator"].mel_encoder
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())  # straight through
    assert modules["phones"].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in modules["generator"].mel_decoder.parameters())  # no phones in the decoder
    ((_, _, logs),) = list(task.train_step(modules, batch, 0, torch.device("cpu")))
    assert logs["loss"] > logs["mel_l1"] and logs["phone_ce"] > 0
    metrics = task.validate(modules, next(iter(task.validation_batches())), torch.device("cpu"))
    assert 0 <= metrics["phone_accuracy"] <= 1 and metrics["phone_ce"] > 0


def test_phone_weight_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="phone_weight"):
        mel_recipe(tmp_path, phone_weight=-1)
    recipe = mel_recipe(tmp_path, phone_weight=0.1)
    with pytest.raises(ConfigError, match="aligner before codec"):
        dataclasses.replace(recipe, stages=("codec", "aligner")).validate()
    dataclasses.replace(recipe, stages=("aligner", "codec")).validate()
    dataclasses.replace(mel_recipe(tmp_path), stages=("codec", "aligner")).validate()  # off: any order


def test_phone_weight_without_an_aligner_says_what_to_train_first(tmp_path, corpus):
    recipe = mel_recipe(tmp_path / "run", phone_weight=0.1)
    for record in corpus.records():
        record["phones"] = ["AH0"]
    with pytest.raises(RuntimeError, match="train the aligner first"):
        MelCodecTask(recipe, corpus=corpus).train_batches(0, 0, 1)[0]
