"""Property tests of the text front end on generated text (hypothesis, derandomized so every run is the same).

For any input, normalize_text returns words with no digits and no control characters, and text_to_phones either
returns phones from the inventory or raises UnspeakableTextError, its documented error for text with nothing to say.
"""

import unicodedata

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tts.text import UnspeakableTextError, normalize_text, text_to_phones
from tts.text.symbols import SYMBOLS

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

WORDS = ["the", "Dr.", "St.", "Mr", "Jan.", "July", "may", "March", "km", "kg", "lbs", "mph", "x", "K", "M", "B",
         "bn", "US", "U.S.", "NASA", "BBC", "I", "A", "plan", "Chapter", "IV", "Henry", "VIII", "p.m.", "am", "th",
         "st", "nd", "'s", "o'clock", "e.g.", "etc.", "vs.", "No.", "well-known", "café", "Привет", "😀"]
PUNCTUATION = list(".,;:!?-–—()[]{}\"'…/\\")
SYMBOLS_IN_TEXT = list("$£€¥₩₹₽₿¢%&@#+=*^~<>|_°²³½×÷") + ["US$", "\x1b[31m", "\x1b[0m", "\x07", "\x00", "\u200b",
                                                           "\t"]
TOKENS = st.one_of(
    st.sampled_from(WORDS),
    st.from_regex(r"[0-9]{1,7}", fullmatch=True),
    st.from_regex(r"[0-9]{1,4}(?:[.,:/\-^x][0-9]{1,4}){1,3}", fullmatch=True),
    st.sampled_from(PUNCTUATION),
    st.sampled_from(SYMBOLS_IN_TEXT),
)
BUILT_TEXT = st.lists(st.tuples(TOKENS, st.sampled_from(["", " ", " ", "  ", "\n"])), max_size=14).map(
    lambda parts: "".join(token + separator for token, separator in parts))


def check_normalized(text: str) -> str:
    normalized = normalize_text(text)
    assert not any(char.isdigit() for char in normalized), normalized
    assert not any(unicodedata.category(char) in ("Cc", "Cf") for char in normalized), normalized
    return normalized


def check_phones(text: str) -> None:
    try:
        normalized, phones = text_to_phones(text)
    except UnspeakableTextError:
        return  # the documented error; any other exception fails the test
    assert normalized == check_normalized(text)
    assert phones, text
    unknown = [phone for phone in phones if phone not in SYMBOLS]
    assert not unknown, (text, unknown)


@FUZZ
@given(st.text())
@example("\x1b[31m10^50\x1b[0m")
@example("1" * 5000)
@example("$" + "9" * 5000 + ".5")
@example("1" * 5000 + "th")
@example("1" * 5000 + "/" + "2" * 5000)
def test_normalize_any_unicode_text(text):
    check_normalized(text)


@FUZZ
@given(BUILT_TEXT)
def test_normalize_text_built_from_words_numbers_and_symbols(text):
    check_normalized(text)


@FUZZ
@given(st.text())
def test_phones_of_any_unicode_text(text):
    check_phones(text)


@FUZZ
@given(BUILT_TEXT)
def test_phones_of_text_built_from_words_numbers_and_symbols(text):
    check_phones(text)
