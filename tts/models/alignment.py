"""Phone durations: an aligner's attention and the most likely monotonic path through it (docs/durations.md).

The aligner (stage aligner) encodes the phones and the log-mel frames into one space;
a frame's attention on the phones is the softmax of minus their squared distances. It is trained
by the forward-sum loss of RAD-TTS (the likelihood of all monotonic alignments, by CTC), with no
labels. A monotonic path through its attention (each frame speaks one phone; the phone index never
goes back and moves on by one, or jumps over tokens that may take no time: word boundaries and
punctuation) then gives each phone its number of frames: the Viterbi search of Glow-TTS's monotonic
alignment search, run on log-attention, with skips. Durations are found in mel frames (10 ms) and
then rounded to codec frames.

Shapes: B batch, T frames, L phones, D width, F features per frame (mel bins M).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tts.models.layers import length_mask, pad_right
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


def even_durations(n_phones: int, n_frames: int) -> np.ndarray:
    """Frames (L,) of each phone when n_frames are spread evenly over n_phones."""
    return np.diff(np.round(np.linspace(0, n_frames, n_phones + 1)).astype(np.int64))


def attention_durations(log_attention: np.ndarray, phones: torch.Tensor | np.ndarray) -> tuple[np.ndarray, bool]:
    """(frames (L,) of each phone on the best monotonic path through log_attention (T, L), False); with
    fewer frames than phones that need one, (the frames spread evenly over the phones, True)."""
    try:
        return path_durations(monotonic_path(log_attention, may_skip(phones)), len(phones)), False
    except ValueError:
        return even_durations(len(phones), len(log_attention)), True


def rounded_durations(frames: torch.Tensor) -> torch.Tensor:
    """Real-valued frames (L,) of each phone as whole frames (L,) long: each phone boundary is the
    running sum rounded, so the total stays the rounded total (rounding each phone alone loses
    frames when most phones last one or two: docs/durations.md)."""
    ends = torch.round(torch.cumsum(frames.clamp(min=0).double(), dim=0)).long()
    return torch.diff(ends, prepend=ends.new_zeros(1))


def pad_frames(frames: list[torch.Tensor]) -> torch.Tensor:
    """Frames (F_i, M) of each utterance stacked as (B, max F_i, M), zero past each end."""
    return pad_right([f.T for f in frames], max(len(f) for f in frames)).transpose(1, 2)


def frame_phones(durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For durations (L,) long: the phone index (T,) of each frame and the frame's place in its
    phone (T,) (0 for its first frame), T = durations.sum()."""
    index = torch.repeat_interleave(torch.arange(len(durations), device=durations.device), durations)
    starts = torch.cumsum(durations, 0) - durations  # (L,)
    place = torch.arange(len(index), device=durations.device) - starts[index]
    return index, place


BLANK_LOGPROB = -1.0  # log-score of CTC's blank column in the forward-sum loss (RAD-TTS)
MASKED = -1e4  # score of a padded phone


def _encoder(channels_in: int, width: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(channels_in, width, kernel, padding=kernel // 2), nn.ReLU(),
                         nn.Conv1d(width, width, kernel, padding=kernel // 2), nn.ReLU(),
                         nn.Conv1d(width, width, 1))


class Aligner(nn.Module):
    """Phones and log-mel frames in one space; a frame's attention on the phones is the softmax of
    minus their squared distances over sqrt(D)."""

    def __init__(self, n_symbols: int, features: int, width: int = 128, kernel: int = 3):
        super().__init__()
        self.n_symbols, self.features, self.width, self.kernel = n_symbols, features, width, kernel
        self.embedding = nn.Embedding(n_symbols, width)
        self.phones = _encoder(width, width, kernel)
        self.frames = _encoder(features, width, kernel)

    def config(self) -> dict[str, Any]:
        return {"n_symbols": self.n_symbols, "features": self.features, "width": self.width, "kernel": self.kernel}

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> "Aligner":
        if "model_config" not in checkpoint or "model" not in checkpoint.get("modules", {}):
            raise ValueError(f"not a checkpoint of the aligner's stage (stage {checkpoint.get('stage')!r})")
        model = cls(**checkpoint["model_config"])
        model.load_state_dict(checkpoint["modules"]["model"])
        return model.eval()

    def forward(self, phones: torch.Tensor, phone_lengths: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Log-attention (B, T, L) of frames (B, T, F) on phones (B, L); padded phones get MASKED (not
        -inf, whose gradient through CTC is NaN)."""
        keys = self.phones(self.embedding(phones).transpose(1, 2)).float()  # (B, D, L)
        queries = self.frames(frames.transpose(1, 2)).float()  # (B, D, T)
        distance = (queries.pow(2).sum(dim=1).unsqueeze(2) + keys.pow(2).sum(dim=1).unsqueeze(1)
                    - 2 * torch.bmm(queries.transpose(1, 2), keys))  # (B, T, L): |q - k|^2 without (B, D, T, L)
        scores = -distance.clamp(min=0) / self.width ** 0.5
        scores = scores.masked_fill(~length_mask(phone_lengths, phones.size(1)).unsqueeze(1), MASKED)
        return scores.log_softmax(dim=-1)


def forward_sum_loss(log_attention: torch.Tensor, phone_lengths: torch.Tensor,
                     frame_lengths: torch.Tensor) -> torch.Tensor:
    """Minus the log-likelihood of all monotonic alignments (each phone one frame at least), per frame,
    averaged over the batch: CTC over log_attention (B, T, L) with the phones 1..L as the labels and
    a blank column of constant score. An utterance with fewer frames than phones counts 0."""
    B, T, L = log_attention.shape
    blank = log_attention.new_full((B, T, 1), BLANK_LOGPROB)
    scores = torch.cat([blank, log_attention.float()], dim=-1).log_softmax(dim=-1)  # (B, T, L + 1)
    labels = torch.arange(1, L + 1, device=log_attention.device).expand(B, L)
    loss = F.ctc_loss(scores.transpose(0, 1), labels, frame_lengths, phone_lengths, blank=0,
                      reduction="none", zero_infinity=True)  # (B,)
    return (loss / frame_lengths.clamp(min=1)).mean()


def normalised_frames(mel: torch.Tensor) -> torch.Tensor:
    """The aligner's input (F, M) from a log-mel (M, F): each bin normalised over the utterance
    (mean 0, deviation 1), which takes away the voice's spectral tilt and the recording's level."""
    mel = mel.float()
    mel = (mel - mel.mean(dim=1, keepdim=True)) / mel.std(dim=1, keepdim=True).clamp(min=1e-3)
    return mel.T.contiguous()


def codec_durations(durations: np.ndarray, n_frames: int, per_frame: int) -> np.ndarray:
    """Durations in mel frames (L,) as durations in codec frames of `per_frame` mel frames each, summing
    to n_frames: each phone boundary rounded to the nearest codec frame (a short phone may get 0)."""
    bounds = np.floor(np.concatenate([[0], np.cumsum(durations)]) / per_frame + 0.5).astype(np.int64)  # halves up
    bounds = np.clip(bounds, 0, n_frames)
    bounds[-1] = n_frames
    return np.diff(bounds)
