"""Normalisation passes for money, clock times, telephone numbers and percentages (each str -> str).

They run before abbreviations and plain numbers (see `tts.text.normalize._PASSES`), so that "$5.50", "7:05 p.m."
and "555-123-4567" are read whole rather than as separate numbers and symbols. Dates are in `tts.text.dates`.

Money conventions: the currency signs in `tts.text.tables.CURRENCIES` are read before or after the amount
("$5", "₹500", "20€"); a dollar sign may carry a country ("US$5" -> "five US dollars"); a scale may follow
("$3B", "€2m", "$1.5 million") and a rate ("$20/mo" -> "twenty dollars per month"). A dot followed by exactly
three digits is a thousands separator when the amount has several such groups ("$1.234.567") or ends in a zero
("$2.000" -> "two thousand dollars", "$20.500"): as decimals these would carry a pointless zero past the cents;
otherwise it is a decimal point ("$5.505" -> "five point five zero five dollars").
"""

from __future__ import annotations

import re

from tts.text import numbers
from tts.text.tables import (
    CURRENCIES, CURRENCY_SIGNS, DOLLAR_PREFIXES, PER_UNITS, SCALE_WORDS, alternatives, ends_sentence, letters,
)

_AMOUNT = r"(?P<amount>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"  # 1,234.5 / 12.5 / .5


# ---- money -----------------------------------------------------------------------------------------------------

_MONEY_AMOUNT = r"(?P<amount>\d{1,3}(?:\.\d{3}){2,}(?!\d|\.\d)|" + _AMOUNT[len("(?P<amount>"):]
_SIGN = rf"(?P<symbol>(?<![A-Za-z])(?P<prefix>{alternatives(DOLLAR_PREFIXES)})\$|[{re.escape(CURRENCY_SIGNS)}])"
_SCALE = r"(?:\s?(?P<scale>thousand|million|billion|trillion|[kK]|[mM]n?|bn|[bB]|tn)\b|(?P<big_t>T)\b(?!-))?"
_PER = rf"(?:\s?/\s?(?P<per>{alternatives(PER_UNITS)})\b)?"
_MONEY_BEFORE = re.compile(rf"(?P<sign>-)?{_SIGN}\s?{_MONEY_AMOUNT}{_SCALE}{_PER}")
_MONEY_AFTER = re.compile(rf"{_AMOUNT}\s?(?P<symbol>[{re.escape(CURRENCY_SIGNS.replace('$', ''))}])(?!\w)")


def money(text: str) -> str:
    """"$5.50" -> "five dollars and fifty cents", "€2m" -> "two million euros", "5¢" -> "five cents"."""
    def before(match: re.Match) -> str:
        words = _money_words(match["amount"], _currency(match), match["scale"] or match["big_t"])
        if match["per"]:
            words += f" per {PER_UNITS[match['per']]}"
        space = " " if match.start() and match.string[match.start() - 1].isalnum() else ""  # "CAD$5"
        return space + ("minus " if match["sign"] else "") + words

    text = _MONEY_BEFORE.sub(before, text)
    text = _MONEY_AFTER.sub(lambda m: _money_words(m["amount"], CURRENCIES[m["symbol"]], None), text)
    return re.sub(r"(?P<amount>\d{1,15})\s?¢", lambda m: f"{numbers.cardinal(int(m['amount']))} "
                  f"{'cent' if m['amount'] == '1' else 'cents'}", text)


def _currency(match: re.Match) -> tuple[str, str, str, str]:
    """(singular, plural, sub-unit singular, sub-unit plural) for the sign in `match`."""
    if not match["prefix"]:
        return CURRENCIES[match["symbol"]]
    country = DOLLAR_PREFIXES[match["prefix"]]
    country = letters(country) if country.isupper() else country
    return f"{country} dollar", f"{country} dollars", "cent", "cents"


def _money_words(amount: str, currency: tuple[str, str, str, str], scale: str | None) -> str:
    one, many, sub_one, sub_many = currency
    if not scale and re.fullmatch(r"[1-9]\d{0,2}(?:\.\d{3})+", amount) and (amount.count(".") > 1
                                                                       or amount.endswith("0")):
        amount = amount.replace(".", "")  # thousands separators (see the module docstring)
    amount = amount.replace(",", "")
    whole, _, cents = amount.partition(".")
    if scale:
        return f"{numbers.number(amount)} {SCALE_WORDS[scale.lower()]} {many}"
    if len(cents) > 2 or (cents and not sub_one) or len(whole) > 15:
        return f"{numbers.number(amount)} {many}"
    units, subunits = int(whole or 0), int(cents.ljust(2, "0")) if cents else 0
    parts = []
    if units or not subunits:
        parts.append(f"{numbers.cardinal(units)} {one if units == 1 else many}")
    if subunits:
        parts.append(f"{numbers.cardinal(subunits)} {sub_one if subunits == 1 else sub_many}")
    return " and ".join(parts)


# ---- telephone numbers -----------------------------------------------------------------------------------------

_PHONE = re.compile(rf"(?<![\w.+\-/{re.escape(CURRENCY_SIGNS)}])(?:\+(?P<country>\d{{1,3}})[\s.-]?)?"
                    r"(?:\((?P<area>\d{3})\)[\s.-]?|(?P<plain_area>\d{3})(?P<area_sep>[.-]))?"
                    r"(?P<exchange>\d{3})(?P<sep>[.-])(?P<line>\d{4})(?![\w-]|\.\d)")


def telephone(text: str) -> str:
    """"555-1234", "(555) 123-4567", "+1 555-123-4567" -> digit by digit in groups: "five five five, one two ..."

    Without an area code or a country code the number must look like a North American one (exchange 200-999)
    and not like a range of round numbers, so that "100-1000" and "300-1200" stay ranges. Dots separate groups
    only when all three groups are there ("555.123.4567"); "555.1234" is a decimal number.
    """
    def replace(match: re.Match) -> str:
        area, exchange, line = match["area"] or match["plain_area"], match["exchange"], match["line"]
        if match["sep"] == "." and match["area_sep"] != ".":
            return match.group(0)
        if match["plain_area"] and match["area_sep"] != match["sep"]:
            return match.group(0)
        round_range = exchange.endswith("0") and line.endswith("0") and int(exchange) < int(line)
        if not area and not match["country"] and (exchange[0] in "01" or round_range):
            return match.group(0)
        words = [numbers.digits(group) for group in (area, exchange, line) if group]
        if match["country"]:
            words.insert(0, "plus " + numbers.digits(match["country"]))
        return ", ".join(words)
    return _PHONE.sub(replace, text)


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


# ---- percentages -----------------------------------------------------------------------------------------------

def percent(text: str) -> str:
    """"10%" -> "ten percent", "-5.5 %" -> "minus five point five percent"."""
    return re.sub(rf"(?P<sign>-)?{_AMOUNT}\s?%",
                  lambda m: ("minus " if m["sign"] else "") + numbers.number(m["amount"]) + " percent", text)
