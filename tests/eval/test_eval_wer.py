"""Word error rate: edit counts, corpus aggregation, and one normalisation on both sides."""

import pytest

from tts.eval.wer import WordErrors, align_words, corpus_word_errors, normalize_for_wer, wer, word_errors

# reference, hypothesis, substitutions, deletions, insertions
EDITS = [
    ("the cat sat", "the cat sat", 0, 0, 0),
    ("the cat sat", "the bat sat", 1, 0, 0),
    ("the cat sat", "the sat", 0, 1, 0),
    ("the cat sat", "the cat sat down", 0, 0, 1),
    ("the cat sat", "", 0, 3, 0),
    ("a b c d", "b c d e", 0, 1, 1),
    ("a b c d", "x y", 2, 2, 0),
    ("one two three", "three two one", 2, 0, 0),
]


@pytest.mark.parametrize("reference, hypothesis, subs, dels, ins", EDITS)
def test_edit_counts(reference, hypothesis, subs, dels, ins):
    errors = align_words(reference.split(), hypothesis.split())
    assert (errors.substitutions, errors.deletions, errors.insertions) == (subs, dels, ins)
    assert errors.reference_words == len(reference.split())
    assert errors.wer == pytest.approx((subs + dels + ins) / len(reference.split()))


def test_insertions_can_push_wer_above_one():
    assert wer("yes", "no no no", normalize=False) == pytest.approx(3.0)


def test_empty_reference():
    assert WordErrors().wer == 0.0
    assert word_errors("", "hello").wer == 1.0


@pytest.mark.parametrize("reference, hypothesis", [
    ("5 dogs", "five dogs"),
    ("The CAT, sat!", "the cat sat"),
    ("I don't know.", "i don't know"),
    ("It costs $3.", "it costs three dollars"),
    ("Dr. Smith arrived at 10.", "doctor smith arrived at ten"),
    ("well -- maybe;  yes", "well maybe yes"),
    ("\u201cQuoted\u201d text\u2019s end", "quoted text's end"),
])
def test_normalisation_is_the_same_on_both_sides(reference, hypothesis):
    assert wer(reference, hypothesis) == 0.0, (normalize_for_wer(reference), normalize_for_wer(hypothesis))


def test_normalisation_does_not_hide_real_errors():
    assert wer("5 dogs", "six dogs") == pytest.approx(0.5)
    assert wer("I don't know", "i do not know") > 0


def test_recogniser_fillers_are_dropped():
    assert normalize_for_wer("<sil> hello [noise] world") == "hello world"


def test_corpus_wer_weighs_by_words():
    pairs = [("a b c d e f g h i j", "a b c d e f g h i j"), ("x", "y")]
    total = corpus_word_errors(pairs, normalize=False)
    assert total.errors == 1 and total.reference_words == 11
    assert total.wer == pytest.approx(1 / 11)  # the mean of per-sentence WERs would be 0.5


def test_to_dict_is_json_ready():
    record = word_errors("a b", "a c", normalize=False).to_dict()
    assert record == {"substitutions": 1, "deletions": 0, "insertions": 0, "reference_words": 2,
                      "errors": 1, "wer": 0.5}
