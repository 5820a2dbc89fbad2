"""The fixed phone inventory and its id maps.

Ids are saved with every checkpoint, so the order below must never change; new symbols may only be appended
(a checkpoint carries its inventory, and tts.loading.stage_checkpoint refuses one that differs).

    id 0        "<pad>"
    ids 1-69    ARPAbet with stress as g2p_en emits it: 15 vowels x stress 0/1/2, then 24 consonants
    id 70       "_"   word boundary (between two words, never at either end)
    ids 71-76   , . ? ! ; :   sentence punctuation (hyphens are not tokens: a hyphenated word is one word)
    ids 77-78   "<bos>", "<eos>" for models that want explicit sequence ends (the front end never emits them)
"""

from __future__ import annotations

from collections.abc import Iterable

VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T",
              "TH", "V", "W", "Y", "Z", "ZH")
PHONES: tuple[str, ...] = tuple(f"{v}{stress}" for v in VOWELS for stress in "012") + CONSONANTS

PAD = "<pad>"
WORD_BOUNDARY = "_"
PUNCTUATION: tuple[str, ...] = (",", ".", "?", "!", ";", ":")
BOS = "<bos>"
EOS = "<eos>"

SYMBOLS: tuple[str, ...] = (PAD,) + PHONES + (WORD_BOUNDARY,) + PUNCTUATION + (BOS, EOS)
N_SYMBOLS = len(SYMBOLS)
symbol_to_id: dict[str, int] = {symbol: i for i, symbol in enumerate(SYMBOLS)}
PAD_ID = symbol_to_id[PAD]
BOS_ID = symbol_to_id[BOS]
EOS_ID = symbol_to_id[EOS]


def encode(phones: Iterable[str]) -> list[int]:
    """Phones (ARPAbet with stress, "_", punctuation) -> ids; an unknown phone is a ValueError naming it."""
    ids = []
    for position, phone in enumerate(phones):
        try:
            ids.append(symbol_to_id[phone])
        except KeyError:
            raise ValueError(f"unknown phone {phone!r} at position {position}; the inventory is "
                             f"tts.text.symbols.SYMBOLS (ARPAbet with stress, '_', {' '.join(PUNCTUATION)})") from None
    return ids


def decode(ids: Iterable[int]) -> list[str]:
    """Ids -> phones; an id outside 0..N_SYMBOLS-1 is a ValueError."""
    phones = []
    for position, index in enumerate(ids):
        index = int(index)
        if not 0 <= index < N_SYMBOLS:
            raise ValueError(f"symbol id {index} at position {position} is outside 0..{N_SYMBOLS - 1}")
        phones.append(SYMBOLS[index])
    return phones
