"""Score one utterance (recogniser, fidelity, duration, speaker, DNSMOS) and aggregate many.

Every number is a plain float, int, str or None so that results serialise to JSON as they are.
Durations are measured after trimming leading and trailing silence (TRIM_DB below the loudest
frame), so a synthesis that starts late or a reference with long edges is not penalised.

A text with no words to score against (empty, or only punctuation) has no WER: its "wer" and edit
counts are None, "unscorable" says why, and the aggregate leaves it out of the WER (counting it
under "unscorable") while its other measures count as usual.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from tts.eval import asr
from tts.eval.compare import wer_interval
from tts.eval.mcd import duration_ratio, mel_cepstral_distortion, mel_distance, spectral_variance_ratio
from tts.eval.mos import KEYS as MOS_KEYS, dnsmos
from tts.eval.speaker import cosine_similarity, similarity_to_speakers
from tts.eval.wer import WordErrors, normalize_for_wer, word_errors

TRIM_DB = 40.0  # dB below the loudest frame: edges quieter than this are not counted as speech


@dataclass
class Audio:
    """A mono waveform (S,) with its sample rate."""

    wav: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.wav) / self.sample_rate

    def trimmed(self) -> "Audio":
        from tts.audio.io import trim_silence

        return Audio(trim_silence(self.wav, self.sample_rate, TRIM_DB), self.sample_rate)


def recognize(audio: Audio, text: str) -> dict:
    """What the recogniser heard in `audio` and its word errors against `text` (None when `text` has no words)."""
    start = time.perf_counter()
    hypothesis = asr.transcribe(audio.wav, audio.sample_rate)
    seconds = time.perf_counter() - start
    if not normalize_for_wer(text):
        # an edit rate over zero words is no number: 0 or 1 would each pull the corpus WER the wrong way
        return {"hypothesis": hypothesis, **{key: None for key in WordErrors().to_dict()}, "reference_words": 0,
                "unscorable": f"the transcript has no words to score against ({text.strip()[:40]!r})",
                "asr_seconds": seconds}
    errors = word_errors(text, hypothesis)
    return {"hypothesis": hypothesis, **errors.to_dict(), "asr_seconds": seconds}


def score_utterance(audio: Audio, text: str, reference: Audio | None = None,
                    expected_seconds: float | None = None) -> dict:
    """Recogniser errors, and with a reference: its floor, MCD, mel distance, spectral variance ratio
    (of the speech, edges trimmed), duration ratio.

    Without a reference the duration ratio is taken against `expected_seconds` (from the phone
    count) when given.
    """
    speech = audio.trimmed()
    result = {"text": text, "normalized": normalize_for_wer(text), "seconds": audio.seconds,
              "speech_seconds": speech.seconds, **recognize(audio, text)}
    if reference is not None:
        reference_speech = reference.trimmed()
        floor = recognize(reference, text)
        result.update({
            "reference_hypothesis": floor["hypothesis"],
            "reference_wer": floor["wer"],
            "reference_errors": floor["errors"],
            "reference_seconds": reference_speech.seconds,
            "duration_ratio": _ratio(speech.seconds, reference_speech.seconds),
            "duration_basis": "reference",
            "mcd": _mcd(speech, reference_speech),
            "mel_distance": _mel_distance(audio, reference),
            "variance_ratio": _variance_ratio(speech, reference_speech),
        })
    elif expected_seconds:
        result.update({"expected_seconds": expected_seconds,
                       "duration_ratio": _ratio(speech.seconds, expected_seconds), "duration_basis": "phones"})
    return result


def add_mos_scores(result: dict, audio: Audio, reference: Audio | None = None) -> None:
    """DNSMOS of the audio (dnsmos_sig, _bak, _ovrl, _p808) and of its reference (reference_dnsmos_*);
    None for a clip too short to score."""
    start = time.perf_counter()
    for prefix, heard in (("", audio), ("reference_", reference)):
        if heard is not None:
            scores = dnsmos(heard.wav, heard.sample_rate) or {}
            result.update({f"{prefix}dnsmos_{key}": scores.get(key) for key in MOS_KEYS})
    result["mos_seconds"] = time.perf_counter() - start


def add_speaker_scores(result: dict, embedding: np.ndarray | None, prompt: np.ndarray | None = None,
                       speakers: dict[str, Sequence[np.ndarray]] | None = None, speaker: str | None = None) -> None:
    """Speaker similarity to the prompt and to real utterances of its own vs other speakers."""
    if prompt is not None:
        result["prompt_similarity"] = cosine_similarity(embedding, prompt)
    if speakers:
        scores = similarity_to_speakers(embedding, speakers, speaker)
        result.update({"similarity_same_speaker": scores["same"], "similarity_other_speakers": scores["other"],
                       "similarity_nearest_other": scores["nearest_other"], "closest_speaker": scores["closest"]})
        if speaker is not None and scores["closest"] is not None:
            result["speaker_identified"] = scores["closest"] == speaker


def _ratio(seconds: float, reference_seconds: float) -> float | None:
    return duration_ratio(seconds, reference_seconds) if reference_seconds > 0 else None


def _long_enough(audio: Audio, reference: Audio) -> bool:
    """Both at least 50 ms: shorter has too few frames for the spectral measures."""
    return audio.seconds >= 0.05 and reference.seconds >= 0.05


def _mcd(audio: Audio, reference: Audio) -> float | None:
    if not _long_enough(audio, reference):
        return None
    return mel_cepstral_distortion(audio.wav, audio.sample_rate, reference.wav, reference.sample_rate)


def _mel_distance(audio: Audio, reference: Audio) -> float | None:
    if not _long_enough(audio, reference):
        return None
    return mel_distance(audio.wav, audio.sample_rate, reference.wav, reference.sample_rate)


def _variance_ratio(audio: Audio, reference: Audio) -> float | None:
    if not _long_enough(audio, reference):
        return None
    return spectral_variance_ratio(audio.wav, audio.sample_rate, reference.wav, reference.sample_rate)


# --------------------------------------------------------------------------- aggregation

MEANS = ("mcd", "mel_distance", "variance_ratio", "duration_ratio", "prompt_similarity", "reference_similarity",
         "similarity_same_speaker",
         "similarity_other_speakers", "similarity_nearest_other",
         *(f"{prefix}dnsmos_{key}" for prefix in ("", "reference_") for key in MOS_KEYS))


def aggregate(utterances: Iterable[dict]) -> dict:
    """Corpus-level numbers over scored utterances: WER (summed edits / summed words), floor, means."""
    utterances = list(utterances)
    scored = [u for u in utterances if u["wer"] is not None]
    total = _sum_errors(scored)
    result = {
        "utterances": len(utterances),
        "seconds": float(sum(u["seconds"] for u in utterances)),
        "wer": total.wer if scored else None,
        "wer_mean": _mean(u["wer"] for u in scored),
        "substitutions": total.substitutions, "deletions": total.deletions, "insertions": total.insertions,
        "reference_words": total.reference_words,
        "unscorable": len(utterances) - len(scored),  # no words in the text: no WER
    }
    interval = wer_interval([u["errors"] for u in scored],
                            [u["reference_words"] for u in scored])
    if interval is not None:
        result["wer_interval"] = list(interval)
    with_reference = [u for u in scored if u.get("reference_wer") is not None]
    if with_reference:
        result["floor_wer"] = sum(u["reference_errors"] for u in with_reference) / max(
            1, sum(u["reference_words"] for u in with_reference))
    for key in MEANS:
        value = _mean(u.get(key) for u in utterances)
        if value is not None:
            result[key] = value
    ratios = [u["duration_ratio"] for u in utterances if u.get("duration_ratio") is not None]
    if ratios:
        result["duration_ratio_median"] = float(np.median(ratios))
    identified = [u["speaker_identified"] for u in utterances if "speaker_identified" in u]
    if identified:
        result["speaker_identified"] = float(np.mean(identified))
    hit = [u["hit_max_length"] for u in utterances if u.get("hit_max_length") is not None]
    if hit:
        result["hit_max_length"] = float(np.mean(hit))
        result["hit_max_length_count"] = int(sum(hit))
    result["asr_seconds"] = float(sum(u.get("asr_seconds", 0.0) for u in utterances))
    if any("mos_seconds" in u for u in utterances):
        result["mos_seconds"] = float(sum(u.get("mos_seconds", 0.0) for u in utterances))
    return result


def aggregate_by_speaker(utterances: Iterable[dict]) -> dict[str, dict]:
    """`aggregate` per speaker (utterances without a speaker are left out)."""
    groups: dict[str, list[dict]] = {}
    for utterance in utterances:
        if utterance.get("speaker") is not None:
            groups.setdefault(str(utterance["speaker"]), []).append(utterance)
    return {speaker: aggregate(group) for speaker, group in sorted(groups.items())}


def _sum_errors(utterances: list[dict]) -> WordErrors:
    total = WordErrors()
    for u in utterances:
        total = total + WordErrors(u["substitutions"], u["deletions"], u["insertions"], u["reference_words"])
    return total


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return float(np.mean(kept)) if kept else None
