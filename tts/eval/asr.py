"""An offline English recogniser: pocketsphinx with the acoustic model, language model and
dictionary that ship inside its PyPI package (nothing is downloaded).

It is a judge of intelligibility, not a good recogniser: on clean audio of the flite voices
it makes 10-20 % word errors, which is why every evaluation also reports its error on the
original audio (the floor). It reads 16 kHz mono 16-bit audio; other rates are resampled.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # Hz, the rate of pocketsphinx's en-us acoustic model


class Recognizer:
    """pocketsphinx's default en-us decoder, loaded on first use (about 0.5 s)."""

    sample_rate = SAMPLE_RATE

    def __init__(self) -> None:
        self._decoder = None

    @property
    def decoder(self):
        if self._decoder is None:
            from pocketsphinx import Decoder

            self._decoder = Decoder(loglevel="FATAL")
            log.debug("pocketsphinx loaded: %s", self._decoder.config["hmm"])
        return self._decoder

    def transcribe(self, wav: np.ndarray, sample_rate: int) -> str:
        """Words heard in a mono float waveform (S,) in [-1, 1], lower case, '' for none."""
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1:
            raise ValueError(f"transcribe expects mono audio (S,), got shape {wav.shape}")
        if sample_rate != self.sample_rate:
            from tts.audio.io import resample

            wav = resample(wav, sample_rate, self.sample_rate)
        if wav.size < self.sample_rate // 10:  # under 0.1 s: nothing to hear (and empty input crashes it)
            return ""
        # 1 LSB of fixed-seed dither: on digital silence the decoder otherwise hallucinates words
        dither = np.random.default_rng(0).integers(-1, 2, wav.size)  # (S,)
        pcm = np.clip(np.round(wav * 32767.0) + dither, -32768, 32767).astype(np.int16)  # (S,)
        decoder = self.decoder
        decoder.reinit_feat()  # the noise tracker and CMN otherwise carry over from the last utterance
        decoder.start_utt()
        decoder.process_raw(pcm.tobytes(), full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return hypothesis.hypstr.strip() if hypothesis is not None else ""


@functools.lru_cache(maxsize=1)
def default_recognizer() -> Recognizer:
    """One recogniser per process, so that the model loads once."""
    return Recognizer()


def transcribe(wav: np.ndarray, sample_rate: int) -> str:
    """Words heard in a mono waveform, through the process's recogniser."""
    return default_recognizer().transcribe(wav, sample_rate)
