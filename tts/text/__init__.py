"""Text front end: normalisation, grapheme-to-phoneme conversion and the phone inventory."""

from tts.text.g2p import UnspeakableTextError, load_phonemizer, text_to_phones
from tts.text.normalize import normalize_text
from tts.text.sentences import split_sentences
from tts.text.symbols import N_SYMBOLS, SYMBOLS, decode, encode

__all__ = ["N_SYMBOLS", "SYMBOLS", "UnspeakableTextError", "decode", "encode", "load_phonemizer", "normalize_text",
           "split_sentences", "text_to_phones"]
