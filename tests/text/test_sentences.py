"""Sentence splitting for long text."""

import pytest

from tts.text import split_sentences
from tts.text.sentences import MAX_SENTENCE_CHARS


@pytest.mark.parametrize(("text", "expected"), [
    ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
    ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
    ("Pets, e.g. Cats and dogs, are fine. Yes.", ["Pets, e.g. Cats and dogs, are fine.", "Yes."]),
    ("It costs $3.50 today. Buy it.", ["It costs $3.50 today.", "Buy it."]),
    ("J. K. Rowling wrote it. The U.S. Army read it.", ["J. K. Rowling wrote it.", "The U.S. Army read it."]),
    ("Apples, pears, etc. and more. Done.", ["Apples, pears, etc. and more.", "Done."]),
    ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
    ("Really?! Yes... Maybe.", ["Really?!", "Yes...", "Maybe."]),
    ("Wait… What?", ["Wait…", "What?"]),
    ("Line one\nstill line one.\n\nNew paragraph", ["Line one still line one.", "New paragraph"]),
    ("Hello.  😀  . World.", ["Hello.", "World."]),
    ("Version 3.10.4 is out. Get it.", ["Version 3.10.4 is out.", "Get it."]),
    ("See No. 5 in the list.", ["See No. 5 in the list."]),
    ("", []),
    ("   ...   ", []),
])
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_long_sentences_are_cut_at_clause_breaks():
    clause = "the quick brown fox jumps over the lazy dog"
    sentence = "; ".join(", ".join([clause] * 3) for _ in range(4)) + "."
    assert len(sentence) > MAX_SENTENCE_CHARS
    pieces = split_sentences(sentence, max_chars=100)
    assert len(pieces) > 1
    assert all(len(piece) <= 100 for piece in pieces)
    assert " ".join(pieces).split() == sentence.split()  # nothing lost or reordered
    assert all(piece[-1] in ",;." for piece in pieces)  # cut only at clause breaks
    assert pieces[1].endswith(";")  # the first ;-clause (133 chars) needed a cut at a comma


def test_a_sentence_without_breaks_is_cut_at_spaces_and_an_endless_word_is_kept():
    sentence = " ".join(["word"] * 100)
    pieces = split_sentences(sentence, max_chars=50)
    assert all(len(piece) <= 50 for piece in pieces) and " ".join(pieces) == sentence
    assert split_sentences("a" * 80, max_chars=50) == ["a" * 80]


def test_max_chars_must_be_positive():
    with pytest.raises(ValueError, match="max_chars"):
        split_sentences("Hi.", max_chars=0)
