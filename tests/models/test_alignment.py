"""Durations from an attention map: the monotonic path, its skips, and frames per phone."""

import numpy as np
import pytest
import torch

from tts.models.alignment import frame_phones, may_skip, monotonic_path, path_durations
from tts.text.symbols import encode


def attention(T: int, L: int, spans: dict[int, range], low: float = 1e-3) -> np.ndarray:
    """log of a (T, L) map that is 1 where phone l owns frame t (spans) and `low` elsewhere."""
    a = np.full((T, L), low)
    for phone, frames in spans.items():
        a[list(frames), phone] = 1.0
    return np.log(a)


def test_the_path_follows_the_attention_and_is_monotonic():
    log_a = attention(8, 3, {0: range(0, 2), 1: range(2, 6), 2: range(6, 8)})
    path = monotonic_path(log_a, np.zeros(3, dtype=bool))
    assert path.tolist() == [0, 0, 1, 1, 1, 1, 2, 2]
    assert path_durations(path, 3).tolist() == [2, 4, 2]


def test_a_frame_that_looks_back_does_not_make_the_path_go_back():
    log_a = attention(6, 3, {0: range(0, 2), 1: range(2, 4), 2: range(4, 6)})
    log_a[4] = np.log([1.0, 1e-3, 1e-3])  # frame 4 looks at phone 0 again
    path = monotonic_path(log_a, np.zeros(3, dtype=bool))
    assert np.all(np.diff(path) >= 0) and path[0] == 0 and path[-1] == 2


def test_only_word_boundaries_and_punctuation_may_take_no_frame():
    phones = torch.tensor(encode(["HH", "AY1", "_", ",", "DH", "EH1", "R", "."]))
    skippable = may_skip(phones)
    assert skippable.tolist() == [False, False, True, True, False, False, False, True]
    log_a = attention(7, 8, {0: range(0, 1), 1: range(1, 3), 4: range(3, 4), 5: range(4, 6), 6: range(6, 7)})
    durations = path_durations(monotonic_path(log_a, skippable), 8)
    assert durations.tolist() == [1, 2, 0, 0, 1, 2, 1, 0]
    # with nothing skippable every phone keeps a frame, even where no frame attends to it
    forced = path_durations(monotonic_path(attention(8, 8, {}), np.zeros(8, dtype=bool)), 8)
    assert forced.tolist() == [1] * 8


def test_too_few_frames_is_a_clear_error():
    with pytest.raises(ValueError, match="3 frames cannot speak 4 phones"):
        monotonic_path(np.zeros((3, 4)), np.zeros(4, dtype=bool))


def test_frame_phones_expand_durations():
    index, place = frame_phones(torch.tensor([2, 0, 3, 1]))
    assert index.tolist() == [0, 0, 2, 2, 2, 3]
    assert place.tolist() == [0, 1, 0, 1, 2, 0]


def test_aligner_gradient_is_finite_with_padded_phones_and_frames():
    from tts.models.alignment import Aligner, forward_sum_loss

    torch.manual_seed(0)
    model = Aligner(n_symbols=20, features=8, width=16)
    phones = torch.tensor([[3, 4, 5, 6, 7], [3, 4, 0, 0, 0]])
    phone_lengths, frame_lengths = torch.tensor([5, 2]), torch.tensor([12, 7])
    frames = torch.randn(2, 12, 8)
    frames[1, 7:] = 0
    log_attention = model(phones, phone_lengths, frames)
    assert torch.allclose(log_attention[:, :, :2].exp().sum(-1)[1], torch.ones(12), atol=1e-5)  # padded phones get none
    loss = forward_sum_loss(log_attention, phone_lengths, frame_lengths)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_forward_sum_loss_prefers_the_monotonic_alignment():
    from tts.models.alignment import forward_sum_loss

    T, L = 12, 4
    diagonal = torch.full((1, T, L), -8.0)
    for t in range(T):
        diagonal[0, t, t * L // T] = 0.0
    backwards = diagonal.flip(2)  # the same certainty, phones in reverse order
    lengths = (torch.tensor([L]), torch.tensor([T]))
    assert forward_sum_loss(diagonal.log_softmax(-1), *lengths) < forward_sum_loss(backwards.log_softmax(-1), *lengths) - 1


def test_codec_durations_round_boundaries_and_sum_to_the_codes():
    from tts.models.alignment import codec_durations

    d = codec_durations(np.array([3, 1, 6, 0, 10]), n_frames=5, per_frame=4)  # mel bounds 0 3 4 10 10 20
    assert d.tolist() == [1, 0, 2, 0, 2] and d.sum() == 5
    assert codec_durations(np.array([8, 8]), n_frames=3, per_frame=4).tolist() == [2, 1]  # codes shorter: clipped
    assert codec_durations(np.array([2, 2]), n_frames=3, per_frame=4).tolist() == [1, 2]  # longer: the last phone


def test_rounded_durations_keep_the_total_where_rounding_each_phone_loses_it():
    from tts.models.alignment import rounded_durations

    frames = torch.tensor([1.45, 1.45, 1.45, 1.45, 0.3, 2.6])  # 8.7 frames in all
    d = rounded_durations(frames)
    assert d.tolist() == [1, 2, 1, 2, 0, 3] and int(d.sum()) == 9
    assert int(torch.round(frames).sum()) == 7  # what rounding each phone alone gives
    assert rounded_durations(torch.tensor([-0.5, 0.4, 0.4])).tolist() == [0, 0, 1]  # negatives count as 0
    assert rounded_durations(torch.zeros(0)).tolist() == []
