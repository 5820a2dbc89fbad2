"""G2P properties: inventory, word boundaries, punctuation, determinism, OOV words, errors, no network."""

import json
import logging
import subprocess
import sys
import textwrap

import pytest

from tts.text import UnspeakableTextError, normalize_text, text_to_phones
from tts.text.g2p import TAGGER_INSTALL_COMMAND, Phonemizer
from tts.text.symbols import PHONES, PUNCTUATION, SYMBOLS, WORD_BOUNDARY, encode

LONG_TEXT = (
    "On March 3rd, 2020, Dr. Smith paid $5.50 for 3 books; the boy's noise didn't measure up to his vision! "
    "Would you judge the church's thin, smooth yellow house by its azure roof? Although she sang at 7:05 p.m., "
    "the father thought the weather was good: blue skies, 20°C, and 60% humidity... Joyful cats ate my bread, "
    "then the quick brown fox jumped over the lazy dog near St. Paul's & the BBC in the U.S.A. (approx. 5 km away). "
    "Zorblatt and flibbertigibbet are not words, but xylophones, pneumonia and rhythm are."
)


def test_every_phone_is_in_the_inventory_and_all_39_base_phones_occur(phonemizer):
    _, phones = text_to_phones(LONG_TEXT)
    assert set(phones) <= set(SYMBOLS)
    assert len(encode(phones)) == len(phones)
    base = {phone.rstrip("012") for phone in phones if phone in PHONES}
    assert base == {phone.rstrip("012") for phone in PHONES}  # 15 vowels + 24 consonants


@pytest.mark.parametrize("text", [LONG_TEXT, "Hello, world.", "One two three", "  Hi!  ", "B.B.C. news",
                                  "well-known x-ray"])
def test_word_boundaries_sit_between_words_only(phonemizer, text):
    normalized, phones = text_to_phones(text)
    assert phones.count(WORD_BOUNDARY) == len(normalized.split()) - 1
    assert phones[0] in PHONES and phones[-1] != WORD_BOUNDARY
    pairs = list(zip(phones, phones[1:]))
    assert (WORD_BOUNDARY, WORD_BOUNDARY) not in pairs
    assert not any(a in PUNCTUATION and b in PUNCTUATION for a, b in pairs)
    assert not any(a == WORD_BOUNDARY and b in PUNCTUATION for a, b in pairs)


def test_punctuation_is_kept_in_order(phonemizer):
    normalized, phones = text_to_phones(LONG_TEXT)
    assert [p for p in phones if p in PUNCTUATION] == [c for c in normalized if c in PUNCTUATION]
    _, phones = text_to_phones("Wait; what: really? Yes! Fine, ok.")
    assert [p for p in phones if p in PUNCTUATION] == [";", ":", "?", "!", ",", "."]


def test_exact_sequence_for_a_short_sentence(phonemizer):
    assert text_to_phones("Hello, world.") == (
        "hello, world.", ["HH", "AH0", "L", "OW1", ",", "_", "W", "ER1", "L", "D", "."])


# (raw text, phones with keep_punctuation=True, phones with keep_punctuation=False): what `tts prepare` stores
PUNCTUATION_CASES = [
    ("Hello, world.", "HH AH0 L OW1 , _ W ER1 L D .", "HH AH0 L OW1 _ W ER1 L D"),
    ("The BBC.", "DH AH0 _ B IY1 _ B IY1 _ S IY1 .", "DH AH0 _ B IY1 _ B IY1 _ S IY1"),
    ("Wait; what: really? Yes!", "W EY1 T ; _ W AH1 T : _ R IH1 L IY0 ? _ Y EH1 S !",
     "W EY1 T _ W AH1 T _ R IH1 L IY0 _ Y EH1 S"),
    ("Yes. No.", "Y EH1 S . _ N OW1 .", "Y EH1 S _ N OW1"),
    ("...Hi!!", "HH AY1 !", "HH AY1"),
    ("One two three", "W AH1 N _ T UW1 _ TH R IY1", "W AH1 N _ T UW1 _ TH R IY1"),
]


@pytest.mark.parametrize("text, kept, dropped", PUNCTUATION_CASES)
def test_keep_punctuation_table(phonemizer, text, kept, dropped):
    normalized, phones = text_to_phones(text, keep_punctuation=True)
    assert phones == kept.split()
    assert text_to_phones(text) == (normalized, phones)  # keeping punctuation is the default
    assert text_to_phones(text, keep_punctuation=False) == (normalized, dropped.split())  # the text keeps its own


@pytest.mark.parametrize("text", [LONG_TEXT, "Hello, world.", "Dr. Smith paid $5.50 (approx.) on 3/4/2021 -- why?!",
                                  "Wait... what?! No; never: ever.", "well-known x-ray, e.g. this"])
def test_keep_punctuation_false_yields_no_punctuation_tokens(phonemizer, text):
    normalized, kept = text_to_phones(text, keep_punctuation=True)
    _, dropped = text_to_phones(text, keep_punctuation=False)
    assert any(p in PUNCTUATION for p in kept)
    assert not any(p in PUNCTUATION for p in dropped)
    assert dropped == [p for p in kept if p not in PUNCTUATION]  # the rule `tts prepare` applied on its own
    assert dropped.count(WORD_BOUNDARY) == len(normalized.split()) - 1
    assert dropped[0] in PHONES and dropped[-1] in PHONES
    assert (WORD_BOUNDARY, WORD_BOUNDARY) not in set(zip(dropped, dropped[1:]))
    assert len(encode(dropped)) == len(dropped)


def test_keep_punctuation_false_still_refuses_unspeakable_text():
    with pytest.raises(UnspeakableTextError, match="nothing to speak"):
        text_to_phones("?!...", keep_punctuation=False)


def test_normalized_text_is_returned_alongside_the_phones(phonemizer):
    text = "Mr. Smith paid $5.50 on 3/4/2021."
    normalized, _ = text_to_phones(text)
    assert normalized == normalize_text(text)


def test_deterministic_and_independent_of_call_history(phonemizer):
    first = text_to_phones(LONG_TEXT)
    text_to_phones("Something else entirely, with the word zorblatt.")
    assert text_to_phones(LONG_TEXT) == first
    fresh = Phonemizer(phonemizer.model, phonemizer.tagger)
    assert fresh.phones(first[0]) == first[1]


def test_out_of_dictionary_words_go_through_the_model(phonemizer):
    for word in ("zorblatt", "flibbertigibbet", "quizzaciously"):
        assert word not in phonemizer.model.cmu
        phones = phonemizer.word_phones(word)
        assert 3 <= len(phones) <= 20 and set(phones) <= set(PHONES), (word, phones)
        assert any(p[-1] in "12" for p in phones)  # a stressed vowel
    assert phonemizer.word_phones("zorblatt")[0] == "Z"


def test_letters_spoken_by_name_and_hyphenated_words(phonemizer):
    assert text_to_phones("The BBC.")[1] == ["DH", "AH0", "_", "B", "IY1", "_", "B", "IY1", "_", "S", "IY1", "."]
    assert text_to_phones("plan A")[1][-1] == "EY1"  # the letter, not the article AH0
    assert text_to_phones("A cat")[1][0] == "AH0"
    assert WORD_BOUNDARY not in text_to_phones("second-hand")[1]  # one word, phones of both parts
    assert text_to_phones("second-hand")[1] == phonemizer.word_phones("second") + phonemizer.word_phones("hand")


def test_homographs_follow_the_tagger_or_take_their_first_reading(phonemizer):
    first, second, part_of_speech = phonemizer.model.homograph2features["record"]
    assert part_of_speech == "V" and first != second
    no_tagger = Phonemizer(phonemizer.model, tagger=None)
    assert no_tagger.phones("record") == list(first)
    as_noun = Phonemizer(phonemizer.model, tagger=lambda tokens: ["NN"] * len(tokens))
    as_verb = Phonemizer(phonemizer.model, tagger=lambda tokens: ["VB"] * len(tokens))
    assert as_noun.phones("the record.") == ["DH", "AH0", "_", *second, "."]
    assert as_verb.phones("i record") == ["AY1", "_", *first]


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "...", "?!", ";:,", "😀", "😀🎉👍", "()", "---", "Ο Κόσμος"])
def test_unspeakable_text_raises_a_clear_error(text):
    with pytest.raises(UnspeakableTextError, match="nothing to speak") as caught:
        text_to_phones(text)
    assert isinstance(caught.value, ValueError)
    assert repr(text) in str(caught.value)


def test_tagger_fallback_is_quiet_at_info_and_said_once_at_debug(phonemizer, caplog, monkeypatch, tmp_path):
    """The missing tagger is the normal offline state: nothing at INFO or above, one DEBUG line per process."""
    import nltk

    from tts.text import g2p

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])  # no NLTK data: the tagger cannot load
    g2p._note_missing_tagger.cache_clear()
    with caplog.at_level(logging.DEBUG, logger="tts.text.g2p"):
        assert g2p._load_tagger() is None
        assert g2p._load_tagger() is None
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []
    said = [r for r in caplog.records if "part-of-speech tagger" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.DEBUG
    assert TAGGER_INSTALL_COMMAND in said[0].getMessage()
    assert TAGGER_INSTALL_COMMAND == "python -m nltk.downloader averaged_perceptron_tagger_eng"


_OFFLINE_CLI = textwrap.dedent("""
    import json, socket, sys
    attempts = []
    def refuse(*args, **kwargs):
        attempts.append(repr(args[1:] or args))
        raise OSError("network disabled in this test")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    import nltk
    nltk.data.path[:] = [sys.argv[1]]
    from tts.cli import app
    try:
        app(sys.argv[2:], prog_name="tts")
    finally:
        print(json.dumps({"attempts": attempts}))
""")


@pytest.mark.parametrize("verbose", [False, True])
def test_cli_run_is_offline_and_says_nothing_about_the_tagger(tmp_path, verbose):
    """`tts text` in a fresh interpreter with NLTK data hidden: no socket is opened, stderr is empty at the
    default level, and with -v the missing tagger is one debug line."""
    command = ["-v"] * verbose + ["text", "I'll record it, zorblatt! Read the record.", "--json"]
    result = subprocess.run([sys.executable, "-c", _OFFLINE_CLI, str(tmp_path), *command],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    *output, report = result.stdout.strip().splitlines()
    assert json.loads(report)["attempts"] == []
    assert json.loads(output[-1])["phones"]
    assert "[nltk_data]" not in result.stderr and "Resource" not in result.stderr, result.stderr  # NLTK's own errors
    tagger_lines = [line for line in result.stderr.splitlines() if "part-of-speech tagger" in line]
    if verbose:
        assert len(tagger_lines) == 1 and tagger_lines[0].startswith("DEBUG tts.text.g2p:"), result.stderr
    else:
        assert result.stderr.strip() == "", result.stderr
