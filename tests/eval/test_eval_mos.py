"""DNSMOS (tts/eval/mos.py): clean speech over noisy, the 1..5 scale, any sample rate, one load per
process, and its fields in `tts eval folder`'s JSON and summary."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from eval_fixtures import SENTENCE, read
from typer.testing import CliRunner

from tts.audio.io import resample
from tts.cli import app
from tts.eval import mos
from tts.eval.mos import KEYS, dnsmos


def noisy(wav: np.ndarray, level: float, seed: int = 0) -> np.ndarray:
    """`wav` with white noise of standard deviation `level` added, as a 16-bit file would hold it."""
    noise = np.random.default_rng(seed).standard_normal(len(wav)).astype(np.float32)
    return np.clip(wav + level * noise, -1.0, 1.0)


def harmonic(seconds: float = 3.0, sample_rate: int = 16000) -> np.ndarray:
    """A voiced, speech-like signal: 30 harmonics of a gliding 140 Hz pitch under a formant-like
    envelope, in syllables of 4 per second."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 140 + 25 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    wav = sum(np.exp(-((k * 140 - 700) / 500) ** 2) * np.sin(k * phase) / k for k in range(1, 30))
    wav = wav * np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    return (0.3 * wav / np.abs(wav).max()).astype(np.float32)


def in_scale(scores: dict) -> bool:
    return set(scores) == set(KEYS) and all(1.0 <= v <= 5.0 for v in scores.values())


@pytest.mark.parametrize("name", ["slt_1", "rms_2"])
def test_clean_speech_scores_above_the_same_speech_in_noise(clips, name):
    wav, sample_rate = read(clips[name])
    clean, loud_noise = dnsmos(wav, sample_rate), dnsmos(noisy(wav, 0.1), sample_rate)
    assert in_scale(clean) and in_scale(loud_noise)
    assert clean["p808"] > loud_noise["p808"] + 0.5
    assert clean["ovrl"] > loud_noise["ovrl"] + 0.5
    assert clean["bak"] > loud_noise["bak"] + 1.0  # the noise is in the background score above all


def test_a_harmonic_signal_scores_above_itself_in_white_noise():
    clean = harmonic()
    scores, in_noise = dnsmos(clean, 16000), dnsmos(noisy(clean, 0.3), 16000)
    assert in_scale(scores) and in_scale(in_noise)
    assert scores["p808"] > in_noise["p808"] + 0.15
    assert scores["ovrl"] > in_noise["ovrl"] + 0.2


def test_other_sample_rates_are_resampled_and_bad_input_is_refused(clips):
    wav, sample_rate = read(clips["slt_1"])
    at_16k = dnsmos(wav, sample_rate)
    at_24k = dnsmos(resample(wav, sample_rate, 24000), 24000)  # heard unresampled, P.808 drops by ~0.5
    for key in KEYS:
        assert at_24k[key] == pytest.approx(at_16k[key], abs=0.05)
    assert in_scale(dnsmos(wav * 3.0, sample_rate))  # beyond full scale: clipped, as a file would be
    assert dnsmos(wav[:800], sample_rate) is None  # 50 ms: too short to score
    with pytest.raises(ValueError, match="mono"):
        dnsmos(np.stack([wav, wav]), sample_rate)


def test_models_load_once_and_not_at_import(monkeypatch):
    import speechmos.dnsmos

    made = []

    class Counting(speechmos.dnsmos.DNSMOS):
        def __init__(self, *paths):
            made.append(paths)
            super().__init__(*paths)

    monkeypatch.setattr(speechmos.dnsmos, "DNSMOS", Counting)
    mos._models.cache_clear()
    try:
        for seed in range(3):
            assert in_scale(dnsmos(noisy(harmonic(1.0), 0.01, seed), 16000))
    finally:
        mos._models.cache_clear()  # later tests load the real class again
    assert len(made) == 1
    code = ("import sys, tts.eval.run; "
            "assert not {'onnxruntime', 'speechmos'} & set(sys.modules), 'DNSMOS loaded at import'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def test_eval_folder_reports_dnsmos_of_outputs_and_references(clips, tmp_path):
    outputs, references = tmp_path / "out", tmp_path / "ref"
    outputs.mkdir()
    references.mkdir()
    wav, sample_rate = read(clips["slt_1"])
    import soundfile as sf

    sf.write(outputs / "a.wav", noisy(wav, 0.1), sample_rate)  # the output: the reference in loud noise
    (outputs / "a.txt").write_text(SENTENCE + "\n")
    shutil.copy(clips["slt_1"], references / "a.wav")
    output = tmp_path / "result.json"
    result = CliRunner().invoke(app, ["eval", "folder", str(outputs), "--reference", str(references),
                                      "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert "DNSMOS           SIG" in result.output and "DNSMOS reference SIG" in result.output
    data = json.loads(output.read_text())
    (utterance,) = data["utterances"]
    total = data["aggregate"]
    for prefix in ("", "reference_"):
        for key in KEYS:
            assert 1.0 <= utterance[f"{prefix}dnsmos_{key}"] <= 5.0
            assert total[f"{prefix}dnsmos_{key}"] == pytest.approx(utterance[f"{prefix}dnsmos_{key}"])
    assert utterance["dnsmos_ovrl"] < utterance["reference_dnsmos_ovrl"] - 0.5
    assert utterance["dnsmos_p808"] < utterance["reference_dnsmos_p808"] - 0.5
    assert utterance["reference_dnsmos_p808"] == pytest.approx(dnsmos(wav, sample_rate)["p808"], abs=1e-3)
    assert total["mos_seconds"] > 0 and "DNSMOS" in data["settings"]["dnsmos"]

    result = CliRunner().invoke(app, ["eval", "folder", str(outputs), "--no-mos", "-o", str(output)])
    assert result.exit_code == 0, result.output
    data = json.loads(output.read_text())
    assert "DNSMOS" not in result.output and data["settings"]["dnsmos"] is None
    assert not any("dnsmos" in key for key in (*data["utterances"][0], *data["aggregate"]))
