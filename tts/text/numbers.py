"""Numbers as English words, American style: "one hundred twenty-three" (no "and" inside numbers).

Every function takes a non-negative integer (or a digit string) and returns lowercase words; tens and
units are joined with a hyphen ("twenty-four"), as the text front end keeps intra-word hyphens.
"""

from __future__ import annotations

ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand"))
MAX_CARDINAL = 10**15 - 1  # larger numbers are read digit by digit
_IRREGULAR_ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                       "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def cardinal(n: int) -> str:
    """123 -> "one hundred twenty-three"; numbers above MAX_CARDINAL are read digit by digit."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n > MAX_CARDINAL:
        return digits(str(n))
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return TENS[tens] + (f"-{ONES[unit]}" if unit else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{ONES[hundreds]} hundred" + (f" {cardinal(rest)}" if rest else "")
    for scale, name in SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return f"{cardinal(high)} {name}" + (f" {cardinal(rest)}" if rest else "")
    raise AssertionError(f"unreachable for {n}")


def ordinal(n: int) -> str:
    """22 -> "twenty-second"."""
    words = cardinal(n)
    cut = max(words.rfind(" "), words.rfind("-")) + 1
    head, last = words[:cut], words[cut:]
    if last in _IRREGULAR_ORDINALS:
        return head + _IRREGULAR_ORDINALS[last]
    if last.endswith("y"):
        return head + last[:-1] + "ieth"
    return head + last + "th"


def plural(words: str) -> str:
    """Pluralise the last word of a number: "ninety" -> "nineties", "third" -> "thirds", "half" -> "halves"."""
    if words.endswith("half"):
        return words[:-1] + "ves"
    if words.endswith("y"):
        return words[:-1] + "ies"
    return words + "s"


def year(n: int) -> str:
    """A year in words: 1999 -> "nineteen ninety-nine", 1905 -> "nineteen oh five", 1900 -> "nineteen hundred",
    2005 -> "two thousand five"; outside 1000-9999, a cardinal."""
    if not 1000 <= n <= 9999 or 2000 <= n <= 2009 or 1000 <= n <= 1009:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    if low < 10:
        return f"{cardinal(high)} oh {ONES[low]}"
    return f"{cardinal(high)} {cardinal(low)}"


def digits(text: str) -> str:
    """"0451" -> "zero four five one"."""
    return " ".join(ONES[int(char)] for char in text)


def fraction(numerator: int, denominator: int) -> str:
    """3/4 -> "three quarters", 1/2 -> "one half", 5/8 -> "five eighths"."""
    if denominator == 2:
        name = "half"
    elif denominator == 4:
        name = "quarter"
    else:
        name = ordinal(denominator)
    return f"{cardinal(numerator)} {plural(name) if numerator != 1 else name}"


def number(text: str) -> str:
    """A number as written: "1,000" -> "one thousand", "3.14" -> "three point one four", "007" -> "zero zero seven".

    Grouping commas must already be valid; a leading zero in a multi-digit integer part marks a code, read digit
    by digit, and an integer part above MAX_CARDINAL is read digit by digit too.
    """
    whole, _, fractional = text.replace(",", "").partition(".")
    if (len(whole) > 1 and whole.startswith("0")) or len(whole) > len(str(MAX_CARDINAL)):
        words = digits(whole)  # a code, or too long to read as a cardinal
    elif whole:
        words = cardinal(int(whole))
    else:
        words = ""
    if fractional:
        words = f"{words} point {digits(fractional)}".strip()
    return words
