"""A discriminator over log-mel patches, for the durations model's adversarial loss.

A model that regresses log-mel frames by an L1 draws the mean of what it cannot tell apart: smooth
frames with smeared harmonics (docs/durations.md). A discriminator that judges patches of frames
(time x mel bins, as an image) pushes the model toward frames with the texture of real ones, as
GAN-trained mel generators do. Two-dimensional convolutions, weight-normalised, leaky ReLU between
them, strided twice in each direction; least-squares logits per patch position.

Shapes: B batch, F log-mel frames, M mel bins. (B, F, M) -> one (logits, feature maps) pair in a list,
the form tts.models.vocoder's losses take.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from tts.models.vocoder import LRELU_SLOPE, DiscriminatorOutput

LOG_MEL_CENTRE = -5.0  # log-mels lie between the floor log(1e-5) = -11.5 and about 2; centred and scaled
LOG_MEL_SCALE = 3.0


class MelDiscriminator(nn.Module):
    """Patch discriminator over log-mel frames (B, F, M)."""

    def __init__(self, channels: int = 32):
        super().__init__()
        widths = [1, channels, 2 * channels, 4 * channels, 4 * channels]
        strides = [1, 2, 2, 1]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(a, b, 3, stride=s, padding=1)) for a, b, s in zip(widths, widths[1:], strides))
        self.out = weight_norm(nn.Conv2d(widths[-1], 1, 3, padding=1))

    def forward(self, mel: torch.Tensor) -> list[DiscriminatorOutput]:
        x = ((mel.float() - LOG_MEL_CENTRE) / LOG_MEL_SCALE).unsqueeze(1)  # (B, 1, F, M)
        maps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            maps.append(x)
        return [(self.out(x).flatten(1), maps)]


def random_crops(mel: torch.Tensor, target: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor,
                 frames: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The same `frames`-frame window of generated and target log-mels (B, F, M) in each utterance,
    drawn inside [starts, ends) (mel frames): (generated, target) crops (B, frames, M), or None when an
    utterance has fewer frames there (the batch then has no adversarial term)."""
    room = ends - starts - frames
    if int(room.min()) < 0:
        return None
    offsets = starts + (torch.rand(room.shape, device=room.device) * (room + 1)).long()
    index = offsets[:, None] + torch.arange(frames, device=mel.device)  # (B, frames)
    pick = index[..., None].expand(-1, -1, mel.size(-1))
    return mel.gather(1, pick), target.gather(1, pick)
