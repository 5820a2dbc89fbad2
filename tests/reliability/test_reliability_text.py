"""The text cases of the hostile-input list: each input as a user typed it, and what is said.

The rules behind them are tested in tests/text/ (dates, measures, quantities, normalize); this file keeps the
cases themselves, so that each one stays read the way a person reads it.
"""

import pytest

from tts.text import text_to_phones
from tts.text.normalize import normalize_text

CASES = [  # (case, written, said)
    ("control characters", "Color \x1b[31mred\x1b[0m text", "color red text"),
    ("Dr. after a name is Drive", "12 Mulberry Dr.", "twelve mulberry drive."),
    ("St. before a name is Saint, after one Street", "St. Mary's St.", "saint mary's street."),
    ("powers", "10^50", "ten to the power of fifty"),
    ("phone numbers are digits, not a range", "555-1234", "five five five, one two three four"),
    ("magnitudes", "1.5M users", "one point five million users"),
    ("multipliers", "3x faster", "three times faster"),
    ("month day year", "July 25 2012", "july twenty-fifth twenty twelve"),
    ("day month year", "25 July 2012", "the twenty-fifth of july twenty twelve"),
    ("month abbreviations", "Sept. 3", "september third"),
    ("ISO dates", "2012-07-25", "july twenty-fifth, twenty twelve"),
    ("slashed dates", "07/25/2012", "july twenty-fifth, twenty twelve"),
    ("dotted dates", "25.07.2012", "the twenty-fifth of july twenty twelve"),
    ("units run together", "12KG", "twelve kilograms"),
    ("plural unit abbreviations", "3 kgs, 2 wks, 5 yrs", "three kilograms, two weeks, five years"),
    ("rates", "1 mbps", "one megabit per second"),
    ("mixed fractions", "4 1/2 lbs", "four and a half pounds"),
    ("cubed units", "5 km³", "five cubic kilometers"),
    ("thousands separators in money", "$20.500", "twenty thousand five hundred dollars"),
    ("other currency signs", "₩500", "five hundred won"),
    ("a country before the dollar", "US$76.3 trillion", "seventy-six point three trillion U S dollars"),
]


@pytest.mark.parametrize("case, written, said", CASES, ids=[c[0] for c in CASES])
def test_hostile_text_is_read_as_people_say_it(case, written, said):
    assert normalize_text(written) == said


@pytest.mark.parametrize("case, written, said", CASES, ids=[c[0] for c in CASES])
def test_hostile_text_becomes_phones_without_digits_or_symbols(case, written, said):
    normalized, phones = text_to_phones(written)
    assert normalized == said and phones
    assert not any(ch.isdigit() for p in phones for ch in p.rstrip("012"))
