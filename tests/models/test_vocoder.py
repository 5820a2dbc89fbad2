"""Vocoder generator, discriminators, losses and the vocoder training task."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tts.audio.spectral import MelSpectrogram, log_mel, mel_frames
from tts.config import AudioConfig, Recipe, load_recipe, recipe_from_dict
from tts.models.vocoder import (Discriminator, Generator, build_discriminator, build_generator,
                                discriminator_loss, feature_matching_loss, generator_adversarial_loss,
                                upsample_padding)
from tts.train.vocoder_task import VocoderTask

ROOT = Path(__file__).resolve().parents[2]
RECIPE_FILES = sorted((ROOT / "recipes").glob("*.yaml"))
STRIDE_SETS = [(5, 4, 4, 2), (8, 5, 4, 2), (8, 8, 4), (5, 5, 4, 2, 2), (8, 8, 2, 2), (3, 5), (7,), (2, 1, 3),
               (11, 3), (4, 4, 4)]


def tiny_generator(rates, in_channels=8) -> Generator:
    return Generator(in_channels, rates, 2 ** (len(rates) + 1), (3,), ((1, 2),))


def small_recipe(codec: dict | None = None, **vocoder) -> Recipe:
    """8 kHz, hop 64 (rates 4, 4, 4): a generator and discriminator small enough for a unit test."""
    return recipe_from_dict({
        "seed": 7,
        "audio": {"sample_rate": 8000, "n_fft": 256, "win_length": 256, "hop_length": 64, "n_mels": 32},
        "codec": codec or {"strides": [4, 4, 4], "dimension": 16, "n_codebooks": 2, "codebook_size": 16},
        "vocoder": {"upsample_rates": [4, 4, 4], "initial_channels": 32, "resblock_kernel_sizes": [3],
                    "resblock_dilations": [[1, 3]], "discriminator_channels": 1, "discriminator_periods": [2, 3],
                    "discriminator_scales": 1, "train": {"batch_size": 2, "segment_seconds": 0.128},
                    **vocoder},
    })


def voiced(n_samples: int, sample_rate: int, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A gliding harmonic tone with a little noise, float32 (S,)."""
    t = np.arange(n_samples) / sample_rate
    pitch = f0 * (1 + 0.2 * np.sin(2 * np.pi * 2 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    wav = sum(0.3 / k * np.sin(k * phase) for k in range(1, 8))
    return (wav + 0.01 * np.random.default_rng(seed).standard_normal(n_samples)).astype(np.float32)


class FakeCorpus:
    """The PreparedCorpus interface over a few synthetic utterances (log-mels as `tts prepare` makes them)."""

    def __init__(self, recipe: Recipe, lengths=(0.3, 0.5, 0.2, 0.4, 0.35, 0.6, 0.25), n_validation=2,
                 audio: AudioConfig | None = None):
        self.folder = Path("fake-corpus")
        cfg = audio or recipe.audio
        self.settings = {"audio": {**cfg.__dict__}}
        self.has_codes = True
        self._wavs, self._records = {}, []
        q = recipe.codec.n_codebooks
        for i, seconds in enumerate(lengths):
            wav = voiced(int(seconds * cfg.sample_rate), cfg.sample_rate, f0=110 + 20 * i, seed=i)
            utt = f"utt{i}"
            self._wavs[utt] = wav
            n_codec = math.ceil(wav.shape[0] / recipe.codec_hop)
            self._records.append({
                "id": utt, "speaker": "s", "split": "validation" if i < n_validation else "train",
                "n_samples": wav.shape[0], "n_mel_frames": mel_frames(wav.shape[0], cfg.hop_length),
                "n_frames": n_codec, "codes": np.random.default_rng(i).integers(0, 16, (q, n_codec))})

    def records(self, split="all"):
        return [r for r in self._records if split == "all" or r["split"] == split]

    def audio(self, record):
        return self._wavs[record["id"]]

    def mel(self, record):
        return log_mel(self._wavs[record["id"]], **AudioConfig(**self.settings["audio"]).mel_kwargs()).numpy()

    def codes(self, record):
        return record["codes"]


# --------------------------------------------------------------------------- generator


@pytest.mark.parametrize("stride", range(1, 13))
def test_upsampling_layer_multiplies_length_exactly(stride):
    kernel, padding, output_padding = upsample_padding(stride)
    assert kernel == (2 * stride if stride > 1 else 3)
    layer = torch.nn.ConvTranspose1d(1, 1, kernel, stride, padding=padding, output_padding=output_padding)
    for frames in (1, 2, 17):
        assert layer(torch.zeros(1, 1, frames)).shape[-1] == frames * stride


@pytest.mark.parametrize("rates", STRIDE_SETS)
def test_generator_output_length_is_frames_times_hop(rates):
    generator = tiny_generator(rates)
    for frames in (1, 3, 10):
        wav = generator(torch.randn(2, 8, frames))
        assert wav.shape == (2, 1, frames * math.prod(rates))
        assert wav.abs().max() <= 1


ISTFT_CASES = [((5, 4), 32), ((5, 4, 2), 16), ((10,), 64), ((4, 4), 16), ((3,), 8), ((8, 5), 8)]


@pytest.mark.parametrize("rates,n_fft", ISTFT_CASES)
def test_istft_head_output_length_is_frames_times_hop(rates, n_fft):
    generator = Generator(8, rates, 2 ** (len(rates) + 1), (3,), ((1, 2),), istft_n_fft=n_fft)
    assert generator.hop_length == math.prod(rates) * n_fft // 4
    for frames in (1, 3, 10):
        wav = generator(torch.randn(2, 8, frames))
        assert wav.shape == (2, 1, frames * generator.hop_length)
        assert torch.isfinite(wav).all()


@pytest.mark.parametrize("n_fft", [6, 10, -4])
def test_istft_head_refuses_sizes_that_are_not_multiples_of_four(n_fft):
    with pytest.raises(ValueError, match="istft_n_fft"):
        Generator(8, (4,), 8, (3,), ((1,),), istft_n_fft=n_fft)


def test_recipe_checks_strides_times_istft_hop_against_the_mel_hop():
    recipe = small_recipe(upsample_rates=[4, 4], istft_n_fft=16)  # 4 x 4 x 16 / 4 = 64
    assert recipe.vocoder.upsampling == 64
    assert build_generator(recipe)(torch.randn(1, 32, 3)).shape == (1, 1, 3 * 64)
    with pytest.raises(ValueError, match="iSTFT hop 4"):
        small_recipe(istft_n_fft=16)  # 4 x 4 x 4 x 4 = 256 is not the hop
    with pytest.raises(ValueError, match="vocoder.istft_n_fft"):
        small_recipe(upsample_rates=[4, 4], istft_n_fft=30)  # not a multiple of 4


@pytest.mark.parametrize("recipe_file", RECIPE_FILES, ids=lambda p: p.name)
def test_every_shipped_recipe_builds_a_generator_of_exact_length(recipe_file):
    recipe = load_recipe(recipe_file)
    cfg = recipe.vocoder
    assert math.prod(cfg.upsample_rates) * cfg.istft_hop == recipe.audio.hop_length
    channels = recipe.audio.n_mels
    generator = Generator(channels, cfg.upsample_rates, 2 ** (len(cfg.upsample_rates) + 1), (3,), ((1, 2),),
                          istft_n_fft=cfg.istft_n_fft)
    assert generator(torch.randn(1, channels, 5)).shape[-1] == 5 * recipe.audio.hop_length


def test_shipped_recipes_exist():
    assert RECIPE_FILES, "recipes/*.yaml is empty: the stride test above checked nothing"


def test_build_generator_checks_the_hop():
    recipe = small_recipe()
    assert build_generator(recipe).hop_length == 64
    # a recipe that skipped validation (rates 4, 4 = 16, hop 64) is still refused at build time
    from dataclasses import replace
    bad = replace(recipe, vocoder=replace(recipe.vocoder, upsample_rates=(4, 4)))
    with pytest.raises(ValueError, match="hop of 64"):
        build_generator(bad)
    with pytest.raises(ValueError, match="odd"):
        Generator(8, (4,), 8, (4,), ((1,),))


@pytest.mark.parametrize("rates,n_fft", [((5, 4, 2), 0), ((5, 2), 16)])
def test_removing_weight_norm_keeps_outputs_equal(rates, n_fft):
    torch.manual_seed(0)
    generator = Generator(8, rates, 32, (3, 5), ((1, 3), (1, 2)), istft_n_fft=n_fft)
    # move every weight norm magnitude off its initial value so that folding it is a real change
    with torch.no_grad():
        for name, p in generator.named_parameters():
            if name.endswith("original0"):
                p.mul_(torch.empty_like(p).uniform_(0.5, 2.0))
    features = torch.randn(2, 8, 9)
    assert any("parametrizations" in k for k in generator.state_dict())
    with torch.no_grad():
        before = generator(features)
        generator.remove_weight_norm()
        after = generator(features)
    assert not any("parametrizations" in k for k in generator.state_dict())
    torch.testing.assert_close(after, before, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("rates,n_fft", [((4, 4, 4), 0), ((4, 4), 16)])
def test_one_batch_overfit_on_mel_l1(rates, n_fft):
    """A tiny generator (either head) fits one crop: its log-mel L1 falls by more than half in 40 steps."""
    torch.manual_seed(0)
    audio = AudioConfig(sample_rate=8000, n_fft=256, win_length=256, hop_length=64, n_mels=32)
    mel = MelSpectrogram(**audio.mel_kwargs())
    wav = torch.from_numpy(voiced(4096, 8000))[None, None]  # (1, 1, 4096)
    features = mel(wav)[..., :64]  # (1, 32, 64): 64 frames x hop 64 = 4096 samples
    generator = Generator(32, rates, 32, (3,), ((1, 3),), istft_n_fft=n_fft)
    optimizer = torch.optim.Adam(generator.parameters(), 2e-3, betas=(0.8, 0.99))
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.l1_loss(mel(generator(features)), mel(wav))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


# --------------------------------------------------------------------------- discriminators and losses


def test_discriminator_has_one_output_per_period_and_scale():
    discriminator = Discriminator(channels=2, periods=(2, 3, 5, 7, 11), scales=3)
    outputs = discriminator(torch.randn(3, 1, 1001))  # length not divisible by any period
    assert len(outputs) == 8
    for logits, features in outputs:
        assert logits.shape[0] == 3 and logits.dim() == 2
        assert all(f.shape[0] == 3 for f in features)


def test_discriminator_channels_key_scales_its_size():
    sizes = [sum(p.numel() for p in build_discriminator(small_recipe(discriminator_channels=c)).parameters())
             for c in (1, 4)]
    small, large = sizes
    assert large > 4 * small


def test_least_squares_and_feature_matching_losses():
    ones, zeros = torch.ones(2, 5), torch.zeros(2, 5)
    maps = [torch.randn(2, 3, 4)]
    real, fake = [(ones, maps)], [(zeros, maps)]
    assert discriminator_loss(real, fake).item() == 0  # a perfect discriminator
    assert discriminator_loss(fake, real).item() == pytest.approx(2.0)  # every call wrong
    assert generator_adversarial_loss(real).item() == 0
    assert generator_adversarial_loss(fake).item() == pytest.approx(1.0)
    assert feature_matching_loss(real, fake).item() == 0
    moved = [(zeros, [m + 0.5 for m in maps])]
    assert feature_matching_loss(real, moved).item() == pytest.approx(0.5)
    # real feature maps are targets: no gradient flows into them
    target = torch.randn(2, 3, 4, requires_grad=True)
    feature_matching_loss([(ones, [target])], [(zeros, [torch.zeros(2, 3, 4, requires_grad=True)])]).backward()
    assert target.grad is None


# --------------------------------------------------------------------------- training task


def test_task_batches_are_aligned_deterministic_and_sharded():
    recipe = small_recipe()
    task = VocoderTask(recipe, corpus=FakeCorpus(recipe))
    frames = task.segment_frames
    assert frames == round(0.128 * 8000 / 64) == 16
    batches = list(task.train_batches(epoch=0, rank=0, world_size=1))
    assert len(batches) == 2  # 5 training utterances, 2 per batch
    for batch in batches:
        assert batch["features"].shape == (2, 32, frames)
        assert batch["audio"].shape == (2, 1, frames * 64)
    again = list(task.train_batches(epoch=0, rank=0, world_size=1))
    assert all(torch.equal(a["audio"], b["audio"]) for a, b in zip(batches, again))
    other = list(task.train_batches(epoch=1, rank=0, world_size=1))
    assert not all(torch.equal(a["audio"], b["audio"]) for a, b in zip(batches, other))
    ranks = [list(task.train_batches(epoch=0, rank=r, world_size=2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 1  # equal counts: no rank waits for another
    assert set(ranks[0][0]["ids"]).isdisjoint(ranks[1][0]["ids"])


def test_task_crops_match_the_features_of_their_audio():
    """Mel frame t of a crop is the frame centred on sample t x hop of the crop's audio."""
    recipe = small_recipe()
    task = VocoderTask(recipe, corpus=FakeCorpus(recipe))
    batch = next(iter(task.train_batches(epoch=3, rank=0, world_size=1)))
    # (B, M, frames + 1), zero-padded at the crop edges
    recomputed = log_mel(batch["audio"], **recipe.audio.mel_kwargs())
    inner = slice(4, task.segment_frames - 4)  # away from the crop edges (n_fft / 2 = 2 frames)
    torch.testing.assert_close(recomputed[..., inner], batch["features"][..., inner], atol=1e-4, rtol=1e-4)


def test_task_refuses_a_corpus_prepared_with_other_mel_settings():
    recipe = small_recipe()
    other = AudioConfig(sample_rate=8000, n_fft=256, win_length=256, hop_length=32, n_mels=32)
    task = VocoderTask(recipe, corpus=FakeCorpus(recipe, audio=other))
    with pytest.raises(ValueError, match="hop_length: 64 for the recipe, 32 for the prepared corpus"):
        list(task.train_batches(0, 0, 1))


def run_steps(task: VocoderTask, steps: int) -> list[dict]:
    """A minimal engine: AdamW per optimiser group, stepped in the order the task yields."""
    torch.manual_seed(0)
    modules = task.build_modules()
    optimizers = {name: torch.optim.AdamW([p for m in members for p in modules[m].parameters()], 2e-3,
                                          betas=(0.8, 0.99))
                  for name, members in task.optimizer_groups().items()}
    batch = next(iter(task.train_batches(0, 0, 1)))
    history = []
    for step in range(steps):
        logs = {}
        order = []
        for name, loss, scalars in task.train_step(modules, batch, step, torch.device("cpu")):
            assert torch.isfinite(loss)
            optimizers[name].zero_grad()
            loss.backward()
            optimizers[name].step()
            order.append(name)
            logs.update(scalars)
        gan = step >= task.cfg.adversarial_start
        assert order == (["discriminator", "generator"] if gan else ["generator"]), step
        history.append(logs)
    return history


def test_gan_steps_overfit_one_batch():
    recipe = small_recipe()
    task = VocoderTask(recipe, corpus=FakeCorpus(recipe))
    history = run_steps(task, 30)
    assert set(history[0]) >= {"d_loss", "loss", "g_adv", "feature_match", "mel_l1"}
    assert history[-1]["mel_l1"] < 0.6 * history[0]["mel_l1"], [h["mel_l1"] for h in history]


def test_mel_warm_up_runs_no_discriminator_then_the_gan_joins():
    recipe = small_recipe(adversarial_start=20)
    task = VocoderTask(recipe, corpus=FakeCorpus(recipe))
    history = run_steps(task, 24)  # asserts the order of the yielded losses at every step
    assert set(history[0]) == {"loss", "mel_l1"}
    assert set(history[-1]) >= {"d_loss", "g_adv", "feature_match", "mel_l1"}
    assert history[19]["mel_l1"] < 0.6 * history[0]["mel_l1"], [h["mel_l1"] for h in history]


def test_task_validates_and_stores_mel_settings():
    recipe = small_recipe()
    task = VocoderTask(recipe, corpus=FakeCorpus(recipe))
    modules = task.build_modules()
    batches = list(task.validation_batches())
    assert [b["ids"] for b in batches] == [["utt0"], ["utt1"]]
    metrics = task.validate(modules, batches[0], torch.device("cpu"))
    assert set(metrics) == {"loss", "mel_l1", "mel_distance"} and all(v > 0 for v in metrics.values())
    assert metrics["loss"] == metrics["mel_distance"]  # best.pt follows the multi-resolution distance
    extras = task.checkpoint_extras()
    assert extras["audio"]["hop_length"] == 64 and extras["audio"]["n_mels"] == 32
    assert extras["vocoder_input"] == "mel"


def test_task_writes_a_sample_wav_and_spectrogram(tmp_path):
    pytest.importorskip("tts.plot")
    from tts.audio.io import load_audio

    recipe = small_recipe()
    task = VocoderTask(recipe, corpus=FakeCorpus(recipe))
    task.write_samples(task.build_modules(), tmp_path, 12, torch.device("cpu"))
    wav, rate = load_audio(tmp_path / "vocoder-0000012-utt0.wav")
    assert rate == 8000 and wav.shape[0] == int(0.3 * 8000)
    assert (tmp_path / "vocoder-0000012-utt0.png").stat().st_size > 1000
    assert (tmp_path / "reference-utt0.wav").is_file()


MEL_CODEC = {"domain": "mel", "strides": [2, 2], "dimension": 16, "n_codebooks": 2, "codebook_size": 16}


class FakeCodec:
    """Decodes codes (B, Q, T) to a silent log-mel (B, M, T x 4), the shape a mel-domain codec of strides (2, 2)
    hands a codec_mel vocoder."""

    def requires_grad_(self, flag):
        return self

    def vocoder_features(self, codes, vocoder_input):
        assert vocoder_input == "codec_mel"
        return torch.zeros(codes.shape[0], 32, codes.shape[-1] * 4)


def test_loading_the_codec_leaves_the_training_rng_alone(monkeypatch):
    def load_codec(recipe, device, with_vocoder=True):
        torch.randn(1000)  # as building a real model's initial weights would
        return FakeCodec()

    monkeypatch.setattr("tts.codec.load_codec", load_codec)
    recipe = small_recipe(codec=MEL_CODEC, input="codec_mel")
    task = VocoderTask(recipe, corpus=FakeCorpus(recipe))
    batch = next(iter(task.train_batches(0, 0, 1)))
    assert batch["features"].dtype == torch.int64 and batch["audio"].shape[-1] == task.segment_frames * 256
    torch.manual_seed(3)
    assert task._inputs(batch, torch.device("cpu")).shape == (2, 32, task.segment_frames * 4)
    after_load = torch.rand(4)
    torch.manual_seed(3)
    assert torch.equal(after_load, torch.rand(4))


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_vocoder_stage_trains_through_the_engine_and_vocodes(tmp_path):
    """prepare -> `tts train --stage vocoder` (a few steps) -> best.pt -> `tts vocode --model`."""
    import soundfile as sf
    from typer.testing import CliRunner

    from tts.audio.io import load_audio
    from tts.cli import app

    corpus = tmp_path / "corpus"
    (corpus / "wavs").mkdir(parents=True)
    sentences = ["A stitch in time saves nine.", "Every cloud has a silver lining.",
                 "Time and tide wait for no man.", "Fortune favours the bold.", "Practice makes perfect.",
                 "Knowledge is power."]
    lines = []
    for i, text in enumerate(sentences):
        sf.write(corpus / "wavs" / f"U{i}.wav", 0.3 * voiced(16000, 16000, f0=100 + 15 * i, seed=i), 16000)
        lines.append(f"U{i}|{text}|{text}")
    (corpus / "metadata.csv").write_text("\n".join(lines) + "\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"""
output_dir: {tmp_path / 'run'}
stages: [vocoder]
device: cpu
data: {{reader: ljspeech, root: {corpus}, validation_fraction: 0.2}}
codec: {{kind: none}}
vocoder:
  initial_channels: 16
  resblock_kernel_sizes: [3]
  resblock_dilations: [[1]]
  discriminator_channels: 1
  train: {{max_steps: 4, batch_size: 2, segment_seconds: 0.2, log_every: 2, validate_every: 2,
           checkpoint_every: 2, sample_every: 4}}
""")
    runner = CliRunner()
    result = runner.invoke(app, ["prepare", str(recipe)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["train", str(recipe), "--stage", "vocoder"])
    assert result.exit_code == 0, result.output
    stage = tmp_path / "run" / "vocoder"
    assert (stage / "best.pt").is_file() and (stage / "ckpt-4.pt").is_file()
    assert list((stage / "samples").rglob("*.png")) and list((stage / "samples").rglob("vocoder-*.wav"))
    out = tmp_path / "out.wav"
    source = corpus / "wavs" / "U0.wav"
    result = runner.invoke(app, ["vocode", str(source), str(out), "--model", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert load_audio(out)[0].shape == load_audio(source)[0].shape
