"""Text normalisation: raw English text -> speakable words.

The output is lowercase words separated by single spaces, with sentence punctuation `, . ? ! ; :` attached to
the word before it, apostrophes only inside words ("don't") and hyphens only inside words ("twenty-four",
"well-known"). The one exception to lowercase: letters to be spoken by name are single upper-case letters
("B B C", "seven P M", "plan A"), so that the phonemizer can tell the letter "A" (EY1) from the article "a"
(a capital "A" opening a sentence stays the article; a lone "I" stays the pronoun).
Text with nothing speakable (only punctuation, emoji or whitespace) normalises to "".

Conventions (documented choices):
- control characters and terminal escape sequences ("\\x1b[31m") are removed before anything else;
- numeric dates are US style, month/day/year ("3/4/2021" -> "march fourth, twenty twenty-one"); a first field
  above 12 is read as a day (day/month/year); ISO "2021-03-04" and dotted day-first "25.07.2012" are understood
  too (see `tts.text.dates`);
- a bare four-digit integer from 1100 to 2099 reads as a year ("1999" -> "nineteen ninety-nine"); with grouping
  commas ("1,999") it is a cardinal;
- "a-b" between numbers is a range ("10-20" -> "ten to twenty"); telephone numbers ("555-1234", "(555) 123-4567")
  and other runs of three or more groups ("111-11-1111") are read digit by digit;
- units are expanded only after a number and only where the abbreviation is unambiguous (km, kg, ml, mph, °C...);
  magnitudes, multipliers and powers too ("1.5M", "3x", "10^50"; see `tts.text.measures`);
- St. and Dr. before a capitalised name are "saint"/"doctor" ("St. Mary's"), after a capitalised name or a number
  and a name "street"/"drive" ("Mary's St.", "12 Mulberry Dr."); with a name on both sides, the one before wins
  unless it opens the sentence ("Visit St. Paul's");
- dashes and brackets become commas, an ellipsis a period before a capital (else a comma); accents are dropped
  (NFKD), and characters outside ASCII that have no reading (emoji, other scripts) are removed.

Passes run in a fixed order (see `_PASSES`); each is a small str -> str function.
Money, times, telephone numbers and percentages are in `tts.text.quantities`, dates in `tts.text.dates`, amounts
with units in `tts.text.measures`; the word tables in `tts.text.tables`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from tts.text import numbers
from tts.text.dates import dates
from tts.text.measures import fractions, magnitudes, multipliers, powers, units
from tts.text.quantities import money, percent, telephone, times
from tts.text.tables import (
    BEFORE_NUMBER_ABBREVIATIONS, CHAR_MAP, CURRENCY_SIGNS, LETTER, NOT_ACRONYMS, PUNCTUATION, PUNCTUATION_STRENGTH,
    ROMAN_DIGITS, ROMAN_KEYWORDS, SPELLED_ACRONYMS, SYMBOL_WORDS, TITLES, TITLES_WITHOUT_PERIOD,
    TRAILING_ABBREVIATIONS, alternatives, ends_sentence, letters,
)


def normalize_text(text: str) -> str:
    """Raw English text -> lowercase speakable words with sentence punctuation ("" when nothing is speakable)."""
    if not isinstance(text, str):
        raise TypeError(f"normalize_text needs a str, got {type(text).__name__}")
    for step in _PASSES:
        text = step(text)
    return text


# ---- 1. characters -------------------------------------------------------------------------------------------

# ANSI/VT100 escape sequences: CSI ("\x1b[31m", also the one-byte "\x9b" form), OSC ("\x1b]0;title\x07"), and
# two-character escapes ("\x1bM")
_ESCAPE_SEQUENCE = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -~]")
_SUPERSCRIPTS = str.maketrans("\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b", "0123456789-")


def _control_characters(text: str) -> str:
    """Drop escape sequences, then control and format characters (whitespace among them becomes a space)."""
    text = _ESCAPE_SEQUENCE.sub("", text)
    return "".join(" " if char.isspace() else char for char in text
                   if char.isspace() or unicodedata.category(char) not in ("Cc", "Cf"))


def _superscript(match: re.Match) -> str:
    """Superscript digits are a power after a number, a bracket or a short symbol ("10⁵⁰", "m²", "mc²"; NFKD would
    make them plain digits), and a footnote mark, not spoken, after a longer word ("Einstein²") or when a lone "¹"."""
    if match.group(0) != "\u00b9" and re.search(r"(?:[\d)]|\b[A-Za-z]{1,2})$", match.string[:match.start()]):
        return "^" + match.group(0).translate(_SUPERSCRIPTS)
    return ""


def _clean_characters(text: str) -> str:
    text = re.sub(r"[\u2070\u00b9\u00b2\u00b3\u2074-\u207b]+", _superscript, text)
    text = text.translate(CHAR_MAP)
    text = re.sub(r"[\s\u00a0\u2000-\u200a\u202f\u205f\u3000]+", " ", text)
    text = re.sub(rf"(?<=\d)\s*\u2013\s*(?=[-{CURRENCY_SIGNS}]?\d)", " to ", text)  # 1990–2000: a range
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


# ---- 2. money, times, dates, percentages: tts.text.quantities ------------------------------------------------

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
    name_follows = re.match(r"\s+[A-Z][a-z]", match.string[match.end():]) is not None
    address_before = re.search(r"\d(?:st|nd|rd|th)?\s+(?:[A-Z][a-z]+(?:'s)?\s+)+$", before) is not None
    name_before = re.search(r"\b[A-Z][a-z]+(?:'s)?\s+$", before) is not None
    opens_sentence = re.search(r"(?:^|[.!?]\s+)[\"'(]?[A-Z][a-z]+(?:'s)?\s+$", before) is not None
    place_before = name_before or re.search(r"\d(?:st|nd|rd|th)?\s+$", before) is not None
    if address_before or (name_before and not opens_sentence) or (place_before and not name_follows):
        return ("street" if word == "st" else "drive") + ("." if ends_sentence(match) else "")
    if not name_follows and not match.group(0).endswith("."):
        return match.group(0)  # a bare "st" or "dr" with no name around it: leave it
    return TITLES[word]


_TITLE_WITH_PERIOD = re.compile(rf"\b(?P<word>{alternatives(w.capitalize() for w in TITLES)}"
                                rf"|{alternatives(w.upper() for w in TITLES)})\.(?=\s|$)")
_TITLE_WITHOUT_PERIOD = re.compile(rf"\b(?P<word>{alternatives(w.capitalize() for w in TITLES_WITHOUT_PERIOD)}"
                                   rf"|{alternatives(w.upper() for w in TITLES_WITHOUT_PERIOD)})\b(?=\s+[A-Z])")
_TRAILING_ABBREVIATION = re.compile(rf"\b(?P<word>{alternatives(TRAILING_ABBREVIATIONS)})\.(?=\W|$)", re.IGNORECASE)
_BEFORE_NUMBER_ABBREVIATION = re.compile(rf"\b(?P<word>{alternatives(BEFORE_NUMBER_ABBREVIATIONS)})\.\s?(?=#?\d)",
                                         re.IGNORECASE)


def _abbreviations(text: str) -> str:
    text = re.sub(r"\b(?P<word>St|ST|Dr|DR)\b\.?", _street_or_title, text)
    text = _TITLE_WITH_PERIOD.sub(lambda m: TITLES[m["word"].lower()], text)
    text = _TITLE_WITHOUT_PERIOD.sub(lambda m: TITLES[m["word"].lower()], text)
    text = _TRAILING_ABBREVIATION.sub(
        lambda m: TRAILING_ABBREVIATIONS[m["word"].lower()] + ("." if ends_sentence(m) else ""), text)
    text = _BEFORE_NUMBER_ABBREVIATION.sub(lambda m: BEFORE_NUMBER_ABBREVIATIONS[m["word"].lower()] + " ", text)
    text = re.sub(r"\b(number|pages?) #(?=\d)", r"\1 ", text)  # "No. #5"
    text = re.sub(r"#\s?(?=\d)", " number ", text)
    return re.sub(r"~\s?(?=\d)", "about ", text)


_ROMAN_KEYWORDS = "|".join(f"{w.capitalize()}|{w.upper()}" for w in ROMAN_KEYWORDS)


def roman_to_int(numeral: str) -> int | None:
    """"XIV" -> 14; None when the string is not a canonical Roman numeral."""
    if not numeral or any(c not in ROMAN_DIGITS for c in numeral):
        return None
    values = [ROMAN_DIGITS[c] for c in numeral]
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
        return letters(match.group(0)) + ("." if at_end else "")  # "U.S. Army": not a sentence end

    text = re.sub(r"\b(?:[A-Za-z]\.){2,}", dotted, text)
    text = re.sub(r"(?<!\ue000)\b([A-Z])\.(?=\s+[A-Z])", lambda m: letters(m.group(1)), text)  # initials
    words = re.findall(r"\b[A-Za-z]{2,}\b", text)
    if sum(w.isupper() for w in words) * 2 > len(words):  # mostly capitals: shouting, words stay words
        return text

    def letter(match: re.Match) -> str:
        char, before = match.group(1), match.string[:match.start()]
        if re.search(r"(?:^|[\s\ue000])[A-Z]\s+$", before):
            return letters(char)  # within a spelled run: "F B I"
        sentence_start = re.search(r"(?:^|[.!?:;]\s+)[\"'(]?$", before) is not None
        return char if char == "I" or (char == "A" and sentence_start) else letters(char)

    text = re.sub(r"(?<![\w'\-\ue000°])([A-Z])(?![\w'\-])", letter, text)  # "plan B", "grade A"

    def spelled(match: re.Match) -> str:
        word = match.group(0)
        vowelless = not re.search(r"[AEIOUY]", word) and word not in NOT_ACRONYMS
        return letters(word) if word in SPELLED_ACRONYMS or vowelless else word
    return re.sub(r"\b[A-Z]{2,6}\b", spelled, text)


# ---- 4. numbers ----------------------------------------------------------------------------------------------

def _decades(text: str) -> str:
    text = re.sub(r"\b(?P<year>1[1-9]\d0|20\d0)'?s\b", lambda m: numbers.plural(numbers.year(int(m["year"]))), text)
    return re.sub(r"(?:'|\b)(?P<tens>[2-9]0)'?s\b", lambda m: numbers.plural(numbers.cardinal(int(m["tens"]))), text)


def _ordinals(text: str) -> str:
    return re.sub(r"\b(?P<n>\d{1,3}(?:,\d{3})+|\d{1,15})(?:st|nd|rd|th|ST|ND|RD|TH)\b",
                  lambda m: numbers.ordinal(int(m["n"].replace(",", ""))), text)


def _digit_groups(text: str) -> str:
    """Phone-number-like groups are read digit by digit, ranges "10-20" as "ten to twenty"."""
    text = re.sub(r"(?<![\w.-])\d+(?:-\d+){2,}(?![\w-])",
                  lambda m: ", ".join(numbers.digits(group) for group in m.group(0).split("-")), text)
    return re.sub(rf"(?<=\d)\s?-\s?(?=[{CURRENCY_SIGNS}]?\d)", " to ", text)


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

def _symbols(text: str) -> str:
    text = re.sub(r"(?<=\w) < (?=\w)", " less than ", text)
    text = re.sub(r"(?<=\w) > (?=\w)", " greater than ", text)
    for symbol, words in SYMBOL_WORDS:
        text = text.replace(symbol, words)
    return text


def _case_and_characters(text: str) -> str:
    text = text.lower()
    text = re.sub(LETTER + r"([a-z])", lambda m: m.group(1).upper(), text)
    text = re.sub(r"(?<=[a-z])\.(?=[a-z])", " dot ", text)  # example.com
    text = re.sub(r"[()\[\]{}]", ",", text)
    text = re.sub(r"(?<![A-Za-z])'|'(?![A-Za-z])", " ", text)  # quotes, not apostrophes
    text = re.sub(r"(?<![A-Za-z])-|-(?![A-Za-z])", " ", text)
    return re.sub(r"[^A-Za-z' \-" + re.escape(PUNCTUATION) + "]", " ", text)  # emoji, stray symbols


def _punctuation(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+(?=[" + re.escape(PUNCTUATION) + "])", "", text)
    text = re.sub(r"[" + re.escape(PUNCTUATION) + r"](?:\s*[" + re.escape(PUNCTUATION) + "])+",
                  lambda m: min((c for c in m.group(0) if c in PUNCTUATION), key=PUNCTUATION_STRENGTH.index), text)
    text = re.sub(r"([" + re.escape(PUNCTUATION) + r"])(?=[^\s])", r"\1 ", text)
    text = re.sub(r"^[\s" + re.escape(PUNCTUATION) + r"]+", "", text)
    text = re.sub(r"[,;:\s]+$", "", text)
    return text.strip() if re.search(r"[A-Za-z]", text) else ""


_PASSES: tuple[Callable[[str], str], ...] = (
    _control_characters, _clean_characters, _ellipses, _word_abbreviations, times, telephone, dates, _digit_groups,
    money, percent, _abbreviations, _roman_numerals, _acronyms, _decades, _ordinals, magnitudes, multipliers, units,
    powers, fractions, _plain_numbers, _symbols, _case_and_characters, _punctuation,
)
