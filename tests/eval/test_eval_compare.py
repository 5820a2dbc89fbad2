"""Bootstrap intervals of the WER and paired comparisons of two evaluations (tts.eval.compare)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tts.cli import app
from tts.eval.compare import compare, comparison_lines, wer_interval
from tts.eval.score import aggregate


def utterance(uid: str, errors: int, words: int = 10, **measures) -> dict:
    return {"id": uid, "wer": errors / words, "errors": errors, "substitutions": errors, "deletions": 0,
            "insertions": 0, "reference_words": words, "seconds": 1.0, **measures}


def result(errors: list[int], **measures) -> dict:
    rng = np.random.default_rng(len(errors))
    return {"utterances": [utterance(f"u{i}", e, **{k: float(v + rng.normal(0, 0.01)) for k, v in measures.items()})
                           for i, e in enumerate(errors)]}


def test_the_interval_holds_the_wer_and_narrows_with_more_sentences():
    rng = np.random.default_rng(0)
    errors = rng.integers(0, 8, 400)
    low, high = wer_interval(errors[:40], [10] * 40)
    assert low <= errors[:40].sum() / 400 <= high
    wide, narrow = high - low, np.subtract(*wer_interval(errors, [10] * 400)[::-1])
    assert narrow < 0.6 * wide
    assert wer_interval(errors[:40], [10] * 40) == (low, high)  # seeded: the same figures every time
    assert wer_interval([3], [10]) is None


def test_aggregate_reports_the_interval_of_its_wer():
    total = aggregate([utterance(f"u{i}", e) for i, e in enumerate([0, 5, 2, 9, 4, 1])])
    low, high = total["wer_interval"]
    assert low < total["wer"] < high and 0 <= low and high <= 0.9


def test_the_same_results_differ_by_nothing():
    a = result([1, 3, 0, 5, 2] * 8, dnsmos_p808=3.0)
    rows = {r["measure"]: r for r in compare(a, a)["rows"]}
    assert rows["WER"]["difference"] == 0 and rows["WER"]["interval"] == (0.0, 0.0)
    assert rows["DNSMOS P.808"]["interval"] == (0.0, 0.0)


def test_pairing_finds_a_small_difference_that_the_spread_of_sentences_hides():
    rng = np.random.default_rng(1)
    hard = rng.integers(0, 9, 60)  # sentences differ a lot from one another
    a, b = result(list(hard)), result(list(hard + (rng.random(60) < 0.5)))  # B: half an error more per sentence
    row = compare(a, b)["rows"][0]
    assert row["measure"] == "WER" and row["difference"] > 0 and row["interval"][0] > 0  # paired: sure
    separate = [wer_interval([u["errors"] for u in r["utterances"]], [10] * 60) for r in (a, b)]
    assert separate[1][0] < separate[0][1]  # each alone: the intervals overlap
    assert "B worse" in comparison_lines(compare(a, b), "a", "b")[-1]


def test_only_the_utterances_both_scored_are_paired():
    a, b = result([1, 2, 3, 4]), result([1, 2, 3, 4])
    b["utterances"] = b["utterances"][2:] + [utterance("other", 9)]
    assert compare(a, b)["utterances"] == 2
    with pytest.raises(ValueError, match="share no utterance"):
        compare(a, {"utterances": [utterance("other", 1)]})


def test_the_cli_prints_the_table_and_writes_json(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(result([2, 4, 1, 3] * 5, dnsmos_p808=3.0)))
    b.write_text(json.dumps(result([1, 2, 0, 1] * 5, dnsmos_p808=3.3)))
    out = tmp_path / "cmp.json"
    run = CliRunner().invoke(app, ["eval", "compare", str(a), str(b), "-o", str(out)])
    assert run.exit_code == 0, run.output
    assert "20 utterances scored in both" in run.output
    lines = {line.split()[0]: line for line in run.output.splitlines()[4:] if line.strip() and "wrote" not in line}
    assert "B better" in lines["WER"] and "B better" in lines["DNSMOS"]
    assert json.loads(out.read_text())["rows"][0]["measure"] == "WER"
    missing = CliRunner().invoke(app, ["eval", "compare", str(a), str(tmp_path / "none.json")])
    assert missing.exit_code == 1 and "none.json" in missing.output
