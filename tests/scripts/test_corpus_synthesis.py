"""scripts/corpus/synthesis.py: the files to make, jobs, and one job run with a stand-in engine."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from corpus import synthesis
from corpus.engines import SYNTHESIZERS
from corpus.sentences import Sentence
from corpus.voices import VOICES


def _check_libritts_wav(wav: Path) -> None:
    info = soundfile.info(str(wav))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV"), wav
    assert info.frames > 1600, wav


def test_run_job_keeps_what_was_made_and_reports_the_rest(tmp_path, monkeypatch):
    def half_engine(voice, texts, paths):  # writes the first file only, as an engine that crashed would
        soundfile.write(str(paths[0]), np.zeros(8000, dtype=np.float32) + 0.1, 8000)
        return "exit 1: boom"

    monkeypatch.setitem(SYNTHESIZERS, "flite", half_engine)
    utterances = [synthesis.Utterance(str(tmp_path / "101" / "1" / f"101_1_000000_00000{i}.wav"), "orig", "norm",
                                      (".normalized.txt", ".original.txt")) for i in range(2)]
    made, seconds, failures = synthesis.run_job((VOICES[0], utterances))
    assert made == 1 and seconds == pytest.approx(1.0, abs=1e-3)
    assert utterances[0].done() and not utterances[1].done()
    _check_libritts_wav(Path(utterances[0].wav))  # 8 kHz in, 16 kHz out
    assert len(failures) == 1 and failures[0][0] == utterances[1].wav and "boom" in failures[0][1]
    assert sorted(p.name for p in (tmp_path / "101" / "1").iterdir()) == [
        "101_1_000000_000000.normalized.txt", "101_1_000000_000000.original.txt", "101_1_000000_000000.wav"]


def test_plan_and_jobs_skip_done_files_and_let_voices_take_turns(tmp_path):
    voices = list(VOICES[:2])
    sentences = [Sentence(f"2_{i:06d}_000000", 2, f"Original {i}.", f"Normalized {i}.", ("AH",)) for i in range(5)]
    assigned = {voices[0].speaker: sentences, voices[1].speaker: sentences[:2]}
    plan = synthesis.plan_utterances(tmp_path, voices, assigned, [(sentences[4], voices[1])])
    assert len(plan) == 8 and Path(plan[0][1].wav).relative_to(tmp_path).as_posix() == "101/2/101_2_000000_000000.wav"
    assert Path(plan[-1][1].wav).relative_to(tmp_path).as_posix() == "heldout/102_2_000004_000000.wav"
    assert plan[-1][1].texts == (".txt",) and plan[0][1].texts == (".normalized.txt", ".original.txt")
    done = plan[1][1]  # a finished file is not made again
    Path(done.wav).parent.mkdir(parents=True)
    for path in [Path(done.wav), *(done.text_path(s) for s in done.texts)]:
        path.write_text("x")
    jobs = synthesis.make_jobs(plan, job_size=2)
    assert [(voice.speaker, len(items)) for voice, items in jobs] == [("101", 2), ("102", 2), ("101", 2), ("102", 1)]
    assert done not in [u for _, items in jobs for u in items]
