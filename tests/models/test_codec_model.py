"""Our EnCodec model: sizes from the recipe, the input gain, and the repaired codebook updates."""

from __future__ import annotations

import math

import torch
from codec_fixtures import recipe, speechlike, tiny_recipe  # noqa: F401 (fixtures)

from tts.codec import trained_settings
from tts.models.codec_model import CodecModel, count_parameters, dead_code_threshold, kmeans


def test_sizes_come_from_the_settings(recipe):
    settings = trained_settings(recipe)
    model = CodecModel.from_settings(settings)
    assert settings["input_gain"] == 10.0  # audio.loudness_db = -20 dBFS -> unit RMS
    assert model.hop_length == 64 and model.frame_rate == 250.0
    assert len(model.quantizer.vq.layers) == 2 and model.quantizer.bins == 16
    wav = torch.from_numpy(speechlike(0.25))[None, None]
    recon, codes, commit, _ = model(wav)
    assert recon.shape == wav.shape and codes.shape == (1, 2, math.ceil(wav.shape[-1] / 64))
    bigger = CodecModel.from_settings(dict(settings, channels=8, lstm_layers=1))
    assert count_parameters(bigger) > 2 * count_parameters(model)


def test_kmeans_finds_separated_clusters():
    torch.manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    samples = torch.cat([c + 0.1 * torch.randn(50, 2) for c in centres])
    means, counts = kmeans(samples, 3, 10)
    order = means[:, 0].argsort(descending=True)  # (10, 0) first
    assert sorted(counts.tolist()) == [50, 50, 50]
    assert torch.allclose(means[order[0]], centres[1], atol=0.1)


def test_codebooks_stay_near_the_latents_while_training(tmp_path):
    """encodec 0.1.1 alone: an unused entry becomes running sum / epsilon (norms ~1e5) after the
    first training steps; repaired, every entry stays on the scale of the encoder's output."""
    recipe = tiny_recipe(tmp_path, codebook_size=64)
    torch.manual_seed(0)
    model = CodecModel.from_settings(trained_settings(recipe), dead_code_threshold(40, 64)).train()
    for step in range(5):
        wav = torch.stack([torch.from_numpy(speechlike(0.04, seed=10 * step + i)) for i in range(4)])[:, None]
        with torch.no_grad():
            model(wav)  # 4 x 10 frames: fewer vectors than entries, so many die and are replaced
    latent = model.encoder(wav * model.input_gain).detach()
    scale = latent.norm(dim=1).max()
    for layer in model.quantizer.vq.layers:
        book = layer._codebook
        assert book.embed.norm(dim=1).max() < 2 * scale
        # running sum = entry x count, as the EMA update assumes
        assert torch.allclose(book.embed_avg, book.embed * _smoothed(book)[:, None], rtol=1e-3, atol=1e-5)


def _smoothed(book) -> torch.Tensor:
    size = book.cluster_size
    return (size + book.epsilon) / (size.sum() + book.codebook_size * book.epsilon) * size.sum()


def test_dead_code_threshold_scales_with_the_batch():
    assert dead_code_threshold(4800, 1024) == 1.875  # encodec's batch: close to its own 2
    assert dead_code_threshold(100_000, 1024) == 2.0  # never above encodec's
    assert dead_code_threshold(200, 1024) == 0.078125  # 8 x 1 s at 25 Hz
