"""`tts vocode`: Griffin-Lim copy-synthesis, a trained vocoder from a run folder, mel-settings checks."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tts.audio.io import load_audio, normalize_loudness, rms_db, save_audio
from tts.audio.spectral import log_mel, mel_frames, multi_resolution_mel_distance
from tts.cli import app
from tts.config import AudioConfig, Recipe, recipe_from_dict
from tts.models.vocoder import build_generator
from tts.vocode import check_mel_settings, load_vocoder, mel_settings, vocode_file

RATE = 16000  # AudioConfig defaults: what vocode uses for Griffin-Lim without a model


def voiced(seconds: float, sample_rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    phase = 2 * np.pi * np.cumsum(130 * (1 + 0.15 * np.sin(2 * np.pi * 3 * t))) / sample_rate
    return (0.5 * sum(np.sin(k * phase) / k for k in range(1, 10))).astype(np.float32)


@pytest.fixture
def wav_file(tmp_path) -> Path:
    path = tmp_path / "in.wav"
    save_audio(path, voiced(0.6), RATE)
    return path


def tiny_vocoder_recipe(**audio) -> Recipe:
    return recipe_from_dict({"stages": ["vocoder"], "audio": audio, "vocoder": {
        "upsample_rates": [5, 4, 4, 2], "initial_channels": 16, "resblock_kernel_sizes": [3],
        "resblock_dilations": [[1]]}})


def save_checkpoint(run: Path, recipe: Recipe, stored_audio: AudioConfig | None = None,
                    stage: str = "vocoder") -> torch.nn.Module:
    """A checkpoint as the engine writes it (weights with weight norm, recipe, task extras)."""
    torch.manual_seed(0)
    generator = build_generator(recipe)
    with torch.no_grad():  # a generator whose output is not near zero everywhere
        generator.post.parametrizations.weight.original0.mul_(8)
    (run / stage).mkdir(parents=True)
    torch.save({"stage": stage, "step": 3, "recipe": recipe.to_dict(),
                "modules": {"generator": generator.state_dict(), "discriminator": {}},
                "audio": dataclasses.asdict(stored_audio or recipe.audio), "vocoder_input": "mel",
                "hop_length": recipe.audio.hop_length}, run / stage / "best.pt")
    return generator


# --------------------------------------------------------------------------- Griffin-Lim


def test_cli_griffin_lim_copy_synthesis_of_a_wav(wav_file, tmp_path):
    out = tmp_path / "out.wav"
    result = CliRunner().invoke(app, ["vocode", str(wav_file), str(out)])
    assert result.exit_code == 0, result.output
    original, _ = load_audio(wav_file)
    wav, rate = load_audio(out)
    assert rate == RATE and wav.shape == original.shape
    noise = np.random.default_rng(0).standard_normal(original.shape).astype(np.float32) * original.std()
    # Griffin-Lim keeps the spectral envelope: far closer to the original than noise of equal level
    distance = multi_resolution_mel_distance(wav, original, RATE)
    assert distance < 0.1 * multi_resolution_mel_distance(noise, original, RATE)
    assert np.abs(wav).max() <= 0.99  # never clipped


def test_loud_griffin_lim_output_is_scaled_down_not_clipped(tmp_path):
    path = tmp_path / "loud.wav"
    save_audio(path, voiced(0.6) * 1.15, RATE)  # peak ~0.97: its Griffin-Lim rebuild peaks beyond 1
    vocode_file(path, tmp_path / "out.wav")
    wav, _ = load_audio(tmp_path / "out.wav")
    assert 0.95 < np.abs(wav).max() <= 0.99
    assert np.mean(np.abs(wav) > 0.985) < 0.001  # no flat-topped run of clipped samples


def test_cli_griffin_lim_from_a_log_mel_npy(tmp_path):
    mel = log_mel(voiced(0.5), **AudioConfig().mel_kwargs()).numpy()  # (80, T)
    np.save(tmp_path / "mel.npy", mel)
    result = CliRunner().invoke(app, ["vocode", str(tmp_path / "mel.npy"), str(tmp_path / "out.wav")])
    assert result.exit_code == 0, result.output
    wav, rate = load_audio(tmp_path / "out.wav")
    assert rate == RATE and wav.shape[0] == (mel.shape[1] - 1) * 160
    assert mel_frames(wav.shape[0], 160) == mel.shape[1]  # re-analysing the output gives the same frames


def test_cli_refuses_a_log_mel_with_other_mel_bins(tmp_path):
    np.save(tmp_path / "mel.npy", np.zeros((64, 20), np.float32))
    result = CliRunner().invoke(app, ["vocode", str(tmp_path / "mel.npy"), str(tmp_path / "out.wav")])
    assert result.exit_code == 1
    assert "64 mel bins" in result.output and "n_mels = 80" in result.output
    assert not (tmp_path / "out.wav").exists()


def test_cli_missing_input_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["vocode", str(tmp_path / "nope.wav"), str(tmp_path / "out.wav")])
    assert result.exit_code == 1 and "does not exist" in result.output


# --------------------------------------------------------------------------- trained vocoder


def test_cli_vocodes_with_a_trained_vocoder_from_a_run_folder(tmp_path):
    wav_file = tmp_path / "quiet.wav"
    save_audio(wav_file, 0.1 * voiced(0.6), RATE)  # ~-24 dBFS, below the training loudness
    recipe = tiny_vocoder_recipe()
    generator = save_checkpoint(tmp_path / "run", recipe)
    out = tmp_path / "out.wav"
    result = CliRunner().invoke(app, ["vocode", str(wav_file), str(out), "--model", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    original, _ = load_audio(wav_file)
    wav, rate = load_audio(out)
    assert rate == RATE and wav.shape == original.shape
    # the training-time generator (weight norm on) on the log-mel of the wav at the training
    # loudness, brought back to the wav's own level
    normalized = normalize_loudness(original, recipe.audio.loudness_db)
    target = recipe.audio.loudness_db
    assert abs(rms_db(normalized) - target) < 0.1 and abs(rms_db(original) - target) > 3
    gain = np.abs(normalized).max() / np.abs(original).max()
    with torch.no_grad():
        expected = generator(log_mel(normalized, **recipe.audio.mel_kwargs())[None])[0, 0, : original.shape[0]].numpy()
    expected = expected / gain
    np.testing.assert_allclose(wav, expected, atol=2e-4)  # 16-bit file: 1 / 32768 steps
    assert np.abs(wav).max() > 0.01


def test_load_vocoder_folds_weight_norm_and_accepts_a_file_or_folder(tmp_path):
    recipe = tiny_vocoder_recipe()
    save_checkpoint(tmp_path / "run", recipe)
    for where in (tmp_path / "run", tmp_path / "run" / "vocoder", tmp_path / "run" / "vocoder" / "best.pt"):
        vocoder = load_vocoder(where, "cpu")
        assert vocoder.hop_length == 160 and vocoder.sample_rate == RATE
        assert not any("parametrizations" in k for k in vocoder.generator.state_dict())
    assert vocoder(torch.zeros(80, 7)).shape == (1, 1, 7 * 160)
    with pytest.raises(ValueError, match="expects 80 mel bins"):
        vocoder(torch.zeros(1, 40, 7))


def test_mel_settings_mismatch_is_an_error_that_names_the_setting(tmp_path, wav_file):
    recipe = tiny_vocoder_recipe()
    save_checkpoint(tmp_path / "run", recipe)
    vocoder = load_vocoder(tmp_path / "run")
    vocoder.check_audio(AudioConfig())  # same mel settings: fine
    vocoder.check_audio(AudioConfig(loudness_db=-30.0, trim_db=0.0))  # not mel settings: fine
    with pytest.raises(ValueError, match="hop_length: 160 for the vocoder .*, 200 for the features"):
        vocoder.check_audio(AudioConfig(hop_length=200))
    with pytest.raises(ValueError, match="f_max: 8000.0 .*, 7600.0"):
        vocoder.check_audio(AudioConfig(f_max=7600.0))
    # f_max null and f_max = sample_rate / 2 are the same features
    check_mel_settings(AudioConfig(f_max=None), AudioConfig(f_max=8000.0))
    assert mel_settings(AudioConfig())["f_max"] == 8000.0


def test_checkpoint_whose_settings_disagree_with_its_recipe_is_refused(tmp_path):
    recipe = tiny_vocoder_recipe()
    save_checkpoint(tmp_path / "run", recipe, stored_audio=AudioConfig(n_mels=64))
    with pytest.raises(ValueError, match="n_mels: 64"):
        load_vocoder(tmp_path / "run")


def test_a_checkpoint_of_another_stage_or_none_at_all_is_refused(tmp_path, wav_file):
    save_checkpoint(tmp_path / "run", tiny_vocoder_recipe(), stage="vocoder")
    (tmp_path / "run" / "vocoder" / "best.pt").rename(tmp_path / "other.pt")
    ckpt = torch.load(tmp_path / "other.pt", weights_only=False)
    ckpt["stage"] = "ar"
    torch.save(ckpt, tmp_path / "ar.pt")
    with pytest.raises(ValueError, match="stage 'ar'"):
        load_vocoder(tmp_path / "ar.pt")
    result = CliRunner().invoke(app, ["vocode", str(wav_file), str(tmp_path / "o.wav"), "--model",
                                      str(tmp_path / "run")])
    assert result.exit_code == 1 and "no vocoder checkpoint" in result.output


def test_griffin_lim_flag_uses_the_models_mel_settings(tmp_path):
    recipe = tiny_vocoder_recipe()
    save_checkpoint(tmp_path / "run", recipe)
    np.save(tmp_path / "mel.npy", log_mel(voiced(0.3), **recipe.audio.mel_kwargs()).numpy())
    out = vocode_file(tmp_path / "mel.npy", tmp_path / "gl.wav", model=tmp_path / "run", griffin_lim=True)
    wav, rate = load_audio(out)
    assert rate == RATE and wav.shape[0] == (mel_frames(int(0.3 * RATE), 160) - 1) * 160


def test_codec_mel_vocoder_checks_its_codec(tmp_path, wav_file):
    from tts.codec import expected_settings

    recipe = recipe_from_dict({"audio": {}, "codec": {"domain": "mel", "strides": [2, 2]},
                               "vocoder": {"input": "codec_mel", "upsample_rates": [5, 4, 4, 2],
                                           "initial_channels": 16, "resblock_kernel_sizes": [3],
                                           "resblock_dilations": [[1]]}})
    save_checkpoint(tmp_path / "run", recipe)
    path = tmp_path / "run" / "vocoder" / "best.pt"
    checkpoint = torch.load(path, weights_only=False)
    checkpoint["codec"] = expected_settings(recipe)
    torch.save(checkpoint, path)
    vocoder = load_vocoder(tmp_path / "run")
    assert vocoder.input == "codec_mel" and vocoder.hop_length == 160
    assert vocoder(torch.zeros(1, recipe.audio.n_mels, 3)).shape == (1, 1, 480)
    vocoder.check_codec(expected_settings(recipe))
    with pytest.raises(ValueError, match="n_codebooks: 4 vs 8"):
        vocoder.check_codec({**expected_settings(recipe), "n_codebooks": 8})
    result = CliRunner().invoke(app, ["vocode", str(wav_file), str(tmp_path / "o.wav"), "--model",
                                      str(tmp_path / "run")])
    assert result.exit_code == 1 and "fine-tuned on a codec's log-mels" in result.output
