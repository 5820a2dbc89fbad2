"""Text to speech with a trained run: front end -> AR (codebook 1) -> NAR (codebooks 2..Q) -> decoder.

    synth = Synthesizer.from_run("runs/demo")
    result = synth.synthesize("Hello there.", prompt=synth.prompt_from_wav("ref.wav", "Some words."))
    save_audio("out.wav", result.wav, result.sample_rate)

A long text is split into sentences, which are decoded together as one batch and joined with short
pauses. The voice comes from a prompt: a reference clip with its transcript, or a training speaker's
utterance from the run's prepared corpus. The AR decodes with one thread (batch-1 decoding is
memory-bound); the NAR and the decoder use every core.

Shapes: Q codebooks, T frames, P prompt frames, S samples, L phones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Optional

import numpy as np
import torch

from tts.config import Recipe, SynthesisConfig, recipe_from_dict
from tts.models.layers import expected_entries
from tts.models.nar import MAX_PLACE as MAX_PHONE_FRAMES  # the longest phone the NAR speaks from durations

log = logging.getLogger(__name__)

PROMPT_SECONDS = 3.0  # a training speaker's prompt: the utterance closest to this length
MAX_PEAK = 0.99  # decoded audio louder than this is scaled down
MAX_PROMPT_SECONDS = 10.0  # longer reference clips are cut (and their transcript no longer matches)


@dataclass(frozen=True)
class SamplingOptions:
    """Decoding controls; defaults come from the recipe's `synthesis` section."""

    temperature: float = 1.0  # AR sampling temperature (0 = greedy)
    top_k: int = 0  # sample among the k most likely tokens (0 = off)
    top_p: float = 1.0  # nucleus mass (1 = off)
    seed: int = 0  # sampling seed
    max_frames_per_phone: float = 20.0  # AR length limit per phone
    min_frames_per_phone: float = 0.0  # AR length floor per phone (0 = off)
    repetition_window: int = 0  # repetition guard look-back in frames (0 = off)
    repetition_max: int = 0  # count above which a token is resampled
    decoder: Literal["codec", "vocoder"] = "codec"  # what turns codes into waveform
    nar_decode: Literal["expected", "argmax"] = "expected"  # NAR levels: mean of the entries, or the likeliest
    ar_decode: Literal["sample", "expected", "mel"] = "sample"  # heard: the sampled codes, the mean entry of
    # codebook 1, or the AR's mel head through the mel vocoder (levels 2..Q and the NAR then unused)
    sentence_pause: float = 0.25  # seconds between sentences
    pace: float = 1.0  # durations mode: each phone this many times its predicted length (above 1 slower)
    mel_contrast: float = 1.0  # predicted log-mels: each bin's deviation from its mean times this (1 = off)
    kv_cache: bool = True  # False recomputes the prefix each step (for comparison only)
    batch: bool = True  # False decodes the sentences of a text one by one (for comparison only)

    def __post_init__(self) -> None:
        if not self.max_frames_per_phone > 0:
            raise ValueError(f"max_frames_per_phone = {self.max_frames_per_phone}: give a positive number of frames")
        if not 0 <= self.min_frames_per_phone < self.max_frames_per_phone:
            raise ValueError(f"min_frames_per_phone = {self.min_frames_per_phone}: give a number >= 0 and below "
                             f"max_frames_per_phone = {self.max_frames_per_phone}")
        if not self.mel_contrast > 0:
            raise ValueError(f"mel_contrast = {self.mel_contrast}: give a positive factor (1 = off)")
        if not self.pace > 0:
            raise ValueError(f"pace = {self.pace}: give a positive factor (1 = the predicted lengths, above 1 slower)")

    @classmethod
    def from_recipe(cls, synthesis: SynthesisConfig, **changes: Any) -> "SamplingOptions":
        base = {f.name: getattr(synthesis, f.name) for f in dataclasses.fields(SynthesisConfig)}
        return cls(**{**base, **{k: v for k, v in changes.items() if v is not None}})

    def generation(self):
        from tts.models.ar import GenerationOptions

        return GenerationOptions(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
                                 seed=self.seed, max_frames_per_phone=self.max_frames_per_phone,
                                 min_frames_per_phone=self.min_frames_per_phone,
                                 repetition_window=self.repetition_window,
                                 repetition_max=self.repetition_max, use_cache=self.kv_cache)


@dataclass
class Prompt:
    """A voice prompt: its phones and its codes (Q, P)."""

    phones: list[str]
    codes: torch.Tensor  # (Q, P) long
    source: str  # file name or "speaker <name>: <utterance id>"


@dataclass
class SynthesisResult:
    """One synthesized text."""

    text: str
    sentences: list[str]
    wav: np.ndarray  # (S,) float32
    sample_rate: int
    codes: list[np.ndarray]  # per sentence (Q, T)
    hit_max_length: bool  # some sentence ended at the length limit without end-of-speech
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage

    @property
    def duration(self) -> float:
        return len(self.wav) / self.sample_rate

    @property
    def real_time_factor(self) -> float:
        """Compute seconds per second of audio (below 1 = faster than real time)."""
        return sum(self.timings.values()) / max(self.duration, 1e-9)


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Synthesizer:
    """A trained run ready to speak: recipe, AR, NAR, codec and (optionally) a vocoder."""

    def __init__(self, recipe: Recipe, ar, nar, codec, vocoder=None, corpus=None,
                 device: torch.device = torch.device("cpu"), steps: Optional[dict[str, int]] = None):
        self.recipe, self.ar, self.nar, self.codec = recipe, ar, nar, codec
        self.vocoder, self.corpus, self.device = vocoder, corpus, device
        self.sample_rate = codec.sample_rate
        self.steps = dict(steps or {})  # training step of each loaded model (ar, nar)

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "cpu", quantize: Optional[str] = None) -> "Synthesizer":
        """Load a run folder: ar/ and nar/ checkpoints, the codec they were trained on, a vocoder if any.
        A NAR that reads durations (nar.condition: durations) speaks alone: ar/ is then not loaded."""
        from tts.codec import codec_from_checkpoint, load_codec, mel_vocoder_path, resolve_device
        from tts.models.ar import ARModel
        from tts.models.nar import NARModel
        from tts.train.checkpoint import load_checkpoint

        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise FileNotFoundError(f"run folder {run_dir} does not exist; train one with `tts run <recipe>`")
        torch_device = resolve_device(device)
        from tts.text import load_phonemizer

        load_phonemizer()  # G2P loads with the models, not inside the first sentence's timing
        nar_ckpt = load_checkpoint(run_dir / "nar") if (run_dir / "nar").is_dir() else None
        speaks_alone = nar_ckpt is not None and nar_ckpt.get("model_config", {}).get("condition") == "durations"
        ar = ar_ckpt = None
        if (run_dir / "ar").is_dir():
            ar_ckpt = load_checkpoint(run_dir / "ar")
            _check_symbols(ar_ckpt, run_dir / "ar")
            ar = ARModel.from_checkpoint(ar_ckpt)
        elif not speaks_alone:
            raise FileNotFoundError(f"{run_dir} has no trained AR ({run_dir / 'ar'} is missing); "
                                    "train it first with `tts train <recipe> --stage ar` or `tts run <recipe>`")
        if nar_ckpt is None and not ar.has_mel_head:
            raise FileNotFoundError(f"{run_dir} has no trained NAR ({run_dir / 'nar'} is missing); "
                                    "train it first with `tts train <recipe> --stage nar` or `tts run <recipe>`")
        if speaks_alone:  # the NAR reads durations: the AR, if any, takes no part in synthesis
            _check_symbols(nar_ckpt, run_dir / "nar")
            ar = ar_ckpt = None
        main = ar_ckpt if ar_ckpt is not None else nar_ckpt
        recipe = recipe_from_dict(main["recipe"])
        codec_settings = main.get("codec")
        if ar_ckpt is not None and nar_ckpt is not None and nar_ckpt.get("codec") != codec_settings:
            raise ValueError(f"{run_dir}: the AR and NAR were trained on different codecs "
                             f"({codec_settings} vs {nar_ckpt.get('codec')}); retrain one of them")
        codec_file = run_dir / "codec" / "best.pt"
        codec = (codec_from_checkpoint(codec_file, torch_device, vocoder=mel_vocoder_path(recipe, run_dir))
                 if recipe.codec.kind == "trained" and codec_file.is_file() else load_codec(recipe, torch_device))
        if codec is None:
            raise FileNotFoundError(f"{run_dir}: no codec to decode with (codec.kind = {recipe.codec.kind}); "
                                    "train it with `tts train <recipe> --stage codec`")
        _check_codec(codec, codec_settings, codec_file if codec_file.is_file() else recipe.codec.checkpoint, run_dir)
        nar = NARModel.from_checkpoint(nar_ckpt) if nar_ckpt is not None else None
        steps = {name: int(ckpt.get("step", 0)) for name, ckpt in (("ar", ar_ckpt), ("nar", nar_ckpt)) if ckpt is not None}
        log.info("loaded %s from %s", ", ".join(f"{name} step {step}" for name, step in steps.items()), run_dir)
        if quantize == "int8":
            ar, nar = (_quantize_int8(ar) if ar is not None else None), (_quantize_int8(nar) if nar is not None else None)
        elif quantize not in (None, "none"):
            raise ValueError(f"--quantize {quantize!r}: only int8 (dynamic, linear layers, CPU) is offered")
        vocoder = None
        # a durations NAR's log-mels go through the vocoder fine-tuned on them (stage nar_vocoder) if there is one
        tuned = run_dir / "nar_vocoder" / "best.pt"
        vocoder_file = tuned if speaks_alone and tuned.is_file() else run_dir / "vocoder" / "best.pt"
        if vocoder_file.is_file():
            from tts.vocode import load_vocoder

            vocoder = load_vocoder(vocoder_file, torch_device)
        corpus = None
        if (run_dir / "prepared" / "manifest.jsonl").is_file():
            from tts.data.corpus import PreparedCorpus

            corpus = PreparedCorpus(run_dir / "prepared")
        return cls(recipe, ar.to(torch_device) if ar is not None else None,
                   nar.to(torch_device) if nar is not None else None, codec, vocoder, corpus, torch_device, steps)

    def options(self, **changes: Any) -> SamplingOptions:
        """The recipe's sampling defaults with the given changes (None = keep)."""
        return SamplingOptions.from_recipe(self.recipe.synthesis, **changes)

    # ------------------------------------------------------------------ prompts

    def prompt_from_wav(self, path: str | Path, text: str) -> Prompt:
        """A reference clip and its transcript: resampled, trimmed, loudness-normalised, encoded."""
        from tts.audio.io import load_audio, normalize_loudness, trim_silence
        from tts.text import text_to_phones

        if not text or not text.strip():
            raise ValueError("--prompt-wav needs --prompt-text: the transcript of the clip")
        audio = self.recipe.audio
        wav, _ = load_audio(path, audio.sample_rate)
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
        _, phones = text_to_phones(text)
        codes = self.codec.encode(torch.as_tensor(wav, dtype=torch.float32).view(1, 1, -1))[0]  # (Q, P)
        return Prompt(phones, codes.cpu(), str(path))

    def prompt_from_speaker(self, speaker: Optional[str] = None) -> Optional[Prompt]:
        """A training utterance of `speaker` (default: the first speaker), about PROMPT_SECONDS long."""
        if self.corpus is None or not self.corpus.has_codes:
            if speaker:
                raise FileNotFoundError("--speaker needs the run's prepared corpus (prepared/ with codes)")
            return None
        records = self.corpus.records("train") or self.corpus.records("all")
        speakers = sorted({r["speaker"] for r in records})
        if speaker is None:
            speaker = speakers[0]
        elif speaker not in speakers:
            raise ValueError(f"speaker {speaker!r} is not in the training set; known: {', '.join(speakers)}")
        own = [r for r in records if r["speaker"] == speaker]
        record = min(own, key=lambda r: (abs(r["duration"] - PROMPT_SECONDS), r["id"]))
        codes = torch.as_tensor(np.asarray(self.corpus.codes(record), dtype=np.int64))
        return Prompt(list(record["phones"]), codes, f"speaker {speaker}: {record['id']}")

    # ------------------------------------------------------------------ speaking

    def synthesize(self, text: str, prompt: Optional[Prompt] = None,
                   options: Optional[SamplingOptions] = None) -> SynthesisResult:
        """Speak one text (split into sentences) in the prompt's voice."""
        return self.synthesize_many([text], prompt, options)[0]

    def synthesize_many(self, texts: list[str], prompt: Optional[Prompt] = None,
                        options: Optional[SamplingOptions] = None) -> list[SynthesisResult]:
        """Speak several texts; all their sentences go through the AR and NAR as one batch."""
        from tts.text import UnspeakableTextError, split_sentences, text_to_phones
        from tts.text.symbols import encode

        options = options or self.options()
        timings: dict[str, float] = {}
        start = time.perf_counter()
        sentences: list[tuple[int, str, list[str]]] = []  # (text index, sentence, phones)
        for index, text in enumerate(texts):
            parts = split_sentences(text) if text and text.strip() else []
            if not parts:
                raise UnspeakableTextError(f"nothing to say in {text!r}: give some words")
            for part in parts:
                _, phones = text_to_phones(part)
                sentences.append((index, part, phones))
        phone_ids = [torch.tensor(encode(p), dtype=torch.long) for _, _, p in sentences]
        timings["front_end"] = time.perf_counter() - start

        codes, latents, truncated = self._generate(phone_ids, prompt, options, timings)
        start = time.perf_counter()
        waves = [self._decode(c, options, z) for c, z in zip(codes, latents)]
        timings["decoder"] = time.perf_counter() - start

        pause = np.zeros(int(options.sentence_pause * self.sample_rate), dtype=np.float32)
        results = []
        for index, text in enumerate(texts):
            mine = [i for i, (owner, _, _) in enumerate(sentences) if owner == index]
            pieces = []
            for n, i in enumerate(mine):
                pieces.extend([pause, waves[i]] if n else [waves[i]])
            share = len(mine) / len(sentences)  # stage time split by sentence count
            results.append(SynthesisResult(
                text=text, sentences=[sentences[i][1] for i in mine], wav=np.concatenate(pieces),
                sample_rate=self.sample_rate, codes=[codes[i].numpy() for i in mine],
                hit_max_length=any(truncated[i] for i in mine),
                timings={k: v * share for k, v in timings.items()}))
        return results

    def _generate(self, phone_ids: list[torch.Tensor], prompt: Optional[Prompt], options: SamplingOptions,
                  timings: dict[str, float]) -> tuple[list[torch.Tensor], list[Optional[torch.Tensor]], list[bool]]:
        """Codes (Q, T) of each sentence, its latents (D, T) when the NAR decodes expected latents
        (else None), and whether the AR hit its length limit. With ar_decode mel: codebook 1 (1, T)
        and the AR's log-mel frames (M, T x r) in place of the latents; the NAR does not run."""
        B = len(phone_ids)
        prompt_phones = prompt_codes = None
        if prompt is not None:
            from tts.text.symbols import encode

            prompt_ids = torch.tensor(encode(prompt.phones), dtype=torch.long)
            prompt_phones, prompt_codes = [prompt_ids] * B, [prompt.codes] * B
        groups = [list(range(B))] if options.batch else [[i] for i in range(B)]
        if self.nar_speaks_alone:
            return self._speak_from_durations(phone_ids, prompt_codes, prompt_phones, groups, options, timings)
        if options.pace != 1.0:
            raise ValueError(f"pace {options.pace}: only a NAR that reads durations (nar.condition: durations) "
                             "speaks at a pace; this run's lengths come from its AR: set synthesis.pace: 1 in "
                             "its recipe or give --pace 1 (its bounds are --min/--max-frames-per-phone)")
        first: list[torch.Tensor] = [torch.empty(0)] * B
        soft: list[Optional[torch.Tensor]] = [None] * B  # ar_decode expected: codebook 1's mean entries (T, E)
        truncated = [False] * B
        if options.ar_decode not in ("sample", "expected", "mel"):
            raise ValueError(f"ar_decode {options.ar_decode!r}: use sample, expected or mel")
        hear_mel = options.ar_decode == "mel"
        if hear_mel and not self.ar.has_mel_head:
            raise ValueError("ar_decode mel: this run's AR has no mel head (train it with ar.mel_loss > 0); "
                             "use --ar-decode sample or expected")
        if not hear_mel:
            self._require_nar()  # before the AR's work, not after it
            if self.nar_hears_mel and options.ar_decode == "expected":
                raise ValueError("ar_decode expected: this run's NAR reads codebook 1's codes in its mel mode "
                                 "(nar.predict: mel), so there are no entries to average; use --ar-decode sample")
        mels: list[Optional[torch.Tensor]] = [None] * B
        expected_first = options.ar_decode == "expected"
        books = self.codec.codebooks() if expected_first else None  # (Q, V, E)
        start = time.perf_counter()
        with _threads(1):
            for group in groups:
                out = self.ar.generate([phone_ids[i] for i in group],
                                       [prompt_codes[i][0] for i in group] if prompt_codes else None,
                                       options.generation(),
                                       prompt_phones=[prompt_phones[i] for i in group] if prompt_phones else None,
                                       keep_logits=expected_first, keep_mel=hear_mel)
                for n, (i, c, t) in enumerate(zip(group, out.codes, out.truncated)):
                    first[i], truncated[i] = c, t
                    if hear_mel:
                        mels[i] = out.mels[n]
                    if expected_first:
                        soft[i] = expected_entries(out.logits[n][:len(c)], books[0])
        timings["ar"] = time.perf_counter() - start
        if hear_mel:
            return [c.view(1, -1).cpu() for c in first], mels, truncated
        start = time.perf_counter()
        codes: list[torch.Tensor] = [torch.empty(0)] * B
        latents: list[Optional[torch.Tensor]] = [None] * B
        empty = [i for i in range(B) if len(first[i]) == 0]
        for i in empty:  # the AR ended at once: a frame of silence keeps the pipeline whole
            log.warning("sentence %d: the AR emitted end-of-speech at once; it is left silent", i)
        for group in groups:
            group = [i for i in group if i not in empty]
            if not group:
                continue
            out, expected = self._nar([phone_ids[i] for i in group], [first[i] for i in group],
                                      [prompt_codes[i] for i in group] if prompt_codes else None,
                                      [prompt_phones[i] for i in group] if prompt_phones else None, options)
            for i, c, z in zip(group, out, expected):
                codes[i], latents[i] = c.cpu(), z
                if soft[i] is not None:
                    latents[i] = self._with_first_level(c, z, soft[i], books)
        for i in empty:
            codes[i] = torch.zeros(self.codec.n_codebooks, 0, dtype=torch.long)
        timings["nar"] = time.perf_counter() - start
        return codes, latents, truncated

    def _speak_from_durations(self, phone_ids, prompt_codes, prompt_phones, groups, options: SamplingOptions,
                              timings: dict[str, float]):
        """nar.condition: durations: the NAR predicts each phone's frames, then their log-mel frames,
        with no AR. Returns, per sentence, an empty code array (0, T) of its T frames, its log-mel
        frames (M, T x r) and whether a phone was cut to the longest duration."""
        if options.ar_decode != "sample":
            raise ValueError(f"ar_decode {options.ar_decode}: this run's NAR reads durations it predicts itself "
                             "(nar.condition: durations) and no AR runs, so there is nothing to decode otherwise")
        B = len(phone_ids)
        codes: list[torch.Tensor] = [torch.empty(0)] * B
        mels: list[Optional[torch.Tensor]] = [None] * B
        truncated = [False] * B
        start = time.perf_counter()
        for group in groups:
            out, durations = self.nar.speak([phone_ids[i] for i in group],
                                            [prompt_codes[i] for i in group] if prompt_codes else None,
                                            [prompt_phones[i] for i in group] if prompt_phones else None,
                                            pace=options.pace)
            for i, mel, d in zip(group, out, durations):
                codes[i], mels[i] = torch.zeros(0, int(d.sum()), dtype=torch.long), mel
                truncated[i] = bool((d >= MAX_PHONE_FRAMES).any())
        timings["ar"], timings["nar"] = 0.0, time.perf_counter() - start
        return codes, mels, truncated

    def _with_first_level(self, codes: torch.Tensor, latents: Optional[torch.Tensor], first: torch.Tensor,
                          books: torch.Tensor) -> torch.Tensor:
        """The latents (E, T) of codes (Q, T) under the codec's entries `books` (Q, V, E) (or the NAR's
        expected `latents`), with codebook 1's entry replaced by `first` (T, E)."""
        books, codes = books.to(first.device, torch.float32), codes.to(first.device)
        if latents is None:
            latents = sum(books[q][codes[q]] for q in range(codes.size(0))).T  # (E, T)
        return (latents.to(first.device) - books[0][codes[0]].T + first.T).contiguous()

    @property
    def nar_hears_mel(self) -> bool:
        """Whether the NAR is in its mel mode: log-mel frames from codebook 1, heard through the mel vocoder."""
        return self.nar is not None and getattr(self.nar, "predicts_mel", False)

    @property
    def nar_speaks_alone(self) -> bool:
        """Whether the NAR reads durations it predicts itself (nar.condition: durations): no AR runs."""
        return self.nar is not None and getattr(self.nar, "reads_durations", False)

    def _require_nar(self) -> None:
        if self.nar is None:
            raise FileNotFoundError("this run has no trained NAR (nar/ is missing), so only --ar-decode mel "
                                    "can speak; train it with `tts train <recipe> --stage nar`")

    def _nar(self, phones, first, prompt_codes, prompt_phones, options: SamplingOptions):
        """The NAR's codes and, with nar_decode expected, its expected latents (else Nones). In its mel
        mode: codebook 1 (1, T) and the NAR's log-mel frames (M, T x r) in place of the latents."""
        self._require_nar()
        if self.nar_hears_mel:
            return [f.view(1, -1) for f in first], self.nar.generate(phones, first, prompt_codes, prompt_phones)
        if options.nar_decode == "argmax":
            out = self.nar.generate(phones, first, prompt_codes, prompt_phones)
            return out, [None] * len(out)
        if options.nar_decode != "expected":
            raise ValueError(f"nar_decode {options.nar_decode!r}: use expected or argmax")
        return self.nar.generate(phones, first, prompt_codes, prompt_phones, codebooks=self.codec.codebooks())

    def speak_first_level(self, phones: list[str], first_level: torch.Tensor, prompt: Optional[Prompt] = None,
                          options: Optional[SamplingOptions] = None) -> np.ndarray:
        """The NAR and the decoder alone: levels 2..Q filled in from a given codebook 1 (T,) of the
        sentence `phones`, then decoded to a waveform (S,). With the true codebook 1 of a recording,
        what it loses is the NAR's (and the codec's) share of the error, not the AR's."""
        from tts.text.symbols import encode

        options = options or self.options()
        if self.nar_speaks_alone:
            raise ValueError("this run's NAR reads durations, not codebook 1 (nar.condition: durations): give it "
                             "durations (speak_durations)")
        phone_ids = torch.tensor(encode(phones), dtype=torch.long)
        prompt_phones = prompt_codes = None
        if prompt is not None:
            prompt_phones, prompt_codes = [torch.tensor(encode(prompt.phones), dtype=torch.long)], [prompt.codes]
        codes, latents = self._nar([phone_ids], [first_level.to(torch.long)], prompt_codes, prompt_phones, options)
        return self._decode(codes[0].cpu(), options, latents[0])

    def speak_durations(self, phones: list[str], durations: torch.Tensor, prompt: Optional[Prompt] = None,
                        options: Optional[SamplingOptions] = None, pitch: Optional[torch.Tensor] = None) -> np.ndarray:
        """A NAR that reads durations (nar.condition: durations) speaking the sentence `phones` with the
        given frames (L,) of each phone, e.g. those the aligner read off a recording (and, for a NAR
        with a pitch head, the given pitch z-scores (L,), else its own):
        what it loses then is the mel frames' share of the error, not its duration predictor's."""
        from tts.text.symbols import encode

        if not self.nar_speaks_alone:
            raise ValueError("this run's NAR does not read durations (nar.condition: durations)")
        prompt_phones = [torch.tensor(encode(prompt.phones), dtype=torch.long)] if prompt is not None else None
        mels, _ = self.nar.speak([torch.tensor(encode(phones), dtype=torch.long)],
                                 [prompt.codes] if prompt is not None else None, prompt_phones, durations=[durations],
                                 pitch=[pitch] if pitch is not None and self.nar.pitch else None)
        return self._vocode_mel(mels[0], (options or self.options()).mel_contrast)

    @torch.no_grad()
    def hear_ar_forced(self, phones: list[str], first_level: torch.Tensor, prompt: Optional[Prompt] = None,
                       options: Optional[SamplingOptions] = None) -> np.ndarray:
        """The AR alone, teacher-forced: for each frame of a given codebook 1 (T,) of the sentence
        `phones`, the AR's prediction from the true earlier frames, heard as the mean entry of
        codebook 1 under it (levels 2..Q left out), decoded to a waveform (S,). Against the codec's
        codebook 1 alone (the same frames, exactly right) this measures what the AR knows of each
        frame before any of its own sampling errors feed back."""
        from tts.text.symbols import encode

        options = options or self.options()
        if self.ar is None:
            raise ValueError("--what ar: this run has no AR (its NAR reads durations and speaks alone)")
        device = self.ar.head.weight.device
        text = torch.tensor(encode((prompt.phones if prompt else []) + list(phones)), dtype=torch.long)
        prompt_first = prompt.codes[0].to(torch.long) if prompt is not None else torch.zeros(0, dtype=torch.long)
        audio = torch.cat([torch.tensor([self.ar.bos]), prompt_first, first_level.to(torch.long)])
        P, T = len(prompt_first), len(first_level)
        hear_mel = options.ar_decode == "mel"
        inputs = (text.unsqueeze(0).to(device), torch.tensor([len(text)], device=device),
                  audio.unsqueeze(0).to(device), torch.tensor([len(audio)], device=device))
        with _threads(1):
            if hear_mel:
                _, _, mel = self.ar(*inputs, mel=True)  # (1, P + T + 1, r, M)
                return self._vocode_mel(mel[0, P:P + T].flatten(0, 1).T, options.mel_contrast)
            logits, _ = self.ar(*inputs)
        first = expected_entries(logits[0, P:P + T], self.codec.codebooks()[0])  # (T, E)
        return self._decode(first_level.reshape(1, -1).expand(self.codec.n_codebooks, -1), options,
                            first.T.contiguous())

    def _decode(self, codes: torch.Tensor, options: SamplingOptions,
                latents: Optional[torch.Tensor] = None) -> np.ndarray:
        """Codes (Q, T), or the latents (D, T) when given -> waveform (S,). With ar_decode mel,
        `latents` are the AR's log-mel frames (M, F), heard through the mel vocoder, and so are the NAR's
        in its mel mode."""
        if codes.shape[-1] == 0:
            return np.zeros(0, dtype=np.float32)
        if options.ar_decode == "mel" or self.nar_hears_mel:
            return self._vocode_mel(latents, options.mel_contrast)
        batch = codes.unsqueeze(0).to(self.device)  # (1, Q, T)
        if latents is not None:
            latents = latents.unsqueeze(0).to(self.device)  # (1, D, T)
        if options.decoder == "vocoder":
            if self.vocoder is None:
                raise FileNotFoundError("--decoder vocoder: this run has no trained vocoder (vocoder/best.pt)")
            if self.vocoder.input == "mel":
                raise ValueError("--decoder vocoder needs a vocoder trained on codec features "
                                 "(vocoder.input: codec_latent or codec_mel); this one reads mels")
            self.vocoder.check_codec(self.codec.settings())
            features = (self.codec.vocoder_features(batch, self.vocoder.input) if latents is None
                        else self.codec.latent_features(latents, self.vocoder.input))
            wav = self.vocoder(features)
        else:
            wav = self.codec.decode(batch) if latents is None else self.codec.decode_latents(latents)
        return _peak_limited(wav)

    @torch.no_grad()
    def _vocode_mel(self, mel: torch.Tensor, mel_contrast: float = 1.0) -> np.ndarray:
        """Predicted log-mel frames (M, F) -> waveform (S,) through the run's mel vocoder (vocoder/best.pt
        when it reads mels, else the one a mel-domain codec decodes through), each bin's deviation from
        its mean times mel_contrast first."""
        from tts.audio.spectral import expand_variance

        mel = expand_variance(mel, mel_contrast)
        if self.vocoder is not None and self.vocoder.input == "mel":
            return _peak_limited(self.vocoder(mel.unsqueeze(0)))
        generator = getattr(getattr(self.codec, "model", None), "vocoder", None)
        if generator is None:
            raise FileNotFoundError("ar_decode mel and the NAR's mel mode need a mel vocoder: train one with "
                                    "`tts train <recipe> --stage vocoder` (vocoder.input: mel)")
        return _peak_limited(generator(mel.unsqueeze(0).to(self.device, torch.float32)).clamp(-1.0, 1.0))


def _peak_limited(wav: torch.Tensor) -> np.ndarray:
    wav = wav.reshape(-1).float().cpu().numpy()
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    return wav * (MAX_PEAK / peak) if peak > MAX_PEAK else wav  # scale down rather than clip


def _check_codec(codec, trained_on: Optional[dict[str, Any]], checkpoint: Optional[str | Path], run_dir: Path) -> None:
    """ValueError unless `codec` is the one whose codes the AR and NAR learned: the same settings
    and, where the corpus recorded it, the same weights file (a codec trained on after the models,
    with the same settings, makes other codes)."""
    from tts.data.prepare import CHECKPOINT_DIGEST, codec_differences
    from tts.data.store import file_digest

    if trained_on is None:
        return
    now = codec.settings()
    if trained_on.get(CHECKPOINT_DIGEST) and checkpoint is not None and Path(checkpoint).is_file():
        now[CHECKPOINT_DIGEST] = file_digest(Path(checkpoint))
    differences = codec_differences(trained_on, now)
    if any(k != CHECKPOINT_DIGEST for k in differences):
        recorded = {k: v for k, v in trained_on.items() if k != CHECKPOINT_DIGEST}
        raise ValueError(f"{run_dir}: the codec found ({codec.settings()}) differs from the one the "
                         f"models were trained on ({recorded})")
    if differences:
        raise ValueError(f"{run_dir}: the codec checkpoint {checkpoint} is not the one whose codes the AR and "
                         "NAR were trained on (it was trained further or replaced since). Put that codec back, "
                         "or prepare the codes again (`tts prepare <recipe>`) and retrain the AR and NAR")


def _check_symbols(checkpoint: dict[str, Any], where: Path) -> None:
    from tts.text.symbols import SYMBOLS

    saved = checkpoint.get("symbols")
    if saved is not None and list(saved) != list(SYMBOLS):
        raise ValueError(f"{where}: the checkpoint's phone inventory differs from this version's "
                         f"({len(saved)} vs {len(SYMBOLS)} symbols); use the version it was trained with")


def _quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of the transformer's linear layers (CPU inference; the heads stay float)."""
    import warnings

    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore", DeprecationWarning)
        model.transformer = quantize_dynamic(model.transformer, {torch.nn.Linear}, dtype=torch.qint8)
    return model


# ---------------------------------------------------------------------- command line


def synthesize_cli(sentence: Optional[str], out: Path, model: Path, prompt_wav: Optional[Path],
                   prompt_text: Optional[str], speaker: Optional[str], temperature: Optional[float],
                   top_k: Optional[int], top_p: Optional[float], seed: Optional[int], decoder: Optional[str],
                   nar_decode: Optional[str], batch: Optional[Path], plot: Optional[Path], quantize: Optional[str], kv_cache: bool,
                   device: str, ar_decode: Optional[str] = None, min_frames_per_phone: Optional[float] = None,
                   max_frames_per_phone: Optional[float] = None, pace: Optional[float] = None,
                   mel_contrast: Optional[float] = None) -> None:
    """`tts synthesize`: one text to one wav, or --batch lines to a folder with a manifest."""
    from tts.audio.io import save_audio

    if (sentence is None) == (batch is None):
        raise ValueError("give either a text to speak or --batch lines.txt (not both)")
    if decoder not in (None, "codec", "vocoder"):
        raise ValueError(f"--decoder {decoder!r}: use codec or vocoder")
    if nar_decode not in (None, "expected", "argmax"):
        raise ValueError(f"--nar-decode {nar_decode!r}: use expected or argmax")
    if ar_decode not in (None, "sample", "expected", "mel"):
        raise ValueError(f"--ar-decode {ar_decode!r}: use sample, expected or mel")
    if prompt_text and not prompt_wav:
        raise ValueError("--prompt-text goes with --prompt-wav")
    load_start = time.perf_counter()
    synth = Synthesizer.from_run(model, device=device, quantize=quantize)
    load_seconds = time.perf_counter() - load_start
    options = synth.options(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, decoder=decoder,
                            nar_decode=nar_decode, ar_decode=ar_decode, kv_cache=kv_cache,
                            min_frames_per_phone=min_frames_per_phone, max_frames_per_phone=max_frames_per_phone,
                            pace=pace, mel_contrast=mel_contrast)
    prompt = (synth.prompt_from_wav(prompt_wav, prompt_text or "") if prompt_wav
              else synth.prompt_from_speaker(speaker))
    if batch is not None:
        lines = [line.strip() for line in batch.read_text(encoding="utf-8").splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            raise ValueError(f"{batch} holds no lines of text")
        results = synth.synthesize_many(lines, prompt, options)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "manifest.jsonl", "w", encoding="utf-8") as manifest:
            for n, result in enumerate(results, 1):
                path = out / f"line-{n:04d}.wav"
                save_audio(path, result.wav, result.sample_rate)
                manifest.write(json.dumps({"audio": path.name, "text": result.text,
                                           "duration": round(result.duration, 3),
                                           "hit_max_length": result.hit_max_length}) + "\n")
        _report(results, load_seconds, prompt, f"{len(results)} files and manifest.jsonl in {out}")
        return
    result = synth.synthesize(sentence, prompt, options)
    save_audio(out, result.wav, result.sample_rate)
    if plot is not None:
        from tts.plot import plot_spectrograms

        plot_spectrograms([(result.wav, result.sample_rate, f"{out.name}: {sentence[:60]}")], plot,
                          audio=synth.recipe.audio)
    _report([result], load_seconds, prompt, f"{out}" + (f" (spectrogram {plot})" if plot else ""))


def _report(results: list[SynthesisResult], load_seconds: float, prompt: Optional[Prompt], where: str) -> None:
    import typer

    audio = sum(r.duration for r in results)
    stages: dict[str, float] = {}
    for r in results:
        for key, value in r.timings.items():
            stages[key] = stages.get(key, 0.0) + value
    compute = sum(stages.values())
    typer.echo(f"wrote {where}")
    typer.echo(f"voice: {prompt.source if prompt else 'none (no prompt)'}")
    typer.echo(f"audio {audio:.2f} s, compute {compute:.2f} s (model load {load_seconds:.1f} s): "
               f"real-time factor {compute / max(audio, 1e-9):.3f}")
    typer.echo("  " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
    hit = sum(r.hit_max_length for r in results)
    if hit:
        typer.echo(f"  warning: {hit} text(s) reached the length limit without end-of-speech (cut there)")
