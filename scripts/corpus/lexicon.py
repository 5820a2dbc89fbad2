"""cmudict phones of clean sentences, stress removed: what diphone coverage is counted over.

Unlike tts.text.g2p, a word missing from the dictionary gives None (its sentence is dropped) instead of a
guess from a neural model, and every word takes its first reading, so coverage is counted over phones
that a listener can trust and that do not depend on a part-of-speech tagger being installed.
"""

from __future__ import annotations

import re

from tts.text.g2p import Lexicon, load_lexicon  # noqa: F401 (load_lexicon: the corpus script's dictionary)

WORD = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")  # a word of a clean sentence, as it is looked up


def word_phones(word: str, lexicon: Lexicon) -> list[str] | None:
    """cmudict phones of a word (first reading, stress removed), trying hyphen parts and a possessive 's."""
    word = word.lower()
    # British spellings read like their American ones: favourable, realise
    for spelling in (word, re.sub(r"our(?=[a-z])|our$", "or", word), re.sub(r"is(e|ed|es|ing)$", r"iz\1", word)):
        if spelling in lexicon:
            return [re.sub(r"\d", "", p) for p in lexicon[spelling][0]]
    if "-" in word:
        parts = [word_phones(part, lexicon) for part in word.split("-")]
        return None if any(p is None for p in parts) else [p for part in parts for p in part]
    if word.endswith("'s"):
        base = word_phones(word[:-2], lexicon)
        return None if base is None else base + _possessive_ending(base[-1])
    return None


def _possessive_ending(last_phone: str) -> list[str]:
    """The phones of 's after a word ending in `last_phone`: "IH Z" after a sibilant, "S" after a voiceless one."""
    if last_phone in ("S", "Z", "SH", "ZH", "CH", "JH"):
        return ["IH", "Z"]
    return ["S"] if last_phone in ("P", "T", "K", "F", "TH") else ["Z"]


def sentence_phones(text: str, lexicon: Lexicon) -> tuple[str, ...] | None:
    """Phones of a sentence, or None when a word is not in the lexicon."""
    phones: list[str] = []
    for word in WORD.findall(text):
        found = word_phones(word, lexicon)
        if found is None:
            return None
        phones += found
    return tuple(phones)
