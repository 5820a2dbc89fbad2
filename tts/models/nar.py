"""The non-autoregressive (NAR) model: codebooks 2..Q, one level at a time, all frames at once.

It differs from the AR model (tts/models/ar.py) in four places:
- each audio frame embeds the sum of several codebooks: every level of the prompt's frames, and
  the levels below the one being predicted of the target's frames;
- attention is bidirectional everywhere (only padding is masked);
- the level being predicted conditions every norm (adaptive layer norm on a level embedding);
- there is one output head per predicted level, no EOS, and decoding is greedy; given the codec's
  codebooks, generate also returns the expected latents: per level, the probability-weighted mean
  of the codebook's entries instead of the most likely one (README "Decoding the NAR").

In mel mode (nar.predict: mel) one linear head replaces the code heads: from codebook 1 of the
target's frames, the phones and the prompt's codes it regresses each frame's r log-mel frames
(B, T, r, M), which a mel vocoder hears; levels 2..Q and the codec's decoder are then not used.

With durations (nar.condition: durations; mel mode only) the target's frames show no codes: each
frame embeds the phone it speaks and its place in that phone, the phones do not attend to the
target's frames, and a linear head on each phone's hidden state predicts log(1 + its frames). In
synthesis `speak` predicts the durations first, then the mel frames, with no AR (README "Durations").
Built with `pitch`, it also predicts each voiced phone's pitch (a z-score of ln F0, tts/train/pitch.py)
by a second head on the phones, and each target frame embeds its phone's pitch, quantised into
PITCH_BINS bins (one more for a phone without pitch): the true pitch in training, the predicted one in
synthesis, so that the frames need not average over the pitches a phone is spoken at (FastPitch).

Levels count from 0: level k is codebook k + 1; the NAR predicts levels 1..Q-1 given levels < k.

Shapes: B batch, L phones, T frames (prompt + target), Q codebooks, D width, V codebook size.
phones (B, L) long right-padded; codes (B, Q, T) long right-padded; logits (B, T, V).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tts.models.alignment import frame_phones, may_skip, rounded_durations, voiced
from tts.models.layers import (SinusoidalPositions, Transformer, TransformerShape, expected_entries, init_weights,
                               length_mask, pad_right)


CONDITIONS = ("codebook1", "durations")
MAX_PLACE = 32  # frames into a phone told apart by the place embedding (later ones share the last)
PITCH_BINS = 64  # pitch embedding: bins over z-scores in [-PITCH_RANGE, PITCH_RANGE], plus bin 0 for none
PITCH_RANGE = 3.0


class NARModel(nn.Module):
    """Codebooks 2..Q (the default), or, built with `mel_bins`, the log-mel frames of each codec frame
    (`mel_per_frame` of them) from codebook 1 and the phones: the mel mode, which a mel vocoder
    hears in place of levels 2..Q and the codec's decoder (README "The NAR's mel mode")."""

    def __init__(self, n_symbols: int, codebook_size: int, n_codebooks: int, shape: TransformerShape,
                 mel_bins: int = 0, mel_per_frame: int = 0, condition: str = "codebook1", pitch: bool = False):
        super().__init__()
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, got {condition!r}")
        if condition == "durations" and not mel_bins:
            raise ValueError("a NAR conditioned on durations predicts log-mel frames: it needs mel_bins (mel mode)")
        if pitch and condition != "durations":
            raise ValueError("a NAR speaks from pitch only beside durations (nar.condition: durations)")
        if (mel_bins > 0) != (mel_per_frame > 0):
            raise ValueError(f"a mel-mode NAR needs both mel_bins and mel_per_frame, got {mel_bins} and {mel_per_frame}")
        if n_codebooks < 2 and not mel_bins:
            raise ValueError(f"the NAR predicts codebooks 2..Q, but the codec has Q = {n_codebooks}")
        self.n_symbols, self.codebook_size, self.n_codebooks, self.shape = n_symbols, codebook_size, n_codebooks, shape
        self.mel_bins, self.mel_per_frame, self.condition, self.pitch = mel_bins, mel_per_frame, condition, pitch
        D, V, Q = shape.width, codebook_size, n_codebooks
        self.phone_embedding = nn.Embedding(n_symbols, D)
        self.code_embedding = nn.Embedding(Q * V, D)  # level q's code c is row q * V + c
        self.level_embedding = nn.Embedding(max(Q, 2), D)
        self.phone_positions = SinusoidalPositions(D)
        self.audio_positions = SinusoidalPositions(D)
        self.transformer = Transformer(shape, adaptive=True)
        if mel_bins:
            self.mel_head = nn.Linear(D, mel_per_frame * mel_bins)  # each frame's log-mel frames
        else:
            self.heads = nn.Parameter(torch.randn(Q - 1, V, D) * 0.02)  # output projection of levels 1..Q-1
        if self.reads_durations:
            self.place_embedding = nn.Embedding(MAX_PLACE, D)
            self.duration_head = nn.Linear(D, 1)  # log(1 + frames) of each phone
        if pitch:
            self.pitch_embedding = nn.Embedding(PITCH_BINS + 1, D)
            self.pitch_head = nn.Linear(D, 1)  # z-score of ln F0 of each phone
        init_weights(self, shape.layers)

    @property
    def predicts_mel(self) -> bool:
        return self.mel_bins > 0

    @property
    def reads_durations(self) -> bool:
        return self.condition == "durations"

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the model (saved in checkpoints)."""
        s = self.shape
        extra = {"mel_bins": self.mel_bins, "mel_per_frame": self.mel_per_frame} if self.predicts_mel else {}
        if self.reads_durations:
            extra["condition"] = self.condition
        if self.pitch:
            extra["pitch"] = True
        return {"n_symbols": self.n_symbols, "codebook_size": self.codebook_size,
                "n_codebooks": self.n_codebooks, **s.config(), **extra}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "NARModel":
        return cls(config["n_symbols"], config["codebook_size"], config["n_codebooks"],
                   TransformerShape.from_config(config), int(config.get("mel_bins", 0)),
                   int(config.get("mel_per_frame", 0)), str(config.get("condition", "codebook1")),
                   bool(config.get("pitch", False)))

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> "NARModel":
        """The model of a checkpoint dict of its training stage (tts.train.checkpoint.load_checkpoint)."""
        if "model_config" not in checkpoint or "model" not in checkpoint.get("modules", {}):
            raise ValueError(f"not a checkpoint of this model's stage (stage {checkpoint.get('stage')!r})")
        model = cls.from_config(checkpoint["model_config"])
        model.load_state_dict(checkpoint["modules"]["model"])
        return model.eval()

    def _hidden(self, phones: torch.Tensor, phone_lengths: torch.Tensor, codes: torch.Tensor,
                audio_lengths: torch.Tensor, prompt_lengths: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, T, D) of the audio positions, frames t >= prompt_lengths[b] showing levels < level[b]."""
        L, Q, T = phones.size(1), codes.size(1), codes.size(2)
        if L + T > self.shape.max_positions:
            raise ValueError(f"sequence of {L} phones + {T} frames is longer than max_positions = "
                             f"{self.shape.max_positions}; raise it in the recipe or drop long utterances")
        frames = torch.arange(T, device=codes.device)
        levels = torch.arange(Q, device=codes.device)
        shown = ((levels.view(1, Q, 1) < level.view(-1, 1, 1))
                 | (frames.view(1, 1, T) < prompt_lengths.view(-1, 1, 1)))  # (B, Q, T)
        offsets = (levels * self.codebook_size).view(1, Q, 1)
        a = (self.code_embedding(codes + offsets) * shown.unsqueeze(-1)).sum(dim=1)  # (B, T, D)
        p = self.phone_embedding(phones)  # (B, L, D)
        positions = torch.arange(max(L, T), device=codes.device).unsqueeze(0)  # (1, max(L, T))
        x = torch.cat([p + self.phone_positions(positions[:, :L]),
                       a + self.audio_positions(positions[:, :T])], dim=1)  # (B, L + T, D)
        keys_valid = torch.cat([length_mask(phone_lengths, L), length_mask(audio_lengths, T)], dim=1)  # (B, N)
        h, _ = self.transformer(x, keys_valid[:, None, None, :], condition=self.level_embedding(level))
        return h[:, L:]

    def forward(self, phones: torch.Tensor, phone_lengths: torch.Tensor, codes: torch.Tensor,
                audio_lengths: torch.Tensor, prompt_lengths: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) of codebook level[b] at every audio position of right-padded inputs.

        Frames t < prompt_lengths[b] show all Q levels; later frames show levels < level[b].
        """
        if self.predicts_mel:
            raise ValueError("this NAR predicts log-mel frames (mel mode), not codes: call mel()")
        h = self._hidden(phones, phone_lengths, codes, audio_lengths, prompt_lengths, level)
        return torch.einsum("btd,bvd->btv", h, self.heads[level - 1])  # (B, T, V)

    def mel(self, phones: torch.Tensor, phone_lengths: torch.Tensor, codes: torch.Tensor,
            audio_lengths: torch.Tensor, prompt_lengths: torch.Tensor) -> torch.Tensor:
        """Mel mode: log-mel frames (B, T, r, M) of every audio position, the target's frames showing
        codebook 1 only (codes (B, Q, T); levels > 1 after the prompt are not read)."""
        if not self.predicts_mel:
            raise ValueError("this NAR predicts codes: train it with nar.predict: mel for log-mel frames")
        if self.reads_durations:
            raise ValueError("this NAR reads durations, not codebook 1 (nar.condition: durations): call aligned()")
        level = torch.ones(codes.size(0), dtype=torch.long, device=codes.device)
        h = self._hidden(phones, phone_lengths, codes, audio_lengths, prompt_lengths, level)
        return self.mel_head(h).view(h.size(0), h.size(1), self.mel_per_frame, self.mel_bins)

    def aligned(self, phones: torch.Tensor, phone_lengths: torch.Tensor, codes: torch.Tensor,
                audio_lengths: torch.Tensor, prompt_lengths: torch.Tensor, frame_phone: torch.Tensor,
                place: torch.Tensor, pitch: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Durations mode: (log-mel frames (B, T, r, M) of every audio position, log(1 + frames) (B, L)
        of every phone, and with a pitch head the pitch (B, L) of every phone, else None).

        Of codes (B, Q, T) only the prompt's frames (t < prompt_lengths[b]) are read; the target's
        frame t speaks phone frame_phone[b, t] (an index into phones (B, L)), place[b, t] frames into
        it. The phones do not attend to the target's frames, so their durations depend on the phones
        and the prompt alone. A model with a pitch head reads `pitch` (B, L), each phone's z-score (NaN
        for none), on the frames that speak it; without `pitch` its frames show none.
        """
        if not self.reads_durations:
            raise ValueError("this NAR reads codebook 1, not durations: train it with nar.condition: durations")
        (B, L), T = phones.shape, codes.size(2)
        if L + T > self.shape.max_positions:
            raise ValueError(f"sequence of {L} phones + {T} frames is longer than max_positions = "
                             f"{self.shape.max_positions}; raise it in the recipe or drop long utterances")
        device = codes.device
        in_prompt = torch.arange(T, device=device).unsqueeze(0) < prompt_lengths.unsqueeze(1)  # (B, T)
        offsets = (torch.arange(self.n_codebooks, device=device) * self.codebook_size).view(1, -1, 1)
        prompt = self.code_embedding(codes + offsets).sum(dim=1)  # (B, T, D)
        spoken = self.phone_embedding(phones.gather(1, frame_phone)) + self.place_embedding(place.clamp(max=MAX_PLACE - 1))
        if self.pitch:
            bins = pitch_bins(pitch if pitch is not None else torch.full(phones.shape, float("nan"), device=device))
            spoken = spoken + self.pitch_embedding(bins.gather(1, frame_phone))  # (B, T, D)
        a = torch.where(in_prompt.unsqueeze(-1), prompt, spoken)  # (B, T, D)
        positions = torch.arange(max(L, T), device=device).unsqueeze(0)
        x = torch.cat([self.phone_embedding(phones) + self.phone_positions(positions[:, :L]),
                       a + self.audio_positions(positions[:, :T])], dim=1)  # (B, L + T, D)
        keys_valid = torch.cat([length_mask(phone_lengths, L), length_mask(audio_lengths, T)], dim=1)  # (B, N)
        target_keys = torch.cat([in_prompt.new_zeros(B, L), ~in_prompt], dim=1)  # (B, N)
        phone_queries = (torch.arange(L + T, device=device) < L).view(1, -1, 1)  # (1, N, 1)
        mask = keys_valid.unsqueeze(1) & ~(phone_queries & target_keys.unsqueeze(1))  # (B, N, N)
        level = torch.ones(B, dtype=torch.long, device=device)
        h, _ = self.transformer(x, mask.unsqueeze(1), condition=self.level_embedding(level))
        mel = self.mel_head(h[:, L:]).view(B, T, self.mel_per_frame, self.mel_bins)
        pitch_out = self.pitch_head(h[:, :L]).squeeze(-1) if self.pitch else None  # (B, L)
        return mel, self.duration_head(h[:, :L]).squeeze(-1), pitch_out

    @torch.no_grad()
    def speak(self, phones: Sequence[torch.Tensor], prompt_codes: Sequence[torch.Tensor] | None = None,
              prompt_phones: Sequence[torch.Tensor] | None = None, pace: float = 1.0,
              max_frames_per_phone: int = MAX_PLACE,
              durations: Sequence[torch.Tensor] | None = None,
              pitch: Sequence[torch.Tensor] | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Durations mode, for a batch of sentences: (log-mel frames (M, T_i r), frames (L_i,) of each
        phone). The durations (and with a pitch head each voiced phone's pitch) come first (times
        `pace`, each boundary the running sum rounded, at least one frame for a phone that is not a
        word boundary or punctuation, at most max_frames_per_phone), then the frames; given
        `durations` (frames (L_i,) of each phone) or `pitch` (z-scores (L_i,), NaN for none), those
        are spoken instead."""
        device = self.phone_embedding.weight.device
        B, Q = len(phones), self.n_codebooks
        prompt_phones = [p.to(device) for p in prompt_phones] if prompt_phones else [phones[0].new_zeros(0, device=device)] * B
        prompt_codes = ([p.to(device) for p in prompt_codes] if prompt_codes
                        else [torch.zeros(Q, 0, dtype=torch.long, device=device)] * B)
        text = [torch.cat([p, t.to(device)]) for p, t in zip(prompt_phones, phones)]
        phone_lengths = torch.tensor([len(t) for t in text], device=device)
        prompt_lengths = torch.tensor([p.size(1) for p in prompt_codes], device=device)
        phones_padded = pad_right(text, int(phone_lengths.max()))  # (B, L)
        codes = pad_right(prompt_codes, max(1, int(prompt_lengths.max())))  # (B, Q, P)
        none = torch.zeros(B, codes.size(2), dtype=torch.long, device=device)
        _, log_frames, predicted_pitch = self.aligned(phones_padded, phone_lengths, codes, prompt_lengths,
                                                      prompt_lengths, none, none)
        phone_pitch = self._sentence_pitch(phones, prompt_phones, predicted_pitch, pitch) if self.pitch else None
        given, durations = durations, []
        for i, sentence in enumerate(phones):
            if given is not None:
                durations.append(torch.as_tensor(given[i], dtype=torch.long, device=device))
                continue
            start = len(prompt_phones[i])
            frames = rounded_durations(torch.expm1(log_frames[i, start:start + len(sentence)].float()) * pace)
            least = torch.from_numpy(~may_skip(sentence.cpu())).to(device).long()
            durations.append(frames.clamp(max=max_frames_per_phone).maximum(least))
        audio, frame_phone, place = [], [], []
        for i, d in enumerate(durations):
            P, start = prompt_codes[i].size(1), len(prompt_phones[i])
            index, within = frame_phones(d)
            audio.append(torch.cat([prompt_codes[i], prompt_codes[i].new_zeros(Q, int(d.sum()))], dim=1))
            frame_phone.append(torch.cat([index.new_zeros(P), index + start]))
            place.append(torch.cat([within.new_zeros(P), within]))
        audio_lengths = torch.tensor([a.size(1) for a in audio], device=device)
        T = int(audio_lengths.max())
        mel, _, _ = self.aligned(phones_padded, phone_lengths, pad_right(audio, T), audio_lengths, prompt_lengths,
                                 pad_right(frame_phone, T), pad_right(place, T), phone_pitch)
        mels = [mel[i, int(prompt_lengths[i]):int(audio_lengths[i])].flatten(0, 1).T.contiguous() for i in range(B)]
        return mels, durations

    def _sentence_pitch(self, phones: Sequence[torch.Tensor], prompt_phones: Sequence[torch.Tensor],
                        predicted: torch.Tensor, given: Sequence[torch.Tensor] | None) -> torch.Tensor:
        """Pitch (B, L) of the prompt's and the sentence's phones: `given` or `predicted` (B, L) on the
        sentence's voiced phones, NaN elsewhere (the prompt's frames show codes, not pitch)."""
        out = torch.full_like(predicted, float("nan"))
        for i, sentence in enumerate(phones):
            start, end = len(prompt_phones[i]), len(prompt_phones[i]) + len(sentence)
            if given is not None:
                out[i, start:end] = torch.as_tensor(given[i], dtype=out.dtype, device=out.device)
            else:
                carries = torch.from_numpy(voiced(sentence.cpu())).to(out.device)
                out[i, start:end] = torch.where(carries, predicted[i, start:end], float("nan"))
        return out

    @torch.no_grad()
    def generate(self, phones: Sequence[torch.Tensor], first_level: Sequence[torch.Tensor],
                 prompt_codes: Sequence[torch.Tensor] | None = None,
                 prompt_phones: Sequence[torch.Tensor] | None = None,
                 codebooks: torch.Tensor | None = None):
        """Fill in levels 1..Q-1 greedily for a batch of sentences.

        phones[i] (L_i,) and first_level[i] (T_i,): the text and the AR's codebook-1 codes;
        prompt_phones[i] (Lp_i,) and prompt_codes[i] (Q, P_i): the voice prompt (optional).
        Returns the target codes (Q, T_i) of each sentence, prompt excluded. With `codebooks`
        (Q, V, E), the codec's entries, returns (codes, latents): latents[i] (E, T_i) is the entry of
        codebook 1 plus, for each later level, the mean of its entries under the predicted
        distribution (each level still conditions on the most likely codes of the levels below).
        In mel mode: the log-mel frames (M, T_i x r) of each sentence instead (`codebooks` unused).
        """
        if self.reads_durations:
            raise ValueError("this NAR reads durations, not the AR's codebook 1 (nar.condition: durations): call speak()")
        device = self.phone_embedding.weight.device
        B, Q = len(phones), self.n_codebooks
        if codebooks is not None and tuple(codebooks.shape[:2]) != (Q, self.codebook_size):
            raise ValueError(f"codebooks must have shape ({Q}, {self.codebook_size}, dim), got {tuple(codebooks.shape)}")
        prompt_phones = prompt_phones or [phones[0].new_zeros(0)] * B
        prompt_codes = prompt_codes or [first_level[0].new_zeros(Q, 0)] * B
        text = [torch.cat([p, t]).to(device) for p, t in zip(prompt_phones, phones)]
        audio = []
        for prompt, first in zip(prompt_codes, first_level):
            target = F.pad(first.view(1, -1).to(device), (0, 0, 0, Q - 1))  # (Q, T_i): levels > 0 unknown
            audio.append(torch.cat([prompt.to(device), target], dim=1))  # (Q, P_i + T_i)
        phone_lengths = torch.tensor([len(t) for t in text], device=device)
        audio_lengths = torch.tensor([a.size(1) for a in audio], device=device)
        prompt_lengths = torch.tensor([p.size(1) for p in prompt_codes], device=device)
        phones_padded = pad_right(text, int(phone_lengths.max()))  # (B, L)
        codes = pad_right(audio, int(audio_lengths.max()))  # (B, Q, T)
        target = length_mask(audio_lengths, codes.size(2)) & ~length_mask(prompt_lengths, codes.size(2))
        if self.predicts_mel:
            mel = self.mel(phones_padded, phone_lengths, codes, audio_lengths, prompt_lengths)  # (B, T, r, M)
            return [mel[i, int(prompt_lengths[i]):int(audio_lengths[i])].flatten(0, 1).T.contiguous()
                    for i in range(B)]
        if codebooks is not None:
            books = codebooks.to(device, torch.float32)
            latents = books[0][codes[:, 0]]  # (B, T, E)
        for k in range(1, Q):
            level = torch.full((B,), k, device=device)
            logits = self(phones_padded, phone_lengths, codes, audio_lengths, prompt_lengths, level)
            codes[:, k] = torch.where(target, logits.argmax(dim=-1), codes[:, k])
            if codebooks is not None:
                latents = latents + expected_entries(logits, books[k])  # (B, T, E)
        out = [codes[i, :, int(prompt_lengths[i]):int(audio_lengths[i])].clone() for i in range(B)]
        if codebooks is None:
            return out
        return out, [latents[i, int(prompt_lengths[i]):int(audio_lengths[i])].T.contiguous() for i in range(B)]


def pitch_bins(pitch: torch.Tensor) -> torch.Tensor:
    """Bin (same shape, long) of each pitch z-score: 1..PITCH_BINS over [-PITCH_RANGE, PITCH_RANGE]
    (values outside take the end bins), 0 for NaN (no pitch)."""
    z = pitch.float().nan_to_num(0.0).clamp(-PITCH_RANGE, PITCH_RANGE)
    bins = 1 + ((z + PITCH_RANGE) / (2 * PITCH_RANGE) * (PITCH_BINS - 1)).round().long()
    return torch.where(torch.isnan(pitch), torch.zeros_like(bins), bins)
