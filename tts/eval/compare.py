"""How sure a score is: bootstrap intervals over utterances, and paired comparisons of two evaluations.

A WER over 100 sentences moves by several points when other sentences are drawn. `wer_interval` resamples
the utterances with replacement and gives the 2.5th and 97.5th percentiles of the corpus WER (summed edits
over summed words). `compare` pairs two evaluations of the same held-out utterances (the ids both scored)
and resamples the pairs together, so that what both find hard cancels out: it gives each measure's
difference B - A with its 95 % interval. An interval that holds 0 is a difference within noise.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

RESAMPLES = 2000  # bootstrap draws of the utterances
LEVEL = 0.95  # coverage of the intervals
# measures compared besides the corpus WER: utterance key, label, lower is better
MEASURES = (("mcd", "MCD (dB)", True), ("mel_distance", "mel distance", True),
            ("dnsmos_p808", "DNSMOS P.808", False), ("dnsmos_ovrl", "DNSMOS OVRL", False),
            ("prompt_similarity", "similarity to prompt", False),
            ("speaker_identified", "own speaker nearest", False), ("duration_ratio", "duration ratio", None))


def _draws(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) indices of utterances drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _resampled_wer(errors: np.ndarray, words: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """The corpus WER (summed edits over summed words) of each draw: (resamples,)."""
    return errors[draws].sum(1) / np.maximum(words[draws].sum(1), 1)


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def wer_interval(errors: Sequence[int], words: Sequence[int], resamples: int = RESAMPLES,
                 seed: int = 0) -> tuple[float, float] | None:
    """95 % bootstrap interval of the corpus WER of utterances with these edits and reference words (None for
    fewer than two utterances)."""
    errors, words = np.asarray(errors, dtype=float), np.asarray(words, dtype=float)
    if len(errors) < 2:
        return None
    return _percentiles(_resampled_wer(errors, words, _draws(len(errors), resamples, seed)))


def compare(a: dict, b: dict, resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """Paired differences B - A of two `tts eval` results over the utterances both scored: {"utterances": N,
    "rows": [{"measure", "a", "b", "difference", "interval", "lower_is_better"}]}. ValueError when they share
    no utterance."""
    first = {u["id"]: u for u in a.get("utterances", [])}
    pairs = [(first[u["id"]], u) for u in b.get("utterances", []) if u["id"] in first]
    if not pairs:
        raise ValueError("the two evaluations share no utterance id: compare results of the same held-out "
                         "sentences (the same corpus, --limit and seed)")
    rows = []  # the same seed draws the same pairs for every measure scored on all of them
    scored = [(x, y) for x, y in pairs if x.get("wer") is not None and y.get("wer") is not None]
    if scored:
        errors = np.array([[x["errors"], y["errors"]] for x, y in scored], dtype=float)  # (N, 2)
        words = np.array([x["reference_words"] for x, _ in scored], dtype=float)
        draws = _draws(len(scored), resamples, seed)
        differences = _resampled_wer(errors[:, 1], words, draws) - _resampled_wer(errors[:, 0], words, draws)
        rows.append(_row("WER", errors.sum(0) / max(words.sum(), 1), differences, True))
    for key, label, lower in MEASURES:
        both = [(float(x[key]), float(y[key])) for x, y in pairs if x.get(key) is not None and y.get(key) is not None]
        if both:
            values = np.array(both)  # (N, 2)
            means = values[_draws(len(both), resamples, seed)].mean(1)  # (resamples, 2)
            rows.append(_row(label, values.mean(0), means[:, 1] - means[:, 0], lower))
    return {"utterances": len(pairs), "resamples": resamples, "rows": rows}


def _row(measure: str, values: np.ndarray, differences: np.ndarray, lower: bool | None) -> dict:
    return {"measure": measure, "a": float(values[0]), "b": float(values[1]),
            "difference": float(values[1] - values[0]), "interval": _percentiles(differences),
            "lower_is_better": lower}


def comparison_lines(result: dict, a_name: str, b_name: str) -> list[str]:
    """The comparison as a table: each measure for A and B, B - A, its 95 % interval and a verdict."""
    lines = [f"{result['utterances']} utterances scored in both; B - A with its {LEVEL:.0%} interval "
             f"({result['resamples']} paired resamples)",
             f"  A: {a_name}", f"  B: {b_name}",
             f"  {'measure':22s} {'A':>8s} {'B':>8s} {'B - A':>8s}  {'interval':>19s}  verdict"]
    for row in result["rows"]:
        low, high = row["interval"]
        if low <= 0 <= high:
            verdict = "within noise"
        elif row["lower_is_better"] is None:
            verdict = "B higher" if low > 0 else "B lower"
        else:
            verdict = "B better" if (high < 0) == row["lower_is_better"] else "B worse"
        lines.append(f"  {row['measure']:22s} {row['a']:8.3f} {row['b']:8.3f} {row['difference']:+8.3f}  "
                     f"[{low:+8.3f}, {high:+8.3f}]  {verdict}")
    return lines
