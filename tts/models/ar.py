"""The autoregressive (AR) model: a decoder-only transformer that speaks the first codebook.

Sequence: [phones of prompt and target ; BOS, codes of the prompt, codes of the target], one
token per frame of codebook 1, then EOS. Phones attend to each other both ways (a prefix LM: the
text is known in full before the first frame, so each phone sees its context, like an encoder,
at no cost when decoding); audio attends to every phone and causally to earlier audio. The loss
(tts.models.layers.token_loss) covers the target frames and EOS only.

Decoding samples each frame under the recipe's `synthesis` options (tts.config.SynthesisConfig:
temperature, top-k, top-p, a repetition guard, length bounds per phone) and keeps a KVCache: the
prefix is run once, then each new frame costs one step over one position. `kv_cache=False`
recomputes the whole sequence every step (for comparison and tests).

With `alignment` "pointer" (recipe key ar.alignment) each audio position also reads the phone its
frame speaks, and a second head predicts how the phone pointer moves; the pointer, not EOS, ends a
sentence in decoding (tts.models.ar_pointer). The logits then carry the move head's MOVES columns after
EOS: (B, T, V + 1 + MOVES); split_logits() parts them.

Shapes: B batch, L phones, T frames, N = L + T, D width, V codebook size (+ EOS, BOS).
phones (B, L) long, right-padded with 0; audio (B, T) long; logits (B, T, V + 1 [+ MOVES]);
frame_phones (B, T) long (pointer only): ids of tts.models.ar_pointer.pointer_inputs.
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
from tts.models.ar_pointer import MOVES, PointerEnd, special_inputs
from tts.models.layers import (SinusoidalPositions, Transformer, TransformerShape, check_length, init_weights,
                               length_mask, model_from_checkpoint, pad_left, pad_right)

log = logging.getLogger(__name__)

ALIGNMENTS = ("none", "pointer")  # ar.alignment: what the audio positions are told of the phones


@dataclass
class ARGeneration:
    """What generate() returns: codebook-1 codes per sentence (EOS removed) and how each ended."""

    codes: list[torch.Tensor]  # each (T_i,) long
    truncated: list[bool]  # True: hit the length limit before its end (EOS or the pointer; output trimmed there)
    logits: list[torch.Tensor] = field(default_factory=list)  # each (steps_i, V + 1 [+ MOVES]) if asked
    pointer: list[torch.Tensor] = field(default_factory=list)  # alignment pointer: each frame's phone index (T_i,)


class ARModel(nn.Module):
    """Codebook 1, frame by frame, after the phones and a voice prompt."""

    def __init__(self, n_symbols: int, codebook_size: int, shape: TransformerShape, alignment: str = "none"):
        super().__init__()
        if alignment not in ALIGNMENTS:
            raise ValueError(f"alignment {alignment!r}: the AR knows {', '.join(ALIGNMENTS)}")
        self.n_symbols, self.codebook_size, self.shape, self.alignment = n_symbols, codebook_size, shape, alignment
        self.eos, self.bos = codebook_size, codebook_size + 1
        self.prompt_frame, self.end_frame = special_inputs(n_symbols)  # pointer inputs besides the phones
        D = shape.width
        self.phone_embedding = nn.Embedding(n_symbols, D)
        self.code_embedding = nn.Embedding(codebook_size + 2, D)  # codes, EOS, BOS
        self.phone_positions = SinusoidalPositions(D)
        self.audio_positions = SinusoidalPositions(D)
        self.transformer = Transformer(shape)
        self.head = nn.Linear(D, codebook_size + 1, bias=False)  # codes and EOS
        if alignment == "pointer":
            self.pointer_embedding = nn.Embedding(n_symbols + 2, D)  # phones, prompt, end
            self.move_head = nn.Linear(D, MOVES)
        init_weights(self, shape.layers)

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the model (saved in checkpoints)."""
        return {"n_symbols": self.n_symbols, "codebook_size": self.codebook_size, "alignment": self.alignment,
                **self.shape.config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ARModel":
        """The model of a config (checkpoints from before ar.alignment: alignment none)."""
        return cls(config["n_symbols"], config["codebook_size"], TransformerShape.from_config(config),
                   config.get("alignment", "none"))

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> "ARModel":
        """The model of a checkpoint dict of stage ar (tts.checkpoint.load_checkpoint)."""
        return model_from_checkpoint(cls, checkpoint)

    # ------------------------------------------------------------------ training

    def forward(self, phones: torch.Tensor, phone_lengths: torch.Tensor, audio: torch.Tensor,
                audio_lengths: torch.Tensor, weights_layer: int | None = None,
                frame_phones: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, V + 1 [+ MOVES]) over the audio positions of right-padded inputs (audio starts
        with BOS; alignment pointer: `frame_phones` (B, T) is what each position speaks), and with
        `weights_layer` that layer's attention weights (B, H, N, N) (for guided attention), else None.
        """
        L, T = phones.size(1), audio.size(1)
        check_length(L, T, self.shape.max_positions)
        phone_valid = length_mask(phone_lengths, L)
        audio_valid = length_mask(audio_lengths, T)
        positions = torch.arange(max(L, T), device=phones.device).unsqueeze(0)  # (1, max(L, T))
        x = self.embed(phones, positions[:, :L], audio, positions[:, :T], frame_phones)  # (B, N, D)
        h, weights = self.transformer(x, prefix_lm_mask(phone_valid, audio_valid), weights_layer=weights_layer)
        return self.logits(h[:, L:]), weights  # (B, T, V + 1 [+ MOVES])

    def embed(self, phones: torch.Tensor, phone_positions: torch.Tensor, audio: torch.Tensor,
              audio_positions: torch.Tensor, frame_phones: torch.Tensor | None = None) -> torch.Tensor:
        """Token + position embeddings of [phones ; audio] -> (B, L + T, D)."""
        p = self.phone_embedding(phones) + self.phone_positions(phone_positions)  # (B, L, D)
        return torch.cat([p, self.embed_audio(audio, audio_positions, frame_phones)], dim=1)

    def embed_audio(self, audio: torch.Tensor, positions: torch.Tensor,
                    frame_phones: torch.Tensor | None = None) -> torch.Tensor:
        """Code + position (+ pointer) embeddings of audio (B, T) -> (B, T, D)."""
        if (frame_phones is not None) != (self.alignment == "pointer"):
            raise ValueError(f"an AR of alignment {self.alignment} takes frame_phones "
                             f"{'(B, T)' if self.alignment == 'pointer' else 'None'}; got "
                             f"{None if frame_phones is None else tuple(frame_phones.shape)}")
        a = self.code_embedding(audio) + self.audio_positions(positions)  # (B, T, D)
        return a if frame_phones is None else a + self.pointer_embedding(frame_phones)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, T, D) -> logits (B, T, V + 1), then the move head's (B, T, MOVES) if pointer."""
        codes = self.head(h)
        return codes if self.alignment == "none" else torch.cat([codes, self.move_head(h)], dim=-1)

    def split_logits(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (..., V + 1 [+ MOVES]) -> (code and EOS logits (..., V + 1), move logits (..., MOVES) or None)."""
        codes = logits[..., :self.eos + 1]
        return codes, (logits[..., self.eos + 1:] if self.alignment == "pointer" else None)

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
        A sentence ends at EOS (alignment none) or when its phone pointer passes its last phone
        (alignment pointer: EOS is never sampled, and a phone holds at most ceil(max_frames_per_phone)
        frames). The limit is ceil(L_i x max_frames_per_phone) frames (and max_positions); a sentence
        that reaches it ends there with a warning and truncated[i] = True. No sentence ends before
        max(min_frames, ceil(L_i x min_frames_per_phone)) frames (below the limit; min_frames is for
        benchmarks of a fixed length). `keep_logits` keeps each step's logits.
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
        if self.alignment == "pointer":
            first = torch.tensor([len(p) for p in prompt_phones], device=device)  # (B,) first phone to speak
            end = PointerEnd(phones_padded, phone_lengths, first, options, floors, self.end_frame)
        else:
            end = _EOSEnd(self.eos, floors)
        state = _DecodeState(self, phones_padded, phone_lengths, pad_left(starts, A), A - start_lengths, options,
                             int(limits.max()), end.phones())
        return self._decode(state, end, options, limits, keep_logits)

    def _decode(self, state: "_DecodeState", end: "_EOSEnd | PointerEnd", options: SynthesisConfig,
                limits: torch.Tensor, keep_logits: bool) -> ARGeneration:
        """The decoding loop: one frame of every sentence per step until all have ended or hit `limits` (B,)."""
        B, device = limits.size(0), limits.device
        generator = torch.Generator(device=device).manual_seed(options.seed)
        history = torch.zeros(B, 0, dtype=torch.long, device=device)  # (B, S) generated so far
        done = torch.zeros(B, dtype=torch.bool, device=device)
        ended = torch.zeros(B, dtype=torch.bool, device=device)  # ended by EOS or the pointer
        steps = limits.clone()  # (B,) steps each sentence took
        all_logits = []
        for step in range(int(limits.max())):
            logits = state.next_logits()  # (B, V + 1 [+ MOVES])
            if keep_logits:
                all_logits.append(logits.float())
            codes, moves = self.split_logits(logits)
            token = sample_next(codes, options, generator, history, self.eos, step, end.code_floors)  # (B,)
            ends = end.ends(token, moves, step, generator) & ~done
            ended |= ends
            stop = ~done & (ends | (step + 1 >= limits))
            steps[stop] = step + 1
            done |= stop
            history = torch.cat([history, token.unsqueeze(1)], dim=1)
            if bool(done.all()):
                break
            state.append(token, end.phones())
        return self._finish(history, ended, steps, all_logits, end)

    def _finish(self, history: torch.Tensor, ended: torch.Tensor, steps: torch.Tensor,
                all_logits: list[torch.Tensor], end: "_EOSEnd | PointerEnd") -> ARGeneration:
        codes, truncated, logits, pointer = [], [], [], []
        stacked = torch.stack(all_logits, dim=1) if all_logits else None  # (B, S, V + 1 [+ MOVES])
        for i in range(history.size(0)):
            row = history[i, :int(steps[i])]
            stop = (row == self.eos).nonzero()
            n = int(stop[0]) if len(stop) else len(row)
            codes.append(row[:n].clone())
            truncated.append(not bool(ended[i]))
            if stacked is not None:
                logits.append(stacked[i, :int(steps[i])])  # one row per step, EOS included
            if isinstance(end, PointerEnd):
                pointer.append(end.frame_phones(i, n))
        if any(truncated):
            log.warning("%d of %d sentences reached the length limit without %s; their audio is cut there",
                        sum(truncated), len(truncated),
                        "the pointer passing the last phone" if pointer else "end-of-speech")
        return ARGeneration(codes, truncated, logits, pointer)


class _EOSEnd:
    """How a sentence ends under alignment none: when the code head samples EOS, not before `floors` (B,)."""

    def __init__(self, eos: int, floors: torch.Tensor):
        self.eos, self.code_floors = eos, floors

    def phones(self) -> None:
        return None  # no pointer input

    def ends(self, token: torch.Tensor, move_logits: None, step: int, generator: torch.Generator) -> torch.Tensor:
        return token == self.eos


class _DecodeState:
    """The growing batch during decoding: next-frame logits with a KV cache or by recomputation.

    frame_phone (B,): alignment pointer, the phone the next frame speaks (the frames before it, the
    prompt's, read the prompt vector); None otherwise."""

    def __init__(self, model: ARModel, phones: torch.Tensor, phone_lengths: torch.Tensor,
                 audio: torch.Tensor, left: torch.Tensor, options: SynthesisConfig, max_new: int,
                 frame_phone: torch.Tensor | None = None):
        self.model, self.use_cache = model, options.kv_cache
        self.phones, self.audio, self.left = phones, audio, left
        B, L = phones.shape
        self.phone_valid = length_mask(phone_lengths, L)  # (B, L)
        columns = torch.arange(audio.size(1), device=audio.device).unsqueeze(0)
        self.audio_valid = columns >= left.unsqueeze(1)  # (B, A)
        self.frame_phones = None  # (B, A) what each audio position speaks (alignment pointer)
        if frame_phone is not None:
            self.frame_phones = torch.full_like(audio, model.prompt_frame)
            self.frame_phones[:, -1] = frame_phone
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
        x = m.embed(self.phones, phone_positions, self.audio, self._positions(0, A), self.frame_phones)  # (B, L + A, D)
        h, _ = m.transformer(x, prefix_lm_mask(self.phone_valid, self.audio_valid), cache=cache)
        return m.logits(h[:, -1])  # (B, V + 1 [+ MOVES])

    def next_logits(self) -> torch.Tensor:
        if self.pending is None:  # first step, or every step without a cache
            self.pending = self._full(self.cache)
        logits, self.pending = self.pending, None
        return logits

    def append(self, token: torch.Tensor, frame_phone: torch.Tensor | None = None) -> None:
        m = self.model
        self.audio = torch.cat([self.audio, token.unsqueeze(1)], dim=1)  # (B, A + 1)
        self.audio_valid = F.pad(self.audio_valid, (0, 1), value=True)
        new_phone = None if frame_phone is None else frame_phone.unsqueeze(1)  # (B, 1)
        if new_phone is not None:
            self.frame_phones = torch.cat([self.frame_phones, new_phone], dim=1)  # (B, A + 1)
        if not self.use_cache:
            return
        n = self.audio.size(1) - 1
        x = m.embed_audio(token.unsqueeze(1), self._positions(n, 1), new_phone)  # (B, 1, D)
        keys_valid = torch.cat([self.phone_valid, self.audio_valid], dim=1)  # (B, K)
        mask = None if bool(keys_valid.all()) else keys_valid[:, None, None, :]  # (B, 1, 1, K)
        h, _ = m.transformer(x, mask, cache=self.cache)
        self.pending = m.logits(h[:, -1])  # (B, V + 1 [+ MOVES])


def sample_next(logits: torch.Tensor, options: SynthesisConfig, generator: torch.Generator,
                history: torch.Tensor, eos: int, step: int, floors: torch.Tensor | None = None) -> torch.Tensor:
    """One token per row from logits (B, V + 1): repetition guard, temperature, top-k, top-p.
    EOS is barred while step < floors (B,) (default: never)."""
    logits = logits.float().clone()
    if options.repetition_window > 0 and history.size(1) > 0:
        # a token already seen repetition_max times in the window may not come again: drawing from
        # the rest is what resampling until another token comes up would give, in one draw
        window = history[:, -options.repetition_window:]  # (B, W)
        counts = torch.zeros_like(logits).scatter_add_(1, window, torch.ones_like(window, dtype=logits.dtype))
        banned = counts >= max(options.repetition_max, 1)
        banned[:, eos] = False
        logits[banned] = float("-inf")
    if floors is not None:
        logits[step < floors, eos] = float("-inf")
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


def attention_alignment(weights: torch.Tensor, phone_lengths: torch.Tensor, audio_lengths: torch.Tensor,
                        n_phones: int, width: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """How diagonal, and how strong, the attention of audio frames on the phones is.

    weights (B, H, N, N) over [phones (L = n_phones, right-padded) ; audio (T = N - L)]. For each
    valid frame t of utterance b, a[t, l] is its head-averaged attention on phone l, renormalised
    over the phones (the frame also attends to earlier audio, which is not counted). Returns
    (penalty, phone_share), means over valid frames:
      penalty = sum_l a[t, l] * (1 - exp(-(l/L_b - t/T_b)^2 / (2 width^2)))  (Tachibana et al. 2017):
                0 on the diagonal, near 1 far from it;
      phone_share = the share of the frame's attention that goes to phones at all.
    Renormalising keeps the penalty from being lowered by looking away from the text.
    """
    L = n_phones
    T = weights.size(-1) - L
    raw = weights[:, :, L:, :L].float().mean(dim=1)  # (B, T, L)
    share = raw.sum(dim=-1)  # (B, T)
    attention = raw / share.clamp(min=1e-6).unsqueeze(-1)
    t = torch.arange(T, device=weights.device).unsqueeze(0) / audio_lengths.unsqueeze(1)  # (B, T)
    l = torch.arange(L, device=weights.device).unsqueeze(0) / phone_lengths.unsqueeze(1)  # (B, L)
    penalty = 1 - torch.exp(-(l.unsqueeze(1) - t.unsqueeze(2)) ** 2 / (2 * width ** 2))  # (B, T, L)
    frames = length_mask(audio_lengths, T)  # (B, T)
    pairs = frames.unsqueeze(2) & length_mask(phone_lengths, L).unsqueeze(1)  # (B, T, L)
    n = frames.sum().clamp(min=1)
    return (attention * penalty * pairs).sum() / n, (share * frames).sum() / n
