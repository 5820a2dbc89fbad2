"""Text to speech with a trained run: front end -> the run's chain of models -> waveform.

    synth = Synthesizer.from_run("runs/demo")
    result = synth.synthesize("Hello there.", prompt=synth.prompt_from_wav("ref.wav", "Some words."))
    save_audio("out.wav", result.wav, result.sample_rate)

A run speaks through one of two chains, chosen by the models it holds (tts/loading.py loads them):
- ARChain (ar/ and nar/): the AR samples codebook 1 frame by frame, the NAR fills codebooks 2..Q,
  heard as their expected latents, and the codec decodes them (or a vocoder reads the codec's features);
- DurationsChain (durations/, no ar/): the durations model predicts each phone's frames and their
  log-mels, the mel refiner (refiner/, once trained) sharpens them, and the mel vocoder hears them.
Decoding options are the recipe's `synthesis` section (tts.config.SynthesisConfig), changed key by key
through `Synthesizer.options`. A long text is split into sentences, decoded together as one batch and
joined with short pauses. The voice comes from a prompt: a reference clip with its transcript, or a
training speaker's utterance from the run's prepared corpus (in an exported folder, the speaker's clip
in speakers/, encoded by the codec). The AR decodes with one thread (batch-1 decoding is memory-bound);
the rest uses every core.

Shapes: Q codebooks, T frames, P prompt frames, S samples, L phones, E codec latent width, M mel bins.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch

from tts.config import ConfigError, Recipe, SynthesisConfig

log = logging.getLogger(__name__)

PROMPT_SECONDS = 3.0  # a training speaker's prompt: the utterance closest to this length
MAX_PEAK = 0.99  # decoded audio louder than this is scaled down
MAX_PROMPT_SECONDS = 10.0  # longer reference clips are cut (and their transcript no longer matches)


@dataclass
class Prompt:
    """A voice prompt: its phones and its codes (Q, P)."""

    phones: list[str]
    codes: torch.Tensor  # (Q, P) long
    source: str  # file name or "speaker <name>: <utterance id>"


@dataclass(frozen=True)
class Voice:
    """A speaker to speak as: the training recording its prompt is drawn from, with its text and phones."""

    speaker: str  # the corpus's speaker id
    name: str  # the engine and voice that spoke it ("flite:slt") where the corpus says, else the id
    audio: Path  # the recording: a 16-bit wav in an exported folder, the corpus file for a run
    text: str
    phones: list[str]
    utterance: str  # the recording's utterance id
    duration: float  # seconds


def reference_record(records: list[dict], speaker: str) -> dict:
    """The manifest record of `speaker` a prompt is drawn from: the one closest to PROMPT_SECONDS long."""
    own = [r for r in records if r["speaker"] == speaker]
    return min(own, key=lambda r: (abs(r["duration"] - PROMPT_SECONDS), r["id"]))


@dataclass
class SynthesisResult:
    """One synthesized text."""

    text: str
    sentences: list[str]
    wav: np.ndarray  # (S,) float32
    sample_rate: int
    codes: list[np.ndarray]  # per sentence (Q, T); (0, T) from the durations chain, which makes no codes
    hit_max_length: bool  # some sentence ended at a length limit (the AR's without end-of-speech, or a
    # phone given the longest duration)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage

    @property
    def duration(self) -> float:
        return len(self.wav) / self.sample_rate

    @property
    def real_time_factor(self) -> float:
        """Compute seconds per second of audio (below 1 = faster than real time); NaN when nothing was spoken."""
        return sum(self.timings.values()) / self.duration if self.duration > 0 else float("nan")


@dataclass
class Sentences:
    """A batch of sentences as a chain reads them: phone ids (L_i,) each, and the voice prompt's."""

    phones: list[torch.Tensor]
    prompt_phones: Optional[torch.Tensor] = None  # (Lp,) long
    prompt_codes: Optional[torch.Tensor] = None  # (Q, P) long

    def groups(self, batch: bool) -> list[list[int]]:
        """The sentences decoded together: all at once, or one by one."""
        return [list(range(len(self.phones)))] if batch else [[i] for i in range(len(self.phones))]

    def prompts(self, group: list[int]) -> tuple[Optional[list[torch.Tensor]], Optional[list[torch.Tensor]]]:
        """(prompt codes, prompt phones) of each sentence of a group, or (None, None) without a prompt."""
        if self.prompt_codes is None:
            return None, None
        return [self.prompt_codes] * len(group), [self.prompt_phones] * len(group)


@dataclass
class Spoken:
    """One sentence as a chain speaks it."""

    wav: np.ndarray  # (S,) float32
    codes: torch.Tensor  # (Q, T) long; (0, T) when no codes were made
    truncated: bool


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class ARChain:
    """AR (codebook 1) -> NAR (codebooks 2..Q as expected latents) -> codec decoder (a mel-domain codec's
    through its own mel vocoder)."""

    def __init__(self, recipe: Recipe, ar, nar, codec):
        self.recipe, self.ar, self.nar, self.codec = recipe, ar, nar, codec

    @property
    def models(self) -> list[torch.nn.Module]:
        return [self.ar, self.nar]

    def speak(self, sentences: Sentences, options: SynthesisConfig, timings: dict[str, float]) -> list[Spoken]:
        """Each sentence through the AR, the NAR and the decoder; their seconds go into `timings`."""
        if options.pace != 1.0:
            raise ValueError(f"pace {options.pace}: only the durations model speaks at a pace; this run's lengths "
                             "come from its AR: set synthesis.pace: 1 in its recipe or give --pace 1 (its bounds "
                             "are --min/--max-frames-per-phone)")
        start = time.perf_counter()
        first, truncated = self.sample_first(sentences, options)
        timings["ar"] = time.perf_counter() - start
        start = time.perf_counter()
        codes, latents = self.fill_levels(sentences, first, options.batch)
        timings["nar"] = time.perf_counter() - start
        start = time.perf_counter()
        wavs = [self.decode(z) for z in latents]
        timings["decoder"] = time.perf_counter() - start
        return [Spoken(w, c, t) for w, c, t in zip(wavs, codes, truncated)]

    def sample_first(self, sentences: Sentences, options: SynthesisConfig) -> tuple[list[torch.Tensor], list[bool]]:
        """Codebook 1 (T_i,) of each sentence, and whether the AR hit its length limit."""
        first: list[torch.Tensor] = [torch.empty(0, dtype=torch.long)] * len(sentences.phones)
        truncated = [False] * len(first)
        with _threads(1):
            for group in sentences.groups(options.batch):
                codes, phones = sentences.prompts(group)
                out = self.ar.generate([sentences.phones[i] for i in group], [c[0] for c in codes] if codes else None,
                                       options, prompt_phones=phones)
                for i, c, t in zip(group, out.codes, out.truncated):
                    first[i], truncated[i] = c, t
        return first, truncated

    def fill_levels(self, sentences: Sentences, first: list[torch.Tensor],
                    batch: bool = True) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Codes (Q, T_i) and expected latents (E, T_i) of each sentence from its codebook 1 (T_i,)."""
        codes = [torch.zeros(self.codec.n_codebooks, 0, dtype=torch.long)] * len(first)
        latents = [torch.zeros(0, 0)] * len(first)
        books = self.codec.codebooks()  # (Q, V, E)
        for i in (i for i in range(len(first)) if len(first[i]) == 0):
            log.warning("sentence %d: the AR emitted end-of-speech at once; it is left silent", i)
        for group in sentences.groups(batch):
            group = [i for i in group if len(first[i])]
            if not group:
                continue
            prompt_codes, prompt_phones = sentences.prompts(group)
            out, expected = self.nar.generate([sentences.phones[i] for i in group], [first[i] for i in group],
                                              prompt_codes, prompt_phones, codebooks=books)
            for i, c, z in zip(group, out, expected):
                codes[i], latents[i] = c.cpu(), z
        return codes, latents

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Latents (E, T) -> waveform (S,) through the codec."""
        if latents.shape[-1] == 0:
            return np.zeros(0, dtype=np.float32)
        return _peak_limited(self.codec.decode_latents(latents.unsqueeze(0).to(self.codec.device)))  # (1, E, T)


class DurationsChain:
    """Durations model (each phone's frames, then their log-mels) -> mel refiner, if any -> mel vocoder; no AR,
    no codes."""

    def __init__(self, recipe: Recipe, model, codec, vocoder, refiner=None):
        self.recipe, self.model, self.codec, self.vocoder, self.refiner = recipe, model, codec, vocoder, refiner

    @property
    def models(self) -> list[torch.nn.Module]:
        """Its transformer (what --quantize int8 quantizes; the refiner and the vocoder stay as loaded)."""
        return [self.model]

    def refined(self, mel: torch.Tensor, hidden: torch.Tensor, steps: int) -> torch.Tensor:
        """The durations model's log-mel (M, F) refined in `steps` Euler steps, told its hidden states (D, F / r);
        the log-mel itself when the run has no refiner or it has no frames."""
        if self.refiner is None or not mel.size(-1):
            return mel
        return self.refiner.refine(mel, hidden, steps)

    def speak(self, sentences: Sentences, options: SynthesisConfig, timings: dict[str, float]) -> list[Spoken]:
        """Each sentence at the model's own durations (times synthesis.pace), refined if the run has a
        refiner, through the mel vocoder."""
        from tts.models.durations import MAX_PLACE

        mels: list[torch.Tensor] = [torch.empty(0)] * len(sentences.phones)
        hidden: list[torch.Tensor] = [torch.empty(0)] * len(mels)
        durations: list[torch.Tensor] = [torch.empty(0, dtype=torch.long)] * len(mels)
        start = time.perf_counter()
        for group in sentences.groups(options.batch):
            codes, phones = sentences.prompts(group)
            out, frames, states = self.model.speak([sentences.phones[i] for i in group], codes, phones,
                                                   pace=options.pace, with_hidden=True)
            for i, mel, d, h in zip(group, out, frames, states):
                mels[i], durations[i], hidden[i] = mel, d, h
        timings["durations"] = time.perf_counter() - start
        if self.refiner is not None:
            start = time.perf_counter()
            mels = [self.refined(mel, h, options.refiner_steps) for mel, h in zip(mels, hidden)]
            timings["refiner"] = time.perf_counter() - start
        start = time.perf_counter()
        wavs = [self.vocode(mel) for mel in mels]
        timings["vocoder"] = time.perf_counter() - start
        return [Spoken(w, torch.zeros(0, int(d.sum()), dtype=torch.long), bool((d >= MAX_PLACE).any()))
                for w, d in zip(wavs, durations)]

    @torch.no_grad()
    def vocode(self, mel: torch.Tensor) -> np.ndarray:
        """Log-mel frames (M, F) -> waveform (S,)."""
        return _peak_limited(self.vocoder(mel.unsqueeze(0)))


class Synthesizer:
    """A trained run ready to speak: its recipe, its chain of models, its codec (for prompts) and its corpus
    (or an exported folder's voices)."""

    def __init__(self, chain: ARChain | DurationsChain, corpus=None, steps: Optional[dict[str, int]] = None,
                 voices: Optional[list[Voice]] = None):
        self.chain, self.corpus = chain, corpus
        self.recipe, self.codec = chain.recipe, chain.codec
        self.sample_rate = chain.codec.sample_rate
        self.steps = dict(steps or {})  # training step of each loaded model
        self.voices = {v.speaker: v for v in voices or []}  # an exported folder's speakers, by id

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "cpu", quantize: Optional[str] = None,
                 vocoder: Optional[str | Path] = None) -> "Synthesizer":
        """Load a run folder or one written by `tts export` (tts.loading.load_run): the AR chain when it holds
        ar/, else the durations model; `vocoder` replaces the mel vocoder it decodes through."""
        from tts.loading import load_run

        return cls(*load_run(Path(run_dir), device, quantize, Path(vocoder) if vocoder else None))

    def options(self, **changes: Any) -> SynthesisConfig:
        """The recipe's decoding options with the given changes (None = keep), checked."""
        options = dataclasses.replace(self.recipe.synthesis, **{k: v for k, v in changes.items() if v is not None})
        try:
            options.validate()
        except ConfigError as err:
            raise ValueError(f"synthesis option {err.key} = {err.value!r} is invalid: {err.allowed}") from None
        return options

    # ------------------------------------------------------------------ prompts

    def prompt_from_wav(self, path: str | Path, text: str) -> Prompt:
        """A reference clip and its transcript: checked as `prepare` checks a corpus file (silent or clipped
        clips are refused, a low recording rate is warned of), resampled, trimmed, loudness-normalised, encoded."""
        from tts.audio.io import clipped_fraction, load_audio, normalize_loudness, resample, rms_db, trim_silence
        from tts.data.report import check_level, check_sample_rate
        from tts.text import text_to_phones

        if not text or not text.strip():
            raise ValueError("--prompt-wav needs --prompt-text: the transcript of the clip")
        audio = self.recipe.audio
        wav, rate = load_audio(path)  # (S,) at the file's own rate: measured as recorded
        problem = check_level(rms_db(wav), clipped_fraction(wav), self.recipe.data)
        if problem:
            raise ValueError(f"prompt {path} is {problem[0]} ({problem[1]}); record or choose another clip")
        problem = check_sample_rate(rate, self.recipe.data)
        if problem:
            log.warning("prompt %s: %s; its voice may sound muffled", path, problem[1])
        wav = resample(wav, rate, audio.sample_rate)
        if audio.trim_db > 0:
            wav = trim_silence(wav, audio.sample_rate, audio.trim_db)
        if len(wav) > MAX_PROMPT_SECONDS * audio.sample_rate:
            log.warning("prompt %s is %.1f s long; only its first %.0f s are used, so its transcript should "
                        "cover only those", path, len(wav) / audio.sample_rate, MAX_PROMPT_SECONDS)
            wav = wav[: int(MAX_PROMPT_SECONDS * audio.sample_rate)]
        wav = normalize_loudness(wav, audio.loudness_db)
        text = text.strip()
        if text[-1] not in ".?!":
            text += "."  # training transcripts end with punctuation; the prompt's should too
        _, phones = text_to_phones(text, keep_punctuation=self.recipe.text.keep_punctuation)
        codes = self.codec.encode(torch.as_tensor(wav, dtype=torch.float32).view(1, 1, -1))[0]  # (Q, P)
        return Prompt(phones, codes.cpu(), str(path))

    def prompt_from_speaker(self, speaker: Optional[str] = None) -> Optional[Prompt]:
        """A training utterance of `speaker` (default: the first speaker), about PROMPT_SECONDS long: an
        exported folder's reference clip of the speaker, or the recording's codes in the run's prepared corpus."""
        if self.voices:
            return self.prompt_from_voice(self.voices[_known(speaker, sorted(self.voices))])
        if self.corpus is None or not self.corpus.has_codes:
            if speaker:
                raise FileNotFoundError("--speaker needs the run's prepared corpus (prepared/ with codes) or an "
                                        "exported folder's speakers (voices.json)")
            return None
        records = self.corpus.records("train") or self.corpus.records("all")
        speaker = _known(speaker, sorted({r["speaker"] for r in records}))
        record = reference_record(records, speaker)
        codes = torch.as_tensor(np.asarray(self.corpus.codes(record), dtype=np.int64))
        return Prompt(list(record["phones"]), codes, f"speaker {speaker}: {record['id']}")

    def prompt_from_voice(self, voice: Voice) -> Prompt:
        """A voice's recording (already prepared: trimmed, at the training loudness and sample rate), encoded."""
        from tts.audio.io import load_audio

        wav, _ = load_audio(voice.audio, self.sample_rate)  # (S,)
        codes = self.codec.encode(torch.as_tensor(wav, dtype=torch.float32).view(1, 1, -1))[0]  # (Q, P)
        return Prompt(list(voice.phones), codes.cpu(), f"speaker {voice.speaker} ({voice.name}): {voice.utterance}")

    # ------------------------------------------------------------------ speaking

    def synthesize(self, text: str, prompt: Optional[Prompt] = None,
                   options: Optional[SynthesisConfig] = None) -> SynthesisResult:
        """Speak one text (split into sentences) in the prompt's voice."""
        return self.synthesize_many([text], prompt, options)[0]

    def synthesize_many(self, texts: list[str], prompt: Optional[Prompt] = None,
                        options: Optional[SynthesisConfig] = None) -> list[SynthesisResult]:
        """Speak several texts; all their sentences go through the chain as one batch."""
        from tts.text import UnspeakableTextError, split_sentences, text_to_phones
        from tts.text.symbols import encode

        options = options or self.options()
        keep_punctuation = self.recipe.text.keep_punctuation
        start = time.perf_counter()
        owners, parts, phones = [], [], []  # per sentence: its text's index, its words, its phone ids
        for index, text in enumerate(texts):
            pieces = split_sentences(text) if text and text.strip() else []
            if not pieces:
                raise UnspeakableTextError(f"nothing to say in {text!r}: give some words")
            for piece in pieces:
                owners.append(index)
                parts.append(piece)
                _, piece_phones = text_to_phones(piece, keep_punctuation=keep_punctuation)
                phones.append(torch.tensor(encode(piece_phones), dtype=torch.long))
        sentences = Sentences(phones)
        if prompt is not None:
            sentences = Sentences(phones, torch.tensor(encode(prompt.phones), dtype=torch.long), prompt.codes)
        timings = {"front_end": time.perf_counter() - start}
        spoken = self.chain.speak(sentences, options, timings)
        pause = np.zeros(int(options.sentence_pause * self.sample_rate), dtype=np.float32)
        results = []
        for index, text in enumerate(texts):
            mine = [i for i, owner in enumerate(owners) if owner == index]
            pieces = [piece for n, i in enumerate(mine) for piece in ([pause, spoken[i].wav] if n else [spoken[i].wav])]
            share = len(mine) / len(owners)  # stage time split by sentence count
            results.append(SynthesisResult(
                text=text, sentences=[parts[i] for i in mine], wav=np.concatenate(pieces),
                sample_rate=self.sample_rate, codes=[spoken[i].codes.numpy() for i in mine],
                hit_max_length=any(spoken[i].truncated for i in mine),
                timings={k: v * share for k, v in timings.items()}))
        return results


def _known(speaker: Optional[str], speakers: list[str]) -> str:
    """`speaker`, or the first of `speakers` when None; ValueError listing them for one not among them."""
    if speaker is None:
        return speakers[0]
    if speaker not in speakers:
        raise ValueError(f"speaker {speaker!r} is not one of this model's training speakers: {', '.join(speakers)} "
                         "(`tts voices` lists them)")
    return speaker


def _peak_limited(wav: torch.Tensor) -> np.ndarray:
    wav = wav.reshape(-1).float().cpu().numpy()
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    return wav * (MAX_PEAK / peak) if peak > MAX_PEAK else wav  # scale down rather than clip

