"""The phone inventory: pinned order, id round trips, clear errors."""

import pytest

from tts.text import symbols
from tts.text.symbols import N_SYMBOLS, PAD_ID, SYMBOLS, decode, encode

PINNED = (
    "<pad>",
    "AA0", "AA1", "AA2", "AE0", "AE1", "AE2", "AH0", "AH1", "AH2", "AO0", "AO1", "AO2", "AW0", "AW1", "AW2",
    "AY0", "AY1", "AY2", "EH0", "EH1", "EH2", "ER0", "ER1", "ER2", "EY0", "EY1", "EY2", "IH0", "IH1", "IH2",
    "IY0", "IY1", "IY2", "OW0", "OW1", "OW2", "OY0", "OY1", "OY2", "UH0", "UH1", "UH2", "UW0", "UW1", "UW2",
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T", "TH", "V",
    "W", "Y", "Z", "ZH",
    "_", ",", ".", "?", "!", ";", ":", "<bos>", "<eos>",
)


def test_inventory_is_pinned():
    """Ids are stored in checkpoints: changing this order breaks every trained model."""
    assert SYMBOLS == PINNED
    assert N_SYMBOLS == len(set(SYMBOLS)) == 79
    assert PAD_ID == 0 and SYMBOLS[0] == "<pad>"
    assert symbols.symbol_to_id["_"] == 70 and symbols.BOS_ID == 77 and symbols.EOS_ID == 78


def test_round_trip_of_every_symbol():
    ids = encode(SYMBOLS)
    assert ids == list(range(N_SYMBOLS))
    assert decode(ids) == list(SYMBOLS)
    phones = ["HH", "AH0", "L", "OW1", ",", "_", "W", "ER1", "L", "D", "."]
    assert decode(encode(phones)) == phones


def test_decode_accepts_numpy_like_integers():
    import numpy as np

    assert decode(np.array([1, 70, 72])) == ["AA0", "_", "."]


def test_unknown_phone_is_named():
    with pytest.raises(ValueError, match=r"unknown phone 'UW' at position 1"):
        encode(["HH", "UW"])
    with pytest.raises(ValueError, match="unknown phone '-'"):
        encode(["-"])


def test_out_of_range_ids_are_refused():
    with pytest.raises(ValueError, match="outside 0..78"):
        decode([0, N_SYMBOLS])
    with pytest.raises(ValueError, match="outside"):
        decode([-1])


def test_g2p_en_phones_are_covered(phonemizer):
    """Everything g2p_en can emit is in the inventory, except its stressless "UW", which becomes "UW1"."""
    emitted = set(phonemizer.model.phonemes) - {"<pad>", "<unk>", "<s>", "</s>"}
    assert emitted - set(SYMBOLS) == {"UW"}
    assert {p for prons in phonemizer.model.cmu.values() for pron in prons for p in pron} <= set(SYMBOLS)
