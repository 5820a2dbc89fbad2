"""PNG plots (tts.plot over arrays, tts.plot_files over files and waveforms) and `tts plot ...` through the CLI."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from tts.cli import app
from tts.config import AudioConfig
from tts.plot import DPI, PANEL_HEIGHT, codes_figure, curves_figure, plot_attention, plot_codes, spectrogram_figure
from tts.plot_files import (plot_codes_file, plot_curves_files, plot_mels, plot_spectrograms, read_metrics,
                            spectrogram_panels)


def _voice(rate: int, seconds: float, f0: float = 140.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    wav = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
    return (0.2 * wav * (t > 0.1)).astype(np.float32)


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])  # IHDR: width, height


def _image_panels(figure) -> int:
    return sum(1 for ax in figure.axes if ax.images)


# --------------------------------------------------------------------------- spectrograms


def test_cli_spectrogram_stacks_one_panel_per_file(tmp_path):
    a, b, c = tmp_path / "a.wav", tmp_path / "b.flac", tmp_path / "c.wav"
    sf.write(a, _voice(16000, 1.0), 16000)
    sf.write(b, np.stack([_voice(48000, 0.6), _voice(48000, 0.6)], axis=1), 48000)  # stereo 48 kHz
    sf.write(c, _voice(8000, 0.8), 8000)
    runner = CliRunner()
    one = runner.invoke(app, ["plot", "spectrogram", str(a), "-o", str(tmp_path / "one.png")])
    three = runner.invoke(app, ["plot", "spectrogram", str(a), str(b), str(c), "-o", str(tmp_path / "three.png")])
    assert one.exit_code == 0, one.output
    assert three.exit_code == 0, three.output
    (w1, h1), (w3, h3) = _png_size(tmp_path / "one.png"), _png_size(tmp_path / "three.png")
    assert w1 == w3
    assert h3 - h1 == pytest.approx(2 * PANEL_HEIGHT * DPI, abs=2)  # two more panels, same layout


def test_cli_linear_and_missing_file(tmp_path):
    sf.write(tmp_path / "a.wav", _voice(16000, 0.5), 16000)
    runner = CliRunner()
    ok = runner.invoke(app, ["plot", "spectrogram", str(tmp_path / "a.wav"), "--linear", "-o", str(tmp_path / "l.png")])
    assert ok.exit_code == 0, ok.output
    _png_size(tmp_path / "l.png")
    bad = runner.invoke(app, ["plot", "spectrogram", str(tmp_path / "gone.wav"), "-o", str(tmp_path / "x.png")])
    assert bad.exit_code != 0
    assert "gone.wav" in bad.output
    assert not (tmp_path / "x.png").exists()


def test_spectrogram_figure_axes():
    audio = AudioConfig()
    items = [(_voice(16000, 1.0), 16000, "long"), (_voice(22050, 0.5), 22050, "short")]
    panels = spectrogram_panels(items, audio)
    assert [db.shape[0] for db, _, _ in panels] == [audio.n_mels] * 2
    assert [seconds for _, _, seconds in panels] == pytest.approx([1.0, 0.5])
    figure = spectrogram_figure(panels, audio.sample_rate, audio.hop_length, mel_band=(audio.f_min, audio.fmax))
    assert _image_panels(figure) == 2
    panels = [ax for ax in figure.axes if ax.images]
    assert [ax.get_title(loc="left") for ax in panels] == ["long", "short"]
    assert panels[0].get_xlim() == pytest.approx((0.0, 1.0))  # shared time axis, in seconds
    labels = [t.get_text() for t in panels[0].get_yticklabels()]
    assert labels[0] == "0" and labels[-1] == "8000" and "1000" in labels  # Hz at mel positions
    positions = list(panels[0].get_yticks())
    assert positions == sorted(positions) and positions[-1] <= audio.n_mels
    # mel spacing: 0-1000 Hz takes far more of the axis than 1000-2000 Hz of a linear one would
    hz = {label: pos for label, pos in zip(labels, positions)}
    assert hz["1000"] - hz["0"] > 0.2 * audio.n_mels
    linear_panels = spectrogram_panels(items, audio, linear=True)
    assert linear_panels[0][0].shape[0] == audio.n_fft // 2 + 1
    linear = spectrogram_figure(linear_panels, audio.sample_rate, audio.hop_length)
    assert [ax for ax in linear.axes if ax.images][0].get_ylim() == pytest.approx((0, 8000))
    assert any("dB" in ax.get_ylabel() for ax in figure.axes)  # the colour bar


def test_plot_spectrograms_rejects_empty_audio(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        plot_spectrograms([(np.zeros(0, np.float32), 16000, "nothing")], tmp_path / "x.png", AudioConfig())
    with pytest.raises(ValueError, match="nothing to plot"):
        spectrogram_figure([], 16000, 256)


def test_log_mel_features_plot_in_db_on_the_mel_axis(tmp_path):
    audio = AudioConfig()
    mel = np.log(np.full((audio.n_mels, 40), 0.1, dtype=np.float32))  # natural log, as log_mel makes them
    out = plot_mels([(mel, "flat")], tmp_path / "m.png", audio)
    assert _png_size(out)[0] > 0
    with pytest.raises(ValueError, match="no features"):
        plot_mels([], tmp_path / "none.png", audio)


# --------------------------------------------------------------------------- curves


def _write_metrics(folder, scale: float, extra_lines: str = ""):
    folder.mkdir(parents=True)
    lines = []
    for step in range(0, 100, 10):
        lines.append({"step": step, "split": "train", "time": step * 0.1, "loss": scale / (step + 1),
                      "loss_ce": scale / (step + 2), "lr": 1e-3, "grad_norm": 1.0})
        if step % 50 == 0:
            lines.append({"step": step, "split": "validation", "loss": scale / (step + 1) + 0.1})
    (folder / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n" + extra_lines)
    return folder


def test_curves_one_subplot_per_metric_runs_overlaid(tmp_path):
    first = _write_metrics(tmp_path / "runs" / "a" / "ar", 1.0)
    second = _write_metrics(tmp_path / "runs" / "b" / "ar", 2.0, extra_lines='{"step": 10')  # half-written
    records = read_metrics(first)
    assert len(records) == 12 and read_metrics(second / "metrics.jsonl")
    figure = curves_figure([("a/ar", records), ("b/ar", read_metrics(second))])
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in visible) == ["loss", "loss_ce"]  # losses by default
    loss_axis = next(ax for ax in visible if ax.get_title() == "loss")
    assert len(loss_axis.lines) == 4  # 2 runs x (train, validation)
    assert {t.get_text() for t in loss_axis.get_legend().get_texts()} == {
        "a/ar train", "a/ar validation", "b/ar train", "b/ar validation"}
    out = plot_curves_files([first, second / "metrics.jsonl"], tmp_path / "c.png", keys=["lr", "loss"])
    assert _png_size(out)[0] > 0


def test_curves_errors(tmp_path):
    folder = _write_metrics(tmp_path / "r", 1.0)
    with pytest.raises(ValueError, match="nope.*available"):
        plot_curves_files([folder], tmp_path / "c.png", keys=["nope"])
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        plot_curves_files([tmp_path / "empty_dir_that_is_missing"], tmp_path / "c.png")
    (tmp_path / "blank.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no metric records"):
        read_metrics(tmp_path / "blank.jsonl")


def test_cli_curves(tmp_path):
    folder = _write_metrics(tmp_path / "r" / "nar", 1.0)
    result = CliRunner().invoke(app, ["plot", "curves", str(folder), "-o", str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output
    _png_size(tmp_path / "c.png")


# --------------------------------------------------------------------------- codes


def test_codes_heat_map(tmp_path):
    codes = np.random.default_rng(0).integers(0, 1024, (8, 150))
    figure = codes_figure(codes, "x")
    ax = next(a for a in figure.axes if a.images)
    assert ax.images[0].get_array().shape == (8, 150)
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"q{i}" for i in range(1, 9)]
    _png_size(plot_codes(codes, tmp_path / "codes.png", "x"))
    with pytest.raises(ValueError, match="integer"):
        plot_codes(codes.astype(np.float32), tmp_path / "bad.png")


def test_attention_map(tmp_path):
    attention = np.eye(30)[np.linspace(0, 29, 90).astype(int)]  # (90 frames, 30 phones), a diagonal
    _png_size(plot_attention(attention, tmp_path / "attention.png"))
    with pytest.raises(ValueError, match="frames, phones"):
        plot_attention(np.zeros(5), tmp_path / "bad.png")


def test_codes_file_and_cli(tmp_path):
    np.save(tmp_path / "codes.npy", np.random.default_rng(0).integers(0, 1024, (1, 4, 90)))  # (B=1, Q, T)
    result = CliRunner().invoke(app, ["plot", "codes", str(tmp_path / "codes.npy"), "-o", str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output
    _png_size(tmp_path / "c.png")
    with pytest.raises(FileNotFoundError):
        plot_codes_file(tmp_path / "none.npy", tmp_path / "c.png")


def test_codes_from_a_prepared_corpus(tmp_path, monkeypatch):
    corpus_module = pytest.importorskip("tts.data.corpus")
    codes = np.arange(3 * 40).reshape(3, 40) % 17

    class FakeCorpus:  # the lookup and messages are tested here, the corpus format in tests/data
        def __init__(self, folder):
            self.folder = folder
            self.has_codes = True

        def records(self, split="all"):
            return [{"id": "spk1_0001", "speaker": "spk1", "text": "Hello there."}]

        def codes(self, record):
            return codes

    monkeypatch.setattr(corpus_module, "PreparedCorpus", FakeCorpus)
    out = plot_codes_file("spk1_0001", tmp_path / "c.png", prepared=tmp_path)
    _png_size(out)
    with pytest.raises(KeyError, match="nobody"):
        plot_codes_file("nobody", tmp_path / "c.png", prepared=tmp_path)


def test_curves_against_hours_of_training(tmp_path):
    records = [{"step": s, "split": "train", "time": 36.0 * s, "loss": 1.0 / s} for s in (10, 20, 30)]
    records.append({"step": 40, "split": "train", "loss": 0.1})  # no time: left out of the time axis
    (axis,) = [ax for ax in curves_figure([("a", records)], x="time").axes if ax.get_visible()]
    assert list(axis.lines[0].get_xdata()) == pytest.approx([0.1, 0.2, 0.3])  # hours
    assert axis.get_xlabel() == "hours of training"
    (axis,) = [ax for ax in curves_figure([("a", records)]).axes if ax.get_visible()]
    assert list(axis.lines[0].get_xdata()) == [10, 20, 30, 40]
    with pytest.raises(ValueError, match="step or time"):
        curves_figure([("a", records)], x="epoch")
