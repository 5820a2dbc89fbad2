"""What the normalisation passes share: word tables (abbreviations, months, units, currencies, acronyms,
symbols, the character map) and the marker for letters spoken by name, with its two small helpers.

The passes themselves live in `tts.text.normalize`, `tts.text.quantities`, `tts.text.dates` and `tts.text.measures`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PUNCTUATION = ",.?!;:"  # sentence punctuation kept in normalised text
PUNCTUATION_STRENGTH = "?!.;:,"  # a run of punctuation collapses to its strongest member (weakest last)
LETTER = "\ue000"  # private-use marker: the next character is a letter spoken by name

# Abbreviations that stand before a name and never end a sentence (also used by sentence splitting).
TITLES = {"mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "prof": "professor", "rev": "reverend",
          "hon": "honorable", "lt": "lieutenant", "col": "colonel", "capt": "captain", "gen": "general",
          "sgt": "sergeant", "cpl": "corporal", "maj": "major", "gov": "governor", "sen": "senator",
          "pres": "president", "st": "saint", "mt": "mount", "fr": "father"}
TITLES_WITHOUT_PERIOD = {"mr", "mrs", "ms", "dr", "prof", "lt", "capt", "sgt", "st", "mt"}
# Abbreviations after a word; they may end a sentence, in which case the period is kept.
TRAILING_ABBREVIATIONS = {
    "jr": "junior", "sr": "senior", "inc": "incorporated", "ltd": "limited", "corp": "corporation",
    "co": "company", "bros": "brothers", "etc": "et cetera", "ave": "avenue", "blvd": "boulevard",
    "rd": "road", "approx": "approximately", "dept": "department",
}
# Abbreviations read only in front of a number.
BEFORE_NUMBER_ABBREVIATIONS = {"no": "number", "vol": "volume", "ch": "chapter", "chap": "chapter",
                               "fig": "figure", "p": "page", "pp": "pages", "ca": "circa"}
NON_FINAL_ABBREVIATIONS = (frozenset(TITLES) | frozenset(BEFORE_NUMBER_ABBREVIATIONS)
                           | {"vs", "e.g", "i.e", "cf", "a.k.a"})

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")

# unit as written after a number -> (singular, plural); case-sensitive, longest first when matching
UNITS = {
    "mm": ("millimeter", "millimeters"), "mi": ("mile", "miles"), "yd": ("yard", "yards"),
    "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"),
    "km/h": ("kilometer per hour", "kilometers per hour"), "m/s": ("meter per second", "meters per second"),
    "ms": ("millisecond", "milliseconds"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"), "kW": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"),
    "°C": ("degree celsius", "degrees celsius"), "°F": ("degree fahrenheit", "degrees fahrenheit"),
    "°": ("degree", "degrees"),
}
# units read in any letter case ("12KG", "5 Yrs"), keyed in lower case
UNITS_ANY_CASE = {
    "km": ("kilometer", "kilometers"), "kms": ("kilometer", "kilometers"), "cm": ("centimeter", "centimeters"),
    "ft": ("foot", "feet"), "kg": ("kilogram", "kilograms"), "kgs": ("kilogram", "kilograms"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "mph": ("mile per hour", "miles per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "kbps": ("kilobit per second", "kilobits per second"), "mbps": ("megabit per second", "megabits per second"),
    "gbps": ("gigabit per second", "gigabits per second"),
    "sec": ("second", "seconds"), "secs": ("second", "seconds"), "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"), "wk": ("week", "weeks"),
    "wks": ("week", "weeks"), "yr": ("year", "years"), "yrs": ("year", "years"),
}
# length units that take a power for area and volume ("km2", "m³" -> "square/cubic ...")
LENGTH_UNITS = {"km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
                "mm": ("millimeter", "millimeters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"),
                "yd": ("yard", "yards")}
# what an amount is counted per, after a slash ("$20/mo")
PER_UNITS = {"mo": "month", "month": "month", "yr": "year", "year": "year", "wk": "week", "week": "week",
             "d": "day", "day": "day", "hr": "hour", "h": "hour", "hour": "hour"}
# symbol -> (singular, plural, sub-unit singular, sub-unit plural); "" when amounts have no spoken sub-unit
CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
              "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", "", ""), "₩": ("won", "won", "", ""),
              "₹": ("rupee", "rupees", "paisa", "paise"), "₽": ("ruble", "rubles", "kopek", "kopeks"),
              "₿": ("bitcoin", "bitcoins", "", ""), "₪": ("shekel", "shekels", "agora", "agorot"),
              "₺": ("lira", "lira", "kurus", "kurus"), "₱": ("peso", "pesos", "centavo", "centavos"),
              "₦": ("naira", "naira", "kobo", "kobo"), "₫": ("dong", "dong", "", ""),
              "₴": ("hryvnia", "hryvnias", "kopiyka", "kopiyky")}
CURRENCY_SIGNS = "".join(CURRENCIES)  # the one-character signs, for regex classes
# letters before a dollar sign -> the dollar's name ("US$5" -> "five US dollars"); capitals are spoken by name
DOLLAR_PREFIXES = {"US": "US", "A": "australian", "AU": "australian", "C": "canadian", "CA": "canadian",
                   "NZ": "new zealand", "HK": "hong kong", "S": "singapore"}
# words after which a number with a letter is a label, not a magnitude ("Room 12B", "Gate 4K")
LABEL_WORDS = ("apt", "apartment", "room", "suite", "unit", "gate", "seat", "row", "flat", "platform", "terminal",
               "building", "block", "floor", "level", "flight", "bus", "route", "no", "number", "page", "box", "lot")
# a scale after an amount of money, as written (lowercased) -> as read
SCALE_WORDS = {"thousand": "thousand", "k": "thousand", "million": "million", "m": "million", "mn": "million",
               "billion": "billion", "bn": "billion", "b": "billion", "trillion": "trillion", "t": "trillion",
               "tn": "trillion"}
# all-caps words spelled letter by letter although they contain vowels (else they read as words: "us", "id")
SPELLED_ACRONYMS = {"US", "USA", "UK", "EU", "UN", "AI", "ID", "IOU", "FBI", "CIA", "IBM", "ATM"}
# all-caps words without vowels that are still read as words, not spelled
NOT_ACRONYMS = {"HMM", "HM", "MM", "MMM", "SHH", "SH", "PSST", "PST", "TSK", "ZZZ", "BRR", "GRR", "HMPH", "PFFT"}
# words after which a Roman numeral is a count ("Chapter IV" -> "chapter four")
ROMAN_KEYWORDS = ("chapter", "book", "part", "volume", "act", "scene", "section", "war", "phase", "round", "level",
                  "stage", "season", "episode", "article", "appendix", "title", "grade", "class", "type", "vol",
                  "psalm", "canto")
ROMAN_DIGITS = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}

# symbols read as words wherever they stand (after numbers, units and money had their turn)
SYMBOL_WORDS = (("&", " and "), ("@", " at "), ("+", " plus "), ("=", " equals "), ("%", " percent "),
                ("°", " degrees "))

CHAR_MAP = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2212": "-", "\u2012": "\u2013", "\u2015": "\u2014",
    "\u2026": "...", "\u00d7": " times ", "\u00f7": " divided by ", "\u00ad": "", "\u200b": "", "\u200c": "",
    "\u200d": "", "\ufeff": "", "\u2060": "", "\u00bd": " 1/2", "\u00bc": " 1/4", "\u00be": " 3/4",
    "\u0153": "oe", "\u0152": "Oe", "\u00e6": "ae", "\u00c6": "Ae", "\u00df": "ss", "\u00f8": "o", "\u00d8": "O",
    "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D", "\u00f0": "d", "\u00d0": "D", "\u00fe": "th",
    "\u00de": "Th", "\u2103": "°C", "\u2109": "°F", "\u00ba": "°", "\u2022": ",", "\u00b7": ",",
})


def letters(word: str) -> str:
    """"BBC" -> marked letters that survive lowercasing and come out as "B B C"."""
    return " ".join(LETTER + char.upper() for char in word if char.isalpha())


def ends_sentence(match: re.Match) -> bool:
    """Whether a period consumed by `match` also ends the sentence (end of text or a capital follows)."""
    if not match.group(0).endswith("."):
        return False
    rest = match.string[match.end():]
    return not rest.strip() or re.match(r"\s+[\"'(]?[A-Z]", rest) is not None


def alternatives(words: Iterable[str]) -> str:
    """A regex alternation of the words, escaped, longest first (so that "lbs" wins over "lb")."""
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
