"""Normalisation passes for money, clock times, dates and percentages (each str -> str).

They run before abbreviations and plain numbers (see `tts.text.normalize._PASSES`), so that "$5.50", "7:05 p.m."
and "3/4/2021" are read whole rather than as separate numbers and symbols.
"""

from __future__ import annotations

import re

from tts.text import numbers
from tts.text.tables import CURRENCIES, MONTH_NAME, MONTHS, SCALE_WORDS, ends_sentence, letters

_AMOUNT = r"(?P<amount>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"  # 1,234.5 / 12.5 / .5


# ---- money -----------------------------------------------------------------------------------------------------

def money(text: str) -> str:
    """"$5.50" -> "five dollars and fifty cents", "€2m" -> "two million euros", "5¢" -> "five cents"."""
    scale = r"(?:\s?(?P<scale>thousand|million|billion|trillion|[kK]|[mM]n?|bn|[bB])\b)?"

    def before(match: re.Match) -> str:
        words = _money_words(match["amount"], match["symbol"], match["scale"])
        return ("minus " if match["sign"] else "") + words

    text = re.sub(rf"(?P<sign>-)?(?P<symbol>[$£€¥])\s?{_AMOUNT}{scale}", before, text)
    text = re.sub(rf"{_AMOUNT}\s?(?P<symbol>[£€])(?!\w)",
                  lambda m: _money_words(m["amount"], m["symbol"], None), text)
    return re.sub(r"(?P<amount>\d+)\s?¢", lambda m: f"{numbers.cardinal(int(m['amount']))} "
                  f"{'cent' if m['amount'] == '1' else 'cents'}", text)


def _money_words(amount: str, symbol: str, scale: str | None) -> str:
    one, many, sub_one, sub_many = CURRENCIES[symbol]
    amount = amount.replace(",", "")
    whole, _, cents = amount.partition(".")
    if scale:
        return f"{numbers.number(amount)} {SCALE_WORDS[scale.lower()]} {many}"
    if len(cents) > 2 or (cents and not sub_one):
        return f"{numbers.number(amount)} {many}"
    units, subunits = int(whole or 0), int(cents.ljust(2, "0")) if cents else 0
    parts = []
    if units or not subunits:
        parts.append(f"{numbers.cardinal(units)} {one if units == 1 else many}")
    if subunits:
        parts.append(f"{numbers.cardinal(subunits)} {sub_one if subunits == 1 else sub_many}")
    return " and ".join(parts)


# ---- clock times -----------------------------------------------------------------------------------------------

def times(text: str) -> str:
    """"7:05 p.m." -> "seven oh five P M", "12:00" -> "twelve o'clock", "7pm" -> "seven P M"."""
    suffix = r"(?:\s?(?P<suffix>[aApP]\.?[mM]\b\.?))"

    def with_minutes(match: re.Match) -> str:
        hour, minute = int(match["hour"]), int(match["minute"])
        if hour > 24 or minute > 59 or (match["suffix"] and not 1 <= hour <= 12):
            return match.group(0)
        words = _clock(hour, minute, match["suffix"])
        if match["second"]:
            words += f" and {numbers.cardinal(int(match['second']))} seconds"
        return words + ("." if match["suffix"] and ends_sentence(match) else "")

    def hour_only(match: re.Match) -> str:
        hour = int(match["hour"])
        if not 1 <= hour <= 12:
            return match.group(0)
        return _clock(hour, 0, match["suffix"]) + ("." if ends_sentence(match) else "")

    text = re.sub(rf"(?<![\d:.])(?P<hour>\d{{1,2}}):(?P<minute>\d\d)(?::(?P<second>\d\d))?(?![\d:]){suffix}?",
                  with_minutes, text)
    return re.sub(rf"(?<![\d:.,])(?P<hour>\d{{1,2}}){suffix}", hour_only, text)


def _clock(hour: int, minute: int, suffix: str | None) -> str:
    words = numbers.cardinal(hour)
    if minute == 0 and not suffix:
        words += " o'clock" if hour <= 12 else " hundred"
    elif 0 < minute < 10:
        words += f" oh {numbers.cardinal(minute)}"
    elif minute:
        words += f" {numbers.cardinal(minute)}"
    if suffix:
        words += f" {letters(suffix[0] + 'm')}"
    return words


# ---- dates -----------------------------------------------------------------------------------------------------

def dates(text: str) -> str:
    """"3/4/2021" (US order), "2021-03-04", "March 3rd, 2020", "4th of July" -> words."""
    def numeric(match: re.Match) -> str:
        first, second = int(match["first"]), int(match["second"])
        month, day = (first, second) if first <= 12 else (second, first)
        return _date_words(month, day, match["year"]) or match.group(0)

    def iso(match: re.Match) -> str:
        return _date_words(int(match["month"]), int(match["day"]), match["year"]) or match.group(0)

    def month_day(match: re.Match) -> str:
        day = int(match["day"])
        if not 1 <= day <= 31:
            return match.group(0)
        words = f"{MONTHS[_month_number(match['month']) - 1]} {numbers.ordinal(day)}"
        if match["year"]:
            words += f"{match['sep'].rstrip()} {numbers.year(int(match['year']))}"
        return words

    def day_month(match: re.Match) -> str:
        day = int(match["day"])
        if not 1 <= day <= 31:
            return match.group(0)
        article = "" if re.search(r"\bthe\s+$", match.string[:match.start()], re.IGNORECASE) else "the "
        words = f"{article}{numbers.ordinal(day)} of {MONTHS[_month_number(match['month']) - 1]}"
        if match["year"]:
            words += f" {numbers.year(int(match['year']))}"
        return words

    text = re.sub(r"(?<![\d/])(?P<first>\d{1,2})/(?P<second>\d{1,2})/(?P<year>\d{4}|\d{2})(?![\d/])", numeric, text)
    text = re.sub(r"(?<![\d-])(?P<year>\d{4})-(?P<month>\d\d)-(?P<day>\d\d)(?![\d-])", iso, text)
    text = re.sub(rf"\b{MONTH_NAME}\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b"
                  r"(?:(?P<sep>,?\s+)(?P<year>\d{4})\b)?", month_day, text)
    return re.sub(rf"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH_NAME}\b\.?"
                  r"(?:,?\s+(?P<year>\d{4})\b)?", day_month, text)


def _date_words(month: int, day: int, year: str | None) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    words = f"{MONTHS[month - 1]} {numbers.ordinal(day)}"
    if year:
        words += ", " + (numbers.year(int(year)) if len(year) == 4 else _two_digit_year(year))
    return words


def _two_digit_year(year: str) -> str:
    return f"oh {numbers.ONES[int(year)]}" if year.startswith("0") else numbers.cardinal(int(year))


def _month_number(name: str) -> int:
    return next(i for i, month in enumerate(MONTHS, 1) if month.startswith(name.lower()[:3]))


# ---- percentages -----------------------------------------------------------------------------------------------

def percent(text: str) -> str:
    """"10%" -> "ten percent", "-5.5 %" -> "minus five point five percent"."""
    return re.sub(rf"(?P<sign>-)?{_AMOUNT}\s?%",
                  lambda m: ("minus " if m["sign"] else "") + numbers.number(m["amount"]) + " percent", text)
