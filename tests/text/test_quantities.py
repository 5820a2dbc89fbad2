"""Table-driven tests of money and telephone numbers (tts.text.quantities) through normalize_text."""

import pytest

from tts.text import normalize_text

CASES = [
    # a dot before exactly three digits: thousands when it ends in a zero or repeats, else a decimal point
    ('$2.000', 'two thousand dollars'),
    ('$20.500', 'twenty thousand five hundred dollars'),
    ('$1.234.567', 'one million two hundred thirty-four thousand five hundred sixty-seven dollars'),
    ('$5.505', 'five point five zero five dollars'),
    ('$0.500', 'zero point five zero zero dollars'),
    ('$1.50', 'one dollar and fifty cents'),
    ('$2.000 million', 'two point zero zero zero million dollars'),
    # currency signs beyond $ £ € ¥
    ('₩460 billion', 'four hundred sixty billion won'),
    ('₹500', 'five hundred rupees'),
    ('₹1.50', 'one rupee and fifty paise'),
    ('₽100', 'one hundred rubles'),
    ('100₽', 'one hundred rubles'),
    ('¥30 billion', 'thirty billion yen'),
    ('¥30B', 'thirty billion yen'),
    ('₿2', 'two bitcoins'),
    ('₿0.5', 'zero point five bitcoins'),
    ('₪20', 'twenty shekels'),
    # dollars with a country, scales, rates
    ('US$76.3 trillion', 'seventy-six point three trillion U S dollars'),
    ('US$1', 'one U S dollar'),
    ('A$5', 'five australian dollars'),
    ('HK$100', 'one hundred hong kong dollars'),
    ('CAD$5', 'cad five dollars'),
    ('$2.5T', 'two point five trillion dollars'),
    ('$5 T-shirts', 'five dollars t-shirts'),
    ('$20/mo is fine', 'twenty dollars per month is fine'),
    ('£10/wk', 'ten pounds per week'),
    # telephone numbers: digit by digit in groups
    ('555-1234', 'five five five, one two three four'),
    ('Call 555-1234 now.', 'call five five five, one two three four now.'),
    ('(555) 123-4567', 'five five five, one two three, four five six seven'),
    ('(555)555-5555', 'five five five, five five five, five five five five'),
    ('555-123-4567', 'five five five, one two three, four five six seven'),
    ('555.123.4567', 'five five five, one two three, four five six seven'),
    ('+1 123-123-5678', 'plus one, one two three, one two three, five six seven eight'),
    ('+1 (123)-123-5678', 'plus one, one two three, one two three, five six seven eight'),
    # not telephone numbers
    ('100-1000 words', 'one hundred to one thousand words'),
    ('500-1000 calories', 'five hundred to one thousand calories'),
    ('555.1234', 'five hundred fifty-five point one two three four'),
    ('1990-2000', 'nineteen ninety to two thousand'),
]


@pytest.mark.parametrize(("raw", "expected"), CASES, ids=[repr(raw)[:40] for raw, _ in CASES])
def test_quantities(raw, expected):
    assert normalize_text(raw) == expected
    assert normalize_text(expected) == expected  # the words are a fixed point


def test_table_has_no_duplicates():
    raws = [raw for raw, _ in CASES]
    assert len(set(raws)) == len(raws)
