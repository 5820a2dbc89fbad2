"""Transformer pieces shared by the AR, NAR and durations models: attention with a KV cache, pre-norm
blocks, sinusoidal positions, adaptive layer norm, and the embedding of phones and codec frames.

Shapes: B batch, N sequence (phones + frames), D width, H heads, K keys (cached + new).
hidden (B, N, D); attention mask (B, 1, N, K) bool, True = may attend.

Positions are sinusoidal and restart at 0 in each segment (phones, audio), with a learned scale
per segment, as in VALL-E: a frame knows how far into the audio it is and a phone how far into
the text, and neither has to learn an offset that depends on the other segment's length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn


IGNORE = -100  # target value that losses and accuracies skip


@dataclass(frozen=True)
class TransformerShape:
    """Size of a transformer stack (the recipe's TransformerSize keys of an ar, nar or durations section)."""

    width: int
    layers: int
    heads: int
    dropout: float = 0.0
    max_positions: int = 4096
    attention_dropout: float | None = None  # dropout on attention weights (None = dropout)

    @property
    def attention_p(self) -> float:
        return self.dropout if self.attention_dropout is None else self.attention_dropout

    def config(self) -> dict[str, Any]:
        """The shape's keys of a model config (saved in checkpoints)."""
        return {"width": self.width, "layers": self.layers, "heads": self.heads, "dropout": self.dropout,
                "max_positions": self.max_positions, "attention_dropout": self.attention_dropout}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TransformerShape":
        """The shape of a model config (checkpoints without attention_dropout: the same as dropout)."""
        return cls(config["width"], config["layers"], config["heads"], config["dropout"], config["max_positions"],
                   config.get("attention_dropout"))


class KVCache:
    """Keys and values of every layer for the positions seen so far, in preallocated buffers.

    One decoding step appends one position per layer, so a new frame costs attention over the
    cache instead of a pass over the whole prefix. Buffers grow by doubling when full.
    """

    def __init__(self, layers: int, batch: int, heads: int, head_dim: int, capacity: int,
                 device: torch.device | str, dtype: torch.dtype = torch.float32):
        shape = (batch, heads, max(capacity, 1), head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(layers)]
        self.length = 0  # positions filled (the same in every layer once a step is done)

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, H, N, Dh) after the cached positions; return all keys and values (B, H, K, Dh)."""
        start, n = self.length, k.size(2)
        if start + n > self.keys[layer].size(2):
            self._grow(layer, start + n)
        self.keys[layer][:, :, start:start + n] = k
        self.values[layer][:, :, start:start + n] = v
        return self.keys[layer][:, :, :start + n], self.values[layer][:, :, :start + n]

    def advance(self, n: int) -> None:
        """Mark n new positions as filled (after every layer has appended them)."""
        self.length += n

    def _grow(self, layer: int, needed: int) -> None:
        capacity = max(needed, 2 * self.keys[layer].size(2))
        for buffers in (self.keys, self.values):
            old = buffers[layer]
            new = old.new_zeros(old.size(0), old.size(1), capacity, old.size(3))
            new[:, :, :old.size(2)] = old
            buffers[layer] = new


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention through F.scaled_dot_product_attention, with an optional KV cache."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        assert width % heads == 0
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None = None,
                layer: int = 0, need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, N, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)
        q, k, v = (t.view(B, N, self.heads, D // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, H, N, Dh)
        if cache is not None:
            k, v = cache.append(layer, k, v)  # (B, H, K, Dh)
        dropout = self.dropout if self.training else 0.0
        weights = None
        if need_weights:  # explicit softmax, for an attention loss; same result as the fused kernel
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, H, N, K)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            y = F.dropout(weights, dropout, self.training) @ v  # (B, H, N, Dh)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        y = y.transpose(1, 2).reshape(B, N, D)  # (B, N, D)
        return self.proj(y), weights


class AdaptiveLayerNorm(nn.Module):
    """LayerNorm whose gain and bias come from a conditioning vector (e.g. a codebook level)."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.modulation = nn.Linear(width, 2 * width)
        nn.init.zeros_(self.modulation.weight)  # starts as a plain LayerNorm
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        scale, shift = self.modulation(condition).unsqueeze(1).chunk(2, dim=2)  # (B, 1, D) each
        return self.norm(x) * (1 + scale) + shift


class Norm(nn.Module):
    """LayerNorm, or AdaptiveLayerNorm when the stack is conditioned."""

    def __init__(self, width: int, adaptive: bool):
        super().__init__()
        self.adaptive = adaptive
        self.norm = AdaptiveLayerNorm(width) if adaptive else nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        return self.norm(x, condition) if self.adaptive else self.norm(x)


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, width: int, heads: int, dropout: float, attention_dropout: float, adaptive: bool = False):
        super().__init__()
        self.norm1 = Norm(width, adaptive)
        self.attention = MultiHeadAttention(width, heads, attention_dropout)
        self.norm2 = Norm(width, adaptive)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, condition: torch.Tensor | None = None,
                cache: KVCache | None = None, layer: int = 0,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        y, weights = self.attention(self.norm1(x, condition), mask, cache, layer, need_weights)
        x = x + self.dropout(y)
        x = x + self.dropout(self.mlp(self.norm2(x, condition)))
        return x, weights


class Transformer(nn.Module):
    """A stack of pre-norm blocks and a final norm over already embedded inputs (B, N, D)."""

    def __init__(self, shape: TransformerShape, adaptive: bool = False):
        super().__init__()
        self.shape = shape
        self.blocks = nn.ModuleList(Block(shape.width, shape.heads, shape.dropout, shape.attention_p, adaptive)
                                    for _ in range(shape.layers))
        self.norm = Norm(shape.width, adaptive)
        self.drop = nn.Dropout(shape.dropout)

    def new_cache(self, batch: int, capacity: int, device: torch.device, dtype: torch.dtype) -> KVCache:
        s = self.shape
        return KVCache(s.layers, batch, s.heads, s.width // s.heads, capacity, device, dtype)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, condition: torch.Tensor | None = None,
                cache: KVCache | None = None,
                weights_layer: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Hidden states (B, N, D), and the attention weights (B, H, N, K) of `weights_layer` if asked."""
        x = self.drop(x)
        weights = None
        for i, block in enumerate(self.blocks):
            x, w = block(x, mask, condition, cache, i, need_weights=(i == weights_layer))
            weights = w if w is not None else weights
        if cache is not None:
            cache.advance(x.size(1))
        return self.norm(x, condition), weights


class SinusoidalPositions(nn.Module):
    """Sinusoidal position encodings for explicit positions, times a learned scale (one per segment)."""

    def __init__(self, width: int):
        super().__init__()
        half = width // 2
        inv_freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.width = width
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        """positions (B, N) long -> encodings (B, N, D)."""
        angles = positions.unsqueeze(-1).float() * self.inv_freq  # (B, N, D/2)
        encoding = torch.cat([angles.sin(), angles.cos()], dim=-1)  # (B, N, 2*(D//2))
        if encoding.size(-1) < self.width:  # odd width
            encoding = F.pad(encoding, (0, self.width - encoding.size(-1)))
        return self.scale * encoding


def check_length(n_phones: int, n_frames: int, max_positions: int) -> None:
    """ValueError when phones + frames do not fit the model's max_positions."""
    if n_phones + n_frames > max_positions:
        raise ValueError(f"sequence of {n_phones} phones + {n_frames} frames is longer than max_positions = "
                         f"{max_positions}; raise it in the recipe or drop long utterances")


def embed_levels(embedding: nn.Embedding, codes: torch.Tensor, codebook_size: int,
                 shown: torch.Tensor | None = None) -> torch.Tensor:
    """The sum over levels of each frame's code embeddings: codes (B, Q, T) through one table of Q x V
    rows (level q's code c is row q * V + c), levels where `shown` (B, Q, T) is False left out -> (B, T, D)."""
    offsets = (torch.arange(codes.size(1), device=codes.device) * codebook_size).view(1, -1, 1)
    embedded = embedding(codes + offsets)  # (B, Q, T, D)
    if shown is not None:
        embedded = embedded * shown.unsqueeze(-1)
    return embedded.sum(dim=1)


def phones_then_audio(phones: torch.Tensor, audio: torch.Tensor, phone_positions: SinusoidalPositions,
                      audio_positions: SinusoidalPositions) -> torch.Tensor:
    """Embedded phones (B, L, D) and frames (B, T, D), each with positions from 0 -> (B, L + T, D)."""
    L, T = phones.size(1), audio.size(1)
    positions = torch.arange(max(L, T), device=phones.device).unsqueeze(0)  # (1, max(L, T))
    return torch.cat([phones + phone_positions(positions[:, :L]), audio + audio_positions(positions[:, :T])], dim=1)


def model_from_checkpoint(cls: Any, checkpoint: dict[str, Any]) -> nn.Module:
    """The model `cls` of a checkpoint dict of its training stage (tts.checkpoint.load_checkpoint), in eval mode."""
    if "model_config" not in checkpoint or "model" not in checkpoint.get("modules", {}):
        raise ValueError(f"not a checkpoint of this model's stage (stage {checkpoint.get('stage')!r})")
    model = cls.from_config(checkpoint["model_config"])
    model.load_state_dict(checkpoint["modules"]["model"])
    return model.eval()


def init_weights(module: nn.Module, layers: int) -> None:
    """GPT-2-style initialisation: N(0, 0.02) linear layers, residual projections scaled by depth."""
    for name, p in module.named_parameters():
        if name.endswith("modulation.weight") or name.endswith("modulation.bias"):
            continue  # adaptive norms start as plain norms
        if p.dim() == 2 and "embedding" not in name:
            std = 0.02 / math.sqrt(2 * layers) if name.endswith(("proj.weight", "mlp.2.weight")) else 0.02
            nn.init.normal_(p, mean=0.0, std=std)
        elif name.endswith(".bias"):
            nn.init.zeros_(p)


def length_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """(B, size) bool: True at the first lengths[b] columns of row b (right padding)."""
    return torch.arange(size, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def pad_right(rows: Sequence[torch.Tensor], size: int, value: int = 0) -> torch.Tensor:
    """Stack 1-D (or (..., T)) tensors padded on the right of the last dimension to `size`."""
    return torch.stack([F.pad(r, (0, size - r.size(-1)), value=value) for r in rows])


def pad_left(rows: Sequence[torch.Tensor], size: int, value: int = 0) -> torch.Tensor:
    """Stack tensors padded on the left of the last dimension to `size`."""
    return torch.stack([F.pad(r, (size - r.size(-1), 0), value=value) for r in rows])


def token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of logits (B, T, V) over targets (B, T) that are not IGNORE."""
    return F.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=IGNORE)


@torch.no_grad()
def token_accuracy(logits: torch.Tensor, targets: torch.Tensor, k: int = 1) -> float:
    """Share of targets (not IGNORE) among the k highest logits."""
    valid = targets != IGNORE
    if not bool(valid.any()):
        return float("nan")
    top = logits.topk(min(k, logits.size(-1)), dim=-1).indices  # (B, T, k)
    hit = (top == targets.unsqueeze(-1)).any(dim=-1)  # (B, T)
    return float(hit[valid].float().mean())


def expected_entries(logits: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """The mean codebook entry under each frame's prediction: logits (T, V [+ extra]) over a
    codebook's V entries (any columns past V, such as EOS, are left out and the rest renormalised),
    codebook (V, E) -> (T, E). A sampled code is one draw of this distribution; its mean is the
    least-squares estimate of the latent, without the draw's noise (AR and NAR decoding)."""
    V = codebook.size(0)
    if logits.size(-1) < V:
        raise ValueError(f"logits over {logits.size(-1)} tokens cannot weigh a codebook of {V} entries")
    probs = logits[..., :V].float().softmax(dim=-1)  # (T, V)
    return probs @ codebook.to(probs.device, torch.float32)  # (T, E)
