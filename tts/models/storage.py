"""How an exported checkpoint stores its models' weights: fp32, fp16, or int8 matrices with a scale per row.

The checkpoint names its storage (checkpoint["storage"]: fp32 | fp16 | int8). Under int8, the weight of each linear,
conv and embedding layer (an entry named WEIGHT_NAMES, floating, of at least 2 dimensions and MIN_INT8_ELEMENTS
elements) is kept as int8 q of the same shape, with one float32 scale per row (the first dimension: a layer's
output channel, an embedding's entry) in checkpoint["scales"][module][key]; a stack of output matrices (an entry
named STACKED_NAMES, such as the NAR's heads (levels, V, D)) has a scale per row of each matrix (levels, V). Every
other floating tensor is kept as fp16: biases, norms, small tensors, and buffers such as the codec's codebooks (a
nearest-neighbour table: int8 rows would change the codes a prompt encodes to):

    scale = max |w[row]| / 127        q = round(w / scale), clamped to [-127, 127]        w ~ q * scale

Each element comes back within scale / 2 of its value; a row of zeros has scale 0 and comes back as zeros.
Reading (`restored`, through tts.checkpoint.read_checkpoint) turns the int8 matrices back into fp32, so the models
load them as any checkpoint; the fp16 tensors are cast to the models' fp32 by load_state_dict.
"""

from __future__ import annotations

from typing import Any

import torch

STORAGES = ("fp16", "fp32", "int8")
MIN_INT8_ELEMENTS = 4096  # smaller tensors save little and weigh little: fp16
# a layer's weight: plain, or the direction of a weight-normed one (torch.nn.utils.weight_norm, parametrizations)
WEIGHT_NAMES = ("weight", "weight_v", "parametrizations.weight.original1")
STACKED_NAMES = ("heads",)  # (matrices, rows, columns): a scale per row of each matrix
INT8_MAX = 127  # symmetric: -128 is never used


def quantize_rows(weight: torch.Tensor, row_dims: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(q int8, same shape as `weight`; scale float32, the shape of its first `row_dims` dimensions): symmetric
    absmax quantisation of each row (a row: the rest of the dimensions)."""
    rows = weight.shape[:row_dims]
    w = weight.detach().float().reshape(rows.numel(), -1)  # (R, C)
    scale = w.abs().amax(dim=1) / INT8_MAX  # (R,)
    divisor = torch.where(scale > 0, scale, torch.ones_like(scale))  # a row of zeros stays zeros
    q = torch.round(w / divisor[:, None]).clamp(-INT8_MAX, INT8_MAX).to(torch.int8)  # (R, C)
    return q.reshape(weight.shape), scale.reshape(rows)


def dequantize_rows(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The fp32 tensor of int8 rows `q` (*rows, ...) and their scales (*rows)."""
    return q.float() * scale.float().reshape(*scale.shape, *([1] * (q.dim() - scale.dim())))


def int8_row_dims(key: str, tensor: torch.Tensor) -> int:
    """How many leading dimensions of the state entry `key` index its int8 rows (0: not stored as int8): 1 for a
    layer's weight, 2 for a stack of matrices; floating tensors of MIN_INT8_ELEMENTS elements or more only."""
    def named(names: tuple[str, ...]) -> bool:
        return any(key == name or key.endswith("." + name) for name in names)

    if not torch.is_floating_point(tensor) or tensor.numel() < MIN_INT8_ELEMENTS:
        return 0
    if named(STACKED_NAMES) and tensor.dim() == 3:
        return 2
    return 1 if named(WEIGHT_NAMES) and tensor.dim() >= 2 else 0


def store(state: dict[str, torch.Tensor], storage: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(`state` as `storage` keeps it, the scale of each int8 entry): floating tensors cast to fp16 or fp32, or
    under int8 the layers' weights quantised by row and the rest cast to fp16; integer tensors as they are."""
    if storage not in STORAGES:
        raise ValueError(f"weights stored as {storage!r}: use {', '.join(STORAGES)}")
    kept, scales = {}, {}
    for key, value in state.items():
        row_dims = int8_row_dims(key, value) if storage == "int8" else 0
        if row_dims:
            kept[key], scales[key] = quantize_rows(value, row_dims)
        elif torch.is_floating_point(value):
            kept[key] = value.to(torch.float32 if storage == "fp32" else torch.float16)
        else:
            kept[key] = value
    return kept, scales


def restored(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint read from a file with its int8 matrices back in fp32 (and no scales); others as they are."""
    storage = checkpoint.get("storage")
    if storage is None or storage in ("fp16", "fp32"):
        return checkpoint
    if storage != "int8":
        raise ValueError(f"the checkpoint stores its weights as {storage!r}, which this version does not read "
                         f"({', '.join(STORAGES)}); export the run again with this version")
    if "scales" not in checkpoint:
        raise ValueError("the checkpoint stores its weights as int8 but holds no scales (damaged or cut short)")
    modules = {name: dict(state) for name, state in checkpoint["modules"].items()}
    for name, scales in checkpoint["scales"].items():
        for key, scale in scales.items():
            modules[name][key] = dequantize_rows(modules[name][key], scale)
    return {**{key: value for key, value in checkpoint.items() if key != "scales"}, "modules": modules}
