"""The AR training stage: codebook 1 of each utterance, spoken after its phones and a voice prompt.

The voice prompt is a prefix of the same utterance, as in VALL-E: its codes are given and only
the frames after it (and EOS) count in the loss. The prefix is 0 to min(prompt_seconds, half the
utterance) long, drawn per utterance. A prefix needs no alignment: its phones are simply the
first phones of the sequence, which holds every phone of the utterance. (At synthesis the prompt
is another recording of the speaker with its transcript: [prompt phones ; text phones],
[prompt codes ; new codes], the same layout.)

Each frame is also told its phone and a second head learns how the phone pointer moves
(tts/models/ar_pointer.py), by the aligner's durations (tts/train/durations.py: stage aligner must be
trained first); the prompt then ends where a phone starts, as a recorded prompt does, and the loss
adds the moves' cross-entropy over the target frames to the codes'.

Batches are dicts of CPU tensors (moved to the device in train_step):
    ids, phones (B, L), phone_lengths (B,), audio (B, T + 1) = BOS + codes, audio_lengths (B,),
    targets (B, T + 1) = codes + EOS with IGNORE over the prompt and padding, tokens;
    the AR's: frame_index (B, T + 1) and moves (B, T + 1) (ar_pointer.pointer_targets).
"""

from __future__ import annotations

import json
import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tts.config import ARConfig, Recipe, TrainConfig
from tts.models.ar import ALIGNMENT, ARModel, split_logits
from tts.models.ar_pointer import fit_durations, phone_start, pointer_targets
from tts.models.layers import IGNORE, TransformerShape, pad_right, token_accuracy, token_loss
from tts.train.batching import BatchList, CodesDataset, batch_rng, bucket_batches, shard_batches, short_first
from tts.train.task import PreparedCorpusTask

log = logging.getLogger(__name__)

VALIDATION_EPOCH = -1  # batch_rng epoch of the (fixed) validation batches


class ARTask(PreparedCorpusTask):
    """Training stage "ar" (see tts/train/task.py for the protocol)."""

    name = "ar"

    def __init__(self, recipe: Recipe, corpus: Any = None, durations: dict[str, np.ndarray] | None = None):
        self.recipe = recipe
        self.section = getattr(recipe, self.name)  # ARConfig (NARConfig, DurationsConfig in the subclasses)
        self._corpus = corpus
        self._durations = durations  # {utterance id: codec frames (L,) of each phone}, else read on first use
        self._datasets: dict[str, CodesDataset] = {}
        self._validation: list[dict] | None = None
        self._codec: Any = None
        self._codec_tried = False

    # ------------------------------------------------------------------ data

    @property
    def train_config(self) -> TrainConfig:
        return self.section.train

    @property
    def codec_settings(self) -> dict[str, Any]:
        """Settings of the codec that made the corpus's codes (from the corpus, else the recipe)."""
        settings = (self.corpus.settings or {}).get("codec")
        if settings:
            return dict(settings)
        codec = self.recipe.codec
        return {"kind": codec.kind, "n_codebooks": codec.codebooks,
                "codebook_size": 1024 if codec.kind == "encodec_24khz" else codec.codebook_size,
                "frame_rate": self.recipe.codec_frame_rate}

    @property
    def codebook_size(self) -> int:
        return int(self.codec_settings["codebook_size"])

    @property
    def n_codebooks(self) -> int:
        return int(self.codec_settings["n_codebooks"])

    def dataset(self, split: str) -> CodesDataset:
        if split not in self._datasets:
            from tts.text.symbols import encode

            if not self.corpus.has_codes:
                raise RuntimeError(f"the prepared corpus in {self.corpus.folder} has no codec codes; train the "
                                   "codec (`tts train <recipe> --stage codec`) and run `tts prepare` again")
            self._datasets[split] = CodesDataset(self.corpus, split, encode, self.section.max_positions,
                                                 self.codebook_size)
        return self._datasets[split]

    @cached_property
    def phone_durations(self) -> dict[str, torch.Tensor]:
        """{utterance id: codec frames (L,) long of each phone}, as the aligner read them off the recording,
        made to sum to the utterance's frames."""
        from tts.data.durations import durations_path
        from tts.train.durations import load_durations
        from tts.train.durations_task import DurationsTask  # the durations are computed as that stage does

        where = durations_path(self.recipe)
        if self._durations is None:
            if not where.exists() and not (where.parent / "best.pt").exists():
                raise RuntimeError(f"stage {self.name} learns from the phone durations of stage aligner, but "
                                   f"neither {where} nor {where.parent / 'best.pt'} exists: train the aligner first "
                                   "(`tts train <recipe> --stage aligner`)")
            computer = self if isinstance(self, DurationsTask) else DurationsTask(self.recipe, self.corpus)
            self._durations = load_durations(self.recipe, computer)
        fitted, refit = {}, 0
        for split in ("train", "validation"):
            for item in self.dataset(split).items:
                d = self._durations.get(item.id)
                if d is None or len(d) != len(item.phones):
                    raise RuntimeError(f"{where} has no durations of the {len(item.phones)} phones of {item.id}: they "
                                       "were computed for another prepared corpus, or over fewer utterances (a lower "
                                       "durations.max_positions); delete the file to compute them again")
                refit += int(d.sum()) != item.n_frames
                fitted[item.id] = torch.from_numpy(fit_durations(d, item.n_frames))
        if refit:
            log.warning("%s: %d of %d utterances' durations do not sum to their frames; fixed at the end", where,
                        refit, len(fitted))
        return fitted

    def _prompt_frames(self) -> int:
        return int(round(self.section.prompt_seconds * float(self.codec_settings.get(
            "frame_rate", self.recipe.codec_frame_rate))))

    def prompt_length(self, n_frames: int, rng: np.random.Generator) -> int:
        """Frames of the prompt prefix of an utterance: uniform in 0..min(prompt frames, T // 2)."""
        return int(rng.integers(0, min(self._prompt_frames(), n_frames // 2) + 1))

    def train_batches(self, epoch: int, rank: int, world_size: int) -> BatchList:
        data = self.dataset("train")
        seed = self.recipe.seed
        lengths = np.asarray(data.lengths())
        chosen = short_first(lengths, epoch, self.section.short_first_epochs)  # all, after the curriculum
        batches = bucket_batches(lengths[chosen], self.train_config.batch_tokens,
                                 np.random.default_rng([seed, epoch + 1]))
        batches = [[int(chosen[i]) for i in batch] for batch in batches]
        mine = shard_batches(batches, rank, world_size)
        return BatchList(mine, lambda i, items: self.collate(
            data, items, batch_rng(seed, epoch, i * world_size + rank)))

    def validation_batches(self) -> list[dict]:
        if self._validation is None:
            data = self.dataset("validation")
            if not len(data):
                log.warning("%s: no validation utterances with codes; no validation loss and no best.pt "
                            "(raise data.validation_fraction)", self.name)
            seed = self.recipe.seed
            batches = bucket_batches(data.lengths(), self.train_config.batch_tokens,
                                     np.random.default_rng([seed, 0]))
            self._validation = [self.collate(data, items, batch_rng(seed, VALIDATION_EPOCH, i))
                                for i, items in enumerate(batches)]
        return self._validation

    def utterances(self, data: CodesDataset, items: list[int], rng: np.random.Generator) -> tuple[
            list[torch.Tensor], list[Any], torch.Tensor, torch.Tensor, torch.Tensor]:
        """All codes (Q, T) and the phones of utterances `items`, with their phone, frame and prompt lengths
        (each (B,); prompt lengths drawn from `rng`): what the NAR and the durations model batch."""
        codes = [data.codes(i) for i in items]  # each (Q, T)
        phones = [data.items[i].phones for i in items]
        phone_lengths = torch.tensor([len(p) for p in phones])
        audio_lengths = torch.tensor([c.size(1) for c in codes])
        prompt_lengths = torch.tensor([self.prompt_length(c.size(1), rng) for c in codes])
        return codes, phones, phone_lengths, audio_lengths, prompt_lengths

    def collate(self, data: CodesDataset, items: list[int], rng: np.random.Generator) -> dict[str, Any]:
        """A training batch of utterances `items` (prompt lengths drawn from `rng`)."""
        phones, audio, targets, frame_index, moves = [], [], [], [], []
        bos, eos = self.codebook_size + 1, self.codebook_size
        for index in items:
            codes = data.codes(index)[0]  # (T,) codebook 1
            durations = self.phone_durations[data.items[index].id]
            prompt = phone_start(durations, self.prompt_length(len(codes), rng))
            where, move = pointer_targets(durations, prompt)  # (T + 1,) each
            frame_index.append(where)
            moves.append(move)
            target = torch.cat([codes, torch.tensor([eos])])  # (T + 1,)
            target[:prompt] = IGNORE
            phones.append(data.items[index].phones)
            audio.append(torch.cat([torch.tensor([bos]), codes]))  # (T + 1,)
            targets.append(target)
        phone_lengths = torch.tensor([len(p) for p in phones])
        audio_lengths = torch.tensor([len(a) for a in audio])
        T = int(audio_lengths.max())
        return {"ids": [data.items[i].id for i in items],
                "phones": pad_right(phones, int(phone_lengths.max())), "phone_lengths": phone_lengths,
                "audio": pad_right(audio, T), "audio_lengths": audio_lengths,
                "targets": pad_right(targets, T, value=IGNORE),
                "frame_index": pad_right(frame_index, T, value=-1), "moves": pad_right(moves, T, value=IGNORE),
                "tokens": int(phone_lengths.sum() + audio_lengths.sum())}

    def batch_ids(self, batch: dict) -> list[str]:
        return batch["ids"]

    def batch_tokens(self, batch: dict) -> int:
        return batch["tokens"]

    # ------------------------------------------------------------------ model

    def model_config(self) -> dict[str, Any]:
        from tts.text.symbols import N_SYMBOLS

        s = self.section
        shape = TransformerShape(s.width, s.layers, s.heads, s.dropout, s.max_positions, s.attention_dropout)
        alignment = {"alignment": ALIGNMENT} if isinstance(s, ARConfig) else {}  # not the stages built on it
        return {"n_symbols": N_SYMBOLS, "codebook_size": self.codebook_size, **alignment, **shape.config()}

    def build_modules(self) -> dict[str, nn.Module]:
        return {"model": ARModel.from_config(self.model_config())}

    def optimizer_groups(self) -> dict[str, list[str]]:
        return {"model": ["model"]}

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"model_config": self.model_config(), "codec": self.codec_settings,
                "corpus_settings": dict(self.corpus.settings or {})}

    def check_resume(self, checkpoint: dict[str, Any], path: Path) -> None:
        """ValueError when the corpus's codes come from another codec than those `path` learned
        (the codec was trained on or replaced, and the codes prepared again, since)."""
        from tts.codec import CHECKPOINT_DIGEST, codec_differences

        differences = ["the codec's weights (checkpoint_digest)" if k == CHECKPOINT_DIGEST else k
                       for k in codec_differences(checkpoint.get("codec") or {}, self.codec_settings)]
        if differences:
            raise ValueError(f"{path} learned the codes of another codec than the prepared corpus's now "
                             f"(differs in {', '.join(differences)}): its codes were prepared again since. "
                             f"Move {path.parent} aside to train afresh on the new codes, or put back the "
                             "codec it learned and prepare again")

    # ------------------------------------------------------------------ steps

    def _forward(self, model: nn.Module, batch: dict, device: torch.device, weights: bool):
        """(batch on the device, logits, attention weights or None)."""
        b = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        layer = self.section.layers // 2 if weights else None
        logits, attention = model(b["phones"], b["phone_lengths"], b["audio"], b["audio_lengths"],
                                  b["frame_index"], weights_layer=layer)
        return b, logits, attention

    def _loss(self, logits: torch.Tensor, b: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """The codes' (and EOS's) cross-entropy, plus the moves' (the AR), and their logs."""
        codes, moves = split_logits(logits, self.codebook_size)
        code_loss, move_loss = token_loss(codes, b["targets"]), token_loss(moves, b["moves"])
        loss = code_loss + move_loss
        return loss, {"loss": loss.item(), "accuracy": token_accuracy(codes, b["targets"]),
                      "code_loss": code_loss.item(), "move_loss": move_loss.item(),
                      "move_accuracy": token_accuracy(moves, b["moves"])}

    def train_step(self, modules: dict[str, nn.Module], batch: dict, step: int, device: torch.device):
        b, logits, _ = self._forward(modules["model"], batch, device, weights=False)
        loss, logs = self._loss(logits, b)
        yield "model", loss, logs

    @torch.no_grad()
    def validate(self, modules: dict[str, nn.Module], batch: dict, device: torch.device) -> dict[str, float]:
        """Teacher-forced loss and accuracy, of the codes (also top-10) and of the moves."""
        b, logits, _ = self._forward(modules["model"], batch, device, weights=False)
        _, metrics = self._loss(logits, b)
        codes, _ = split_logits(logits, self.codebook_size)
        return {**metrics, "top10_accuracy": token_accuracy(codes, b["targets"], k=10)}

    # ------------------------------------------------------------------ samples

    def sample_pair(self) -> tuple[Any, Any]:
        """(utterance to speak, another utterance of its speaker as prompt or None) for samples."""
        validation, train = self.dataset("validation"), self.dataset("train")
        source = validation if len(validation) else train
        target = source.items[0]
        prompts = [i for i in train.by_speaker.get(target.speaker, []) if train.items[i].id != target.id]
        return (source, 0), ((train, prompts[0]) if prompts else None)

    @torch.no_grad()
    def write_samples(self, modules: dict[str, nn.Module], folder: Path, step: int, device: torch.device) -> None:
        (data, index), prompt = self.sample_pair()
        item = data.items[index]
        prompt_phones = [prompt[0].items[prompt[1]].phones] if prompt else None
        prompt_codes = prompt[0].codes(prompt[1]) if prompt else None  # (Q, P)
        generated = modules["model"].generate([item.phones], [prompt_codes[0]] if prompt else None,
                                              self.recipe.synthesis, prompt_phones)
        codes = generated.codes[0].view(1, -1).cpu()  # (1, T)
        self.plot_attention(modules["model"], data, index, folder / "attention.png", device)
        nar, latents = self._trained_nar(device), None
        levels = "all" if nar is not None else "codebook 1 only (no trained NAR yet)"
        if nar is not None and len(codes[0]):
            codes, latents = self.fill_levels(nar, item.phones, codes[0], prompt_codes if prompt else None,
                                              prompt_phones[0] if prompt else None, device)
        info = {"step": step, "id": item.id, "text": item.record.get("text", ""),
                "prompt": prompt[0].items[prompt[1]].id if prompt else None, "frames": int(codes.size(1)),
                "reference_frames": item.n_frames, "truncated": generated.truncated[0], "levels": levels}
        self.render(folder, codes, item, info, device, latents)

    def plot_attention(self, model: nn.Module, data: CodesDataset, index: int, output: Path,
                       device: torch.device) -> None:
        """attention.png: the middle layer's attention of the utterance's true frames on its phones."""
        from tts import plot

        batch = self.collate(data, [index], np.random.default_rng(0))
        was_training = model.training
        model.eval()
        try:
            b, _, attention = self._forward(model, batch, device, weights=True)
        finally:
            model.train(was_training)
        L = int(b["phone_lengths"][0])
        frames = attention[0, :, b["phones"].size(1):, :L].float().mean(dim=0)  # (T + 1, L) head-averaged
        plot.plot_attention(frames.cpu().numpy(), output,
                            title=f"{data.items[index].id}: layer {self.section.layers // 2} attention on phones "
                                  "(teacher-forced)")

    def _trained_nar(self, device: torch.device):
        from tts.checkpoint import load_checkpoint
        from tts.models.nar import NARModel

        folder = Path(self.recipe.output_dir) / "nar"
        if not ((folder / "best.pt").is_file() or (folder / "last.pt").is_file()):
            return None
        return NARModel.from_checkpoint(load_checkpoint(folder)).to(device)

    def fill_levels(self, nar: nn.Module, phones: torch.Tensor, first: torch.Tensor, prompt_codes, prompt_phones,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Levels 2..Q by the NAR, as synthesis decodes them: codes (Q, T), and with a codec to hand the
        expected latents (D, T) that synthesis decodes, else None."""
        codec = self._load_codec(device)
        codes, latents = nar.generate([phones], [first], [prompt_codes] if prompt_codes is not None else None,
                                      [prompt_phones] if prompt_phones is not None else None,
                                      codebooks=codec.codebooks() if codec is not None else None)
        return codes[0].cpu(), latents[0] if latents is not None else None

    def render(self, folder: Path, codes: torch.Tensor, item: Any, info: dict, device: torch.device,
               latents: torch.Tensor | None = None) -> None:
        """codes.npy and sample.json; then generated.wav + spectrogram.png through the codec from the
        NAR's expected `latents` (D, T) when given, else codes.png."""
        from tts import plot, plot_files

        np.save(folder / "codes.npy", codes.numpy())
        codec = self._load_codec(device)
        if codec is not None and latents is not None and codes.size(1) > 0:
            from tts.audio.io import save_audio

            wav = codec.decode_latents(latents.unsqueeze(0).to(device))[0, 0].float().cpu().numpy()  # (S,)
            save_audio(folder / "generated.wav", wav, codec.sample_rate)
            reference = self.corpus.audio(item.record)
            plot_files.plot_spectrograms([(wav, codec.sample_rate, f"generated ({info['id']})"),
                                          (reference, self.corpus.sample_rate, "reference")],
                                         folder / "spectrogram.png", self.recipe.audio)
            info["wav"] = "generated.wav"
        elif codes.size(1) > 0:
            plot.plot_codes(codes.numpy(), folder / "codes.png", title=f"{self.name} sample {info['id']}")
        (folder / "sample.json").write_text(json.dumps(info, indent=2), encoding="utf-8")

    def _load_codec(self, device: torch.device):
        if not self._codec_tried:
            self._codec_tried = True
            try:
                from tts.codec import load_codec

                self._codec = load_codec(self.recipe, device)
            except (ImportError, RuntimeError, ValueError, OSError) as err:
                log.warning("samples are saved as codes: the codec cannot be loaded (%s)", err)
        return self._codec

