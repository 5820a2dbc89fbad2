"""A `tts prepare` killed with SIGKILL mid-run continues where it stopped and ends as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from data_fixtures import make_folder_corpus, make_recipe

from tts.config import save_recipe
from tts.data.corpus import PreparedCorpus
from tts.data.prepare import prepare_corpus

ROOT = Path(__file__).resolve().parents[2]


def finished_shards(prepared: Path) -> int:
    return len(list(prepared.glob("shards/*/mel.*.json")))


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, text_front_end):
    root = make_folder_corpus(tmp_path / "corpus", speakers=4, per_speaker=12, seconds=1.5)
    killed = make_recipe(tmp_path / "killed", root, shard_utterances=2)  # 24 shards
    reference = make_recipe(tmp_path / "reference", root, shard_utterances=2)
    recipe_file = tmp_path / "killed.yaml"
    save_recipe(killed, recipe_file)
    prepared = Path(killed.output_dir) / "prepared"

    # two worker processes, killed (with the whole process group) once the first shards are done
    process = subprocess.Popen([sys.executable, "-m", "tts.cli", "prepare", str(recipe_file), "--workers", "2"],
                               cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while finished_shards(prepared) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # it finished first; the assertion below says so
        pass
    stderr = process.communicate()[1].decode(errors="replace")
    done_at_kill = finished_shards(prepared)
    assert 2 <= done_at_kill < 24, f"the run was not killed mid-way ({done_at_kill} shards):\n{stderr[-2000:]}"
    assert not (prepared / "corpus.json").exists()  # no reader may trust a half-prepared corpus

    resumed = prepare_corpus(killed)
    redone = resumed["timings"]["mel"]["shards"]
    assert redone <= 24 - done_at_kill  # finished shards were not prepared again
    assert resumed["timings"]["mel"]["shards"] >= 1

    prepare_corpus(reference)
    a, b = PreparedCorpus(killed.output_dir), PreparedCorpus(reference.output_dir)
    assert a.records() == b.records()
    for name in ("stats.json", "dropped.tsv"):
        assert (prepared / name).read_text() == (Path(reference.output_dir) / "prepared" / name).read_text()
    for record in a.records():
        assert np.array_equal(a.audio(record), b.audio(record))
        assert np.array_equal(a.mel(record), b.mel(record))
    assert not list(prepared.rglob("*.tmp"))
