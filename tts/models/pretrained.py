"""The pretrained 24 kHz EnCodec of the `encodec` package: where its weights live, loading them, and
one clear error when they cannot be had (offline)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tts.checkpoint import read_checkpoint

ENCODEC_24KHZ_FILE = "encodec_24khz-d7cc33bc.th"  # the file name encodec's model.py asks torch hub for


class CodecUnavailable(RuntimeError):
    """The codec's weights cannot be had (pretrained EnCodec offline, without its file)."""


def encodec_24khz_cache_path() -> Path:
    """Where torch hub looks for (and downloads) the pretrained EnCodec 24 kHz weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ENCODEC_24KHZ_FILE


def load_encodec_24khz(checkpoint: str | None = None) -> nn.Module:
    """The pretrained 24 kHz EnCodec on CPU, as the encodec package builds it.

    Without `checkpoint`, the package fetches its weights through the torch hub cache (a
    download the first time). Offline and without the file, raises one CodecUnavailable.
    """
    from encodec import EncodecModel

    from tts.models.codec_model import quiet_weight_norm

    with quiet_weight_norm():
        if checkpoint is None:
            try:
                return EncodecModel.encodec_model_24khz()
            except OSError as err:  # URLError, socket timeouts, DNS failures are OSErrors
                raise CodecUnavailable(_offline_message(err)) from None
        model = EncodecModel.encodec_model_24khz(pretrained=False)
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"codec.checkpoint {path} does not exist; it should be the EnCodec "
                                f"24 kHz weights file ({ENCODEC_24KHZ_FILE})")
    state = read_checkpoint(path, weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def _offline_message(err: OSError) -> str:
    from encodec.model import ROOT_URL

    reason = getattr(err, "reason", err)
    return (f"the pretrained EnCodec 24 kHz weights could not be downloaded ({reason}). "
            f"Fetch {ROOT_URL}{ENCODEC_24KHZ_FILE} on a machine with internet and put it at "
            f"{encodec_24khz_cache_path()} (the torch hub cache; TORCH_HOME moves it), or set "
            f"codec.checkpoint to the file's path, or use codec.kind: trained to train a codec here")
