"""Word error rate: Levenshtein alignment over words, with one normalisation for both sides.

Both the reference text and the recogniser's hypothesis go through `normalize_for_wer`:
the text front end's `normalize_text` (numbers, abbreviations, symbols to words), then
lower case, punctuation removed (apostrophes inside words are kept: "don't"), hyphens and
other separators turned into spaces, whitespace collapsed. So "5 dogs" and "five dogs"
count as the same two words.

WER = (substitutions + deletions + insertions) / reference words. Over a corpus the edits
and the reference words are summed first (corpus-level WER), so long sentences weigh more
than short ones; the mean of per-sentence WERs is reported beside it where it matters.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Iterable

_TAG = re.compile(r"<[^>]*>|\[[^\]]*\]")  # recogniser fillers such as <sil> or [noise]
_APOSTROPHE = re.compile(r"[\u2018\u2019\u02bc`]")
_NOT_WORD = re.compile(r"[^a-z0-9' ]+")
_LONE_APOSTROPHE = re.compile(r"(?<![a-z0-9])'|'(?![a-z0-9])")


def normalize_for_wer(text: str) -> str:
    """Text as words for scoring: normalise_text, lower case, no punctuation, single spaces."""
    from tts.text import normalize_text

    text = _TAG.sub(" ", text)
    text = normalize_text(text) if text.strip() else ""
    text = _APOSTROPHE.sub("'", text.lower())
    text = _NOT_WORD.sub(" ", text)
    text = _LONE_APOSTROPHE.sub(" ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class WordErrors:
    """Edit counts of one hypothesis (or a corpus of them) against its reference."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_words: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Edits per reference word; with an empty reference: 0 if nothing was heard, else 1."""
        if self.reference_words == 0:
            return 0.0 if self.errors == 0 else 1.0
        return self.errors / self.reference_words

    def __add__(self, other: "WordErrors") -> "WordErrors":
        return WordErrors(self.substitutions + other.substitutions, self.deletions + other.deletions,
                          self.insertions + other.insertions, self.reference_words + other.reference_words)

    def to_dict(self) -> dict:
        return {**asdict(self), "errors": self.errors, "wer": self.wer}


def align_words(reference: list[str], hypothesis: list[str]) -> WordErrors:
    """Minimum-edit alignment of two word lists (unit costs); ties prefer substitutions."""
    n_ref, n_hyp = len(reference), len(hypothesis)
    # previous[j] = (cost, substitutions, deletions, insertions) aligning reference[:i-1] with hypothesis[:j]
    previous = [(j, 0, 0, j) for j in range(n_hyp + 1)]
    for i in range(1, n_ref + 1):
        current = [(i, 0, i, 0)]
        for j in range(1, n_hyp + 1):
            diagonal = previous[j - 1]
            if reference[i - 1] == hypothesis[j - 1]:
                best = diagonal
            else:
                best = (diagonal[0] + 1, diagonal[1] + 1, diagonal[2], diagonal[3])
            up = previous[j]  # reference word left out: a deletion
            if up[0] + 1 < best[0]:
                best = (up[0] + 1, up[1], up[2] + 1, up[3])
            left = current[j - 1]  # hypothesis word not in the reference: an insertion
            if left[0] + 1 < best[0]:
                best = (left[0] + 1, left[1], left[2], left[3] + 1)
            current.append(best)
        previous = current
    _, substitutions, deletions, insertions = previous[n_hyp]
    return WordErrors(substitutions, deletions, insertions, n_ref)


def word_errors(reference: str, hypothesis: str, normalize: bool = True) -> WordErrors:
    """Edit counts of a hypothesis transcript against a reference text."""
    if normalize:
        reference, hypothesis = normalize_for_wer(reference), normalize_for_wer(hypothesis)
    return align_words(reference.split(), hypothesis.split())


def wer(reference: str, hypothesis: str, normalize: bool = True) -> float:
    """Word error rate of one hypothesis against one reference."""
    return word_errors(reference, hypothesis, normalize).wer


def corpus_word_errors(pairs: Iterable[tuple[str, str]], normalize: bool = True) -> WordErrors:
    """Summed edit counts over (reference, hypothesis) pairs; `.wer` is the corpus-level WER."""
    total = WordErrors()
    for reference, hypothesis in pairs:
        total = total + word_errors(reference, hypothesis, normalize)
    return total
