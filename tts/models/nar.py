"""The non-autoregressive (NAR) model: codebooks 2..Q, one level at a time, all frames at once.

It differs from the AR model (tts/models/ar.py) in four places:
- each audio frame embeds the sum of several codebooks: every level of the prompt's frames, and
  the levels below the one being predicted of the target's frames;
- attention is bidirectional everywhere (only padding is masked);
- the level being predicted conditions every norm (adaptive layer norm on a level embedding);
- there is one output head per predicted level, no EOS, and decoding is greedy; given the codec's
  codebooks, generate also returns the expected latents: per level, the probability-weighted mean
  of the codebook's entries instead of the most likely one (README "Decoding the NAR").

In mel mode (nar.predict: mel) one linear head replaces the code heads: from codebook 1 of the
target's frames, the phones and the prompt's codes it regresses each frame's r log-mel frames
(B, T, r, M), which a mel vocoder hears; levels 2..Q and the codec's decoder are then not used.

Levels count from 0: level k is codebook k + 1; the NAR predicts levels 1..Q-1 given levels < k.

Shapes: B batch, L phones, T frames (prompt + target), Q codebooks, D width, V codebook size.
phones (B, L) long right-padded; codes (B, Q, T) long right-padded; logits (B, T, V).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tts.models.layers import (SinusoidalPositions, Transformer, TransformerShape, expected_entries, init_weights,
                               length_mask, pad_right)


class NARModel(nn.Module):
    """Codebooks 2..Q (the default), or, built with `mel_bins`, the log-mel frames of each codec frame
    (`mel_per_frame` of them) from codebook 1 and the phones: the mel mode, which a mel vocoder
    hears in place of levels 2..Q and the codec's decoder (README "The NAR's mel mode")."""

    def __init__(self, n_symbols: int, codebook_size: int, n_codebooks: int, shape: TransformerShape,
                 mel_bins: int = 0, mel_per_frame: int = 0):
        super().__init__()
        if (mel_bins > 0) != (mel_per_frame > 0):
            raise ValueError(f"a mel-mode NAR needs both mel_bins and mel_per_frame, got {mel_bins} and {mel_per_frame}")
        if n_codebooks < 2 and not mel_bins:
            raise ValueError(f"the NAR predicts codebooks 2..Q, but the codec has Q = {n_codebooks}")
        self.n_symbols, self.codebook_size, self.n_codebooks, self.shape = n_symbols, codebook_size, n_codebooks, shape
        self.mel_bins, self.mel_per_frame = mel_bins, mel_per_frame
        D, V, Q = shape.width, codebook_size, n_codebooks
        self.phone_embedding = nn.Embedding(n_symbols, D)
        self.code_embedding = nn.Embedding(Q * V, D)  # level q's code c is row q * V + c
        self.level_embedding = nn.Embedding(max(Q, 2), D)
        self.phone_positions = SinusoidalPositions(D)
        self.audio_positions = SinusoidalPositions(D)
        self.transformer = Transformer(shape, adaptive=True)
        if mel_bins:
            self.mel_head = nn.Linear(D, mel_per_frame * mel_bins)  # each frame's log-mel frames
        else:
            self.heads = nn.Parameter(torch.randn(Q - 1, V, D) * 0.02)  # output projection of levels 1..Q-1
        init_weights(self, shape.layers)

    @property
    def predicts_mel(self) -> bool:
        return self.mel_bins > 0

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the model (saved in checkpoints)."""
        s = self.shape
        extra = {"mel_bins": self.mel_bins, "mel_per_frame": self.mel_per_frame} if self.predicts_mel else {}
        return {"n_symbols": self.n_symbols, "codebook_size": self.codebook_size,
                "n_codebooks": self.n_codebooks, **s.config(), **extra}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "NARModel":
        return cls(config["n_symbols"], config["codebook_size"], config["n_codebooks"],
                   TransformerShape.from_config(config), int(config.get("mel_bins", 0)),
                   int(config.get("mel_per_frame", 0)))

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> "NARModel":
        """The model of a checkpoint dict of its training stage (tts.train.checkpoint.load_checkpoint)."""
        if "model_config" not in checkpoint or "model" not in checkpoint.get("modules", {}):
            raise ValueError(f"not a checkpoint of this model's stage (stage {checkpoint.get('stage')!r})")
        model = cls.from_config(checkpoint["model_config"])
        model.load_state_dict(checkpoint["modules"]["model"])
        return model.eval()

    def _hidden(self, phones: torch.Tensor, phone_lengths: torch.Tensor, codes: torch.Tensor,
                audio_lengths: torch.Tensor, prompt_lengths: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, T, D) of the audio positions, frames t >= prompt_lengths[b] showing levels < level[b]."""
        L, Q, T = phones.size(1), codes.size(1), codes.size(2)
        if L + T > self.shape.max_positions:
            raise ValueError(f"sequence of {L} phones + {T} frames is longer than max_positions = "
                             f"{self.shape.max_positions}; raise it in the recipe or drop long utterances")
        frames = torch.arange(T, device=codes.device)
        levels = torch.arange(Q, device=codes.device)
        shown = ((levels.view(1, Q, 1) < level.view(-1, 1, 1))
                 | (frames.view(1, 1, T) < prompt_lengths.view(-1, 1, 1)))  # (B, Q, T)
        offsets = (levels * self.codebook_size).view(1, Q, 1)
        a = (self.code_embedding(codes + offsets) * shown.unsqueeze(-1)).sum(dim=1)  # (B, T, D)
        p = self.phone_embedding(phones)  # (B, L, D)
        positions = torch.arange(max(L, T), device=codes.device).unsqueeze(0)  # (1, max(L, T))
        x = torch.cat([p + self.phone_positions(positions[:, :L]),
                       a + self.audio_positions(positions[:, :T])], dim=1)  # (B, L + T, D)
        keys_valid = torch.cat([length_mask(phone_lengths, L), length_mask(audio_lengths, T)], dim=1)  # (B, N)
        h, _ = self.transformer(x, keys_valid[:, None, None, :], condition=self.level_embedding(level))
        return h[:, L:]

    def forward(self, phones: torch.Tensor, phone_lengths: torch.Tensor, codes: torch.Tensor,
                audio_lengths: torch.Tensor, prompt_lengths: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) of codebook level[b] at every audio position of right-padded inputs.

        Frames t < prompt_lengths[b] show all Q levels; later frames show levels < level[b].
        """
        if self.predicts_mel:
            raise ValueError("this NAR predicts log-mel frames (mel mode), not codes: call mel()")
        h = self._hidden(phones, phone_lengths, codes, audio_lengths, prompt_lengths, level)
        return torch.einsum("btd,bvd->btv", h, self.heads[level - 1])  # (B, T, V)

    def mel(self, phones: torch.Tensor, phone_lengths: torch.Tensor, codes: torch.Tensor,
            audio_lengths: torch.Tensor, prompt_lengths: torch.Tensor) -> torch.Tensor:
        """Mel mode: log-mel frames (B, T, r, M) of every audio position, the target's frames showing
        codebook 1 only (codes (B, Q, T); levels > 1 after the prompt are not read)."""
        if not self.predicts_mel:
            raise ValueError("this NAR predicts codes: train it with nar.predict: mel for log-mel frames")
        level = torch.ones(codes.size(0), dtype=torch.long, device=codes.device)
        h = self._hidden(phones, phone_lengths, codes, audio_lengths, prompt_lengths, level)
        return self.mel_head(h).view(h.size(0), h.size(1), self.mel_per_frame, self.mel_bins)

    @torch.no_grad()
    def generate(self, phones: Sequence[torch.Tensor], first_level: Sequence[torch.Tensor],
                 prompt_codes: Sequence[torch.Tensor] | None = None,
                 prompt_phones: Sequence[torch.Tensor] | None = None,
                 codebooks: torch.Tensor | None = None):
        """Fill in levels 1..Q-1 greedily for a batch of sentences.

        phones[i] (L_i,) and first_level[i] (T_i,): the text and the AR's codebook-1 codes;
        prompt_phones[i] (Lp_i,) and prompt_codes[i] (Q, P_i): the voice prompt (optional).
        Returns the target codes (Q, T_i) of each sentence, prompt excluded. With `codebooks`
        (Q, V, E), the codec's entries, returns (codes, latents): latents[i] (E, T_i) is the entry of
        codebook 1 plus, for each later level, the mean of its entries under the predicted
        distribution (each level still conditions on the most likely codes of the levels below).
        In mel mode: the log-mel frames (M, T_i x r) of each sentence instead (`codebooks` unused).
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
        if self.predicts_mel:
            mel = self.mel(phones_padded, phone_lengths, codes, audio_lengths, prompt_lengths)  # (B, T, r, M)
            return [mel[i, int(prompt_lengths[i]):int(audio_lengths[i])].flatten(0, 1).T.contiguous()
                    for i in range(B)]
        if codebooks is not None:
            books = codebooks.to(device, torch.float32)
            latents = books[0][codes[:, 0]]  # (B, T, E)
        for k in range(1, Q):
            level = torch.full((B,), k, device=device)
            logits = self(phones_padded, phone_lengths, codes, audio_lengths, prompt_lengths, level)
            codes[:, k] = torch.where(target, logits.argmax(dim=-1), codes[:, k])
            if codebooks is not None:
                latents = latents + expected_entries(logits, books[k])  # (B, T, E)
        out = [codes[i, :, int(prompt_lengths[i]):int(audio_lengths[i])].clone() for i in range(B)]
        if codebooks is None:
            return out
        return out, [latents[i, int(prompt_lengths[i]):int(audio_lengths[i])].T.contiguous() for i in range(B)]
