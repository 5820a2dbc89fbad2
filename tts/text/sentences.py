"""Splitting long text into sentences short enough to synthesise one at a time."""

from __future__ import annotations

import re

from tts.text.normalize import normalize_text
from tts.text.tables import NON_FINAL_ABBREVIATIONS

MAX_SENTENCE_CHARS = 200  # longer sentences are cut at ; : then , then spaces (~170 phones, ~12 s of speech)
_END = re.compile(r"(?:[.!?]+|\u2026)[\"'\u201d\u2019)\]]*(?=\s|$)")


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Long text -> sentences (ends at . ! ?, not after Mr. / e.g. / initials; blank lines always end one).

    A sentence longer than `max_chars` characters is cut at semicolons or colons, then commas, then spaces,
    into pieces of at most `max_chars` where possible. Pieces with nothing speakable are dropped.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        for sentence in _sentences(" ".join(paragraph.split())):
            pieces.extend(_shorten(sentence, max_chars))
    return [piece for piece in pieces if normalize_text(piece)]


def _sentences(paragraph: str) -> list[str]:
    sentences, start = [], 0
    for match in _END.finditer(paragraph):
        if _is_sentence_end(paragraph, start, match):
            sentences.append(paragraph[start:match.end()].strip())
            start = match.end()
    sentences.append(paragraph[start:].strip())
    return [s for s in sentences if s]


def _is_sentence_end(paragraph: str, start: int, match: re.Match) -> bool:
    rest = paragraph[match.end():].lstrip()
    if not rest:
        return True
    if rest[0].islower():
        return False  # "etc. and", "e.g. cats"
    if not match.group(0).startswith(".") or match.group(0).startswith(".."):
        return True
    before = re.search(r"(\S+)$", paragraph[start:match.start()])
    token = before.group(1).lstrip("\"'(") if before else ""
    if token.lower() in NON_FINAL_ABBREVIATIONS:
        return False  # Mr. Smith, e.g. This
    if re.fullmatch(r"[A-Z]", token) or re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", token):
        return False  # initials (J. K. Rowling) and dotted acronyms (U.S. Army)
    return True


def _shorten(sentence: str, max_chars: int) -> list[str]:
    """Cut a long sentence at the strongest available breaks, packing clauses greedily up to max_chars."""
    if len(sentence) <= max_chars:
        return [sentence]
    for breaks in (r"(?<=[;:])\s+", r"(?<=,)\s+", r"\s+"):
        clauses = re.split(breaks, sentence)
        if len(clauses) == 1:
            continue
        pieces, current = [], ""
        for clause in clauses:
            if current and len(current) + 1 + len(clause) > max_chars:
                pieces.append(current)
                current = clause
            else:
                current = f"{current} {clause}" if current else clause
        pieces.append(current)
        return [short for piece in pieces for short in _shorten(piece, max_chars)]
    return [sentence]  # one word longer than max_chars: nothing to cut at
