"""Making the audio: the files of a corpus, jobs of one voice each, run across processes, written as 16 kHz wav.

A file counts as done when its wav exists (it is written last, after its transcripts, each through a
temporary name), so a stopped run resumes where it left off.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.engines import SYNTHESIZERS
from corpus.files import write_text_atomic
from corpus.sentences import Sentence
from corpus.voices import Voice

SAMPLE_RATE = 16000  # Hz, every file is written at this rate
TRAINING_TEXTS = (".normalized.txt", ".original.txt")  # transcripts beside a training wav, LibriTTS style
HELDOUT_TEXTS = (".txt",)  # the transcript beside a held-out wav (a folder for `tts eval folder`)


@dataclass(frozen=True)
class Utterance:
    """One file to make: where it goes and what is said."""

    wav: str  # path of the .wav
    original: str
    normalized: str
    texts: tuple[str, ...]  # suffixes of the transcript files beside it

    def text_path(self, suffix: str) -> Path:
        return Path(self.wav[: -len(".wav")] + suffix)

    def done(self) -> bool:
        return Path(self.wav).is_file() and all(self.text_path(s).is_file() for s in self.texts)


Job = tuple[Voice, list[Utterance]]  # utterances that one voice speaks in one go


def utterance_id(speaker: str, sentence: Sentence) -> str:
    return f"{speaker}_{sentence.key}"


def plan_utterances(out: Path, voices: list[Voice], assigned: dict[str, list[Sentence]],
                    heldout_voices: list[tuple[Sentence, Voice]]) -> list[tuple[Voice, Utterance]]:
    """Every file of the corpus, training speakers first, then the held-out references."""
    plan = []
    for voice in voices:
        for sentence in assigned[voice.speaker]:
            wav = out / voice.speaker / str(sentence.chapter) / f"{utterance_id(voice.speaker, sentence)}.wav"
            plan.append((voice, Utterance(str(wav), sentence.original, sentence.normalized, TRAINING_TEXTS)))
    for sentence, voice in heldout_voices:
        wav = out / "heldout" / f"{utterance_id(voice.speaker, sentence)}.wav"
        plan.append((voice, Utterance(str(wav), sentence.original, sentence.normalized, HELDOUT_TEXTS)))
    return plan


def make_jobs(plan: list[tuple[Voice, Utterance]], job_size: int) -> list[Job]:
    """Unfinished utterances grouped by voice into jobs of at most job_size, the voices taking turns
    (so the progress bar's rate is a fair mix, and a stopped run leaves every speaker part-done)."""
    by_voice: dict[Voice, list[Utterance]] = {}
    for voice, utterance in plan:
        if not utterance.done():
            by_voice.setdefault(voice, []).append(utterance)
    turns = [(i, k, (voice, items[i:i + job_size])) for k, (voice, items) in enumerate(by_voice.items())
             for i in range(0, len(items), job_size)]
    return [job for _, _, job in sorted(turns, key=lambda turn: turn[:2])]


def to_corpus_audio(source: Path, target: Path) -> float:
    """Write `source` as 16 kHz mono 16-bit wav at `target` (tmp then rename); returns seconds."""
    import soundfile

    wav, rate = soundfile.read(str(source), dtype="float32", always_2d=True)
    wav = wav.mean(axis=1)  # (S,)
    if wav.size == 0:
        raise ValueError(f"engine wrote no audio to {source}")
    if rate != SAMPLE_RATE:
        import soxr  # librosa's resampler (its "soxr_hq"), without librosa's seconds of import time

        length = -(-wav.size * SAMPLE_RATE // rate)  # ceil, as librosa.resample keeps it
        wav = soxr.resample(wav, rate, SAMPLE_RATE, quality="HQ")[:length]
        wav = np.pad(wav, (0, length - wav.size))
    peak = float(np.abs(wav).max())
    if peak > 0.99:  # resampling can overshoot full scale: scale down, never up
        wav = wav * (0.95 / peak)
    tmp = target.with_name(target.name + ".tmp")
    soundfile.write(str(tmp), wav, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    os.replace(tmp, target)
    return wav.size / SAMPLE_RATE


def save_utterance(utterance: Utterance, engine_wav: Path) -> float:
    """The transcripts, then the engine's audio as corpus audio (the wav last: it marks the utterance done)."""
    wav = Path(utterance.wav)
    wav.parent.mkdir(parents=True, exist_ok=True)
    for suffix in utterance.texts:
        text = utterance.original if suffix == ".original.txt" else utterance.normalized
        write_text_atomic(utterance.text_path(suffix), text)
    return to_corpus_audio(engine_wav, wav)


def run_job(job: Job) -> tuple[int, float, list[tuple[str, str]]]:
    """Synthesize a job's utterances: (files made, seconds of audio, [(wav, error)] for failures)."""
    voice, utterances = job
    made, seconds, failures = 0, 0.0, []
    with tempfile.TemporaryDirectory(prefix="make_corpus_") as tmp:
        raw = [Path(tmp) / f"{i:04d}.wav" for i in range(len(utterances))]
        engine_error = SYNTHESIZERS[voice.engine](voice, [u.normalized for u in utterances], raw)
        for utterance, path in zip(utterances, raw):
            if not path.is_file() or path.stat().st_size == 0:
                failures.append((utterance.wav, f"{voice.label} made no audio: {engine_error or 'no error given'}"))
                continue
            try:
                seconds += save_utterance(utterance, path)
                made += 1
            except (OSError, ValueError, RuntimeError) as err:
                failures.append((utterance.wav, f"{voice.label}: {err}"))
    return made, seconds, failures


def synthesize_all(jobs: list[Job], workers: int) -> tuple[int, float, list[tuple[str, str]]]:
    """Run jobs across processes with a progress bar; (files made, seconds of audio, failures)."""
    from tqdm import tqdm

    made, seconds, failures = 0, 0.0, []
    total = sum(len(items) for _, items in jobs)
    with tqdm(total=total, unit="utt", desc="synthesizing", smoothing=0.05, dynamic_ncols=True) as bar:
        if workers <= 1:
            results = map(run_job, jobs)
            pool = None
        else:
            pool = multiprocessing.get_context("fork").Pool(workers)
            results = pool.imap_unordered(run_job, jobs)
        try:
            for n, s, f in results:
                made, seconds = made + n, seconds + s
                failures += f
                bar.update(n + len(f))
                bar.set_postfix(audio=f"{seconds / 3600:.2f}h", failed=len(failures), refresh=False)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    return made, seconds, failures
