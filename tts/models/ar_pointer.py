"""The phone pointer of the AR model, in the manner of VALL-E R (arXiv 2406.07855).

Each audio position of [BOS, c_1 .. c_T] (position j predicts frame j + 1) is told which phone that
frame speaks: the embedding of the phone id is added to its code embedding. Positions that predict
prompt frames get a learned "prompt" vector instead (a prompt's durations are unknown at synthesis),
and position T, where the pointer stands past the last phone and the code target is EOS, a learned
"end" vector. Beside the code logits a second head predicts, at position j, how far the pointer moves
after frame j + 1: 0, 1, 2 or 3 phones (3 or more as 3; a phone of 0 frames is skipped by a move of 2).
Moving past the last phone ends the sentence, so decoding needs no EOS: the pointer decides the end.

Training gets the pointer from the aligner's durations (tts/train/durations.py); decoding moves it by
the move head (Pointer). A frame also attends only to the phones within WINDOW of its own (the
duration-guided attention mask of RALL-E, arXiv 2404.03204, here with the pointer's durations).

Shapes: B batch, L phones, T frames; durations (L,) long frames of each phone, summing to T.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tts.config import SynthesisConfig
from tts.models.alignment import frame_phones
from tts.models.layers import IGNORE

MOVES = 4  # move classes: the pointer moves 0, 1, 2 or 3 (or more) phones after a frame
WINDOW = 1  # attention window: a frame attends to the phones at most this far from its own


def fit_durations(durations: np.ndarray, n_frames: int) -> np.ndarray:
    """Durations (L,) made to sum to n_frames: each phone boundary clipped to n_frames and the last one
    put there (a shortfall goes to the last phone, an excess comes off the last phones)."""
    ends = np.minimum(np.cumsum(np.asarray(durations, dtype=np.int64)), n_frames)
    ends[-1] = n_frames
    return np.diff(ends, prepend=0)


def phone_start(durations: torch.Tensor, frame: int) -> int:
    """The first frame of the phone that frame `frame` (0-based) falls in; `frame` itself past the end.
    A prompt that ends there holds whole phones, as a recorded prompt does at synthesis."""
    starts = torch.cumsum(durations, 0) - durations  # (L,)
    if frame >= int(durations.sum()):
        return frame
    return int(starts[starts <= frame].max())


def special_inputs(n_symbols: int) -> tuple[int, int]:
    """(prompt, end): the pointer inputs besides the n_symbols phone ids, in the rows after them."""
    return n_symbols, n_symbols + 1


def pointer_targets(durations: torch.Tensor, prompt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the pointer stands at each audio position j = 0..T of [BOS, c_1 .. c_T] and the move it is
    trained on.

    durations (L,) of one utterance whose first `prompt` frames are its prompt. Returns (index (T + 1,),
    moves (T + 1,)): index[j] is the phone that frame j + 1 speaks, -1 where frame j + 1 is a prompt
    frame, L at j = T (past the last phone); moves[j] is how many phones the pointer moves after frame
    j + 1 (clipped to MOVES - 1; past the last phone after frame T), IGNORE over the prompt and at j = T.
    """
    index, _ = frame_phones(durations)  # (T,) phone of each frame
    L = len(durations)
    following = torch.cat([index[1:], index.new_tensor([L])])  # (T,) phone of the next frame
    moves = torch.cat([(following - index).clamp(max=MOVES - 1), index.new_tensor([IGNORE])])  # (T + 1,)
    index = torch.cat([index, index.new_tensor([L])])  # (T + 1,)
    index[:prompt] = -1
    moves[:prompt] = IGNORE
    return index, moves


def pointer_ids(phones: torch.Tensor, phone_lengths: torch.Tensor, index: torch.Tensor,
                n_symbols: int) -> torch.Tensor:
    """What each audio position reads: the id of the phone at its pointer index (B, T), the prompt input
    where the index is negative and the end input where it is past the phones (phones (B, L), lengths (B,))."""
    prompt_id, end_id = special_inputs(n_symbols)
    at = phones.gather(1, index.clamp(0, phones.size(1) - 1))  # (B, T)
    ids = torch.where(index >= phone_lengths.unsqueeze(1), torch.full_like(at, end_id), at)
    return torch.where(index < 0, torch.full_like(at, prompt_id), ids)


def window_mask(index: torch.Tensor, phone_lengths: torch.Tensor, n_phones: int) -> torch.Tensor:
    """(B, T, L) bool, the attention window: the phones an audio position at pointer index (B, T) may attend to,
    those within WINDOW of its phone (the last phone past the end; every phone for prompt frames)."""
    at = torch.minimum(index, phone_lengths.unsqueeze(1) - 1).unsqueeze(-1)  # (B, T, 1)
    phones = torch.arange(n_phones, device=index.device)  # (L,)
    return (index.unsqueeze(-1) < 0) | ((phones - at).abs() <= WINDOW)


def sample_moves(logits: torch.Tensor, options: SynthesisConfig, generator: torch.Generator) -> torch.Tensor:
    """One move (B,) per row of the move head's logits (B, MOVES): greedy at temperature 0, else a draw."""
    if options.temperature == 0:
        return logits.argmax(dim=-1)
    return torch.multinomial(logits.float().softmax(dim=-1), 1, generator=generator).squeeze(1)


class Pointer:
    """The phone pointers of a batch in decoding; a sentence ends when its pointer passes the last phone.

    text_lengths (B,) counts [prompt phones ; phones] of each sentence and starts (B,) is the first phone
    to speak (the prompt's phone count). A phone holds at most ceil(max_frames_per_phone) frames (then
    the pointer moves on by one), and before `floors` (B,) frames the pointer may not pass the last
    phone (min_frames_per_phone and generate's min_frames).
    """

    def __init__(self, text_lengths: torch.Tensor, starts: torch.Tensor, options: SynthesisConfig,
                 floors: torch.Tensor):
        self.text_lengths, self.starts = text_lengths, starts
        self.options, self.earliest = options, floors
        self.cap = math.ceil(options.max_frames_per_phone)
        self.pointer = starts.clone()  # (B,) phone index in text of the frame to come
        self.held = torch.zeros_like(starts)  # (B,) frames spoken so far at the pointer's phone
        self.trail: list[torch.Tensor] = []  # (B,) the phone of each frame spoken

    def index(self) -> torch.Tensor:
        """(B,) the phone (index into text) the next frame speaks; past the last phone once it has ended."""
        return self.pointer

    def ends(self, move_logits: torch.Tensor, step: int, generator: torch.Generator) -> torch.Tensor:
        """Move each pointer after frame `step` by a move drawn from the move head's logits (B, MOVES);
        (B,) True where it passed the last phone."""
        self.trail.append(self.pointer.clone())
        move = sample_moves(move_logits, self.options, generator)  # (B,)
        self.held += 1
        move = torch.where((self.held >= self.cap) & (move == 0), torch.ones_like(move), move)
        if step + 1 < int(self.earliest.max()):  # not before the floor: stay within the last phone
            last = self.text_lengths - 1 - self.pointer
            move = torch.where(step + 1 < self.earliest, torch.minimum(move, last.clamp(min=0)), move)
        self.pointer = self.pointer + move
        self.held = torch.where(move > 0, torch.zeros_like(self.held), self.held)
        return self.pointer >= self.text_lengths

    def frame_phones(self, row: int, n: int) -> torch.Tensor:
        """The phone index (into the sentence's own phones) of each of the first n frames of sentence `row`."""
        if not self.trail or n == 0:
            return torch.zeros(0, dtype=torch.long)
        return (torch.stack(self.trail, dim=1)[row, :n] - self.starts[row]).cpu()
