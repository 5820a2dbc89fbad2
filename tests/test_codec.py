"""The codec interface: shapes, round trips, chunking, checkpoints, loading, the offline message."""

from __future__ import annotations

import inspect
import math
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from codec_fixtures import recipe, init_codebooks, speechlike, tiny_recipe  # noqa: F401 (fixtures)

from tts.codec import Codec, codec_from_checkpoint, encodec_settings, expected_settings, load_codec, trained_settings
from tts.models.codec_model import CodecModel, quiet_weight_norm
from tts.models.pretrained import ENCODEC_24KHZ_FILE, CodecUnavailable, encodec_24khz_cache_path



def tiny_codec(recipe, chunk_seconds: float = 30.0, context_seconds: float = 0.05, lstm_layers: int = 0,
               seed: int = 0) -> Codec:
    torch.manual_seed(seed)
    settings = dict(trained_settings(recipe), lstm_layers=lstm_layers)
    model = CodecModel.from_settings(settings)
    init_codebooks(model, seed=seed)
    return Codec(model, settings, chunk_seconds=chunk_seconds, context_seconds=context_seconds)


def waves(*seconds: float, seed: int = 0) -> torch.Tensor:
    """(B, 1, S) speech-like audio, every item as long as the first (others cut or zero-padded)."""
    n = int(seconds[0] * 16000)
    items = [np.resize(speechlike(s, seed=seed + i), n) for i, s in enumerate(seconds)]
    return torch.from_numpy(np.stack(items))[:, None]


# ---------------------------------------------------------------------- config and settings


def test_hop_frame_rate_and_bitrate_follow_the_recipe(recipe):
    codec = tiny_codec(recipe)
    assert recipe.codec.hop_length == 64 and recipe.codec_frame_rate == 250.0
    assert (codec.hop_length, codec.frame_rate, codec.n_codebooks, codec.codebook_size) == (64, 250.0, 2, 16)
    assert codec.bitrate == 250 * 2 * 4  # frames/s x codebooks x bits
    assert codec.settings() == expected_settings(recipe) == trained_settings(recipe)
    pretrained = encodec_settings(6.0)
    assert (pretrained["n_codebooks"], pretrained["frame_rate"], pretrained["sample_rate"]) == (8, 75.0, 24000)


# ---------------------------------------------------------------------- encode / decode


def test_encode_decode_shapes_on_random_weights(recipe):
    codec = tiny_codec(recipe)
    wav = waves(0.31, 0.2, 0.25)[..., :4801]  # not a whole number of frames
    codes = codec.encode(wav)
    assert codes.shape == (3, 2, math.ceil(4801 / 64)) and codes.dtype == torch.long
    assert 0 <= int(codes.min()) and int(codes.max()) < 16
    assert len(torch.unique(codes[:, 0])) > 2  # the codebooks are in use, not all one entry
    out = codec.decode(codes)
    assert out.shape == (3, 1, codes.shape[-1] * 64) and out.dtype == torch.float32
    assert codec(wav).shape == wav.shape
    latents = codec.latents(codes)
    assert latents.shape == (3, 16, codes.shape[-1])


def test_batch_equals_items_alone(recipe):
    codec = tiny_codec(recipe)
    wav = waves(0.3, 0.3, 0.3, seed=3)
    codes = codec.encode(wav)
    for i in range(3):
        assert torch.equal(codec.encode(wav[i:i + 1]), codes[i:i + 1])
        assert torch.allclose(codec.decode(codes[i:i + 1]), codec.decode(codes)[i:i + 1], atol=1e-6)


def test_autocast_around_the_codec_changes_nothing(recipe):
    codec = tiny_codec(recipe)
    wav = waves(0.5, 0.5)
    codes, out = codec.encode(wav), codec.decode(codec.encode(wav))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as during a bf16 training step
        assert torch.equal(codec.encode(wav), codes)
        decoded = codec.decode(codes)
    assert decoded.dtype == torch.float32 and torch.equal(decoded, out)


def test_bad_inputs_are_refused_with_the_shape(recipe):
    codec = tiny_codec(recipe)
    with pytest.raises(ValueError, match="batch, 1, samples"):
        codec.encode(torch.zeros(2, 100))
    with pytest.raises(ValueError, match="2 codebooks"):
        codec.decode(torch.zeros(1, 3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        codec.decode(torch.full((1, 2, 5), 16))


def test_decoding_from_the_first_codebooks_only(recipe):
    codec = tiny_codec(recipe)  # 2 codebooks
    codes = codec.encode(waves(0.5, 0.5))
    first = codec.model.quantizer.vq.layers[0].decode(codes[:, 0])  # (B, D, T): codebook 1's entries
    torch.testing.assert_close(codec.latents(codes, levels=1), first)
    assert torch.equal(codec.decode(codes, levels=2), codec.decode(codes))
    assert not torch.allclose(codec.decode(codes, levels=1), codec.decode(codes))
    for bad in (0, 3):
        with pytest.raises(ValueError, match="levels must be 1 to 2"):
            codec.decode(codes, levels=bad)


def test_codebooks_are_the_entries_that_latents_sum(recipe):
    codec = tiny_codec(recipe)
    codes = codec.encode(waves(0.5, 0.5))  # (B, Q, T)
    books = codec.codebooks()  # (Q, V, D)
    assert tuple(books.shape) == (codec.n_codebooks, codec.codebook_size, codec.latents(codes).shape[1])
    summed = sum(books[q][codes[:, q]] for q in range(codec.n_codebooks)).transpose(1, 2)  # (B, D, T)
    torch.testing.assert_close(summed, codec.latents(codes))


@pytest.mark.parametrize("chunk_seconds", [100.0, 0.25])
def test_decoding_latents_equals_decoding_their_codes(recipe, chunk_seconds):
    codec = tiny_codec(recipe, chunk_seconds=chunk_seconds)
    codes = codec.encode(waves(1.27, 1.27))
    torch.testing.assert_close(codec.decode_latents(codec.latents(codes)), codec.decode(codes))
    halfway = codec.latents(codes, 1) + 0.5 * (codec.latents(codes) - codec.latents(codes, 1))
    assert not torch.allclose(codec.decode_latents(halfway), codec.decode(codes))  # latents between entries decode too
    with pytest.raises(ValueError, match="latents must be float"):
        codec.decode_latents(codes)


# ---------------------------------------------------------------------- chunking


@pytest.mark.parametrize("seconds", [2.0, 2.02, 1.27])
def test_chunked_equals_whole_without_lstm(recipe, seconds):
    """Convolutions only: with context beyond the encoder's reach, chunking changes nothing."""
    whole = tiny_codec(recipe, chunk_seconds=100.0)
    chunked = tiny_codec(recipe, chunk_seconds=0.25, context_seconds=0.05)
    wav = waves(seconds, seconds)
    codes = whole.encode(wav)
    assert torch.equal(chunked.encode(wav), codes)
    assert torch.allclose(chunked.decode(codes), whole.decode(codes), atol=1e-5)


def test_chunked_matches_whole_with_lstm(recipe):
    """An LSTM never forgets exactly: latents differ by ~1e-8 after a second of context, which
    flips a few near-tie codes of a random-weight model (measured 99.4-99.9 % of frames agree)."""
    whole = tiny_codec(recipe, chunk_seconds=100.0, lstm_layers=1)
    chunked = tiny_codec(recipe, chunk_seconds=1.0, context_seconds=0.5, lstm_layers=1)
    wav = waves(4.0, 4.0, seed=5)
    codes = whole.encode(wav)
    agree = (chunked.encode(wav) == codes).all(dim=1).float().mean().item()
    assert agree >= 0.98
    reference = whole.decode(codes)
    error = (chunked.decode(codes) - reference).norm() / reference.norm()
    assert error < 1e-4


def test_model_never_sees_more_than_chunk_plus_context(recipe):
    """Memory stays bounded: a 20 s input reaches the model in pieces of at most chunk + 2 x context."""
    codec = tiny_codec(recipe, chunk_seconds=0.5, context_seconds=0.1)
    seen = {"encoder": 0, "decoder": 0}

    def watch(name):
        return lambda module, inputs: seen.__setitem__(name, max(seen[name], inputs[0].shape[-1]))

    codec.model.encoder.register_forward_pre_hook(watch("encoder"))
    codec.model.decoder.register_forward_pre_hook(watch("decoder"))
    wav = torch.from_numpy(np.resize(speechlike(1.0), 20 * 16000))[None, None]
    out = codec(wav)
    assert out.shape == wav.shape
    bound_frames = codec.chunk_frames + 2 * codec.context_frames  # 125 + 2 x 25
    assert seen["encoder"] <= bound_frames * 64 and seen["decoder"] <= bound_frames
    assert seen["encoder"] < wav.shape[-1] / 10


# ---------------------------------------------------------------------- checkpoints and loading


def _save_generator(path: Path, recipe, model: CodecModel) -> None:
    """A checkpoint as the training engine writes it (only the keys the codec reads)."""
    torch.save({"stage": "codec", "recipe": recipe.to_dict(), "codec": trained_settings(recipe),
                "modules": {"generator": model.state_dict()}}, path)


def test_checkpoint_round_trip_is_exact(recipe, tmp_path):
    codec = tiny_codec(recipe, seed=4)
    path = tmp_path / "run" / "codec" / "best.pt"
    path.parent.mkdir(parents=True)
    _save_generator(path, recipe, codec.model)
    loaded = codec_from_checkpoint(path, "cpu")
    assert loaded.settings() == codec.settings()
    for (name, a), (_, b) in zip(codec.model.state_dict().items(), loaded.model.state_dict().items()):
        assert torch.equal(a, b), name
    wav = waves(0.5, 0.4)
    codes = codec.encode(wav)
    assert torch.equal(loaded.encode(wav), codes)
    assert torch.equal(loaded.decode(codes), codec.decode(codes))
    from_recipe = load_codec(recipe, "cpu")  # finds {output_dir}/codec/best.pt
    assert torch.equal(from_recipe.encode(wav), codes)


def test_load_codec_without_a_trained_codec(recipe, tmp_path):
    assert load_codec(recipe, "cpu") is None  # not trained yet
    none = tiny_recipe(tmp_path, kind="none")
    assert load_codec(none, "cpu") is None and expected_settings(none) is None
    missing = tiny_recipe(tmp_path, checkpoint=str(tmp_path / "nowhere.pt"))
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        load_codec(missing, "cpu")
    not_codec = tmp_path / "other.pt"
    torch.save({"modules": {}}, not_codec)
    with pytest.raises(ValueError, match="not a codec checkpoint"):
        codec_from_checkpoint(not_codec, "cpu")


def test_load_codec_refuses_a_checkpoint_of_other_sizes(recipe, tmp_path):
    codec = tiny_codec(recipe)
    path = tmp_path / "codec.pt"
    _save_generator(path, recipe, codec.model)
    changed = tiny_recipe(tmp_path, checkpoint=str(path), codebook_size=32)
    with pytest.raises(ValueError, match="codebook_size: checkpoint 16 vs recipe 32"):
        load_codec(changed, "cpu")


# ---------------------------------------------------------------------- pretrained EnCodec, offline


def _encodec_recipe(tmp_path: Path, checkpoint: str | None = None):
    codec = {"kind": "encodec_24khz", "bandwidth": 6.0, "checkpoint": checkpoint}
    from tts.config import recipe_from_dict

    return recipe_from_dict({"output_dir": str(tmp_path / "run"), "audio": {"sample_rate": 24000,
                             "hop_length": 320, "n_fft": 1024, "win_length": 1024},
                             "vocoder": {"upsample_rates": [5, 4, 4, 4]}, "codec": codec})


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No name resolves (as on a machine without internet), and an empty torch hub cache."""
    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints" / ENCODEC_24KHZ_FILE


def test_the_weights_file_name_is_the_one_encodec_asks_for():
    from encodec import EncodecModel

    assert f"'{ENCODEC_24KHZ_FILE}'" in inspect.getsource(EncodecModel.encodec_model_24khz)


def test_offline_pretrained_encodec_fails_with_one_clear_message(offline, tmp_path):
    assert encodec_24khz_cache_path() == offline
    with pytest.raises(CodecUnavailable) as caught:
        load_codec(_encodec_recipe(tmp_path), "cpu")
    message = str(caught.value)
    assert str(offline) in message and "codec.checkpoint" in message
    assert "Name or service not known" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chained traceback


def test_a_network_timeout_gives_the_same_message(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def timeout(*args, **kwargs):
        raise socket.timeout("timed out")

    monkeypatch.setattr(socket, "create_connection", timeout)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "",
                                                                  ("192.0.2.1", 443))])
    with pytest.raises(CodecUnavailable, match="timed out"):
        load_codec(_encodec_recipe(tmp_path), "cpu")


def test_weights_placed_where_the_message_says_load_offline(offline, tmp_path):
    from encodec import EncodecModel

    torch.manual_seed(0)
    with quiet_weight_norm():
        state = EncodecModel.encodec_model_24khz(pretrained=False).state_dict()
    offline.parent.mkdir(parents=True)
    torch.save(state, offline)  # stands in for the real file
    codec = load_codec(_encodec_recipe(tmp_path), "cpu")
    assert (codec.sample_rate, codec.frame_rate, codec.n_codebooks, codec.codebook_size) == (24000, 75.0, 8, 1024)
    assert codec.encode(torch.zeros(1, 1, 24000)).shape == (1, 8, 75)
    by_key = load_codec(_encodec_recipe(tmp_path, checkpoint=str(offline)), "cpu")
    assert torch.equal(by_key.model.decoder.model[0].conv.conv.weight_v, state["decoder.model.0.conv.conv.weight_v"])


# ---------------------------------------------------------------------- devices


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(recipe):
    codec = tiny_codec(recipe)
    wav = waves(1.0, 0.8)
    codes = codec.encode(wav)
    gpu = codec.to("cuda")
    assert torch.equal(gpu.encode(wav.cuda()).cpu(), codes)  # results stay on the input's device
    assert torch.allclose(gpu.decode(codes).cpu(), codec.to("cpu").decode(codes), atol=1e-4)
