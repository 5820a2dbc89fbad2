"""scripts/make_corpus.py, the command line: a two-utterance run (a stand-in engine, and flite when it is here),
--help from the repository root, and the bundled data/demo corpus. The stages are tested in tests/scripts/."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo"
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))  # as when the script runs: its folder is on the path

import make_corpus  # noqa: E402

# Stands in for flite: lists its voices, and writes a tone as long as the text (8 kHz, so it is resampled).
FAKE_FLITE = """#!{python}
import sys
import numpy as np
import soundfile
args = sys.argv[1:]
if args == ["-lv"]:
    print("Voices available: kal awb_time kal16 awb rms slt ")
    sys.exit(0)
text, out = args[args.index("-t") + 1], args[args.index("-o") + 1]
t = np.arange(int(0.06 * 8000 * len(text))) / 8000
soundfile.write(out, 0.3 * np.sin(2 * np.pi * 220 * t), 8000, subtype="PCM_16")
"""


@pytest.fixture(params=["stand-in", "flite"])
def engine(request, tmp_path, monkeypatch):
    """flite on the PATH: a stand-in script, or the real one (skipped when it is not installed)."""
    if request.param == "flite":
        if shutil.which("flite") is None:
            pytest.skip("flite is not installed")
        return request.param
    fake = tmp_path / "bin" / "flite"
    fake.parent.mkdir()
    fake.write_text(FAKE_FLITE.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    return request.param


def _check_libritts_wav(wav: Path) -> None:
    info = soundfile.info(str(wav))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV"), wav
    assert info.frames > 1600, wav


def test_help_runs_from_the_repository_root():
    done = subprocess.run([sys.executable, "scripts/make_corpus.py", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: make_corpus.py")
    for flag in ("--out", "--hours", "--bundle", "--list-voices", "--text-file", "--no-heldout-audio"):
        assert flag in done.stdout


def test_parse_args_applies_the_bundle_presets():
    args = make_corpus.parse_args(["--bundle", "--out", "x"])
    assert (args.hours, args.heldout, args.max_words, args.speakers) == (0.032, 6, 10, "101,102,103")
    assert make_corpus.parse_args(["--out", "x", "--seed", "3"]).command_line == "--out x --seed 3"
    with pytest.raises(SystemExit):
        make_corpus.parse_args(["--out", "x", "--max-words", "30"])


def test_makes_two_utterances_in_libritts_layout(engine, tmp_path):
    text = tmp_path / "book.txt"
    text.write_text("Chapter 1\n\nShe was very happy to see him today. Show me anything you can, Jane.\n"
                    "Mr. Weston came in the evening to see her.\n", encoding="utf-8")
    out = tmp_path / "corpus"
    argv = ["--out", str(out), "--text-file", str(text), "--speakers", "101", "--hours", "0.01",
            "--heldout", "1", "--workers", "1"]
    assert make_corpus.main(argv) == 0
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
    assert make_corpus.main(argv) == 0
    assert {w: w.stat().st_mtime_ns for w in sorted(out.glob("*/*/*.wav"))} == stamps
    # other settings into the same folder are refused rather than mixed in
    assert make_corpus.main([*argv, "--seed", "5"]) == 1


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
