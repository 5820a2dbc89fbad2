"""Checkpoint files (tts.checkpoint): atomic writes, lookup in a stage folder, rotation, random states."""

import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from tts.checkpoint import (CheckpointError, copy_checkpoint, find_checkpoint, is_complete, load_checkpoint,
                            newest_readable, numbered_checkpoints, remove_old_checkpoints, rng_state, save_checkpoint,
                            set_rng_state, versions)


def test_save_and_load_round_trip_without_leftovers(tmp_path):
    state = {"step": 3, "weights": torch.arange(6.0).reshape(2, 3), "array": np.array([1, 2]), "recipe": {"a": 1}}
    path = tmp_path / "stage" / "ckpt-3.pt"
    save_checkpoint(state, path)
    loaded = load_checkpoint(path)
    assert loaded["step"] == 3 and loaded["recipe"] == {"a": 1}
    assert torch.equal(loaded["weights"], state["weights"]) and loaded["weights"].device.type == "cpu"
    np.testing.assert_array_equal(loaded["array"], [1, 2])
    copy_checkpoint(path, tmp_path / "stage" / "last.pt")
    assert load_checkpoint(tmp_path / "stage" / "last.pt")["step"] == 3
    assert sorted(p.name for p in (tmp_path / "stage").iterdir()) == ["ckpt-3.pt", "last.pt"]  # no .tmp left


def test_a_stage_folder_means_best_then_last(tmp_path):
    with pytest.raises(FileNotFoundError, match="no best.pt or last.pt"):
        find_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_checkpoint(tmp_path / "gone.pt")
    save_checkpoint({"step": 2}, tmp_path / "last.pt")
    assert find_checkpoint(tmp_path) == tmp_path / "last.pt"
    save_checkpoint({"step": 1}, tmp_path / "best.pt")
    assert find_checkpoint(tmp_path) == tmp_path / "best.pt"
    assert load_checkpoint(tmp_path)["step"] == 1
    assert find_checkpoint(str(tmp_path / "last.pt")) == tmp_path / "last.pt"


def test_rotation_keeps_the_newest_numbered_checkpoints(tmp_path):
    for step in (2, 9, 10, 100):
        (tmp_path / f"ckpt-{step}.pt").write_bytes(b"x")
    (tmp_path / "last.pt").write_bytes(b"x")
    (tmp_path / "ckpt-notes.txt").write_text("not a checkpoint")
    assert [step for step, _ in numbered_checkpoints(tmp_path)] == [2, 9, 10, 100]  # by number, not by name
    remove_old_checkpoints(tmp_path, keep_last=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-10.pt", "ckpt-100.pt", "ckpt-notes.txt", "last.pt"]
    assert is_complete(tmp_path, 100) and not is_complete(tmp_path, 9)


def test_rotation_never_deletes_a_later_checkpoint(tmp_path):
    for step in (2, 4, 6, 10):  # ckpt-10.pt: left by an earlier run that got further
        (tmp_path / f"ckpt-{step}.pt").write_bytes(b"x")
    remove_old_checkpoints(tmp_path, keep_last=1, step=6)  # ckpt-6.pt was just written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-10.pt", "ckpt-6.pt"]


@pytest.mark.parametrize("content, reason", [
    (b"", "is empty"),
    (b"not a checkpoint at all", "cannot be read"),
    ("cut", "cannot be read"),  # the first half of a real checkpoint
    ("list", "not a checkpoint dict"),
])
def test_an_unreadable_file_raises_checkpoint_error_naming_it(tmp_path, content, reason):
    path = tmp_path / "ckpt-3.pt"
    if content == "cut":
        save_checkpoint({"step": 3, "weights": torch.zeros(1000)}, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif content == "list":
        torch.save([1, 2], path)
    else:
        path.write_bytes(content)
    save_checkpoint({"step": 2}, tmp_path / "ckpt-2.pt")
    with pytest.raises(CheckpointError, match=reason) as caught:
        load_checkpoint(path)
    assert isinstance(caught.value, RuntimeError) and caught.value.path == path
    assert str(path) in str(caught.value) and "ckpt-2.pt" in str(caught.value)  # and what else the folder holds


def test_newest_readable_prefers_last_then_the_newest_numbered_that_loads(tmp_path, caplog):
    assert newest_readable(tmp_path) is None
    for step in (2, 4, 6):
        save_checkpoint({"step": step}, tmp_path / f"ckpt-{step}.pt")
    save_checkpoint({"step": 4}, tmp_path / "last.pt")  # killed between ckpt-6.pt and its copy to last.pt
    path, checkpoint = newest_readable(tmp_path)
    assert path == tmp_path / "ckpt-6.pt" and checkpoint["step"] == 6 and "older step 4" in caplog.text
    (tmp_path / "ckpt-6.pt").write_bytes(b"")
    path, checkpoint = newest_readable(tmp_path)
    assert path == tmp_path / "last.pt" and checkpoint["step"] == 4
    for path in tmp_path.glob("*.pt"):
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="no checkpoint that loads"):
        newest_readable(tmp_path)


def test_random_states_round_trip():
    state = rng_state()
    first = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_state(state)
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert first[:2] == again[:2] and torch.equal(first[2], again[2])


def test_versions_name_what_wrote_the_checkpoint():
    found = versions()
    assert set(found) == {"tts", "torch", "numpy", "python"}
    assert found["torch"] == torch.__version__ and found["numpy"] == np.__version__


def test_checkpoint_io_does_not_import_training_code():
    code = "import sys, tts.checkpoint; print(sorted(m for m in sys.modules if m.startswith('tts.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['tts.checkpoint']"
