"""Dates as words (str -> str), run before money, abbreviations and plain numbers.

Numeric dates:
- slash or hyphen, US order month/day/year ("3/4/2021", "07-25-2012" -> "march fourth, twenty twenty-one"); a
  first field above 12 is a day (day/month/year); with a hyphen the year must have four digits;
- year first, ISO or with slashes ("2012-07-25", "2016/07/03") -> "july twenty-fifth, twenty twelve";
- dotted, day first ("25.07.2012") -> "the twenty-fifth of july twenty twelve".
Dates with a month name, full or abbreviated, with or without a period ("July 25 2012", "Sept. 15", "Jan-15-2020",
"25 July 2012", "the 4th of July"): month first reads "july twenty-fifth", day first "the twenty-fifth of july".
Month names count in capitalised or upper-case form; in lower case too, except "may", "mar" and "march"
(also verbs), which count in lower case only when a year follows. Years read as years ("twenty twelve").
"""

from __future__ import annotations

import re

from tts.text import numbers
from tts.text.tables import MONTHS, ends_sentence

_MONTH = (r"(?P<month>(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?))\b(?P<period>\.)?")
_VERB_MONTHS = ("may", "mar", "march")
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th|ST|ND|RD|TH)?\b"

_NUMERIC = re.compile(r"(?<![\d/.-])(?P<first>\d{1,2})(?P<sep>[/-])(?P<second>\d{1,2})(?P=sep)(?P<year>\d{4}|\d{2})"
                      r"(?![\d/-])")
_YEAR_FIRST = re.compile(r"(?<![\d/.-])(?P<year>\d{4})(?P<sep>[/-])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})"
                         r"(?![\d/-])")
_DOTTED = re.compile(r"(?<![\d.])(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4})(?!\d|\.\d)")
_MONTH_DAY = re.compile(rf"\b{_MONTH}[\s-]+{_DAY}(?:(?P<sep>,?[\s-]+)(?P<year>\d{{4}})\b)?(?![:\d])")
_DAY_MONTH = re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+(?P<year>\d{{4}})\b)?")


def dates(text: str) -> str:
    """"3/4/2021", "2021-03-04", "25.07.2012", "March 3rd, 2020", "Sept. 15", "4th of July" -> words."""
    text = _NUMERIC.sub(_numeric, text)
    text = _YEAR_FIRST.sub(lambda m: _month_first(int(m["month"]), int(m["day"]), m["year"]) or m.group(0), text)
    text = _DOTTED.sub(lambda m: _day_first(m, int(m["month"])) or m.group(0), text)
    text = _MONTH_DAY.sub(_month_day, text)
    return _DAY_MONTH.sub(_day_month, text)


def _numeric(match: re.Match) -> str:
    if match["sep"] == "-" and len(match["year"]) != 4:
        return match.group(0)
    first, second = int(match["first"]), int(match["second"])
    month, day = (first, second) if first <= 12 else (second, first)
    return _month_first(month, day, match["year"]) or match.group(0)


def _month_day(match: re.Match) -> str:
    month = _month_number(match["month"], has_year=bool(match["year"]))
    words = month and _month_first(month, int(match["day"]), None)
    if not words:
        return match.group(0)
    if match["year"]:
        words += f"{match['sep'].strip(' -')} {numbers.year(int(match['year']))}"
    return words


def _day_month(match: re.Match) -> str:
    month = _month_number(match["month"], has_year=bool(match["year"]))
    words = month and _day_first(match, month)
    if not words:
        return match.group(0)
    period_is_punctuation = match["period"] and not match["year"] and (
        ends_sentence(match) or match["month"].lower() in MONTHS)
    return words + ("." if period_is_punctuation else "")


def _month_first(month: int, day: int, year: str | None) -> str | None:
    """"july twenty-fifth, twenty twelve"; None for an impossible month or day."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    words = f"{MONTHS[month - 1]} {numbers.ordinal(day)}"
    if year:
        words += ", " + (numbers.year(int(year)) if len(year) == 4 else _two_digit_year(year))
    return words


def _day_first(match: re.Match, month: int) -> str | None:
    """"the twenty-fifth of july twenty twelve" ("the" only when the text has none before the day)."""
    day = int(match["day"])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    article = "" if re.search(r"\bthe\s+$", match.string[:match.start()], re.IGNORECASE) else "the "
    words = f"{article}{numbers.ordinal(day)} of {MONTHS[month - 1]}"
    if match["year"]:
        words += f" {numbers.year(int(match['year']))}"
    return words


def _two_digit_year(year: str) -> str:
    return f"oh {numbers.ONES[int(year)]}" if year.startswith("0") else numbers.cardinal(int(year))


def _month_number(name: str, has_year: bool) -> int | None:
    """1-12 for a month name written in a case that counts (see the module docstring), else None."""
    if not (name.istitle() or name.isupper() or name.islower()):
        return None  # "jUly"
    if name.islower() and name in _VERB_MONTHS and not has_year:
        return None  # "you may 5 times", "they march 10 miles"
    return next(i for i, month in enumerate(MONTHS, 1) if month.startswith(name.lower()[:3]))
