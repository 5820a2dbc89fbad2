import numpy as np
import pytest

from tts.data.store import DamagedShardError, ShardFolder, memory_map, read_ragged, write_json, write_ragged


def test_ragged_arrays_round_trip_with_their_extra_values_and_leave_no_temporary_file(tmp_path):
    path = tmp_path / "sub" / "values.npz"
    arrays = [np.arange(3, dtype=np.int16), np.zeros(0, dtype=np.int16), np.array([7], dtype=np.int16)]
    write_ragged(path, "durations", ["a", "b", "c"], arrays, aligner_step=12)
    values, extra = read_ragged(path, "durations")
    assert list(values) == ["a", "b", "c"]
    assert all(np.array_equal(values[k], a) and values[k].dtype == np.int16 for k, a in zip("abc", arrays))
    assert int(extra["aligner_step"]) == 12 and set(extra) == {"aligner_step"}
    frames = [np.ones((2, 4), dtype=np.float16), np.full((5, 4), 2, dtype=np.float16)]  # along axis 0
    write_ragged(path, "frames", ["x", "y"], frames)
    values, extra = read_ragged(path, "frames")
    assert values["y"].shape == (5, 4) and float(values["y"][0, 0]) == 2 and extra == {}
    assert sorted(p.name for p in path.parent.iterdir()) == ["values.npz"]


def test_a_shard_output_records_its_array_and_damage_is_found(tmp_path):
    shard = ShardFolder(tmp_path, 0)
    array = np.arange(1000, dtype=np.int16)
    shard.save("audio", "k1", [{"id": "a"}], array)
    path = shard.array("audio", "k1")
    assert shard.done("audio", "k1") and shard.damage("audio", "k1") is None
    good = path.read_bytes()
    flipped = bytearray(good)
    flipped[-1] ^= 0xFF
    path.write_bytes(bytes(flipped))  # same size: only the checksum tells
    assert shard.done("audio", "k1") and "checksum" in shard.damage("audio", "k1")
    path.write_bytes(good[:-10])
    assert not shard.done("audio", "k1") and f"{len(good)} were written" in shard.damage("audio", "k1")
    path.unlink()
    assert "missing" in shard.damage("audio", "k1")
    # records written before sizes were: a cut-short array is still found, from its own header
    write_json(shard.meta("audio", "k1"), {"stage": "audio", "key": "k1", "items": []})
    np.save(path, array)
    assert shard.damage("audio", "k1") is None
    path.write_bytes(path.read_bytes()[:500])
    assert "cannot be read" in shard.damage("audio", "k1") and not shard.done("audio", "k1")
    with pytest.raises(DamagedShardError, match=rf"{path}.*tts prepare"):
        memory_map(path)
    shard.meta("audio", "k1").write_text('{"stage": "au')  # a record cut short
    assert "cannot be read" in shard.damage("audio", "k1")
    shard.forget("audio", "k1")
    assert not shard.meta("audio", "k1").exists() and not shard.done("audio", "k1")
