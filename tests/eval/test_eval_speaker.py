"""Speaker similarity with resemblyzer's packaged encoder, and the same/different scale."""

import numpy as np
import pytest
from eval_fixtures import read

from tts.eval.speaker import (cosine_similarity, default_speaker_encoder, embed, similarity_scale,
                              similarity_to_speakers, speaker_similarity)


@pytest.fixture(scope="module")
def embeddings(clips):
    return {name: embed(*read(path)) for name, path in clips.items()}


def test_embeddings_are_unit_vectors(embeddings):
    for vector in embeddings.values():
        assert vector.shape == (256,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_encoder_runs_on_cpu_from_packaged_weights():
    encoder = default_speaker_encoder().encoder
    assert str(encoder.device) == "cpu"


def test_same_clip_is_similarity_one(clips):
    wav, rate = read(clips["slt_1"])
    assert speaker_similarity(wav, rate, wav, rate) == pytest.approx(1.0, abs=1e-5)


def test_same_voice_is_closer_than_another_voice(embeddings):
    same = cosine_similarity(embeddings["slt_1"], embeddings["slt_2"])
    different = cosine_similarity(embeddings["slt_1"], embeddings["rms_1"])
    assert same > different + 0.05, (same, different)


def test_too_short_or_silent_audio_has_no_embedding():
    assert embed(np.zeros(16000, np.float32), 16000) is None
    assert embed(np.zeros(100, np.float32), 16000) is None
    assert cosine_similarity(None, np.ones(3)) is None


def test_scale_and_speaker_scores(embeddings):
    speakers = {"slt": [embeddings["slt_1"], embeddings["slt_2"]], "rms": [embeddings["rms_1"], embeddings["rms_2"]]}
    scale = similarity_scale(speakers)
    assert scale["same_pairs"] == 2 and scale["different_pairs"] == 4
    assert scale["same_speaker"] > scale["different_speaker"]
    assert scale["per_speaker"]["slt"]["utterances"] == 2
    scores = similarity_to_speakers(embeddings["slt_1"], {"slt": [embeddings["slt_2"]], "rms": speakers["rms"]}, "slt")
    assert scores["closest"] == "slt"
    assert scores["same"] > scores["other"] == scores["nearest_other"]


def test_scale_on_toy_vectors():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    scale = similarity_scale({"x": [a, a], "y": [b]})
    assert scale["same_speaker"] == pytest.approx(1.0)
    assert scale["different_speaker"] == pytest.approx(0.0)
    assert scale["per_speaker"]["y"]["same_speaker"] is None
