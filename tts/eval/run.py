"""`tts eval`: score a folder of wavs, or a trained run on its prepared corpus's held-out sentences.

Both return one JSON-serialisable dict:
    kind, source, settings     what was scored and how (recogniser, MCD analysis, trim level)
    aggregate                  corpus-level WER (summed edits / summed words), floor, means
    per_speaker                the same per speaker (when speakers are known)
    speaker_scale              similarity of real utterances: same speaker vs different speakers
    utterances                 one dict per utterance (hypothesis, edit counts, MCD, DNSMOS, ...)

DNSMOS (tts/eval/mos.py) is given for the audio scored (dnsmos_sig, _bak, _ovrl, _p808) and for its
reference recording (reference_dnsmos_*) unless `mos` is off. With `save_audio` a folder keeps what
was scored (AudioSaver): each wav with its text, and a manifest that `tts eval folder` reads back.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import numpy as np

from tts.eval import asr
from tts.eval.generators import WHATS, generator
from tts.eval.inputs import Item, read_items
from tts.eval.mcd import MCD_ANALYSIS, DEFAULT_SECONDS_PER_PHONE, count_phones, expected_duration
from tts.eval.mos import MODELS as MOS_MODELS
from tts.eval.score import (TRIM_DB, Audio, add_mos_scores, add_speaker_scores, aggregate, aggregate_by_speaker,
                            score_utterance)
from tts.eval.speaker import cosine_similarity, embed, similarity_scale
from tts.eval.summary import print_summary

__all__ = ["AudioSaver", "evaluate_folder", "evaluate_model", "print_summary", "read_items"]

log = logging.getLogger(__name__)

SPEAKER_REFERENCES = 4  # training utterances per speaker that stand for its voice
MAX_REFERENCE_SPEAKERS = 20  # speakers compared against (all evaluated ones, then others)


# --------------------------------------------------------------------------- folder


def evaluate_folder(folder: str | Path, reference: str | Path | None = None, prompts: str | Path | None = None,
                    mos: bool = True, save_audio: str | Path | None = None) -> dict:
    """Score a folder of wavs with transcripts: WER and DNSMOS (`mos`); with references also the
    recogniser's floor, MCD, mel distance, duration ratio and their DNSMOS; with prompts, speaker
    similarity to them. `save_audio`: a folder to keep the scored wavs in (AudioSaver)."""
    from tts.audio.io import load_audio

    start = time.perf_counter()
    items = read_items(folder, reference, prompts)
    saver = _folder_saver(save_audio, folder, items)
    log.info("scoring %d utterances from %s", len(items), folder)
    utterances, outputs, real_embeddings = [], [], {}
    for number, item in enumerate(items, 1):
        audio = Audio(*load_audio(item.audio))
        reference_audio = Audio(*load_audio(item.reference)) if item.reference else None
        expected = None if reference_audio is not None else _expected_seconds(item.text)
        result = {"id": item.id, "audio": str(item.audio), "speaker": item.speaker,
                  **score_utterance(audio, item.text, reference_audio, expected)}
        if mos:
            add_mos_scores(result, audio, reference_audio)
        output, real = _folder_speaker_scores(result, item, audio, reference_audio)
        if item.speaker is not None and real:
            real_embeddings.setdefault(item.speaker, []).extend(real)
        utterances.append(result)
        outputs.append(output)
        if saver is not None:
            saver.add(result, audio, prompt=item.prompt, reference=item.reference)
        log.debug("%d/%d %s: wer %s", number, len(items), item.id, _wer(result))
    if len(real_embeddings) >= 2:  # outputs against every speaker's real audio
        for result, output in zip(utterances, outputs):
            if output is not None:
                add_speaker_scores(result, output, speakers=real_embeddings, speaker=result["speaker"])
    return _result("folder", str(folder), utterances, real_embeddings, time.perf_counter() - start, mos, saver,
                   references=any(i.reference for i in items), prompts=any(i.prompt for i in items))


def _folder_saver(save_audio: str | Path | None, folder: str | Path, items: list[Item]) -> "AudioSaver | None":
    """An AudioSaver for `save_audio`, unless it holds the files scored (their names would be written over)."""
    if save_audio is None:
        return None
    source = Path(folder).resolve()
    inputs = {source if source.is_dir() else source.parent}
    inputs |= {Path(path).resolve().parent for item in items for path in (item.audio, item.reference, item.prompt)
               if path is not None}
    if Path(save_audio).resolve() in inputs:
        raise ValueError(f"--save-audio {save_audio} holds the audio being scored (its wavs, references or "
                         "prompts); give another folder")
    return AudioSaver(save_audio)


def _folder_speaker_scores(result: dict, item: Item, audio: Audio,
                           reference: Audio | None) -> tuple[np.ndarray | None, list[np.ndarray]]:
    """Similarity to the prompt and to the reference; returns the output's and the real embeddings."""
    from tts.audio.io import load_audio

    if item.prompt is None and reference is None:
        return None, []
    output = embed(audio.wav, audio.sample_rate)
    prompt = None
    if item.prompt is not None:
        prompt = embed(*load_audio(item.prompt))
        result["prompt_similarity"] = cosine_similarity(output, prompt)
    real = [prompt] if prompt is not None else []
    if reference is not None:
        reference_embedding = embed(reference.wav, reference.sample_rate)
        result["reference_similarity"] = cosine_similarity(output, reference_embedding)
        if reference_embedding is not None:
            real.append(reference_embedding)
    return output, real


def _expected_seconds(text: str) -> float | None:
    """Duration expected from the phone count at a typical speaking rate (None if unspeakable)."""
    from tts.text import UnspeakableTextError, text_to_phones

    try:
        _, phones = text_to_phones(text)
    except UnspeakableTextError:
        return None
    return expected_duration(count_phones(phones)) or None


def _result(kind: str, source: str, utterances: list[dict], real_embeddings: dict, seconds: float, mos: bool,
            saver: "AudioSaver | None", **extra) -> dict:
    scale = similarity_scale(real_embeddings) if real_embeddings else None
    return {
        "kind": kind, "source": source, **extra,
        "saved_audio": str(saver.folder) if saver is not None else None,
        "settings": {"recognizer": f"pocketsphinx en-us (default model), {asr.SAMPLE_RATE} Hz",
                     "mcd": MCD_ANALYSIS, "trim_db": TRIM_DB, "seconds_per_phone": DEFAULT_SECONDS_PER_PHONE,
                     "dnsmos": MOS_MODELS if mos else None},
        "aggregate": aggregate(utterances),
        "per_speaker": aggregate_by_speaker(utterances),
        "speaker_scale": scale,
        "compute_seconds": seconds,
        "utterances": utterances,
    }


# --------------------------------------------------------------------------- model


def evaluate_model(model_dir: str | Path, limit: int = 50, prompt: bool = True, what: str = "model",
                   seed: int = 0, device: str = "auto", checkpoint: str | Path | None = None,
                   sampling: dict | None = None, codebooks: int | None = None, quantize: str | None = None,
                   mos: bool = True, save_audio: str | Path | None = None) -> dict:
    """Score a run on the held-out sentences of its prepared corpus (`model_dir`/prepared).

    what: one of WHATS, what is heard (tts/eval/generators.py): "model" synthesizes each sentence
    (prompted with another utterance of its speaker when `prompt`); "nar", "durations" and "ar" one model
    given the truth from the recording; "codec", "vocoder", "griffin_lim" resynthesis; "original" the
    recogniser's floor. Sentences are taken round-robin over speakers (shuffled with `seed`), at most `limit`.
    `checkpoint` (codec and vocoder only) scores that checkpoint file instead of the run's best.pt.
    `sampling` (model only) changes the recipe's synthesis options (None = keep): temperature, top_k,
    top_p, min_frames_per_phone, max_frames_per_phone, pace, refiner_steps (the last also for durations).
    `codebooks` (codec only) decodes from the first that many codebooks (a lower bitrate).
    `quantize` (model only): "int8" synthesizes with dynamic int8 linear layers (tts synthesize --quantize).
    `mos`: DNSMOS of each output and of its recording. `save_audio`: a folder to keep the outputs, their
    recordings and prompts in (AudioSaver).
    """
    from tts.data.corpus import PreparedCorpus

    sampling = {k: v for k, v in (sampling or {}).items() if v is not None}
    _check_arguments(what, limit, checkpoint, sampling, codebooks, quantize)
    saver = AudioSaver(save_audio) if save_audio is not None else None
    start = time.perf_counter()
    model_dir = Path(model_dir)
    corpus = PreparedCorpus(model_dir / "prepared")
    rng = np.random.default_rng(seed)
    chosen = _held_out(corpus, limit, rng)
    speakers = _speaker_embeddings(corpus, sorted({r["speaker"] for r in chosen}), rng)
    generate = generator(what, model_dir, _device(device), checkpoint, sampling, codebooks, quantize)
    log.info("scoring %d held-out utterances of %s (%s)", len(chosen), model_dir, what)
    utterances = []
    for number, record in enumerate(chosen):
        prompt_record = _prompt_for(corpus, record, rng) if prompt else None
        original = Audio(corpus.audio(record), corpus.sample_rate)
        prompt_audio = Audio(corpus.audio(prompt_record), corpus.sample_rate) if prompt_record else None
        tick = time.perf_counter()
        audio, extra = generate(record, original, prompt_record, prompt_audio, seed + number)
        extra["synthesis_seconds"] = time.perf_counter() - tick
        reference = None if what == "original" else original  # the original is what is scored
        result = {"id": record["id"], "speaker": record["speaker"],
                  "prompt_id": prompt_record["id"] if prompt_record else None,
                  "prompt_split": prompt_record["split"] if prompt_record else None, **extra,
                  **score_utterance(audio, record["text"], reference)}
        if mos:
            add_mos_scores(result, audio, reference)
        add_speaker_scores(result, embed(audio.wav, audio.sample_rate),
                           prompt=embed(prompt_audio.wav, prompt_audio.sample_rate) if prompt_audio else None,
                           speakers=speakers, speaker=record["speaker"])
        utterances.append(result)
        if saver is not None:
            saver.add(result, audio, prompt=prompt_audio, reference=reference, recording=record.get("audio_path"),
                      prompt_recording=prompt_record.get("audio_path") if prompt_record else None)
        log.info("%d/%d %s: wer %s", number + 1, len(chosen), record["id"], _wer(result))
    result = _result("model", str(model_dir), utterances, speakers, time.perf_counter() - start, mos, saver,
                     what=what, limit=limit, prompt=prompt, seed=seed,
                     checkpoint=str(checkpoint) if checkpoint else None, sampling=sampling, codebooks=codebooks,
                     quantize=quantize)
    _add_model_figures(result, utterances, what)
    return result


def _add_model_figures(result: dict, utterances: list[dict], what: str) -> None:
    """The models' steps (the same for every utterance: said once, at the top) and the synthesis time."""
    steps = [u.pop("model_steps") for u in utterances if "model_steps" in u]
    if steps:
        result["model_steps"] = steps[0]
    if what != "original":
        synthesis = sum(u["synthesis_seconds"] for u in utterances)
        result["aggregate"]["synthesis_seconds"] = synthesis
        result["aggregate"]["synthesis_rtf"] = synthesis / max(result["aggregate"]["seconds"], 1e-9)


def _check_arguments(what: str, limit: int, checkpoint: str | Path | None, sampling: dict, codebooks: int | None,
                     quantize: str | None) -> None:
    """ValueError (FileNotFoundError for a missing checkpoint) when an argument does not apply to `what`."""
    if what not in WHATS:
        raise ValueError(f"--what {what!r} is not one of {', '.join(WHATS)}")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if checkpoint is not None:
        if what not in ("codec", "vocoder"):
            raise ValueError(f"--checkpoint applies to --what codec or vocoder, not {what}")
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
    misplaced = [k for k in sampling if not (what == "model" or (what == "durations" and k == "refiner_steps"))]
    if misplaced:
        raise ValueError(f"sampling settings ({', '.join(misplaced)}) apply to --what model, not {what}"
                         + (" (--what durations takes --refiner-steps)" if what == "durations" else ""))
    if sampling.get("refiner_steps", 1) < 1:
        raise ValueError(f"--refiner-steps {sampling['refiner_steps']}: the refiner needs at least 1 Euler step")
    if quantize not in (None, "none") and what != "model":
        raise ValueError(f"--quantize applies to --what model, not {what}")
    if codebooks is not None and what != "codec":
        raise ValueError(f"--codebooks applies to --what codec, not {what}")


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _held_out(corpus, limit: int, rng: np.random.Generator) -> list[dict]:
    """Up to `limit` validation records, round-robin over speakers, each speaker's shuffled."""
    groups: dict[str, list[dict]] = {}
    for record in corpus.records("validation"):
        groups.setdefault(record["speaker"], []).append(record)
    if not groups:
        raise ValueError(f"{corpus.folder} has no validation utterances; set data.validation_fraction > 0 "
                         "and prepare again")
    queues = [[group[i] for i in rng.permutation(len(group))] for _, group in sorted(groups.items())]
    chosen = []
    while len(chosen) < limit and any(queues):
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    return chosen


def _prompt_for(corpus, record: dict, rng: np.random.Generator) -> dict | None:
    """Another utterance of the same speaker: held-out if there is one, else from training."""
    for split in ("validation", "train"):
        candidates = [r for r in corpus.records(split) if r["speaker"] == record["speaker"] and r["id"] != record["id"]]
        if candidates:
            return candidates[int(rng.integers(len(candidates)))]
    return None


def _speaker_embeddings(corpus, evaluated: list[str], rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Embeddings of a few training utterances per speaker: the evaluated ones, then others."""
    others = [s for s in corpus.speakers if s not in evaluated]
    extra = max(0, MAX_REFERENCE_SPEAKERS - len(evaluated))
    chosen = evaluated + [others[i] for i in sorted(rng.permutation(len(others))[:extra])]
    training = corpus.records("train")
    embeddings = {}
    for speaker in chosen:
        records = [r for r in training if r["speaker"] == speaker]
        picked = [records[i] for i in rng.permutation(len(records))[:SPEAKER_REFERENCES]]
        vectors = [embed(corpus.audio(r), corpus.sample_rate) for r in picked]
        vectors = [v for v in vectors if v is not None]
        if vectors:
            embeddings[speaker] = vectors
    return embeddings


def _wer(result: dict) -> str:
    return "none (no words)" if result["wer"] is None else f"{result['wer']:.2f}"


# --------------------------------------------------------------------------- saved audio

SAVED_MANIFEST = "manifest.jsonl"
SAVED_SCORES = ("hypothesis", "wer", "reference_wer", "mcd", "dnsmos_ovrl", "dnsmos_p808",
                "reference_dnsmos_ovrl", "reference_dnsmos_p808")


class AudioSaver:
    """Keeps what was scored in a folder, to be listened to: <id>.wav as scored, <id>.txt its sentence,
    and manifest.jsonl, one row per utterance: id, audio, text, speaker, the prompt (prompt_id and its
    wav) and the reference wav (null where none) and the scores (wer, dnsmos_ovrl, ...).

    The manifest is rewritten after each utterance, every file atomically (a temporary name, then a
    rename), so the folder is whole at any moment; `tts eval folder` reads it back, references and
    prompts included. Prompts and references that exist only in memory (a prepared corpus's) are
    written under prompts/ and references/; files are named where they are, by their absolute path.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"--save-audio {self.folder} is a file; give a folder (it is made if missing)")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a parent is a file, or not writable
            raise ValueError(f"--save-audio {self.folder}: cannot make the folder ({err.strerror})") from None
        self.rows: list[dict] = []
        self._names: set[str] = set()

    def add(self, result: dict, audio: Audio, prompt: Audio | Path | None = None,
            reference: Audio | Path | None = None, **fields) -> None:
        """Save one scored utterance (`result` as scored: id, text, speaker, prompt_id, scores); `fields`
        are added to its row as they are."""
        from tts.audio.io import save_audio
        from tts.data.store import write_text

        name = self._file_name(str(result["id"]))
        save_audio(self.folder / f"{name}.wav", audio.wav, audio.sample_rate)
        write_text(self.folder / f"{name}.txt", result["text"] + "\n")
        prompt_id = result.get("prompt_id") or (Path(prompt).stem if isinstance(prompt, Path) else None)
        self.rows.append({
            "id": result["id"], "audio": f"{name}.wav", "text": result["text"], "speaker": result.get("speaker"),
            "prompt_id": prompt_id, "prompt": self._place(prompt, "prompts", _safe(prompt_id or name)),
            "reference": self._place(reference, "references", name),
            **{key: result[key] for key in SAVED_SCORES if key in result}, **fields})
        write_text(self.folder / SAVED_MANIFEST, "".join(json.dumps(row) + "\n" for row in self.rows))

    def _file_name(self, utterance_id: str) -> str:
        """The utterance id as a file name, unique within this folder."""
        name = base = _safe(utterance_id)
        number = 1
        while name in self._names:
            number += 1
            name = f"{base}_{number}"
        self._names.add(name)
        return name

    def _place(self, audio: Audio | Path | None, folder: str, name: str) -> str | None:
        """Where a prompt or reference is: its own file, or a copy of the audio under `folder`."""
        from tts.audio.io import save_audio

        if audio is None:
            return None
        if isinstance(audio, Path):
            return str(audio.resolve())
        save_audio(self.folder / folder / f"{name}.wav", audio.wav, audio.sample_rate)
        return f"{folder}/{name}.wav"


def _safe(name: str) -> str:
    """A file name from an id: anything but letters, digits, '.', '-' and '_' becomes '_'."""
    return re.sub(r"[^\w.-]", "_", name).lstrip(".") or "utterance"
