"""Table-driven tests of date reading (tts.text.dates) through normalize_text: (raw text, expected words)."""

import pytest

from tts.text import normalize_text

CASES = [
    # month name first, with or without a comma before the year; lower case and capitals count too
    ('July 25 2012', 'july twenty-fifth twenty twelve'),
    ('July 25, 2012', 'july twenty-fifth, twenty twelve'),
    ('july 25 2012', 'july twenty-fifth twenty twelve'),
    ('jul 25 2012', 'july twenty-fifth twenty twelve'),
    ('june 30', 'june thirtieth'),
    ('JAN 15 2020', 'january fifteenth twenty twenty'),
    ('SEPTEMBER 15', 'september fifteenth'),
    # abbreviations with a period before a day number
    ('Jan. 5', 'january fifth'),
    ('Aug. 3', 'august third'),
    ('Sept. 15, 2001', 'september fifteenth, two thousand one'),
    ('jan. 15', 'january fifteenth'),
    ('JAN. 15 2020', 'january fifteenth twenty twenty'),
    ('SEPT. 15', 'september fifteenth'),
    ('Jan-15-2020', 'january fifteenth twenty twenty'),
    ('Jan-15', 'january fifteenth'),
    # day first
    ('25 July 2012', 'the twenty-fifth of july twenty twelve'),
    ('25 july 2012', 'the twenty-fifth of july twenty twelve'),
    ('22nd july 2012', 'the twenty-second of july twenty twelve'),
    ('15 january', 'the fifteenth of january'),
    ('17 may 2010', 'the seventeenth of may twenty ten'),
    ('25 sept.', 'the twenty-fifth of september.'),
    ('Born 25 Sept. Then he left.', 'born the twenty-fifth of september. then he left.'),
    ('25 Sept. 2012 was a Tuesday', 'the twenty-fifth of september twenty twelve was a tuesday'),
    # "may" and "march" are verbs too: in lower case they are months only with a year
    ('you may 5 times', 'you may five times'),
    ('they march 10 miles', 'they march ten miles'),
    ('MAY 5', 'may fifth'),
    # numeric: ISO and year first, US slashes and hyphens, dotted day first
    ('2012-07-25', 'july twenty-fifth, twenty twelve'),
    ('2016/07/03', 'july third, twenty sixteen'),
    ('1998/2/28', 'february twenty-eighth, nineteen ninety-eight'),
    ('07/25/2012', 'july twenty-fifth, twenty twelve'),
    ('07-25-2012', 'july twenty-fifth, twenty twelve'),
    ('15-01-2020', 'january fifteenth, twenty twenty'),
    ('25.07.2012', 'the twenty-fifth of july twenty twelve'),
    ('It was 01.10.2010.', 'it was the first of october twenty ten.'),
    # not dates
    ('13/13/2020', 'thirteen thirteen twenty twenty'),
    ('40.07.2012', 'forty point zero seven point two thousand twelve'),
]


@pytest.mark.parametrize(("raw", "expected"), CASES, ids=[repr(raw)[:40] for raw, _ in CASES])
def test_dates(raw, expected):
    assert normalize_text(raw) == expected
    assert normalize_text(expected) == expected  # the words are a fixed point


def test_table_has_no_duplicates():
    raws = [raw for raw, _ in CASES]
    assert len(set(raws)) == len(raws)
