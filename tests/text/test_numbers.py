"""Number words: round trips through a small independent parser, and the irregular cases."""

import random

import pytest

from tts.text import numbers

_SMALL = {word: value for value, word in enumerate(numbers.ONES)}
_SMALL.update({word: 10 * i for i, word in enumerate(numbers.TENS) if word})
_SCALE = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}


def parse_cardinal(words: str) -> int:
    """Words -> integer, written independently of the code under test."""
    total, group = 0, 0
    for word in words.replace("-", " ").split():
        if word in _SMALL:
            group += _SMALL[word]
        elif word == "hundred":
            group *= 100
        else:
            total += group * _SCALE[word]
            group = 0
    return total + group


def test_cardinal_round_trips_on_random_numbers():
    rng = random.Random(0)
    values = list(range(0, 1200)) + [rng.randrange(10 ** rng.randint(1, 15)) for _ in range(3000)]
    for value in values:
        words = numbers.cardinal(value)
        assert parse_cardinal(words) == value, (value, words)
        assert "  " not in words and words == words.strip() and " and " not in words


@pytest.mark.parametrize(("value", "expected"), [
    (0, "zero"), (15, "fifteen"), (40, "forty"), (99, "ninety-nine"), (100, "one hundred"),
    (110, "one hundred ten"), (1_000_001, "one million one"), (-7, "minus seven"),
    (10**15, "one zero zero zero zero zero zero zero zero zero zero zero zero zero zero zero"),
])
def test_cardinal(value, expected):
    assert numbers.cardinal(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (1, "first"), (2, "second"), (3, "third"), (4, "fourth"), (5, "fifth"), (8, "eighth"), (9, "ninth"),
    (12, "twelfth"), (20, "twentieth"), (21, "twenty-first"), (100, "one hundredth"), (101, "one hundred first"),
    (1000, "one thousandth"), (1_000_000, "one millionth"),
])
def test_ordinal(value, expected):
    assert numbers.ordinal(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (1999, "nineteen ninety-nine"), (2024, "twenty twenty-four"), (2000, "two thousand"), (2005, "two thousand five"),
    (2010, "twenty ten"), (1905, "nineteen oh five"), (1900, "nineteen hundred"), (1066, "ten sixty-six"),
    (1001, "one thousand one"), (2100, "twenty-one hundred"), (476, "four hundred seventy-six"),
])
def test_year(value, expected):
    assert numbers.year(value) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("1,000", "one thousand"), ("3.14", "three point one four"), ("007", "zero zero seven"), (".5", "point five"),
    ("0.50", "zero point five zero"), ("10", "ten"),
])
def test_number(text, expected):
    assert numbers.number(text) == expected


@pytest.mark.parametrize(("fraction", "expected"), [
    ((1, 2), "one half"), ((3, 2), "three halves"), ((1, 4), "one quarter"), ((3, 4), "three quarters"),
    ((2, 3), "two thirds"), ((5, 8), "five eighths"), ((1, 10), "one tenth"),
])
def test_fraction(fraction, expected):
    assert numbers.fraction(*fraction) == expected
