"""The non-autoregressive (NAR) model: codebooks 2..Q, one level at a time, all frames at once.

It differs from the AR model (tts/models/ar.py) in four places:
- each audio frame embeds the sum of several codebooks: every level of the prompt's frames, and
  the levels below the one being predicted of the target's frames;
- attention is bidirectional everywhere (only padding is masked);
- the level being predicted conditions every norm (adaptive layer norm on a level embedding);
- there is one output head per predicted level and no EOS. Decoding conditions each level on the most
  likely codes of the levels below, and hears each level as its expected latent: the probability-
  weighted mean of the codebook's entries instead of the most likely one (docs/experiments/nar-decode-argmax.md).

Levels count from 0: level k is codebook k + 1; the NAR predicts levels 1..Q-1 given levels < k.

Shapes: B batch, L phones, T frames (prompt + target), Q codebooks, D width, V codebook size, E codec
latent width. phones (B, L) long right-padded; codes (B, Q, T) long right-padded; logits (B, T, V).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tts.models.layers import (SinusoidalPositions, Transformer, TransformerShape, check_length, embed_levels,
                               expected_entries, init_weights, length_mask, model_from_checkpoint,
                               pad_right, phones_then_audio)


class NARModel(nn.Module):
    """Codebooks 2..Q from codebook 1, the phones and a voice prompt."""

    def __init__(self, n_symbols: int, codebook_size: int, n_codebooks: int, shape: TransformerShape):
        super().__init__()
        if n_codebooks < 2:
            raise ValueError(f"the NAR predicts codebooks 2..Q, but the codec has Q = {n_codebooks}")
        self.n_symbols, self.codebook_size, self.n_codebooks, self.shape = n_symbols, codebook_size, n_codebooks, shape
        D, V, Q = shape.width, codebook_size, n_codebooks
        self.phone_embedding = nn.Embedding(n_symbols, D)
        self.code_embedding = nn.Embedding(Q * V, D)  # level q's code c is row q * V + c
        self.level_embedding = nn.Embedding(Q, D)
        self.phone_positions = SinusoidalPositions(D)
        self.audio_positions = SinusoidalPositions(D)
        self.transformer = Transformer(shape, adaptive=True)
        self.heads = nn.Parameter(torch.randn(Q - 1, V, D) * 0.02)  # output projection of levels 1..Q-1
        init_weights(self, shape.layers)

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the model (saved in checkpoints)."""
        return {"n_symbols": self.n_symbols, "codebook_size": self.codebook_size,
                "n_codebooks": self.n_codebooks, **self.shape.config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "NARModel":
        return cls(config["n_symbols"], config["codebook_size"], config["n_codebooks"],
                   TransformerShape.from_config(config))

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> "NARModel":
        """The model of a checkpoint dict of stage nar (tts.checkpoint.load_checkpoint)."""
        return model_from_checkpoint(cls, checkpoint)

    def forward(self, phones: torch.Tensor, phone_lengths: torch.Tensor, codes: torch.Tensor,
                audio_lengths: torch.Tensor, prompt_lengths: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) of codebook level[b] at every audio position of right-padded inputs.

        Frames t < prompt_lengths[b] show all Q levels; later frames show levels < level[b].
        """
        L, Q, T = phones.size(1), codes.size(1), codes.size(2)
        check_length(L, T, self.shape.max_positions)
        frames = torch.arange(T, device=codes.device)
        levels = torch.arange(Q, device=codes.device)
        shown = ((levels.view(1, Q, 1) < level.view(-1, 1, 1))
                 | (frames.view(1, 1, T) < prompt_lengths.view(-1, 1, 1)))  # (B, Q, T)
        audio = embed_levels(self.code_embedding, codes, self.codebook_size, shown)  # (B, T, D)
        x = phones_then_audio(self.phone_embedding(phones), audio, self.phone_positions,
                              self.audio_positions)  # (B, L + T, D)
        keys_valid = torch.cat([length_mask(phone_lengths, L), length_mask(audio_lengths, T)], dim=1)  # (B, N)
        h, _ = self.transformer(x, keys_valid[:, None, None, :], condition=self.level_embedding(level))
        return torch.einsum("btd,bvd->btv", h[:, L:], self.heads[level - 1])  # (B, T, V)

    @torch.no_grad()
    def generate(self, phones: Sequence[torch.Tensor], first_level: Sequence[torch.Tensor],
                 prompt_codes: Sequence[torch.Tensor] | None = None,
                 prompt_phones: Sequence[torch.Tensor] | None = None,
                 codebooks: torch.Tensor | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """Fill in levels 1..Q-1 for a batch of sentences: (codes, latents).

        phones[i] (L_i,) and first_level[i] (T_i,): the text and its codebook-1 codes;
        prompt_phones[i] (Lp_i,) and prompt_codes[i] (Q, P_i): the voice prompt (optional).
        codes[i] (Q, T_i): the target's codes, prompt excluded, each level the most likely given the
        levels below. With `codebooks` (Q, V, E), the codec's entries, latents[i] (E, T_i) is the entry of
        codebook 1 plus, for each later level, the mean of its entries under the predicted distribution
        (what synthesis decodes); without them latents is None.
        """
        device = self.phone_embedding.weight.device
        B, Q = len(phones), self.n_codebooks
        if codebooks is not None and tuple(codebooks.shape[:2]) != (Q, self.codebook_size):
            raise ValueError(f"codebooks must have shape ({Q}, {self.codebook_size}, dim), got {tuple(codebooks.shape)}")
        prompt_phones = prompt_phones or [phones[0].new_zeros(0)] * B
        prompt_codes = prompt_codes or [first_level[0].new_zeros(Q, 0)] * B
        text = [torch.cat([p, t]).to(device) for p, t in zip(prompt_phones, phones)]
        audio = []
        for prompt, first in zip(prompt_codes, first_level):
            target = F.pad(first.view(1, -1).to(device), (0, 0, 0, Q - 1))  # (Q, T_i): levels > 0 unknown
            audio.append(torch.cat([prompt.to(device), target], dim=1))  # (Q, P_i + T_i)
        phone_lengths = torch.tensor([len(t) for t in text], device=device)
        audio_lengths = torch.tensor([a.size(1) for a in audio], device=device)
        prompt_lengths = torch.tensor([p.size(1) for p in prompt_codes], device=device)
        phones_padded = pad_right(text, int(phone_lengths.max()))  # (B, L)
        codes = pad_right(audio, int(audio_lengths.max()))  # (B, Q, T)
        target = length_mask(audio_lengths, codes.size(2)) & ~length_mask(prompt_lengths, codes.size(2))
        books = codebooks.to(device, torch.float32) if codebooks is not None else None
        latents = books[0][codes[:, 0]] if books is not None else None  # (B, T, E)
        for k in range(1, Q):
            level = torch.full((B,), k, device=device)
            logits = self(phones_padded, phone_lengths, codes, audio_lengths, prompt_lengths, level)
            codes[:, k] = torch.where(target, logits.argmax(dim=-1), codes[:, k])
            if books is not None:
                latents = latents + expected_entries(logits, books[k])  # (B, T, E)
        spans = [(int(prompt_lengths[i]), int(audio_lengths[i])) for i in range(B)]
        out = [codes[i, :, start:end].clone() for i, (start, end) in enumerate(spans)]
        if latents is None:
            return out, None
        return out, [latents[i, start:end].T.contiguous() for i, (start, end) in enumerate(spans)]
