import numpy as np

from tts.data.store import read_ragged, write_ragged


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
