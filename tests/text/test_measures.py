"""Table-driven tests of amounts with units, fractions, magnitudes, multipliers and powers (tts.text.measures)."""

import pytest

from tts.text import normalize_text

CASES = [
    # units in any case, plural abbreviations, data rates
    ('12KG', 'twelve kilograms'),
    ('12kg', 'twelve kilograms'),
    ('3 kgs', 'three kilograms'),
    ('2 wks', 'two weeks'),
    ('1 wk', 'one week'),
    ('5 yrs', 'five years'),
    ('1 mbps', 'one megabit per second'),
    ('3 Mbps', 'three megabits per second'),
    ('250 g of flour', 'two hundred fifty grams of flour'),
    ('100 million kg', 'one hundred million kilograms'),
    ('5 MB', 'five megabytes'),
    # fractions before a unit
    ('4 1/2 lbs', 'four and a half pounds'),
    ('2 1/3 cm', 'two and a third centimeters'),
    ('1 1/4 hrs', 'one and a quarter hours'),
    ('4 3/5 lbs', 'four and three fifths pounds'),
    ('3/4 lb', 'three quarters of a pound'),
    ('1/2 hr', 'one half of an hour'),
    ('2½ kg', 'two and a half kilograms'),
    # areas and volumes
    ('41 km³', 'forty-one cubic kilometers'),
    ('41,459.00 km³', 'forty-one thousand four hundred fifty-nine point zero zero cubic kilometers'),
    ('100 m²', 'one hundred square meters'),
    ('5 m2', 'five square meters'),
    ('3 km2', 'three square kilometers'),
    ('1 km^2', 'one square kilometer'),
    ('60 km/h', 'sixty kilometers per hour'),
    # fractions on their own
    ('2 3/5', 'two and three fifths'),
    ('2 2/3 cups', 'two and two thirds cups'),
    # magnitudes right after a number
    ('1.5M users', 'one point five million users'),
    ('20K', 'twenty thousand'),
    ('a 10k run', 'a ten thousand run'),
    ('3B', 'three billion'),
    ('5T', 'five trillion'),
    ('3bn', 'three billion'),
    ('1,200K', 'one thousand two hundred thousand'),
    ('Room 12B', 'room twelve b'),
    ('Gate 4K', 'gate four k'),
    # multipliers
    ('3x faster', 'three times faster'),
    ('10× faster', 'ten times faster'),
    ('4.4x', 'four point four times'),
    ('2X the price', 'two times the price'),
    ('4x4', 'four x four'),
    # powers
    ('10^50', 'ten to the power of fifty'),
    ('2^10 is 1024', 'two to the power of ten is one thousand twenty-four'),
    ('10^-3', 'ten to the power of minus three'),
    ('10⁵⁰', 'ten to the power of fifty'),
    ('x^2 + y^2', 'x squared plus y squared'),
    ('E=mc²', 'E equals mc squared'),
    ('(a+b)^3', 'a plus b, cubed'),
    ('Einstein² said', 'einstein said'),
    ('in 2019¹', 'in twenty nineteen'),
]


@pytest.mark.parametrize(("raw", "expected"), CASES, ids=[repr(raw)[:40] for raw, _ in CASES])
def test_measures(raw, expected):
    assert normalize_text(raw) == expected
    assert normalize_text(expected) == expected  # the words are a fixed point


def test_table_has_no_duplicates():
    raws = [raw for raw, _ in CASES]
    assert len(set(raws)) == len(raws)
