"""How predictable codec levels are: count models and the probe find what is determined and what is noise."""

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from tts.eval.predictability import ProbeSettings, count_cross_entropy, level_predictability

V = 8
FAST = ProbeSettings(context=1, width=16, hidden=64, steps=250, batch=512, lr=1e-2)


def utterances(n: int, frames: int, seed: int) -> list[np.ndarray]:
    """Level 1 random; level 2 a function of level 1 at the same frame; level 3 level 1 of the frame
    before (only a window sees it); level 4 noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        first = rng.integers(0, V, frames)
        same = (3 * first + 1) % V
        before = np.concatenate([[0], first[:-1]])
        out.append(np.stack([first, same, before, rng.integers(0, V, frames)]))
    return out


def test_count_model_scores_a_determined_target_near_zero_and_noise_near_uniform():
    rng = np.random.default_rng(0)
    x = rng.integers(0, V, 5000)
    determined = count_cross_entropy(x[:4000], x[:4000], x[4000:], x[4000:], V, V)
    noise = rng.integers(0, V, 5000)
    unknown = count_cross_entropy(x[:4000], noise[:4000], x[4000:], noise[4000:], V, V)
    assert determined < 0.01
    assert abs(unknown - math.log(V)) < 0.05


def test_levels_separate_the_determined_the_windowed_and_the_noise():
    rows = level_predictability(utterances(40, 60, 0), utterances(10, 60, 1), V, FAST)
    by_level = {row["level"]: row for row in rows}
    assert set(by_level[1]) == {"level", "uniform", "unigram"}  # nothing below level 1
    assert by_level[2]["given_below"] < 0.05 and by_level[2]["probe"] < 0.2
    # level 3 is level 1 one frame earlier: the level below at the same frame says nothing, the window all
    assert by_level[3]["given_below"] > math.log(V) - 0.1
    assert by_level[3]["probe"] < 0.3 and by_level[3]["probe_accuracy"] > 0.9
    assert by_level[4]["probe"] > math.log(V) - 0.15 and by_level[4]["probe_accuracy"] < 0.3


def test_level_predictability_rejects_empty_splits():
    with pytest.raises(ValueError, match="held-out"):
        level_predictability(utterances(2, 10, 0), [], V, FAST)


def test_eval_codes_cli_prints_writes_and_plots(tmp_path, monkeypatch):
    from tts.cli import app
    from tts.eval import predictability

    class Corpus:
        has_codes = True
        settings = {"codec": {"codebook_size": V}}

        def __init__(self, folder):
            self.data = {"train": utterances(20, 40, 0), "validation": utterances(5, 40, 1)}

        def records(self, split):
            return [{"split": split, "i": i} for i in range(len(self.data[split]))]

        def codes(self, record):
            return self.data[record["split"]][record["i"]]

    monkeypatch.setattr("tts.data.corpus.PreparedCorpus", Corpus)
    monkeypatch.setattr(predictability, "ProbeSettings", lambda: FAST)
    out, plot = tmp_path / "codes.json", tmp_path / "codes.png"
    result = CliRunner().invoke(app, ["eval", "codes", str(tmp_path), "-o", str(out), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "level 4: unigram" in result.output and plot.stat().st_size > 1000
    written = json.loads(out.read_text())
    assert written["train_frames"] == 800 and len(written["levels"]) == 4


def test_eval_codes_cli_explains_a_corpus_without_codes(tmp_path, monkeypatch):
    from tts.cli import app

    class Corpus:
        has_codes = False

        def __init__(self, folder):
            pass

    monkeypatch.setattr("tts.data.corpus.PreparedCorpus", Corpus)
    result = CliRunner().invoke(app, ["eval", "codes", str(tmp_path)])
    assert result.exit_code != 0 and "holds no codes" in result.output
