"""scripts/corpus/sentences.py: books -> paragraphs -> sentences -> the clean sentences the engines speak."""

import pytest

from corpus import sentences


@pytest.mark.parametrize("original, expected", [
    ('"I shall see him to-morrow, I hope."', "I shall see him tomorrow, I hope."),
    ("She would not shew me any thing of the kind.", "She would not show me anything of the kind."),
    ("Every body was surprized at the news that evening.", "Everybody was surprised at the news that evening."),
    ("He spoke of it--with warmth--to all of them.", "He spoke of it, with warmth, to all of them."),
    ('"Oh!" said she, "you are very kind to me!"', "Oh! said she, you are very kind to me!"),
    ("Mr. Weston's house is very near the church.", "Mr. Weston's house is very near the church."),
    ("Any thing but that, she cried out at once.", "Anything but that, she cried out at once."),
    ("she was not at all sure of it then.", "She was not at all sure of it then."),
])
def test_normalize_sentence_modernises(original, expected):
    assert sentences.normalize_sentence(original) == expected


@pytest.mark.parametrize("original", [
    "It was _very_ kind of him to come so far.",  # italics marks
    "They were married on the 3rd of June last year.",  # digits
    "He came [as he said] to see her at once.",  # brackets
    "She was gone.",  # too short
    " ".join(["word"] * 21) + ".",  # too long
    "I cannot tell you how much I--",  # broken off
    "He said 'never' and went away at once.",  # quote marks, not apostrophes
    "MY DEAR SIR, I write to you in haste.",  # capitals of a letter or heading
    "She walked on and on and on without end",  # no closing punctuation
])
def test_normalize_sentence_drops_oddities(original):
    assert sentences.normalize_sentence(original) is None


def test_split_sentences_respects_abbreviations_and_dashes():
    paragraph = ('Mr. and Mrs. Weston came. "Oh! how glad I am," said Emma. It was late.--He left. Was it so?')
    assert sentences.split_sentences(paragraph) == [
        "Mr. and Mrs. Weston came.", '"Oh! how glad I am," said Emma.', "It was late.--", "He left.", "Was it so?"]


def test_book_paragraphs_joins_lines_and_drops_headings():
    lines = ["EMMA", "", "CHAPTER I", "", "Emma Woodhouse, handsome,", "clever, and rich.", "", "", "VOLUME II",
             "", "Chapter 3", "", "A second one."]
    assert sentences.book_paragraphs(lines) == ["Emma Woodhouse, handsome, clever, and rich.", "A second one."]


def test_clean_sentences_keys_lexicon_and_duplicates(lexicon):
    books = [("one", ["Chapter 1", "", "She was very happy to see him today.", "",
                      "She was very happy to see Knightley today.", "", "She was very happy to see him today!"]),
             ("two", ["", "Mr. Weston came in the evening. It is a sign.", "Show me anything you can, Jane."])]
    kept, counts = sentences.clean_sentences(books, lexicon)
    # "It is a sign." has 4 words (too short), Knightley is not in the lexicon, "...today!" is a repeat
    assert [s.normalized for s in kept] == ["She was very happy to see him today.",
                                            "Mr. Weston came in the evening.", "Show me anything you can, Jane."]
    assert [s.key for s in kept] == ["1_000000_000000", "2_000000_000000", "2_000000_000002"]
    assert [s.chapter for s in kept] == [1, 2, 2]
    assert counts["not_in_lexicon"] == 1 and counts["duplicate"] == 1 and counts["kept"] == 3
    assert kept[0].phones[:2] == ("SH", "IY")
