"""Phone durations from an attention map: the most likely monotonic path (README "Durations").

The AR's middle layer, pulled toward the diagonal by the guided-attention loss, says for each
audio frame how strongly it attends to each phone. A monotonic path through that map (each frame
speaks one phone; the phone index never goes back and moves on by one, or jumps over tokens that
may take no time: word boundaries and punctuation) gives each phone its number of frames. This is
the Viterbi search of Glow-TTS's monotonic alignment search, run on log-attention, with skips.

Shapes: T frames, L phones.
"""

from __future__ import annotations

import numpy as np
import torch

from tts.text.symbols import PUNCTUATION, WORD_BOUNDARY, symbol_to_id

SILENT_IDS = frozenset(symbol_to_id[s] for s in (WORD_BOUNDARY,) + PUNCTUATION)  # may take 0 frames
MAX_SKIP = 3  # most silent tokens jumped over in one step of the path


def may_skip(phones: torch.Tensor | np.ndarray) -> np.ndarray:
    """(L,) bool: the tokens that may take no frame (word boundaries, punctuation)."""
    return np.isin(np.asarray(phones), list(SILENT_IDS))


def monotonic_path(log_attention: np.ndarray, skippable: np.ndarray) -> np.ndarray:
    """The phone (T,) of each frame on the best monotonic path through log_attention (T, L).

    The path starts on phone 0 and ends on phone L - 1, each but a run of skippable tokens (at
    the start, between frames or at the end) taken by at least one frame. Needs T >= the phones
    that may not be skipped; raises ValueError otherwise.
    """
    T, L = log_attention.shape
    skippable = np.asarray(skippable, dtype=bool)
    if L == 0 or T < int((~skippable).sum()):
        raise ValueError(f"{T} frames cannot speak {int((~skippable).sum())} phones one frame each at least")
    runs = np.zeros(L + 1, dtype=int)  # runs[j] = skippable tokens just before j
    for j in range(1, L + 1):
        runs[j] = runs[j - 1] + 1 if skippable[j - 1] else 0
    neg = -np.inf
    score = np.full(L, neg)
    lead = int(np.argmax(~skippable)) if (~skippable).any() else L - 1  # skippable tokens at the start
    first = min(lead, MAX_SKIP)
    score[:first + 1] = log_attention[0, :first + 1]  # start on phone 0 or after skippable ones
    back = np.zeros((T, L), dtype=np.int16)  # how far the phone moved to reach (t, j)
    for t in range(1, T):
        best = score.copy()  # stay
        move = np.zeros(L, dtype=np.int16)
        for k in range(1, MAX_SKIP + 2):  # move on by k: jump over k - 1 skippable tokens
            if k > L - 1:
                break
            candidate = np.full(L, neg)
            candidate[k:] = score[:-k]
            if k > 1:
                candidate[k:] = np.where(runs[k:L] >= k - 1, candidate[k:], neg)
            better = candidate > best
            best = np.where(better, candidate, best)
            move = np.where(better, k, move)
        score = best + log_attention[t]
        back[t] = move
    end_run = min(int(runs[L]), MAX_SKIP)
    end = L - 1 - int(np.argmax(score[L - 1 - end_run:][::-1]))  # the last phone, or before trailing skippables
    if not np.isfinite(score[end]):
        raise ValueError(f"no monotonic path through {T} frames and {L} phones")
    path = np.empty(T, dtype=np.int64)
    j = end
    for t in range(T - 1, -1, -1):
        path[t] = j
        j -= int(back[t, j])
    return path


def path_durations(path: np.ndarray, n_phones: int) -> np.ndarray:
    """Frames (L,) of each phone on a path (T,) of phone indices."""
    return np.bincount(path, minlength=n_phones)


def frame_phones(durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For durations (L,) long: the phone index (T,) of each frame and the frame's place in its
    phone (T,) (0 for its first frame), T = durations.sum()."""
    index = torch.repeat_interleave(torch.arange(len(durations), device=durations.device), durations)
    starts = torch.cumsum(durations, 0) - durations  # (L,)
    place = torch.arange(len(index), device=durations.device) - starts[index]
    return index, place
