"""Text normalisation: raw English text -> speakable words.

The output is lowercase words separated by single spaces, with sentence punctuation `, . ? ! ; :` attached to
the word before it, apostrophes only inside words ("don't") and hyphens only inside words ("twenty-four",
"well-known"). The one exception to lowercase: letters to be spoken by name are single upper-case letters
("B B C", "seven P M", "plan A"), so that the phonemizer can tell the letter "A" (EY1) from the article "a"
(a capital "A" opening a sentence stays the article; a lone "I" stays the pronoun).
Text with nothing speakable (only punctuation, emoji or whitespace) normalises to "".

Conventions (documented choices):
- numeric dates are US style, month/day/year ("3/4/2021" -> "march fourth, twenty twenty-one"); a first field
  above 12 is read as a day (day/month/year); ISO "2021-03-04" is understood too;
- a bare four-digit integer from 1100 to 2099 reads as a year ("1999" -> "nineteen ninety-nine"); with grouping
  commas ("1,999") it is a cardinal;
- "a-b" between numbers is a range ("10-20" -> "ten to twenty"); three or more groups ("555-123-4567") are read
  digit by digit;
- units are expanded only after a number and only where the abbreviation is unambiguous (km, kg, ml, mph, °C...);
- St. and Dr. before a capitalised name are "saint"/"doctor", after a name or a number "street"/"drive";
- dashes and brackets become commas, an ellipsis a period before a capital (else a comma); accents are dropped
  (NFKD), and characters outside ASCII that have no reading (emoji, other scripts) are removed.

Passes run in a fixed order (see `_PASSES`); each is a small str -> str function.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from tts.text import numbers

PUNCTUATION = ",.?!;:"  # sentence punctuation kept in normalised text, weakest last in _PUNCTUATION_STRENGTH
_PUNCTUATION_STRENGTH = "?!.;:,"  # a run of punctuation collapses to its strongest member
_LETTER = "\ue000"  # private-use marker: the next character is a letter spoken by name

# Abbreviations that stand before a name and never end a sentence (also used by sentence splitting).
TITLES = {"mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "prof": "professor", "rev": "reverend",
          "hon": "honorable", "lt": "lieutenant", "col": "colonel", "capt": "captain", "gen": "general",
          "sgt": "sergeant", "cpl": "corporal", "maj": "major", "gov": "governor", "sen": "senator",
          "pres": "president", "st": "saint", "mt": "mount", "fr": "father"}
_TITLES_WITHOUT_PERIOD = {"mr", "mrs", "ms", "dr", "prof", "lt", "capt", "sgt", "st", "mt"}
# Abbreviations after a word; they may end a sentence, in which case the period is kept.
_TRAILING = {"jr": "junior", "sr": "senior", "inc": "incorporated", "ltd": "limited", "corp": "corporation",
             "co": "company", "bros": "brothers", "etc": "et cetera", "ave": "avenue", "blvd": "boulevard",
             "rd": "road", "approx": "approximately", "dept": "department"}
# Abbreviations read only in front of a number.
_BEFORE_NUMBER = {"no": "number", "vol": "volume", "ch": "chapter", "chap": "chapter", "fig": "figure",
                  "p": "page", "pp": "pages", "ca": "circa"}
NON_FINAL_ABBREVIATIONS = frozenset(TITLES) | frozenset(_BEFORE_NUMBER) | {"vs", "e.g", "i.e", "cf", "a.k.a"}

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_MONTH_NAME = (r"(?P<month>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
               r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")

# unit as written after a number -> (singular, plural); case-sensitive, longest first when matching
UNITS = {
    "km": ("kilometer", "kilometers"), "cm": ("centimeter", "centimeters"), "mm": ("millimeter", "millimeters"),
    "mi": ("mile", "miles"), "ft": ("foot", "feet"), "yd": ("yard", "yards"),
    "kg": ("kilogram", "kilograms"), "mg": ("milligram", "milligrams"), "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"),
    "mph": ("mile per hour", "miles per hour"), "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"), "m/s": ("meter per second", "meters per second"),
    "ms": ("millisecond", "milliseconds"), "sec": ("second", "seconds"), "secs": ("second", "seconds"),
    "min": ("minute", "minutes"), "mins": ("minute", "minutes"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"), "kW": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"),
    "°C": ("degree celsius", "degrees celsius"), "°F": ("degree fahrenheit", "degrees fahrenheit"),
    "°": ("degree", "degrees"),
}
# symbol -> (singular, plural, sub-unit singular, sub-unit plural)
CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
              "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", "", "")}
_SCALE_WORDS = {"thousand": "thousand", "k": "thousand", "million": "million", "m": "million", "mn": "million",
                "billion": "billion", "bn": "billion", "b": "billion", "trillion": "trillion"}
# all-caps words spelled letter by letter although they contain vowels (else they read as words: "us", "id")
SPELLED_ACRONYMS = {"US", "USA", "UK", "EU", "UN", "AI", "ID", "IOU", "FBI", "CIA", "IBM", "ATM"}
_NOT_ACRONYMS = {"HMM", "HM", "MM", "MMM", "SHH", "SH", "PSST", "PST", "TSK", "ZZZ", "BRR", "GRR", "HMPH", "PFFT"}

_CHAR_MAP = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2212": "-", "\u2012": "\u2013", "\u2015": "\u2014",
    "\u2026": "...", "\u00d7": " times ", "\u00f7": " divided by ", "\u00ad": "", "\u200b": "", "\u200c": "",
    "\u200d": "", "\ufeff": "", "\u2060": "", "\u00bd": " 1/2", "\u00bc": " 1/4", "\u00be": " 3/4",
    "\u0153": "oe", "\u0152": "Oe", "\u00e6": "ae", "\u00c6": "Ae", "\u00df": "ss", "\u00f8": "o", "\u00d8": "O",
    "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D", "\u00f0": "d", "\u00d0": "D", "\u00fe": "th",
    "\u00de": "Th", "\u2103": "°C", "\u2109": "°F", "\u00ba": "°", "\u2022": ",", "\u00b7": ",",
})


def normalize_text(text: str) -> str:
    """Raw English text -> lowercase speakable words with sentence punctuation ("" when nothing is speakable)."""
    if not isinstance(text, str):
        raise TypeError(f"normalize_text needs a str, got {type(text).__name__}")
    for step in _PASSES:
        text = step(text)
    return text


def _letters(word: str) -> str:
    """"BBC" -> marked letters that survive lowercasing and come out as "B B C"."""
    return " ".join(_LETTER + char.upper() for char in word if char.isalpha())


def _ends_sentence(match: re.Match) -> bool:
    """Whether a period consumed by `match` also ends the sentence (end of text or a capital follows)."""
    if not match.group(0).endswith("."):
        return False
    rest = match.string[match.end():]
    return not rest.strip() or re.match(r"\s+[\"'(]?[A-Z]", rest) is not None


# ---- 1. characters -------------------------------------------------------------------------------------------

def _clean_characters(text: str) -> str:
    text = text.translate(_CHAR_MAP)
    text = re.sub(r"[\s\u00a0\u2000-\u200a\u202f\u205f\u3000]+", " ", text)
    text = re.sub(r"(?<=\d)\s*\u2013\s*(?=[-$£€¥]?\d)", " to ", text)  # 1990–2000: a range
    text = re.sub(r"(?<=\d) -{1,2} (?=\d)", "-", text)  # 10 - 20: a range, read later
    text = re.sub(r"\s*[\u2013\u2014]\s*|\s+-{1,2}\s+|--+", ", ", text)  # dashes are pauses
    # NFKD splits accents off their letters (then dropped); private-use characters are dropped too
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if unicodedata.category(c) not in ("Mn", "Co"))
    return text.replace("\u2044", "/")  # NFKD writes fractions with a fraction slash


def _ellipses(text: str) -> str:
    """An ellipsis ends the sentence before a capital or the end of the text, else it is a comma."""
    def replace(match: re.Match) -> str:
        rest = match.string[match.end():]
        return ". " if not rest.strip() or re.match(r"\s*[\"']?[A-Z]", rest) else ", "
    return re.sub(r"\s*\.(?:\s?\.){2,}\s*", replace, text)


# ---- 2. money, times, dates, percentages ---------------------------------------------------------------------

def _money_words(amount: str, symbol: str, scale: str | None) -> str:
    one, many, sub_one, sub_many = CURRENCIES[symbol]
    amount = amount.replace(",", "")
    whole, _, cents = amount.partition(".")
    if scale:
        return f"{numbers.number(amount)} {_SCALE_WORDS[scale.lower()]} {many}"
    if len(cents) > 2 or (cents and not sub_one):
        return f"{numbers.number(amount)} {many}"
    units, subunits = int(whole or 0), int(cents.ljust(2, "0")) if cents else 0
    parts = []
    if units or not subunits:
        parts.append(f"{numbers.cardinal(units)} {one if units == 1 else many}")
    if subunits:
        parts.append(f"{numbers.cardinal(subunits)} {sub_one if subunits == 1 else sub_many}")
    return " and ".join(parts)


def _money(text: str) -> str:
    amount = r"(?P<amount>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    scale = r"(?:\s?(?P<scale>thousand|million|billion|trillion|[kK]|[mM]n?|bn|[bB])\b)?"

    def before(match: re.Match) -> str:
        words = _money_words(match["amount"], match["symbol"], match["scale"])
        return ("minus " if match["sign"] else "") + words

    text = re.sub(rf"(?P<sign>-)?(?P<symbol>[$£€¥])\s?{amount}{scale}", before, text)
    text = re.sub(rf"{amount}\s?(?P<symbol>[£€])(?!\w)",
                  lambda m: _money_words(m["amount"], m["symbol"], None), text)
    return re.sub(r"(?P<amount>\d+)\s?¢", lambda m: f"{numbers.cardinal(int(m['amount']))} "
                  f"{'cent' if m['amount'] == '1' else 'cents'}", text)


def _clock(hour: int, minute: int, suffix: str | None) -> str:
    words = numbers.cardinal(hour)
    if minute == 0 and not suffix:
        words += " o'clock" if hour <= 12 else " hundred"
    elif 0 < minute < 10:
        words += f" oh {numbers.cardinal(minute)}"
    elif minute:
        words += f" {numbers.cardinal(minute)}"
    if suffix:
        words += f" {_letters(suffix[0] + 'm')}"
    return words


def _times(text: str) -> str:
    suffix = r"(?:\s?(?P<suffix>[aApP]\.?[mM]\b\.?))"

    def with_minutes(match: re.Match) -> str:
        hour, minute = int(match["hour"]), int(match["minute"])
        if hour > 24 or minute > 59 or (match["suffix"] and not 1 <= hour <= 12):
            return match.group(0)
        words = _clock(hour, minute, match["suffix"])
        if match["second"]:
            words += f" and {numbers.cardinal(int(match['second']))} seconds"
        return words + ("." if match["suffix"] and _ends_sentence(match) else "")

    def hour_only(match: re.Match) -> str:
        hour = int(match["hour"])
        if not 1 <= hour <= 12:
            return match.group(0)
        return _clock(hour, 0, match["suffix"]) + ("." if _ends_sentence(match) else "")

    text = re.sub(rf"(?<![\d:.])(?P<hour>\d{{1,2}}):(?P<minute>\d\d)(?::(?P<second>\d\d))?(?![\d:]){suffix}?",
                  with_minutes, text)
    return re.sub(rf"(?<![\d:.,])(?P<hour>\d{{1,2}}){suffix}", hour_only, text)


def _date_words(month: int, day: int, year: str | None) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    words = f"{_MONTHS[month - 1]} {numbers.ordinal(day)}"
    if year:
        words += ", " + (numbers.year(int(year)) if len(year) == 4 else _two_digit_year(year))
    return words


def _two_digit_year(year: str) -> str:
    return f"oh {numbers.ONES[int(year)]}" if year.startswith("0") else numbers.cardinal(int(year))


def _month_number(name: str) -> int:
    return next(i for i, month in enumerate(_MONTHS, 1) if month.startswith(name.lower()[:3]))


def _dates(text: str) -> str:
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
        words = f"{_MONTHS[_month_number(match['month']) - 1]} {numbers.ordinal(day)}"
        if match["year"]:
            words += f"{match['sep'].rstrip()} {numbers.year(int(match['year']))}"
        return words

    def day_month(match: re.Match) -> str:
        day = int(match["day"])
        if not 1 <= day <= 31:
            return match.group(0)
        article = "" if re.search(r"\bthe\s+$", match.string[:match.start()], re.IGNORECASE) else "the "
        words = f"{article}{numbers.ordinal(day)} of {_MONTHS[_month_number(match['month']) - 1]}"
        if match["year"]:
            words += f" {numbers.year(int(match['year']))}"
        return words

    text = re.sub(r"(?<![\d/])(?P<first>\d{1,2})/(?P<second>\d{1,2})/(?P<year>\d{4}|\d{2})(?![\d/])", numeric, text)
    text = re.sub(r"(?<![\d-])(?P<year>\d{4})-(?P<month>\d\d)-(?P<day>\d\d)(?![\d-])", iso, text)
    text = re.sub(rf"\b{_MONTH_NAME}\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b"
                  r"(?:(?P<sep>,?\s+)(?P<year>\d{4})\b)?", month_day, text)
    return re.sub(rf"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_NAME}\b\.?"
                  r"(?:,?\s+(?P<year>\d{4})\b)?", day_month, text)


def _percent(text: str) -> str:
    return re.sub(r"(?P<sign>-)?(?P<amount>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)\s?%",
                  lambda m: ("minus " if m["sign"] else "") + numbers.number(m["amount"]) + " percent", text)


# ---- 3. abbreviations and acronyms ---------------------------------------------------------------------------

def _word_abbreviations(text: str) -> str:
    text = re.sub(r"\be\.\s?g\.(?=\W|$)", "for example", text, flags=re.IGNORECASE)
    text = re.sub(r"\bi\.\s?e\.(?=\W|$)", "that is", text, flags=re.IGNORECASE)
    text = re.sub(r"\ba\.k\.a\.(?=\W|$)", "also known as", text, flags=re.IGNORECASE)
    text = re.sub(r"\bvs\b\.?", "versus", text, flags=re.IGNORECASE)
    text = re.sub(r"\bcf\.", "compare", text, flags=re.IGNORECASE)
    return re.sub(r"\bw/(?=\s)", "with", text)


def _street_or_title(match: re.Match) -> str:
    """St. and Dr. before a capitalised name are "saint"/"doctor"; after a name or a number, "street"/"drive"."""
    word = match["word"].lower()
    before = match.string[:match.start()]
    after = match.string[match.end():]
    name_follows = re.match(r"\s+[A-Z][a-z]", after) is not None
    place_before = re.search(r"(?:\b[A-Z][a-z]+|\d(?:st|nd|rd|th)?)\s+$", before) is not None
    if place_before and not name_follows:
        return ("street" if word == "st" else "drive") + ("." if _ends_sentence(match) else "")
    if not name_follows and not match.group(0).endswith("."):
        return match.group(0)  # a bare "st" or "dr" with no name around it: leave it
    return TITLES[word]


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_TITLE_WITH_PERIOD = re.compile(rf"\b(?P<word>{_alternatives(w.capitalize() for w in TITLES)}"
                                rf"|{_alternatives(w.upper() for w in TITLES)})\.(?=\s|$)")
_TITLE_WITHOUT_PERIOD = re.compile(rf"\b(?P<word>{_alternatives(w.capitalize() for w in _TITLES_WITHOUT_PERIOD)}"
                                   rf"|{_alternatives(w.upper() for w in _TITLES_WITHOUT_PERIOD)})\b(?=\s+[A-Z])")
_TRAILING_ABBREVIATION = re.compile(rf"\b(?P<word>{_alternatives(_TRAILING)})\.(?=\W|$)", re.IGNORECASE)
_BEFORE_NUMBER_ABBREVIATION = re.compile(rf"\b(?P<word>{_alternatives(_BEFORE_NUMBER)})\.\s?(?=#?\d)", re.IGNORECASE)


def _abbreviations(text: str) -> str:
    text = re.sub(r"\b(?P<word>St|ST|Dr|DR)\b\.?", _street_or_title, text)
    text = _TITLE_WITH_PERIOD.sub(lambda m: TITLES[m["word"].lower()], text)
    text = _TITLE_WITHOUT_PERIOD.sub(lambda m: TITLES[m["word"].lower()], text)
    text = _TRAILING_ABBREVIATION.sub(
        lambda m: _TRAILING[m["word"].lower()] + ("." if _ends_sentence(m) else ""), text)
    text = _BEFORE_NUMBER_ABBREVIATION.sub(lambda m: _BEFORE_NUMBER[m["word"].lower()] + " ", text)
    text = re.sub(r"\b(number|pages?) #(?=\d)", r"\1 ", text)  # "No. #5"
    text = re.sub(r"#\s?(?=\d)", " number ", text)
    return re.sub(r"~\s?(?=\d)", "about ", text)


_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_ROMAN_KEYWORDS = "|".join(f"{w.capitalize()}|{w.upper()}" for w in (
    "chapter", "book", "part", "volume", "act", "scene", "section", "war", "phase", "round", "level", "stage",
    "season", "episode", "article", "appendix", "title", "grade", "class", "type", "vol", "psalm", "canto"))


def roman_to_int(numeral: str) -> int | None:
    """"XIV" -> 14; None when the string is not a canonical Roman numeral."""
    if not numeral or any(c not in _ROMAN for c in numeral):
        return None
    values = [_ROMAN[c] for c in numeral]
    total = sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))
    return total if 0 < total < 4000 and _int_to_roman(total) == numeral else None


def _int_to_roman(n: int) -> str:
    out = ""
    for value, symbol in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                          (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        count, n = divmod(n, value)
        out += symbol * count
    return out


def _roman_numerals(text: str) -> str:
    """"Chapter IV" -> "Chapter four", "Henry VIII" -> "Henry the eighth" (two or more of I, V, X after a name)."""
    def counted(match: re.Match) -> str:
        value = roman_to_int(match["numeral"])
        return match.group(0) if value is None else f"{match['keyword']} {numbers.cardinal(value)}"

    def regnal(match: re.Match) -> str:
        value = roman_to_int(match["numeral"])
        return match.group(0) if value is None else f"{match['name']} the {numbers.ordinal(value)}"

    text = re.sub(rf"\b(?P<keyword>{_ROMAN_KEYWORDS})\s+(?P<numeral>[IVX]+|[IVXL]{{2,}})\b(?!')",
                  counted, text)
    return re.sub(r"\b(?P<name>[A-Z][a-z]+)\s+(?P<numeral>[IVX]{2,})\b(?!')", regnal, text)


def _acronyms(text: str) -> str:
    """U.S.A. / BBC / J. K. Rowling -> letters spoken by name."""
    def dotted(match: re.Match) -> str:
        at_end = not match.string[match.end():].strip(" \"')")
        return _letters(match.group(0)) + ("." if at_end else "")  # "U.S. Army": not a sentence end

    text = re.sub(r"\b(?:[A-Za-z]\.){2,}", dotted, text)
    text = re.sub(r"(?<!\ue000)\b([A-Z])\.(?=\s+[A-Z])", lambda m: _letters(m.group(1)), text)  # initials
    words = re.findall(r"\b[A-Za-z]{2,}\b", text)
    if sum(w.isupper() for w in words) * 2 > len(words):  # mostly capitals: shouting, words stay words
        return text

    def letter(match: re.Match) -> str:
        char, before = match.group(1), match.string[:match.start()]
        if re.search(r"(?:^|[\s\ue000])[A-Z]\s+$", before):
            return _letters(char)  # within a spelled run: "F B I"
        sentence_start = re.search(r"(?:^|[.!?:;]\s+)[\"'(]?$", before) is not None
        return char if char == "I" or (char == "A" and sentence_start) else _letters(char)

    text = re.sub(r"(?<![\w'\-\ue000°])([A-Z])(?![\w'\-])", letter, text)  # "plan B", "grade A"

    def spelled(match: re.Match) -> str:
        word = match.group(0)
        vowelless = not re.search(r"[AEIOUY]", word) and word not in _NOT_ACRONYMS
        return _letters(word) if word in SPELLED_ACRONYMS or vowelless else word
    return re.sub(r"\b[A-Z]{2,6}\b", spelled, text)


# ---- 4. numbers ----------------------------------------------------------------------------------------------

def _decades(text: str) -> str:
    text = re.sub(r"\b(?P<year>1[1-9]\d0|20\d0)'?s\b", lambda m: numbers.plural(numbers.year(int(m["year"]))), text)
    return re.sub(r"(?:'|\b)(?P<tens>[2-9]0)'?s\b", lambda m: numbers.plural(numbers.cardinal(int(m["tens"]))), text)


def _ordinals(text: str) -> str:
    return re.sub(r"\b(?P<n>\d{1,3}(?:,\d{3})+|\d+)(?:st|nd|rd|th|ST|ND|RD|TH)\b",
                  lambda m: numbers.ordinal(int(m["n"].replace(",", ""))), text)


_UNIT = re.compile(r"(?<![\w.])(?P<sign>-)?(?P<amount>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
                   rf"\s?(?P<unit>{_alternatives(re.escape(u) for u in UNITS)})(?![\w/])")


def _units(text: str) -> str:
    def replace(match: re.Match) -> str:
        singular, plural = UNITS[match["unit"]]
        amount = match["amount"]
        sign = "minus " if match["sign"] else ""
        return f"{sign}{numbers.number(amount)} {singular if amount == '1' else plural}"
    return _UNIT.sub(replace, text)


def _fractions(text: str) -> str:
    def mixed(match: re.Match) -> str:
        return f"{numbers.cardinal(int(match['whole']))} and {_fraction(match['num'], match['den'], article=True)}"

    def simple(match: re.Match) -> str:
        return _fraction(match["num"], match["den"], article=False)

    text = re.sub(r"(?<![\w/.])(?P<whole>\d+)\s+(?P<num>\d)/(?P<den>\d{1,2})(?![\w/])", mixed, text)
    return re.sub(r"(?<![\w/.])(?P<num>\d+)/(?P<den>\d+)(?![\w/])", simple, text)


def _fraction(num: str, den: str, article: bool) -> str:
    numerator, denominator = int(num), int(den)
    if (num, den) == ("24", "7"):
        return "twenty-four seven"
    if numerator == denominator:
        return f"{numbers.cardinal(numerator)} {numbers.cardinal(denominator)}"
    if 0 < numerator < denominator <= 10:
        if article and numerator == 1:
            return "a " + numbers.fraction(1, denominator).split(" ", 1)[1]
        return numbers.fraction(numerator, denominator)
    return f"{numbers.number(num)} slash {numbers.number(den)}"


def _digit_groups(text: str) -> str:
    """Phone-number-like groups are read digit by digit, ranges "10-20" as "ten to twenty"."""
    text = re.sub(r"(?<![\w.-])\d+(?:-\d+){2,}(?![\w-])",
                  lambda m: ", ".join(numbers.digits(group) for group in m.group(0).split("-")), text)
    return re.sub(r"(?<=\d)\s?-\s?(?=[$£€¥]?\d)", " to ", text)


def _plain_numbers(text: str) -> str:
    text = re.sub(r"(?<=[A-Za-z])-?(?=\d)|(?<=\d)(?=[A-Za-z])", " ", text)  # "mp3" -> "mp 3", "COVID-19"
    text = re.sub(r"(?<![\w.])-(?=\.?\d)", "minus ", text)
    text = re.sub(r"(?<![\w.])\+(?=\.?\d)", "plus ", text)
    text = re.sub(r"\d+(?:\.\d+){2,}", lambda m: " point ".join(numbers.number(g) for g in m.group(0).split(".")),
                  text)

    def replace(match: re.Match) -> str:
        token = match.group(0)
        if "." not in token and "," not in token and len(token) == 4 and 1100 <= int(token) <= 2099:
            return numbers.year(int(token))
        return numbers.number(token)
    return re.sub(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|\d+(?:\.\d+)?|(?<!\w)\.\d+", replace, text)


# ---- 5. symbols, case and punctuation ------------------------------------------------------------------------

_SYMBOLS = (("&", " and "), ("@", " at "), ("+", " plus "), ("=", " equals "), ("%", " percent "),
            ("°", " degrees "))


def _symbols(text: str) -> str:
    text = re.sub(r"(?<=\w) < (?=\w)", " less than ", text)
    text = re.sub(r"(?<=\w) > (?=\w)", " greater than ", text)
    for symbol, words in _SYMBOLS:
        text = text.replace(symbol, words)
    return text


def _case_and_characters(text: str) -> str:
    text = text.lower()
    text = re.sub(_LETTER + r"([a-z])", lambda m: m.group(1).upper(), text)
    text = re.sub(r"(?<=[a-z])\.(?=[a-z])", " dot ", text)  # example.com
    text = re.sub(r"[()\[\]{}]", ",", text)
    text = re.sub(r"(?<![A-Za-z])'|'(?![A-Za-z])", " ", text)  # quotes, not apostrophes
    text = re.sub(r"(?<![A-Za-z])-|-(?![A-Za-z])", " ", text)
    return re.sub(r"[^A-Za-z' \-" + re.escape(PUNCTUATION) + "]", " ", text)  # emoji, stray symbols


def _punctuation(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+(?=[" + re.escape(PUNCTUATION) + "])", "", text)
    text = re.sub(r"[" + re.escape(PUNCTUATION) + r"](?:\s*[" + re.escape(PUNCTUATION) + "])+",
                  lambda m: min((c for c in m.group(0) if c in PUNCTUATION), key=_PUNCTUATION_STRENGTH.index), text)
    text = re.sub(r"([" + re.escape(PUNCTUATION) + r"])(?=[^\s])", r"\1 ", text)
    text = re.sub(r"^[\s" + re.escape(PUNCTUATION) + r"]+", "", text)
    text = re.sub(r"[,;:\s]+$", "", text)
    return text.strip() if re.search(r"[A-Za-z]", text) else ""


_PASSES: tuple[Callable[[str], str], ...] = (
    _clean_characters, _ellipses, _word_abbreviations, _times, _dates, _digit_groups, _money, _percent,
    _abbreviations, _roman_numerals, _acronyms, _decades, _ordinals, _units, _fractions, _plain_numbers,
    _symbols, _case_and_characters, _punctuation,
)
