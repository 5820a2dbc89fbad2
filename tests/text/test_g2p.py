"""G2P properties: inventory, word boundaries, punctuation, determinism, OOV words, errors, no network."""

import json
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


def test_no_network_and_one_tagger_line_on_import_and_use(tmp_path):
    """A fresh interpreter with NLTK data hidden: no socket is opened, and stderr holds one log line at most."""
    script = textwrap.dedent(f"""
        import json, logging, socket, sys
        attempts = []
        def refuse(*args, **kwargs):
            attempts.append(repr(args[1:] or args))
            raise OSError("network disabled in this test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        import nltk
        nltk.data.path[:] = [{str(tmp_path)!r}]
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        from tts.text import text_to_phones
        out = [text_to_phones(t)[1] for t in ("I'll record it, zorblatt!", "Read the record.", "Hello.")]
        print(json.dumps({{"attempts": attempts, "phones": out}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["attempts"] == []
    assert all(phones for phones in report["phones"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("INFO tts.text.g2p:"), result.stderr
    assert TAGGER_INSTALL_COMMAND in lines[0]
    assert TAGGER_INSTALL_COMMAND == "python -m nltk.downloader averaged_perceptron_tagger_eng"
