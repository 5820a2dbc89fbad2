"""Naturalness without listeners: DNSMOS, Microsoft's neural predictor of mean opinion scores.

The ONNX models ship inside the `speechmos` package (PyPI) and run on the CPU with onnxruntime;
nothing is downloaded. Four scores on the 1..5 opinion scale, higher is better:

    sig   speech signal (ITU-T P.835 SIG): how natural and undistorted the voice itself sounds
    bak   background (P.835 BAK): how free of noise and artefacts the rest of the signal is
    ovrl  overall (P.835 OVRL)
    p808  overall quality as a P.808 listening test rates it (a separate model over log-mels)

DNSMOS hears 16 kHz audio (other rates are resampled) in 9.01 s windows hopped by 1 s and
averages them; a clip shorter than that is doubled until it is not, so it is heard in 1 to 9
windows. A window costs about 0.25 s of one CPU core: 0.3 to 2.3 s per clip, on average about
0.3 s per second of audio over clips of 1 to 12 s (0.11 s per second for long clips).

It was trained on real recordings of noisy and denoised speech, not on synthesis: compare systems
on the same sentences, beside the scores of the original recordings.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # Hz, the rate DNSMOS's models were trained at
MIN_SECONDS = 0.1  # shorter clips get no score: repeated to 9 s they are a buzz, not speech
SCALE = (1.0, 5.0)  # the opinion scale; its polynomial calibration strays a little past it (0.96 for a pure tone)
KEYS = ("sig", "bak", "ovrl", "p808")
MODELS = "DNSMOS P.835 (sig_bak_ovr.onnx) and P.808 (model_v8.onnx) from speechmos, 16 kHz, 9.01 s windows"


@functools.lru_cache(maxsize=1)
def _models():
    """speechmos's DNSMOS scorer over the models in its package, loaded once per process."""
    try:
        from speechmos import dnsmos  # imports onnxruntime and librosa
    except ImportError as err:
        raise RuntimeError(f"DNSMOS needs the speechmos and onnxruntime packages ({err}); "
                           "pip install speechmos onnxruntime, or score with --no-mos") from None
    folder = Path(dnsmos.__file__).parent / "dnsmos_models"
    scorer = dnsmos.DNSMOS(str(folder / "sig_bak_ovr.onnx"), str(folder / "model_v8.onnx"))
    log.debug("DNSMOS loaded from %s", folder)
    return scorer


def dnsmos(wav: np.ndarray, sample_rate: int) -> dict[str, float] | None:
    """DNSMOS of a mono waveform (S,): {"sig", "bak", "ovrl", "p808"} each in 1..5; None under MIN_SECONDS."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        raise ValueError(f"dnsmos expects mono audio (S,), got shape {wav.shape}")
    if len(wav) < MIN_SECONDS * sample_rate:
        return None
    if sample_rate != SAMPLE_RATE:
        from tts.audio.io import resample

        wav = resample(wav, sample_rate, SAMPLE_RATE)
    # what a 16-bit file of it would hold: speechmos refuses samples beyond full scale
    wav = np.clip(np.nan_to_num(wav), -1.0, 1.0)  # (S,)
    scores = _models()(wav, SAMPLE_RATE, False)  # False: the general models, not the personalised ones
    raw = {"sig": scores["sig_mos"], "bak": scores["bak_mos"], "ovrl": scores["ovrl_mos"], "p808": scores["p808_mos"]}
    return {key: float(np.clip(value, *SCALE)) for key, value in raw.items()}
