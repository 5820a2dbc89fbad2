"""Amounts with what follows them (str -> str): magnitudes, units, fractions, multipliers and powers.

- magnitudes right after a number: "1.5M" -> "one point five million", "20K" -> "twenty thousand"
  (K or k thousand, M million, B or bn billion, T or tn trillion);
- units after a number, only where the abbreviation is unambiguous (see `tts.text.tables.UNITS` and
  `UNITS_ANY_CASE`): "5 km", "12KG", "3 kgs", "1 mbps"; a length with a power is an area or a volume
  ("km2", "km^2", "m³" -> "square/cubic ..."); a mixed fraction takes the plural ("4 1/2 lbs" -> "four and a half
  pounds") and a proper fraction "of a" ("3/4 lb" -> "three quarters of a pound");
- fractions: "3/4" -> "three quarters", "2 1/2" -> "two and a half", "2 3/5" -> "two and three fifths";
- multipliers: "3x faster" -> "three times faster" ("4x4" stays a dimension);
- powers of a number, a bracket or a one- or two-letter symbol: "10^50" -> "ten to the power of fifty",
  "x^2" -> "x squared", "10^3" -> "ten cubed".
"""

from __future__ import annotations

import re
from tts.text import numbers
from tts.text.tables import LABEL_WORDS, LENGTH_UNITS, UNITS, UNITS_ANY_CASE, alternatives

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"  # 1,234.5 / 12.5
_MAGNITUDES = {"K": "thousand", "k": "thousand", "M": "million", "B": "billion", "bn": "billion", "T": "trillion",
               "tn": "trillion"}
_POWERS = {"2": "square", "3": "cubic"}


_LABEL_BEFORE = re.compile(rf"\b(?i:{alternatives(LABEL_WORDS)})\.?\s*$")


def magnitudes(text: str) -> str:
    """"1.5M users" -> "one point five million users"; the letter must touch the number and end the word.

    After a word such as "room" or "gate" (`tts.text.tables.LABEL_WORDS`) "12B" is a label and stays as it is.
    """
    def replace(match: re.Match) -> str:
        if _LABEL_BEFORE.search(match.string[:match.start()]):
            return match.group(0)
        return f"{numbers.number(match['amount'])} {_MAGNITUDES[match['scale']]}"
    return re.sub(rf"(?<![\w.])(?P<amount>{_NUMBER})(?P<scale>bn|tn|[KkMBT])(?![\w'])", replace, text)


def multipliers(text: str) -> str:
    """"3x faster" -> "three times faster"; "4x4" (a dimension) and "0x1F" (hex) are left alone."""
    return re.sub(rf"(?<![\w.])(?P<amount>{_NUMBER})[xX](?![\w'])",
                  lambda m: f"{numbers.number(m['amount'])} times", text)


def powers(text: str) -> str:
    """"10^50" -> "ten to the power of fifty", "mc^2" -> "mc squared", "10^-3" -> "... of minus three"."""
    def replace(match: re.Match) -> str:
        base = numbers.number(match["base"]) + " " if match["base"] else " "
        sign, exponent = match["sign"], match["exponent"]
        if not sign and exponent in ("2", "3"):
            return base + ("squared" if exponent == "2" else "cubed")
        return f"{base}to the power of {'minus ' if sign == '-' else ''}{numbers.number(exponent)}"
    # the base: a number, a bracket, or a symbol of one or two letters ("x", "mc"), not a longer word
    return re.sub(r"(?:(?<![\w.])(?P<base>\d+(?:\.\d+)?)|(?<=\))|(?<=\b[A-Za-z])|(?<=\b[A-Za-z]{2}))"
                  r"\s?\^\s?(?P<sign>[-+])?(?P<exponent>\d+)(?!\d|\.\d)", replace, text)


_AMOUNT = (r"(?P<amount>(?P<whole>\d{1,15})\s+(?P<num>\d)/(?P<den>\d{1,2})|(?P<fnum>\d)/(?P<fden>\d{1,2})"
           rf"|{_NUMBER}|\.\d+)")
_SCALE = r"(?:\s(?P<scale>thousand|million|billion|trillion))?"
_UNIT = re.compile(
    rf"(?<![\w./])(?P<sign>-)?{_AMOUNT}{_SCALE}\s?"
    rf"(?:(?P<length>{alternatives(LENGTH_UNITS)})\^?(?P<power>[23])"
    rf"|(?P<unit>{alternatives(UNITS)}|(?i:{alternatives(UNITS_ANY_CASE)})))(?![\w/])")


def units(text: str) -> str:
    """"5 km" -> "five kilometers", "4 1/2 lbs" -> "four and a half pounds", "41 km³" -> "forty-one cubic ..."."""
    return _UNIT.sub(_unit_words, text)


def _unit_words(match: re.Match) -> str:
    if match["length"]:
        singular, plural = LENGTH_UNITS[match["length"]]
        singular, plural = f"{_POWERS[match['power']]} {singular}", f"{_POWERS[match['power']]} {plural}"
    else:
        singular, plural = UNITS.get(match["unit"]) or UNITS_ANY_CASE[match["unit"].lower()]
    sign = "minus " if match["sign"] else ""
    if match["fnum"]:
        numerator, denominator = int(match["fnum"]), int(match["fden"])
        if not 0 < numerator < denominator <= 10:
            return match.group(0)
        article = "an" if singular[0] in "aeiou" or singular.startswith("hour") else "a"
        return f"{sign}{numbers.fraction(numerator, denominator)} of {article} {singular}"
    if match["whole"]:
        amount = f"{numbers.cardinal(int(match['whole']))} and {fraction(match['num'], match['den'], article=True)}"
    else:
        amount = numbers.number(match["amount"])
    scale = f" {match['scale']}" if match["scale"] else ""
    return f"{sign}{amount}{scale} {singular if match['amount'] == '1' and not scale else plural}"


def fractions(text: str) -> str:
    """"3/4" -> "three quarters", "2 1/2" -> "two and a half", "7/100" -> "seven slash one hundred"."""
    def mixed(match: re.Match) -> str:
        return f"{numbers.cardinal(int(match['whole']))} and {fraction(match['num'], match['den'], article=True)}"

    text = re.sub(r"(?<![\w/.])(?P<whole>\d{1,15})\s+(?P<num>\d)/(?P<den>\d{1,2})(?![\w/])", mixed, text)
    return re.sub(r"(?<![\w/.])(?P<num>\d+)/(?P<den>\d+)(?![\w/])",
                  lambda m: fraction(m["num"], m["den"], article=False), text)


def fraction(num: str, den: str, article: bool) -> str:
    """Digits of a fraction -> words; article=True says "a half" after a whole number ("two and a half")."""
    if (num, den) == ("24", "7"):
        return "twenty-four seven"
    if len(num) > 15 or len(den) > 15:
        return f"{numbers.number(num)} slash {numbers.number(den)}"
    numerator, denominator = int(num), int(den)
    if numerator == denominator:
        return f"{numbers.cardinal(numerator)} {numbers.cardinal(denominator)}"
    if 0 < numerator < denominator <= 10:
        if article and numerator == 1:
            return "a " + numbers.fraction(1, denominator).split(" ", 1)[1]
        return numbers.fraction(numerator, denominator)
    return f"{numbers.number(num)} slash {numbers.number(den)}"
