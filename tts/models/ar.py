"""The autoregressive (AR) model: a decoder-only transformer that speaks the first codebook.

Sequence: [phones of prompt and target ; BOS, codes of the prompt, codes of the target], one
token per frame of codebook 1, then EOS. Phones attend to each other both ways (a prefix LM: the
text is known in full before the first frame, so each phone sees its context, like an encoder, at
no cost when decoding); audio attends causally to earlier audio and to the phones next to its own
(below). The loss
(tts.models.layers.token_loss) covers the target frames, EOS and the pointer's moves.

Decoding samples each frame under the recipe's `synthesis` options (tts.config.SynthesisConfig:
temperature, top-k, top-p, a repetition guard, length bounds per phone) and keeps a KVCache: the
prefix is run once, then each new frame costs one step over one position. `kv_cache=False`
recomputes the whole sequence every step (for comparison and tests).

Each audio position also reads the phone its frame speaks and attends only to the phones within
WINDOW of it, and a second head predicts how the phone pointer moves; the pointer, not EOS, ends a
sentence in decoding (tts.models.ar_pointer). The logits
carry the move head's MOVES columns after EOS: (B, T, V + 1 + MOVES); split_logits() parts them.

Shapes: B batch, L phones, T frames, N = L + T, D width, V codebook size (+ EOS, BOS).
phones (B, L) long, right-padded with 0; audio (B, T) long; logits (B, T, V + 1 + MOVES);
frame_index (B, T) long: the phone each position speaks, tts.models.ar_pointer.pointer_targets.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tts.config import SynthesisConfig
from tts.models.ar_pointer import MOVES, Pointer, fit_durations, pointer_ids, pointer_targets, window_mask
from tts.models.layers import (SinusoidalPositions, Transformer, TransformerShape, check_length, init_weights,
                               length_mask, model_from_checkpoint, pad_left, pad_right)

log = logging.getLogger(__name__)

ALIGNMENT = "window"  # what checkpoints record: the pointer, and each frame's attention kept to its phones


@dataclass
class ARGeneration:
    """What generate() returns: codebook-1 codes per sentence (EOS removed) and how each ended."""

    codes: list[torch.Tensor]  # each (T_i,) long
    truncated: list[bool]  # True: hit the length limit before the pointer passed the last phone
    pointer: list[torch.Tensor]  # each frame's phone index (T_i,)
    logits: list[torch.Tensor] = field(default_factory=list)  # each (T_i, V + 1 + MOVES) if asked


class ARModel(nn.Module):
    """Codebook 1, frame by frame, after the phones and a voice prompt."""

    def __init__(self, n_symbols: int, codebook_size: int, shape: TransformerShape):
        super().__init__()
        self.n_symbols, self.codebook_size, self.shape = n_symbols, codebook_size, shape
        self.eos, self.bos = codebook_size, codebook_size + 1
        D = shape.width
        self.phone_embedding = nn.Embedding(n_symbols, D)
        self.code_embedding = nn.Embedding(codebook_size + 2, D)  # codes, EOS, BOS
        self.phone_positions = SinusoidalPositions(D)
        self.audio_positions = SinusoidalPositions(D)
        self.transformer = Transformer(shape)
        self.head = nn.Linear(D, codebook_size + 1, bias=False)  # codes and EOS
        self.pointer_embedding = nn.Embedding(n_symbols + 2, D)  # phones, prompt, end
        self.move_head = nn.Linear(D, MOVES)
        init_weights(self, shape.layers)

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the model (saved in checkpoints)."""
        return {"n_symbols": self.n_symbols, "codebook_size": self.codebook_size, "alignment": ALIGNMENT,
                **self.shape.config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ARModel":
        """The model of a config; ValueError for an AR without the phone pointer (trained before it)."""
        if config.get("alignment", "none") != ALIGNMENT:
            raise ValueError(f"this AR checkpoint was trained without the phone pointer's attention window "
                             f"(alignment {config.get('alignment', 'none')!r}), which the AR now has: train stage "
                             "aligner (if the run has none), then stage ar again in a new run folder, or move this "
                             "run's ar/ folder aside first")
        return cls(config["n_symbols"], config["codebook_size"], TransformerShape.from_config(config))

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> "ARModel":
        """The model of a checkpoint dict of stage ar (tts.checkpoint.load_checkpoint)."""
        return model_from_checkpoint(cls, checkpoint)

    # ------------------------------------------------------------------ training

    def forward(self, phones: torch.Tensor, phone_lengths: torch.Tensor, audio: torch.Tensor,
                audio_lengths: torch.Tensor, frame_index: torch.Tensor,
                weights_layer: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, V + 1 + MOVES) over the audio positions of right-padded inputs (audio starts
        with BOS; `frame_index` (B, T) is the phone each position speaks, -1 for prompt frames), and with
        `weights_layer` that layer's attention weights (B, H, N, N) (for the samples' attention plot), else None.
        """
        L, T = phones.size(1), audio.size(1)
        check_length(L, T, self.shape.max_positions)
        phone_valid = length_mask(phone_lengths, L)
        audio_valid = length_mask(audio_lengths, T)
        positions = torch.arange(max(L, T), device=phones.device).unsqueeze(0)  # (1, max(L, T))
        x = self.embed(phones, phone_lengths, positions[:, :L], audio, positions[:, :T], frame_index)  # (B, N, D)
        mask = self.attention_mask(phone_valid, audio_valid, phone_lengths, frame_index)
        h, weights = self.transformer(x, mask, weights_layer=weights_layer)
        return self.logits(h[:, L:]), weights  # (B, T, V + 1 + MOVES)

    def embed(self, phones: torch.Tensor, phone_lengths: torch.Tensor, phone_positions: torch.Tensor,
              audio: torch.Tensor, audio_positions: torch.Tensor, frame_index: torch.Tensor) -> torch.Tensor:
        """Token + position embeddings of [phones ; audio] -> (B, L + T, D)."""
        p = self.phone_embedding(phones) + self.phone_positions(phone_positions)  # (B, L, D)
        return torch.cat([p, self.embed_audio(audio, audio_positions, phones, phone_lengths, frame_index)], dim=1)

    def embed_audio(self, audio: torch.Tensor, positions: torch.Tensor, phones: torch.Tensor,
                    phone_lengths: torch.Tensor, frame_index: torch.Tensor) -> torch.Tensor:
        """Code + position + pointer embeddings of audio (B, T) -> (B, T, D)."""
        if frame_index.shape != audio.shape:
            raise ValueError(f"frame_index {tuple(frame_index.shape)} must match audio {tuple(audio.shape)}: "
                             "one phone index per audio position")
        a = self.code_embedding(audio) + self.audio_positions(positions)  # (B, T, D)
        return a + self.pointer_embedding(pointer_ids(phones, phone_lengths, frame_index, self.n_symbols))

    def attention_mask(self, phone_valid: torch.Tensor, audio_valid: torch.Tensor, phone_lengths: torch.Tensor,
                       frame_index: torch.Tensor) -> torch.Tensor:
        """(B, 1, N, N) bool: the prefix-LM mask with each frame's phones cut to its window (ar_pointer.window_mask)."""
        mask = prefix_lm_mask(phone_valid, audio_valid)
        L = phone_valid.size(1)
        mask[:, 0, L:, :L] &= window_mask(frame_index, phone_lengths, L)
        return mask

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, T, D) -> logits (B, T, V + 1 + MOVES): codes and EOS, then the pointer's moves."""
        return torch.cat([self.head(h), self.move_head(h)], dim=-1)

    def split_logits(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (..., V + 1 + MOVES) -> (code and EOS logits (..., V + 1), move logits (..., MOVES))."""
        return split_logits(logits, self.codebook_size)

    @torch.no_grad()
    def teacher_forced(self, phones: Sequence[torch.Tensor], first_level: Sequence[torch.Tensor],
                       durations: Sequence[torch.Tensor], prompt_phones: Sequence[torch.Tensor] | None = None,
                       prompt_codes: Sequence[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """The code-and-EOS logits (T_i, V + 1) of each frame of given codebook-1 codes first_level[i] (T_i,)
        of the sentence phones[i] (L_i,), from the true earlier frames (and prompt_phones[i], prompt_codes[i]
        (P_i,) of an optional voice prompt); each frame reads its phone from durations[i] (L_i,), e.g. the
        aligner's, made to sum to T_i."""
        device, B = self.head.weight.device, len(phones)
        prompt_phones = prompt_phones or [phones[0].new_zeros(0)] * B
        prompt_codes = prompt_codes or [phones[0].new_zeros(0)] * B
        text, audio, index = [], [], []
        for t, first, d, pp, pc in zip(phones, first_level, durations, prompt_phones, prompt_codes):
            text.append(torch.cat([pp, t]).long())
            audio.append(torch.cat([torch.tensor([self.bos]), pc.long().cpu(), first.long().cpu()]))  # (1 + P + T,)
            d = torch.from_numpy(fit_durations(d.cpu().numpy(), len(first)))  # (L,) summing to T
            at, _ = pointer_targets(d, 0)  # (T + 1,) into the sentence's phones
            index.append(torch.cat([torch.full((len(pc),), -1), at + len(pp)]))  # (1 + P + T,)
        lengths = [torch.tensor([len(r) for r in rows], device=device) for rows in (text, audio)]
        logits, _ = self(pad_right(text, int(lengths[0].max())).to(device), lengths[0],
                         pad_right(audio, int(lengths[1].max())).to(device), lengths[1],
                         frame_index=pad_right(index, int(lengths[1].max()), value=-1).to(device))
        return [logits[i, len(pc):len(pc) + len(first), :self.codebook_size + 1]
                for i, (pc, first) in enumerate(zip(prompt_codes, first_level))]

    # ------------------------------------------------------------------ decoding

    @torch.no_grad()
    def generate(self, phones: Sequence[torch.Tensor], prompt_codes: Sequence[torch.Tensor] | None = None,
                 options: SynthesisConfig = SynthesisConfig(),
                 prompt_phones: Sequence[torch.Tensor] | None = None,
                 keep_logits: bool = False, min_frames: int = 0) -> ARGeneration:
        """Sample codebook-1 codes for a batch of sentences until each ends or reaches the length limit.

        phones[i] (L_i,): the phones to speak; prompt_phones[i] (Lp_i,) and prompt_codes[i] (P_i,):
        the transcript and codebook-1 codes of a voice prompt (optional). Sentences are padded
        (phones on the right, audio on the left, so every sentence's next frame is the same column).
        A sentence ends when its phone pointer passes its last phone (EOS is never sampled; a phone
        holds at most ceil(max_frames_per_phone) frames). The limit is ceil(L_i x max_frames_per_phone)
        frames (and max_positions); a sentence that reaches it ends there with a warning and
        truncated[i] = True. No sentence ends before max(min_frames, ceil(L_i x min_frames_per_phone))
        frames (below the limit; min_frames is for benchmarks of a fixed length). `keep_logits` keeps
        each step's logits.
        """
        device = self.head.weight.device
        B = len(phones)
        if B == 0 or any(len(p) == 0 for p in phones):
            raise ValueError(f"every sentence needs at least one phone; got phone counts {[len(p) for p in phones]}")
        prompt_phones = prompt_phones or [phones[0].new_zeros(0)] * B
        prompt_codes = prompt_codes or [phones[0].new_zeros(0)] * B
        text = [torch.cat([p.to(device), t.to(device)]) for p, t in zip(prompt_phones, phones)]
        starts = [torch.cat([torch.tensor([self.bos], device=device), c.to(device)]) for c in prompt_codes]
        phone_lengths = torch.tensor([len(t) for t in text], device=device)
        start_lengths = torch.tensor([len(s) for s in starts], device=device)
        L, A = int(phone_lengths.max()), int(start_lengths.max())
        limits = torch.tensor([min(math.ceil(len(t) * options.max_frames_per_phone),
                                   self.shape.max_positions - L - A) for t in phones], device=device)
        if int(limits.min()) < 1:
            raise ValueError(f"no room to generate: {L} phones + {A} prompt frames fill "
                             f"max_positions = {self.shape.max_positions}; use a shorter prompt or text")
        floors = torch.tensor([max(min_frames, math.ceil(len(t) * options.min_frames_per_phone))
                               for t in phones], device=device).minimum(limits - 1)
        phones_padded = pad_right(text, L)  # (B, L)
        first = torch.tensor([len(p) for p in prompt_phones], device=device)  # (B,) first phone to speak
        pointer = Pointer(phone_lengths, first, options, floors)
        state = _DecodeState(self, phones_padded, phone_lengths, pad_left(starts, A), A - start_lengths, options,
                             int(limits.max()), pointer.index())
        return self._decode(state, pointer, options, limits, keep_logits)

    def _decode(self, state: "_DecodeState", pointer: Pointer, options: SynthesisConfig,
                limits: torch.Tensor, keep_logits: bool) -> ARGeneration:
        """The decoding loop: one frame of every sentence per step until all have ended or hit `limits` (B,)."""
        B, device = limits.size(0), limits.device
        generator = torch.Generator(device=device).manual_seed(options.seed)
        history = torch.zeros(B, 0, dtype=torch.long, device=device)  # (B, S) generated so far
        done = torch.zeros(B, dtype=torch.bool, device=device)
        ended = torch.zeros(B, dtype=torch.bool, device=device)  # the pointer passed the last phone
        steps = limits.clone()  # (B,) steps each sentence took
        all_logits = []
        for step in range(int(limits.max())):
            logits = state.next_logits()  # (B, V + 1 + MOVES)
            if keep_logits:
                all_logits.append(logits.float())
            codes, moves = self.split_logits(logits)
            token = sample_next(codes, options, generator, history, self.eos)  # (B,)
            ends = pointer.ends(moves, step, generator) & ~done
            ended |= ends
            stop = ~done & (ends | (step + 1 >= limits))
            steps[stop] = step + 1
            done |= stop
            history = torch.cat([history, token.unsqueeze(1)], dim=1)
            if bool(done.all()):
                break
            state.append(token, pointer.index())
        codes = [history[i, :int(steps[i])].clone() for i in range(B)]
        truncated = [not bool(e) for e in ended]
        if any(truncated):
            log.warning("%d of %d sentences reached the length limit before the pointer passed the last phone; "
                        "their audio is cut there", sum(truncated), B)
        stacked = torch.stack(all_logits, dim=1) if all_logits else None  # (B, S, V + 1 + MOVES)
        logits = [stacked[i, :len(c)] for i, c in enumerate(codes)] if stacked is not None else []
        return ARGeneration(codes, truncated, [pointer.frame_phones(i, len(c)) for i, c in enumerate(codes)], logits)


class _DecodeState:
    """The growing batch during decoding: next-frame logits with a KV cache or by recomputation.

    frame_index (B,): the phone (index into phones) the next frame speaks (the frames before it, the
    prompt's, read the prompt vector: index -1)."""

    def __init__(self, model: ARModel, phones: torch.Tensor, phone_lengths: torch.Tensor,
                 audio: torch.Tensor, left: torch.Tensor, options: SynthesisConfig, max_new: int,
                 frame_index: torch.Tensor):
        self.model, self.use_cache = model, options.kv_cache
        self.phones, self.phone_lengths, self.audio, self.left = phones, phone_lengths, audio, left
        B, L = phones.shape
        self.phone_valid = length_mask(phone_lengths, L)  # (B, L)
        columns = torch.arange(audio.size(1), device=audio.device).unsqueeze(0)
        self.audio_valid = columns >= left.unsqueeze(1)  # (B, A)
        self.frame_index = torch.full_like(audio, -1)  # (B, A) the phone of each audio position
        self.frame_index[:, -1] = frame_index
        self.cache = None
        if self.use_cache:
            weight = model.head.weight
            self.cache = model.transformer.new_cache(B, L + audio.size(1) + max_new, weight.device, weight.dtype)
        self.pending = None  # logits for the next frame when already computed

    def _positions(self, start: int, n: int) -> torch.Tensor:
        columns = torch.arange(start, start + n, device=self.audio.device).unsqueeze(0)  # (1, n)
        return (columns - self.left.unsqueeze(1)).clamp(min=0)  # (B, n)

    def _full(self, cache) -> torch.Tensor:
        m = self.model
        L, A = self.phones.size(1), self.audio.size(1)
        phone_positions = torch.arange(L, device=self.phones.device).unsqueeze(0)
        x = m.embed(self.phones, self.phone_lengths, phone_positions, self.audio, self._positions(0, A),
                    self.frame_index)  # (B, L + A, D)
        mask = m.attention_mask(self.phone_valid, self.audio_valid, self.phone_lengths, self.frame_index)
        h, _ = m.transformer(x, mask, cache=cache)
        return m.logits(h[:, -1])  # (B, V + 1 + MOVES)

    def next_logits(self) -> torch.Tensor:
        if self.pending is None:  # first step, or every step without a cache
            self.pending = self._full(self.cache)
        logits, self.pending = self.pending, None
        return logits

    def append(self, token: torch.Tensor, frame_index: torch.Tensor) -> None:
        """Add each sentence's frame `token` (B,); the frame after it speaks phone `frame_index` (B,)."""
        m = self.model
        self.audio = torch.cat([self.audio, token.unsqueeze(1)], dim=1)  # (B, A + 1)
        self.audio_valid = F.pad(self.audio_valid, (0, 1), value=True)
        new_index = frame_index.unsqueeze(1)  # (B, 1)
        self.frame_index = torch.cat([self.frame_index, new_index], dim=1)  # (B, A + 1)
        if not self.use_cache:
            return
        n = self.audio.size(1) - 1
        x = m.embed_audio(token.unsqueeze(1), self._positions(n, 1), self.phones, self.phone_lengths,
                          new_index)  # (B, 1, D)
        phone_keys = self.phone_valid & window_mask(new_index, self.phone_lengths, self.phones.size(1))[:, 0]
        keys_valid = torch.cat([phone_keys, self.audio_valid], dim=1)  # (B, K)
        mask = None if bool(keys_valid.all()) else keys_valid[:, None, None, :]  # (B, 1, 1, K)
        h, _ = m.transformer(x, mask, cache=self.cache)
        self.pending = m.logits(h[:, -1])  # (B, V + 1 + MOVES)


def split_logits(logits: torch.Tensor, codebook_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The AR's logits (..., V + 1 + MOVES) -> (code and EOS logits (..., V + 1), move logits (..., MOVES))."""
    return logits[..., :codebook_size + 1], logits[..., codebook_size + 1:]


def sample_next(logits: torch.Tensor, options: SynthesisConfig, generator: torch.Generator,
                history: torch.Tensor, eos: int) -> torch.Tensor:
    """One code per row from logits (B, V + 1): repetition guard, temperature, top-k, top-p; never EOS
    (the pointer ends a sentence)."""
    logits = logits.float().clone()
    logits[:, eos] = float("-inf")
    if options.repetition_window > 0 and history.size(1) > 0:
        # a token already seen repetition_max times in the window may not come again: drawing from
        # the rest is what resampling until another token comes up would give, in one draw
        window = history[:, -options.repetition_window:]  # (B, W)
        counts = torch.zeros_like(logits).scatter_add_(1, window, torch.ones_like(window, dtype=logits.dtype))
        logits[counts >= max(options.repetition_max, 1)] = float("-inf")
    if options.temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / options.temperature
    if 0 < options.top_k < logits.size(-1):
        kth = logits.topk(options.top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits[logits < kth] = float("-inf")
    if options.top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative - sorted_logits.softmax(dim=-1) >= options.top_p  # keeps the first always
        logits[remove.scatter(1, order, remove)] = float("-inf")
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)


def prefix_lm_mask(phone_valid: torch.Tensor, audio_valid: torch.Tensor) -> torch.Tensor:
    """(B, 1, N, N) bool: every position sees all valid phones; audio also sees valid earlier audio."""
    L, N = phone_valid.size(1), phone_valid.size(1) + audio_valid.size(1)
    index = torch.arange(N, device=phone_valid.device)
    allowed = (index.unsqueeze(0) < L) | (index.unsqueeze(0) <= index.unsqueeze(1))  # (N, N) [query, key]
    keys_valid = torch.cat([phone_valid, audio_valid], dim=1)  # (B, N)
    return (allowed.unsqueeze(0) & keys_valid.unsqueeze(1)).unsqueeze(1)  # (B, 1, N, N)
