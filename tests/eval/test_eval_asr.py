"""The offline recogniser: its model ships in the package, it understands flite, not noise."""

from pathlib import Path

import numpy as np
import pytest
from eval_fixtures import OTHER_SENTENCE, SENTENCE, read

from tts.eval.asr import Recognizer, default_recognizer, transcribe
from tts.eval.wer import wer


def test_model_files_ship_inside_the_package():
    decoder = default_recognizer().decoder
    for key in ("hmm", "lm", "dict"):
        path = Path(decoder.config[key])
        assert path.exists(), (key, path)
        assert "site-packages" in path.parts or "pocketsphinx" in str(path)


def test_one_recogniser_per_process():
    assert default_recognizer() is default_recognizer()


@pytest.mark.parametrize("name, text", [("rms_1", SENTENCE), ("slt_2", OTHER_SENTENCE)])
def test_recognises_flite_speech(clips, name, text):
    wav, rate = read(clips[name])
    hypothesis = transcribe(wav, rate)
    assert wer(text, hypothesis) < 0.5, hypothesis


def test_resamples_other_rates(clips):
    import librosa

    wav, rate = read(clips["rms_2"])
    at_22k = librosa.resample(wav, orig_sr=rate, target_sr=22050)
    assert wer(OTHER_SENTENCE, transcribe(at_22k, 22050)) < 0.5


def test_transcripts_do_not_depend_on_what_came_before(clips):
    recognizer = default_recognizer()
    wav, rate = read(clips["slt_1"])
    first = recognizer.transcribe(wav, rate), recognizer.decoder.hyp().score
    recognizer.transcribe(0.3 * np.random.default_rng(1).standard_normal(3 * rate).astype(np.float32), rate)
    assert (recognizer.transcribe(wav, rate), recognizer.decoder.hyp().score) == first


def test_white_noise_is_not_speech():
    noise = 0.1 * np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32)
    assert wer(SENTENCE, transcribe(noise, 16000)) >= 0.9


def test_silence_and_empty_audio_give_no_words():
    recognizer = default_recognizer()
    assert recognizer.transcribe(np.zeros(0, np.float32), 16000) == ""
    assert recognizer.transcribe(np.zeros(16000, np.float32), 16000) == ""


def test_rejects_stereo():
    with pytest.raises(ValueError, match="mono"):
        Recognizer().transcribe(np.zeros((2, 16000), np.float32), 16000)
