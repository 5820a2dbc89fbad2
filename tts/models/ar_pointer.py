"""The phone pointer of the AR model (ar.alignment: pointer), in the manner of VALL-E R (arXiv 2406.07855).

Each audio position of [BOS, c_1 .. c_T] (position j predicts frame j + 1) is told which phone that
frame speaks: the embedding of the phone id is added to its code embedding. Positions that predict
prompt frames get a learned "prompt" vector instead (a prompt's durations are unknown at synthesis),
and position T, where the pointer stands past the last phone and the code target is EOS, a learned
"end" vector. Beside the code logits a second head predicts, at position j, how far the pointer moves
after frame j + 1: 0, 1, 2 or 3 phones (3 or more as 3; a phone of 0 frames is skipped by a move of 2).
Moving past the last phone ends the sentence, so decoding needs no EOS: the pointer decides the end.

Training gets the pointer from the aligner's durations (tts/train/durations.py); decoding moves it by
the move head (PointerEnd).

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


def pointer_inputs(phones: torch.Tensor, durations: torch.Tensor, prompt: int,
                   n_symbols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What each audio position j = 0..T of [BOS, c_1 .. c_T] reads and the move it is trained on.

    phones (L,) ids (of n_symbols) and durations (L,) of one utterance whose first `prompt` frames are
    its prompt. Returns (inputs (T + 1,), moves (T + 1,)): inputs[j] is the id of the phone that frame
    j + 1 speaks, the prompt input where frame j + 1 is a prompt frame, the end input at j = T (see
    special_inputs); moves[j] is how many phones the pointer moves after frame j + 1 (clipped to
    MOVES - 1; past the last phone after frame T), IGNORE over the prompt and at j = T (the pointer has
    already passed the last phone there).
    """
    prompt_id, end_id = special_inputs(n_symbols)
    index, _ = frame_phones(durations)  # (T,) phone of each frame
    following = torch.cat([index[1:], index.new_tensor([len(durations)])])  # (T,) phone of the next frame
    inputs = torch.cat([phones[index], phones.new_tensor([end_id])])  # (T + 1,)
    moves = torch.cat([(following - index).clamp(max=MOVES - 1), index.new_tensor([IGNORE])])  # (T + 1,)
    inputs[:prompt] = prompt_id
    moves[:prompt] = IGNORE
    return inputs, moves


def sample_moves(logits: torch.Tensor, options: SynthesisConfig, generator: torch.Generator) -> torch.Tensor:
    """One move (B,) per row of the move head's logits (B, MOVES): greedy at temperature 0, else a draw."""
    if options.temperature == 0:
        return logits.argmax(dim=-1)
    return torch.multinomial(logits.float().softmax(dim=-1), 1, generator=generator).squeeze(1)


class PointerEnd:
    """How a batch of sentences ends under alignment pointer: when its pointer passes the last phone.

    text (B, L) holds [prompt phones ; phones] of each sentence (right-padded), text_lengths (B,) their
    lengths and starts (B,) the first phone to speak (the prompt's phone count). A phone holds at most
    ceil(max_frames_per_phone) frames (then the pointer moves on by one), and before `floors` (B,) frames
    the pointer may not pass the last phone (min_frames_per_phone and generate's min_frames).
    """

    def __init__(self, text: torch.Tensor, text_lengths: torch.Tensor, starts: torch.Tensor,
                 options: SynthesisConfig, floors: torch.Tensor, end_id: int):
        self.text, self.text_lengths, self.starts = text, text_lengths, starts
        self.options, self.earliest, self.end_id = options, floors, end_id
        self.code_floors = torch.full_like(floors, torch.iinfo(torch.long).max)  # EOS barred: the pointer ends
        self.cap = math.ceil(options.max_frames_per_phone)
        self.pointer = starts.clone()  # (B,) phone index in text of the frame to come
        self.held = torch.zeros_like(starts)  # (B,) frames spoken so far at the pointer's phone
        self.trail: list[torch.Tensor] = []  # (B,) the phone of each frame spoken

    def phones(self) -> torch.Tensor:
        """(B,) id of the phone at each pointer, end_id where it has passed the last phone."""
        inside = self.pointer < self.text_lengths
        at = self.text.gather(1, self.pointer.clamp(max=self.text.size(1) - 1).unsqueeze(1)).squeeze(1)  # (B,)
        return torch.where(inside, at, torch.full_like(at, self.end_id))

    def ends(self, token: torch.Tensor, move_logits: torch.Tensor, step: int,
             generator: torch.Generator) -> torch.Tensor:
        """Move each pointer after frame `step` (codes `token` (B,)) by a move drawn from the move head's
        logits (B, MOVES); (B,) True where it passed the last phone."""
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
