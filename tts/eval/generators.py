"""What `tts eval model --what` scores: for each kind, a function that turns a held-out record into audio.

    model        synthesis through the public API (tts.synthesize.Synthesizer), prompted as a user would
    nar          the NAR and the codec from the utterance's true codebook 1: the AR's part done perfectly
    durations    the durations model at the aligner's durations of the recording (<run>/aligner/durations.npz),
                 through its vocoder: its duration predictor's part done perfectly
    ar           the AR teacher-forced on the true codebook 1, each frame heard as the mean entry of
                 codebook 1 under its prediction from the true earlier frames (compare: codec, codebooks 1),
                 each frame's phone told by the aligner's durations
    codec        resynthesis through the codec
    vocoder      copy-synthesis through the vocoder
    griffin_lim  copy-synthesis through Griffin-Lim (the vocoder's untrained baseline)
    original     the original audio itself: the recogniser's floor

A generator is called as (record, original audio, prompt record, prompt audio, seed) and returns
(audio, extra fields for the utterance's result).

Shapes: T frames, L phones, E codec latent width, S samples.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tts.eval.score import Audio

WHATS = ("model", "nar", "durations", "ar", "codec", "vocoder", "griffin_lim", "original")

Generator = Callable[[dict, Audio, "dict | None", "Audio | None", int], "tuple[Audio, dict]"]


def generator(what: str, model_dir: Path, device: str, checkpoint: str | Path | None = None,
              sampling: dict | None = None, codebooks: int | None = None, quantize: str | None = None) -> Generator:
    """The Generator of one kind (WHATS) for the run `model_dir`."""
    if what == "original":
        return lambda record, original, *_: (original, {})
    if what == "codec":
        recipe = run_recipe(model_dir)
        if checkpoint is not None:
            recipe = dataclasses.replace(recipe, codec=dataclasses.replace(recipe.codec, checkpoint=str(checkpoint)))
        return _codec(recipe, device, codebooks)
    if what == "vocoder":
        return _vocoder(model_dir, device, checkpoint)
    if what == "griffin_lim":
        return _griffin_lim(run_recipe(model_dir))
    if what in ("nar", "ar"):
        return _true_first_level(what, model_dir, device)
    if what == "durations":
        return _true_durations(model_dir, device, (sampling or {}).get("refiner_steps"))
    return _model(model_dir, device, sampling or {}, quantize)


def run_recipe(model_dir: Path):
    """The run's recipe.yaml, with output_dir the folder where the run is now."""
    from tts.config import load_recipe

    path = model_dir / "recipe.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} has no recipe.yaml (written by `tts run` and `tts train`), "
                                "which codec resynthesis needs")
    # the run folder may have moved since training: look for its parts where it is now
    return dataclasses.replace(load_recipe(path), output_dir=str(model_dir))


def _griffin_lim(recipe) -> Generator:
    """Copy-synthesis with no training: log-mel (the recipe's settings) -> Griffin-Lim; the vocoder's baseline."""
    from tts.audio.io import resample
    from tts.audio.spectral import griffin_lim_from_log_mel, log_mel

    audio = recipe.audio

    def generate(record, original, *_):
        wav = resample(original.wav, original.sample_rate, audio.sample_rate)
        settings = audio.mel_kwargs()
        out = griffin_lim_from_log_mel(log_mel(wav, **settings), **settings, length=len(wav))  # (S,)
        return Audio(out.float().cpu().numpy(), audio.sample_rate), {}

    return generate


def _codec(recipe, device: str, levels: int | None = None) -> Generator:
    import torch

    from tts.audio.io import resample
    from tts.codec import load_codec

    codec = load_codec(recipe, device)
    if codec is None:
        raise RuntimeError(f"the run has no codec to resynthesize with (codec.kind={recipe.codec.kind}, "
                           "or not trained yet: `tts train <recipe> --stage codec`)")

    def generate(record, original, *_):
        wav = resample(original.wav, original.sample_rate, codec.sample_rate)
        with torch.no_grad():
            out = codec(torch.from_numpy(np.ascontiguousarray(wav))[None, None].to(device), levels)  # (1, 1, S)
        return Audio(out[0, 0].float().cpu().numpy(), codec.sample_rate), {}

    return generate


def _vocoder(model_dir: Path, device: str, checkpoint: str | Path | None = None) -> Generator:
    import torch

    from tts.audio.io import resample
    from tts.audio.spectral import log_mel
    from tts.vocode import load_vocoder

    vocoder = load_vocoder(checkpoint or model_dir, device)
    codec = None
    if vocoder.input != "mel":
        from tts.codec import load_codec

        # the vocoder's checkpoint carries its recipe; its codec is looked for in this run folder
        codec = load_codec(dataclasses.replace(vocoder.recipe, output_dir=str(model_dir)), device)
        if codec is None:
            raise RuntimeError("the vocoder reads the codec's decoded log-mels but the run has no codec")
        vocoder.check_codec(codec.settings())

    def generate(record, original, *_):
        wav = resample(original.wav, original.sample_rate, vocoder.sample_rate)
        with torch.no_grad():
            if codec is None:
                features = log_mel(wav, **vocoder.audio.mel_kwargs())  # (M, T)
            else:
                codes = codec.encode(torch.from_numpy(np.ascontiguousarray(wav))[None, None].to(device))
                features = codec.vocoder_features(codes, vocoder.input)  # the codec's decoded log-mel
            out = vocoder(features)[0, 0, : len(wav)]  # (S,)
        return Audio(out.float().cpu().numpy(), vocoder.sample_rate), {}

    return generate


def _model(model_dir: Path, device: str, sampling: dict, quantize: str | None = None) -> Generator:
    """Synthesis through the public API: a prompt clip goes in as a wav file, as a user's would."""
    from tts.synthesize import Synthesizer

    synthesizer = Synthesizer.from_run(model_dir, device, quantize=quantize)

    def generate(record, original, prompt_record, prompt_audio, seed):
        voice = _prompt_voice(synthesizer, prompt_record, prompt_audio, record["speaker"])
        output = synthesizer.synthesize(record["text"], voice, synthesizer.options(seed=seed, **sampling))
        extra = {"hit_max_length": bool(output.hit_max_length), "model_steps": synthesizer.steps,
                 "synthesis_timings": {k: float(v) for k, v in output.timings.items()}}
        return Audio(np.asarray(output.wav, dtype=np.float32).reshape(-1), int(output.sample_rate)), extra

    return generate


def _prompt_voice(synthesizer, prompt_record: dict | None, prompt_audio: Audio | None, speaker: str):
    """The prompt as a user gives it (a wav file and its transcript), or a training speaker's."""
    import tempfile

    from tts.audio.io import save_audio

    if prompt_record is None:
        return synthesizer.prompt_from_speaker(speaker)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{prompt_record['id']}.wav"
        save_audio(path, prompt_audio.wav, prompt_audio.sample_rate)
        return synthesizer.prompt_from_wav(path, prompt_record["text"])


def _synthesizer(model_dir: Path, device: str, family: str):
    """A Synthesizer of the run's AR chain (family "ar") or durations model ("durations"), whichever
    else the run holds."""
    from tts.device import resolve_device
    from tts.loading import load_ar_chain, load_durations_chain
    from tts.synthesize import Synthesizer

    chain, steps = (load_ar_chain if family == "ar" else load_durations_chain)(model_dir, resolve_device(device))
    return Synthesizer(chain, None, steps)


def _true_first_level(what: str, model_dir: Path, device: str) -> Generator:
    """"nar": the NAR and the codec from the utterance's true codebook 1 (its prepared codes);
    "ar": the AR teacher-forced on it."""
    import torch

    from tts.data.corpus import PreparedCorpus

    corpus = PreparedCorpus(model_dir / "prepared")
    if not corpus.has_codes:
        raise RuntimeError(f"{model_dir}/prepared has no codec codes; --what {what} starts from the true codebook 1")
    synthesizer = _synthesizer(model_dir, device, "ar")
    durations = _aligner_durations(model_dir, "ar") if what == "ar" else None

    def generate(record, original, prompt_record, prompt_audio, seed):
        voice = _prompt_voice(synthesizer, prompt_record, prompt_audio, record["speaker"])
        first = torch.as_tensor(np.asarray(corpus.codes(record))[0], dtype=torch.long)  # (T,)
        if what == "nar":
            wav = speak_first_level(synthesizer.chain, list(record["phones"]), first, voice)
        else:
            d = _durations_of(durations, record, model_dir)
            wav = hear_ar_forced(synthesizer.chain, list(record["phones"]), first, d, voice)
        return Audio(np.asarray(wav, dtype=np.float32).reshape(-1), int(synthesizer.sample_rate)), {}

    return generate


def _true_durations(model_dir: Path, device: str, refiner_steps: int | None = None) -> Generator:
    """The durations model speaking each utterance at the durations the aligner read off its recording
    (<run>/aligner/durations.npz), not at its own; its refiner (if any) at `refiner_steps` Euler steps (None:
    the recipe's synthesis.refiner_steps)."""
    durations = _aligner_durations(model_dir, "durations")
    synthesizer = _synthesizer(model_dir, device, "durations")

    def generate(record, original, prompt_record, prompt_audio, seed):
        voice = _prompt_voice(synthesizer, prompt_record, prompt_audio, record["speaker"])
        d = _durations_of(durations, record, model_dir)  # (L,)
        wav = speak_durations(synthesizer.chain, list(record["phones"]), d, voice, refiner_steps=refiner_steps)
        return Audio(np.asarray(wav, dtype=np.float32).reshape(-1), int(synthesizer.sample_rate)), {}

    return generate


def _aligner_durations(model_dir: Path, what: str) -> dict[str, np.ndarray]:
    """{utterance id: frames (L,) of each phone} that the aligner read off each recording of the run."""
    from tts.data.durations import FILE, read_durations

    path = model_dir / "aligner" / FILE
    if not path.is_file():
        raise FileNotFoundError(f"--what {what}: {path} is missing; stage durations writes it when it starts "
                                "training, and stage ar too")
    return read_durations(path)


def _durations_of(durations: dict[str, np.ndarray], record: dict, model_dir: Path) -> Any:
    """The frames (L,) long of each phone of `record` in the run's aligner durations."""
    import torch

    from tts.data.durations import FILE

    if record["id"] not in durations:
        raise RuntimeError(f"{model_dir / 'aligner' / FILE} has no durations of {record['id']}: it was computed "
                           "for another corpus")
    return torch.as_tensor(durations[record["id"]].astype(np.int64))


# ---------------------------------------------------------------------- one model with the truth given


def _sentence(phones: list[str], prompt: Any) -> Any:
    """One sentence's phones (and the prompt) as the chains read them (tts.synthesize.Sentences)."""
    import torch

    from tts.synthesize import Sentences
    from tts.text.symbols import encode

    ids = torch.tensor(encode(phones), dtype=torch.long)
    if prompt is None:
        return Sentences([ids])
    return Sentences([ids], torch.tensor(encode(prompt.phones), dtype=torch.long), prompt.codes)


def speak_first_level(chain: Any, phones: list[str], first_level: Any, prompt: Any = None) -> np.ndarray:
    """The NAR and the decoder of an AR chain alone: levels 2..Q filled in from a given codebook 1 (T,)
    of the sentence `phones` and decoded, as synthesis does, to a waveform (S,). With the true codebook 1
    of a recording, what it loses is the NAR's (and the codec's) share of the error, not the AR's."""
    _, latents = chain.fill_levels(_sentence(phones, prompt), [first_level.long()])
    return chain.decode(latents[0])


def hear_ar_forced(chain: Any, phones: list[str], first_level: Any, durations: Any, prompt: Any = None) -> np.ndarray:
    """The AR of an AR chain alone, teacher-forced: for each frame of a given codebook 1 (T,) of the
    sentence `phones`, the AR's prediction from the true earlier frames, heard as the mean entry of
    codebook 1 under it (levels 2..Q left out) through the codec, a waveform (S,). Against the codec's
    codebook 1 alone (the same frames, exactly right) this measures what the AR knows of each frame
    before any of its own sampling errors feed back. The AR reads each frame's phone from the true
    `durations` (L,) of the phones (e.g. the aligner's)."""
    from tts.models.layers import expected_entries

    sentence = _sentence(phones, prompt)
    prompt_phones = [sentence.prompt_phones] if prompt is not None else None
    prompt_first = [prompt.codes[0]] if prompt is not None else None
    logits = chain.ar.teacher_forced(sentence.phones, [first_level], [durations], prompt_phones, prompt_first)[0]
    first = expected_entries(logits, chain.codec.codebooks()[0])  # (T, E)
    return chain.decode(first.T.contiguous())


def speak_durations(chain: Any, phones: list[str], durations: Any, prompt: Any = None,
                    refiner_steps: int | None = None) -> np.ndarray:
    """The durations model of a durations chain speaking the sentence `phones` at the given frames (L,)
    of each phone, e.g. those the aligner read off a recording, refined (if the chain has a refiner) and through
    its vocoder to a waveform (S,): what it loses then is the log-mel frames' share of the error, not its
    duration predictor's. `refiner_steps`: the refiner's Euler steps (None: the recipe's)."""
    sentence = _sentence(phones, prompt)
    codes, prompt_phones = sentence.prompts([0])
    mels, _, hidden = chain.model.speak(sentence.phones, codes, prompt_phones, durations=[durations], with_hidden=True)
    return chain.vocode(chain.refined(mels[0], hidden[0], refiner_steps if refiner_steps is not None else chain.recipe.synthesis.refiner_steps))
