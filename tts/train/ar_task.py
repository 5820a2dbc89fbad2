"""The AR training stage: codebook 1 of each utterance, spoken after its phones and a voice prompt.

The voice prompt is a prefix of the same utterance, as in VALL-E: its codes are given and only
the frames after it (and EOS) count in the loss. The prefix is 0 to min(prompt_seconds, half the
utterance) long, drawn per utterance. A prefix needs no alignment: its phones are simply the
first phones of the sequence, which holds every phone of the utterance. (At synthesis the prompt
is another recording of the speaker with its transcript: [prompt phones ; text phones],
[prompt codes ; new codes], the same layout.)

With `ar.guided_attention` > 0, the head-averaged attention of the middle layer from each frame
to the phones is also pushed toward the diagonal (the penalty of tts.models.ar.attention_alignment),
a help for learning the alignment on little data; 0 turns it off.

With `ar.mel_loss` > 0 the model has a mel head: each target position also predicts the log-mel
frames of its codec frame (the prepared corpus's, `mel_per_frame` of them), trained by a masked L1
of that weight beside the cross-entropy. Batches then also hold mel (B, T + 1, mel_per_frame, M),
whose last position (EOS) and prompt frames are masked out.

Batches are dicts of CPU tensors (moved to the device in train_step):
    ids, phones (B, L), phone_lengths (B,), audio (B, T + 1) = BOS + codes, audio_lengths (B,),
    targets (B, T + 1) = codes + EOS with IGNORE over the prompt and padding, tokens.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tts.config import Recipe, TrainConfig
from tts.models.ar import ARModel, GenerationOptions, attention_alignment
from tts.models.layers import IGNORE, TransformerShape, pad_right, token_accuracy, token_loss
from tts.train.batching import BatchList, CodesDataset, batch_rng, bucket_batches, shard_batches, short_first

log = logging.getLogger(__name__)

VALIDATION_EPOCH = -1  # batch_rng epoch of the (fixed) validation batches


def masked_mel_l1(mel: torch.Tensor, target: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    """Mean L1 of log-mel frames (B, T, r, M) against `target` over the positions `wanted` (B, T)."""
    error = (mel.float() - target).abs().mean(dim=(2, 3))  # (B, T)
    return (error * wanted).sum() / wanted.sum().clamp(min=1)


class ARTask:
    """Training stage "ar" (see tts/train/task.py for the protocol)."""

    name = "ar"

    def __init__(self, recipe: Recipe, corpus: Any = None):
        self.recipe = recipe
        self.section = getattr(recipe, self.name)  # TransformerConfig
        self._corpus = corpus
        self._datasets: dict[str, CodesDataset] = {}
        self._validation: list[dict] | None = None
        self._codec: Any = None
        self._codec_tried = False

    # ------------------------------------------------------------------ data

    @property
    def train_config(self) -> TrainConfig:
        return self.section.train

    @property
    def corpus(self) -> Any:
        if self._corpus is None:
            from tts.data.corpus import PreparedCorpus, prepared_folder

            self._corpus = PreparedCorpus(prepared_folder(self.recipe))
        return self._corpus

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

    def collate(self, data: CodesDataset, items: list[int], rng: np.random.Generator) -> dict[str, Any]:
        """A training batch of utterances `items` (prompt lengths drawn from `rng`)."""
        phones, audio, targets = [], [], []
        bos, eos = self.codebook_size + 1, self.codebook_size
        for index in items:
            codes = data.codes(index)[0]  # (T,) codebook 1
            prompt = self.prompt_length(len(codes), rng)
            target = torch.cat([codes, torch.tensor([eos])])  # (T + 1,)
            target[:prompt] = IGNORE
            phones.append(data.items[index].phones)
            audio.append(torch.cat([torch.tensor([bos]), codes]))  # (T + 1,)
            targets.append(target)
        phone_lengths = torch.tensor([len(p) for p in phones])
        audio_lengths = torch.tensor([len(a) for a in audio])
        batch = {"ids": [data.items[i].id for i in items],
                 "phones": pad_right(phones, int(phone_lengths.max())), "phone_lengths": phone_lengths,
                 "audio": pad_right(audio, int(audio_lengths.max())), "audio_lengths": audio_lengths,
                 "targets": pad_right(targets, int(audio_lengths.max()), value=IGNORE),
                 "tokens": int(phone_lengths.sum() + audio_lengths.sum())}
        if self.section.mel_loss > 0:
            batch["mel"] = self._mel_targets(data, items, int(audio_lengths.max()))
        return batch

    @property
    def mel_per_frame(self) -> int:
        """Mel frames per codec frame (the mel head's frames per position)."""
        audio = self.recipe.audio
        frame_rate = float(self.codec_settings.get("frame_rate", self.recipe.codec_frame_rate))
        ratio = audio.sample_rate / audio.hop_length / frame_rate
        if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
            key = "ar.mel_loss" if self.name == "ar" else f"{self.name}.predict: mel"
            off = "ar.mel_loss: 0" if self.name == "ar" else f"{self.name}.predict: codes"
            raise ValueError(f"{key} needs a whole number of mel frames per codec frame, but the mel rate "
                             f"{audio.sample_rate / audio.hop_length:g} Hz (audio.hop_length) over the codec's "
                             f"{frame_rate:g} Hz is {ratio:g}; set {off} or change audio.hop_length")
        return int(round(ratio))

    def _mel_targets(self, data: CodesDataset, items: list[int], positions: int) -> torch.Tensor:
        """(B, positions, r, M): position t holds the log-mel frames [t r, (t + 1) r) of the utterance,
        padded with silence (the log floor) past its end."""
        from tts.audio.spectral import LOG_FLOOR

        r, floor = self.mel_per_frame, float(np.log(LOG_FLOOR))
        rows = []
        for index in items:
            mel = torch.from_numpy(self.corpus.mel(data.items[index].record))  # (M, F)
            frames = mel.T[:positions * r]  # (F', M)
            frames = torch.nn.functional.pad(frames, (0, 0, 0, positions * r - frames.size(0)), value=floor)
            rows.append(frames.view(positions, r, -1))
        return torch.stack(rows)

    def batch_ids(self, batch: dict) -> list[str]:
        return batch["ids"]

    def batch_tokens(self, batch: dict) -> int:
        return batch["tokens"]

    # ------------------------------------------------------------------ model

    def model_config(self) -> dict[str, Any]:
        from tts.text.symbols import N_SYMBOLS

        s = self.section
        shape = TransformerShape(s.width, s.layers, s.heads, s.dropout, s.max_positions, s.attention_dropout)
        config = {"n_symbols": N_SYMBOLS, "codebook_size": self.codebook_size, **shape.config()}
        if self.name == "ar" and s.mel_loss > 0:
            config.update(mel_bins=self.recipe.audio.n_mels, mel_per_frame=self.mel_per_frame)
        return config

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
        from tts.data.prepare import CHECKPOINT_DIGEST, codec_differences

        differences = ["the codec's weights (checkpoint_digest)" if k == CHECKPOINT_DIGEST else k
                       for k in codec_differences(checkpoint.get("codec") or {}, self.codec_settings)]
        if differences:
            raise ValueError(f"{path} learned the codes of another codec than the prepared corpus's now "
                             f"(differs in {', '.join(differences)}): its codes were prepared again since. "
                             f"Move {path.parent} aside to train afresh on the new codes, or put back the "
                             "codec it learned and prepare again")

    # ------------------------------------------------------------------ steps

    def _forward(self, model: nn.Module, batch: dict, device: torch.device, weights: bool):
        """(batch on the device, logits, attention weights or None, mel frames or None)."""
        b = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        layer = self.section.layers // 2 if weights else None
        if "mel" in b:
            logits, attention, mel = model(b["phones"], b["phone_lengths"], b["audio"], b["audio_lengths"],
                                           weights_layer=layer, mel=True)
            return b, logits, attention, mel
        logits, attention = model(b["phones"], b["phone_lengths"], b["audio"], b["audio_lengths"],
                                  weights_layer=layer)
        return b, logits, attention, None

    def mel_l1(self, mel: torch.Tensor, b: dict) -> torch.Tensor:
        """Mean L1 of predicted log-mel frames (B, T, r, M) against b["mel"] at the positions that
        count in the loss (targets not IGNORE), EOS's position excepted."""
        wanted = (b["targets"] != IGNORE) & (b["targets"] != self.codebook_size)  # (B, T): EOS = V
        return masked_mel_l1(mel, b["mel"], wanted)

    @torch.no_grad()
    def own_draws(self, model: nn.Module, batch: dict, share: float, step: int) -> dict:
        """Scheduled sampling: the batch with a share of the target's input frames (after the prompt)
        replaced by the model's own draws from its teacher-forced prediction of that frame (temperature
        1). Input t + 1 holds code t, which position t predicts; an EOS draw keeps the true code.
        The draws are seeded by the run's seed and the step, so a resumed run makes the same ones."""
        device = batch["audio"].device
        logits, _ = model(batch["phones"], batch["phone_lengths"], batch["audio"], batch["audio_lengths"])
        g = torch.Generator(device=device).manual_seed(int(self.recipe.seed) * 1_000_003 + step)
        probs = logits.float().softmax(dim=-1)  # (B, T + 1, V + 1)
        drawn = torch.multinomial(probs.flatten(0, 1), 1, generator=g).view(probs.shape[:2])  # (B, T + 1)
        targets = batch["targets"]
        eligible = (targets != IGNORE) & (targets < self.codebook_size) & (drawn < self.codebook_size)
        chosen = eligible & (torch.rand(targets.shape, generator=g, device=device) < share)  # by position t
        audio = batch["audio"].clone()
        audio[:, 1:] = torch.where(chosen[:, :-1], drawn[:, :-1], audio[:, 1:])  # into input t + 1
        return {**batch, "audio": audio, "own_draws": chosen[:, :-1].sum().item()}

    def train_step(self, modules: dict[str, nn.Module], batch: dict, step: int, device: torch.device):
        weight, share = self.section.guided_attention, self.section.scheduled_sampling
        if share > 0:
            moved = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            batch = self.own_draws(modules["model"], moved, share, step)
        b, logits, attention, mel = self._forward(modules["model"], batch, device, weights=weight > 0)
        loss = token_loss(logits, b["targets"])
        logs = {"loss": loss.item(), "accuracy": token_accuracy(logits, b["targets"])}
        if share > 0:
            logs["own_draws"] = b["own_draws"] / max(int((b["targets"] != IGNORE).sum()), 1)
        if mel is not None:
            l1 = self.mel_l1(mel, b)
            logs["mel_l1"] = l1.item()
            loss = loss + self.section.mel_loss * l1
        if weight > 0:
            guide, _ = attention_alignment(attention, b["phone_lengths"], b["audio_lengths"], b["phones"].size(1))
            logs["guided_attention"] = guide.item()
            loss = loss + weight * guide
        yield "model", loss, logs

    @torch.no_grad()
    def validate(self, modules: dict[str, nn.Module], batch: dict, device: torch.device) -> dict[str, float]:
        """Teacher-forced loss and accuracy, and how the middle layer's attention reads the phones:
        attention_penalty (0 = on the diagonal, ~1 = far from it) and phone_attention (its share).
        With a mel head also mel_l1, and loss is then token_loss + ar.mel_loss x mel_l1."""
        b, logits, attention, mel = self._forward(modules["model"], batch, device, weights=True)
        penalty, share = attention_alignment(attention, b["phone_lengths"], b["audio_lengths"], b["phones"].size(1))
        metrics = {"loss": token_loss(logits, b["targets"]).item(),
                   "accuracy": token_accuracy(logits, b["targets"]),
                   "top10_accuracy": token_accuracy(logits, b["targets"], k=10),
                   "attention_penalty": penalty.item(), "phone_attention": share.item()}
        if mel is not None:  # best.pt follows the whole objective; token_loss is the cross-entropy alone
            metrics["token_loss"] = metrics["loss"]
            metrics["mel_l1"] = self.mel_l1(mel, b).item()
            metrics["loss"] = metrics["token_loss"] + self.section.mel_loss * metrics["mel_l1"]
        return metrics

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
        options = GenerationOptions.from_synthesis(self.recipe.synthesis)
        model = modules["model"]
        generated = model.generate([item.phones], [prompt_codes[0]] if prompt else None,
                                   options, prompt_phones, keep_mel=model.has_mel_head)
        codes = generated.codes[0].view(1, -1).cpu()  # (1, T)
        if model.has_mel_head and len(codes[0]):
            self.render_mel(folder, generated.mels[0], item, device)
        self.plot_attention(modules["model"], data, index, folder / "attention.png", device)
        nar, latents = self._trained_nar(device), None
        levels = "all" if nar is not None else "codebook 1 only (no trained NAR yet)"
        if nar is not None and nar.reads_durations:  # the NAR speaks without the AR's codes
            levels = "codebook 1 only (the NAR reads durations, not these codes)"
        elif nar is not None and nar.predicts_mel:  # the NAR's mel mode: heard as nar_mel.wav
            levels = "codebook 1 (the NAR's mel frames are nar_mel.wav)"
            if len(codes[0]):
                mel = nar.generate([item.phones], [codes[0]], [prompt_codes] if prompt else None,
                                   prompt_phones if prompt else None)[0]
                self.render_mel(folder, mel, item, device, label="AR + NAR mel mode", name="nar_mel")
        elif nar is not None and len(codes[0]):
            codes, latents = self.fill_levels(nar, item.phones, codes[0], prompt_codes if prompt else None,
                                              prompt_phones[0] if prompt else None, device)
        info = {"step": step, "id": item.id, "text": item.record.get("text", ""),
                "prompt": prompt[0].items[prompt[1]].id if prompt else None, "frames": int(codes.size(1)),
                "reference_frames": item.n_frames, "truncated": generated.truncated[0], "levels": levels}
        self.render(folder, codes, item, info, device, latents)

    def render_mel(self, folder: Path, mel: torch.Tensor, item: Any, device: torch.device,
                   label: str = "AR mel head", name: str = "mel") -> None:
        """<name>.wav and <name>_spectrogram.png: log-mel frames (M, F) of a mel head through the run's
        mel vocoder (what synthesis hears of it); skipped with a warning while there is none."""
        from tts import plot
        from tts.audio.io import save_audio
        from tts.vocode import load_vocoder

        try:
            vocoder = load_vocoder(Path(self.recipe.output_dir), device)
        except (FileNotFoundError, ValueError) as err:
            log.warning("the mel head's sample is not voiced: %s", err)
            return
        if vocoder.input != "mel":
            return
        wav = vocoder(mel.to(device))[0, 0].float().cpu().numpy()
        save_audio(folder / f"{name}.wav", wav, vocoder.sample_rate)
        plot.plot_spectrograms([(wav, vocoder.sample_rate, f"{label} ({item.id})"),
                                (self.corpus.audio(item.record), self.corpus.sample_rate, "reference")],
                               folder / f"{name}_spectrogram.png", self.recipe.audio)

    def plot_attention(self, model: nn.Module, data: CodesDataset, index: int, output: Path,
                       device: torch.device) -> None:
        """attention.png: the middle layer's attention of the utterance's true frames on its phones."""
        from tts import plot

        batch = self.collate(data, [index], np.random.default_rng(0))
        was_training = model.training
        model.eval()
        try:
            b, _, attention, _ = self._forward(model, batch, device, weights=True)
        finally:
            model.train(was_training)
        L = int(b["phone_lengths"][0])
        frames = attention[0, :, b["phones"].size(1):, :L].float().mean(dim=0)  # (T + 1, L) head-averaged
        plot.plot_attention(frames.cpu().numpy(), output,
                            title=f"{data.items[index].id}: layer {self.section.layers // 2} attention on phones "
                                  "(teacher-forced)")

    def _trained_nar(self, device: torch.device):
        from tts.models.nar import NARModel
        from tts.train.checkpoint import load_checkpoint

        folder = Path(self.recipe.output_dir) / "nar"
        if not ((folder / "best.pt").is_file() or (folder / "last.pt").is_file()):
            return None
        return NARModel.from_checkpoint(load_checkpoint(folder)).to(device)

    def fill_levels(self, nar: nn.Module, phones: torch.Tensor, first: torch.Tensor, prompt_codes, prompt_phones,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Levels 2..Q by the NAR, as synthesis decodes them: codes (Q, T), and with the recipe's
        synthesis.nar_decode expected (and a codec to hand) the expected latents (D, T), else None."""
        codec = self._load_codec(device) if self.recipe.synthesis.nar_decode == "expected" else None
        out = nar.generate([phones], [first], [prompt_codes] if prompt_codes is not None else None,
                           [prompt_phones] if prompt_phones is not None else None,
                           codebooks=codec.codebooks() if codec is not None else None)
        if codec is None:
            return out[0].cpu(), None
        return out[0][0].cpu(), out[1][0]

    def render(self, folder: Path, codes: torch.Tensor, item: Any, info: dict, device: torch.device,
               latents: torch.Tensor | None = None) -> None:
        """codes.npy and sample.json; then generated.wav + spectrogram.png through the codec (from
        `latents` (D, T) when given), or codes.png."""
        from tts import plot

        np.save(folder / "codes.npy", codes.numpy())
        codec = self._load_codec(device)
        if codec is not None and codes.size(0) == codec.n_codebooks and codes.size(1) > 0:
            from tts.audio.io import save_audio

            wav = (codec.decode(codes.unsqueeze(0).to(device)) if latents is None
                   else codec.decode_latents(latents.unsqueeze(0).to(device)))[0, 0].float().cpu().numpy()  # (S,)
            save_audio(folder / "generated.wav", wav, codec.sample_rate)
            reference = self.corpus.audio(item.record)
            plot.plot_spectrograms([(wav, codec.sample_rate, f"generated ({info['id']})"),
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

