"""The durations model: each phone's duration and the log-mel frames that speak it, with no AR.

A non-autoregressive transformer over [phones ; audio frames], like the NAR (tts/models/nar.py), but
the target's frames show no codes: each frame embeds the phone it speaks and its place in that phone
(durations the aligner read off the recording in training, tts/train/durations.py; its own predicted
ones in synthesis). The prompt's frames embed all their codec codes, as in the NAR. The phones do not
attend to the target's frames, so a linear head on each phone's hidden state predicts log(1 + its
frames) from the phones and the prompt alone, and a linear head on each frame's hidden state predicts
its r log-mel frames, which a mel vocoder hears (docs/durations.md).

Trained by a squared error on log(1 + frames), the duration head predicts the log-domain mean mu of each phone,
whose exp is a typical length, shorter than the mean one (by 7 % on the offline corpus). Synthesis speaks the
mean of the log-normal the error leaves: expm1(mu + s2 / 2), with s2 the held-out squared error that stage
durations measures at each validation and keeps in the model (buffer duration_variance; 0 in checkpoints
written before it, which then speak at mu).

Shapes: B batch, L phones, T codec frames (prompt + target), Q codebooks, D width, V codebook size,
r mel frames per codec frame, M mel bins. phones (B, L) long right-padded; codes (B, Q, T) long
right-padded; frame_phone, place (B, T) long; mel (B, T, r, M).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from tts.models.alignment import frame_phones, may_skip, rounded_durations
from tts.models.layers import (SinusoidalPositions, Transformer, TransformerShape, check_length, embed_levels,
                               init_weights, length_mask, model_from_checkpoint, pad_right, phones_then_audio)

MAX_PLACE = 32  # frames into a phone told apart by the place embedding (later ones share the last);
# also the longest duration a phone is given in synthesis


class DurationsModel(nn.Module):
    """Phone durations and log-mel frames from the phones and a voice prompt's codes."""

    def __init__(self, n_symbols: int, codebook_size: int, n_codebooks: int, shape: TransformerShape,
                 mel_bins: int, mel_per_frame: int):
        super().__init__()
        if mel_bins < 1 or mel_per_frame < 1:
            raise ValueError(f"the durations model needs mel_bins and mel_per_frame >= 1, got {mel_bins} and "
                             f"{mel_per_frame}")
        self.n_symbols, self.codebook_size, self.n_codebooks, self.shape = n_symbols, codebook_size, n_codebooks, shape
        self.mel_bins, self.mel_per_frame = mel_bins, mel_per_frame
        D = shape.width
        self.phone_embedding = nn.Embedding(n_symbols, D)
        self.code_embedding = nn.Embedding(n_codebooks * codebook_size, D)  # the prompt's codes, as in the NAR
        self.place_embedding = nn.Embedding(MAX_PLACE, D)
        self.phone_positions = SinusoidalPositions(D)
        self.audio_positions = SinusoidalPositions(D)
        self.transformer = Transformer(shape)
        self.mel_head = nn.Linear(D, mel_per_frame * mel_bins)  # each frame's log-mel frames
        self.duration_head = nn.Linear(D, 1)  # log(1 + frames) of each phone
        self.register_buffer("duration_variance", torch.zeros(()))  # held-out squared error of that log
        init_weights(self, shape.layers)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before the model kept its duration spread load with none (they speak at mu)
        state_dict.setdefault(prefix + "duration_variance", torch.zeros(()))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the model (saved in checkpoints)."""
        return {"n_symbols": self.n_symbols, "codebook_size": self.codebook_size, "n_codebooks": self.n_codebooks,
                **self.shape.config(), "mel_bins": self.mel_bins, "mel_per_frame": self.mel_per_frame}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "DurationsModel":
        return cls(config["n_symbols"], config["codebook_size"], config["n_codebooks"],
                   TransformerShape.from_config(config), int(config["mel_bins"]), int(config["mel_per_frame"]))

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> "DurationsModel":
        """The model of a checkpoint dict of stage durations (tts.checkpoint.load_checkpoint)."""
        return model_from_checkpoint(cls, checkpoint)

    def forward(self, phones: torch.Tensor, phone_lengths: torch.Tensor, codes: torch.Tensor,
                audio_lengths: torch.Tensor, prompt_lengths: torch.Tensor, frame_phone: torch.Tensor,
                place: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log-mel frames (B, T, r, M) of every audio position, log(1 + frames) (B, L) of every phone).

        Of codes (B, Q, T) only the prompt's frames (t < prompt_lengths[b]) are read; the target's
        frame t speaks phone frame_phone[b, t] (an index into phones (B, L)), place[b, t] frames into it.
        """
        h = self.hidden_states(phones, phone_lengths, codes, audio_lengths, prompt_lengths, frame_phone, place)
        return self.mel_frames(h[:, phones.size(1):]), self.duration_head(h[:, :phones.size(1)]).squeeze(-1)

    def mel_frames(self, audio_hidden: torch.Tensor) -> torch.Tensor:
        """Log-mel frames (B, T, r, M) of the last hidden states (B, T, D) of the audio positions."""
        B, T, _ = audio_hidden.shape
        return self.mel_head(audio_hidden).view(B, T, self.mel_per_frame, self.mel_bins)

    def hidden_states(self, phones: torch.Tensor, phone_lengths: torch.Tensor, codes: torch.Tensor,
                      audio_lengths: torch.Tensor, prompt_lengths: torch.Tensor, frame_phone: torch.Tensor,
                      place: torch.Tensor) -> torch.Tensor:
        """The transformer's last hidden states (B, L + T, D): the phones', then the audio positions'."""
        (B, L), T = phones.shape, codes.size(2)
        check_length(L, T, self.shape.max_positions)
        device = codes.device
        in_prompt = torch.arange(T, device=device).unsqueeze(0) < prompt_lengths.unsqueeze(1)  # (B, T)
        prompt = embed_levels(self.code_embedding, codes, self.codebook_size)  # (B, T, D)
        spoken = (self.phone_embedding(phones.gather(1, frame_phone))
                  + self.place_embedding(place.clamp(max=MAX_PLACE - 1)))  # (B, T, D)
        audio = torch.where(in_prompt.unsqueeze(-1), prompt, spoken)  # (B, T, D)
        x = phones_then_audio(self.phone_embedding(phones), audio, self.phone_positions,
                              self.audio_positions)  # (B, L + T, D)
        keys_valid = torch.cat([length_mask(phone_lengths, L), length_mask(audio_lengths, T)], dim=1)  # (B, N)
        target_keys = torch.cat([in_prompt.new_zeros(B, L), ~in_prompt], dim=1)  # (B, N)
        phone_queries = (torch.arange(L + T, device=device) < L).view(1, -1, 1)  # (1, N, 1)
        mask = keys_valid.unsqueeze(1) & ~(phone_queries & target_keys.unsqueeze(1))  # (B, N, N)
        h, _ = self.transformer(x, mask.unsqueeze(1))
        return h

    @torch.no_grad()
    def speak(self, phones: Sequence[torch.Tensor], prompt_codes: Sequence[torch.Tensor] | None = None,
              prompt_phones: Sequence[torch.Tensor] | None = None, pace: float = 1.0,
              max_frames_per_phone: int = MAX_PLACE,
              durations: Sequence[torch.Tensor] | None = None, with_hidden: bool = False) -> tuple[list, ...]:
        """For a batch of sentences: (log-mel frames (M, T_i r), frames (L_i,) of each phone), and with_hidden
        the last hidden states (D, T_i) of their audio positions (what the mel refiner hears).

        The durations come first (each the log-normal mean, times `pace`, each boundary the running sum rounded,
        at least one frame for a phone that is not a word boundary or punctuation, at most max_frames_per_phone),
        then the frames; given `durations` (frames (L_i,) of each phone), those are spoken instead.
        """
        device = self.phone_embedding.weight.device
        B, Q = len(phones), self.n_codebooks
        prompt_phones = ([p.to(device) for p in prompt_phones] if prompt_phones
                         else [phones[0].new_zeros(0, device=device)] * B)
        prompt_codes = ([p.to(device) for p in prompt_codes] if prompt_codes
                        else [torch.zeros(Q, 0, dtype=torch.long, device=device)] * B)
        text = [torch.cat([p, t.to(device)]) for p, t in zip(prompt_phones, phones)]
        phone_lengths = torch.tensor([len(t) for t in text], device=device)
        prompt_lengths = torch.tensor([p.size(1) for p in prompt_codes], device=device)
        phones_padded = pad_right(text, int(phone_lengths.max()))  # (B, L)
        if durations is None:
            durations = self._durations(phones, prompt_phones, prompt_codes, phones_padded, phone_lengths,
                                        prompt_lengths, pace, max_frames_per_phone)
        durations = [torch.as_tensor(d, dtype=torch.long, device=device) for d in durations]
        audio, frame_phone, place = [], [], []
        for i, d in enumerate(durations):
            P, start = prompt_codes[i].size(1), len(prompt_phones[i])
            index, within = frame_phones(d)
            audio.append(torch.cat([prompt_codes[i], prompt_codes[i].new_zeros(Q, int(d.sum()))], dim=1))
            frame_phone.append(torch.cat([index.new_zeros(P), index + start]))
            place.append(torch.cat([within.new_zeros(P), within]))
        audio_lengths = torch.tensor([a.size(1) for a in audio], device=device)
        T = int(audio_lengths.max())
        h = self.hidden_states(phones_padded, phone_lengths, pad_right(audio, T), audio_lengths, prompt_lengths,
                               pad_right(frame_phone, T), pad_right(place, T))[:, phones_padded.size(1):]  # (B, T, D)
        mel = self.mel_frames(h)  # (B, T, r, M)
        spans = [(int(prompt_lengths[i]), int(audio_lengths[i])) for i in range(B)]
        mels = [mel[i, start:end].flatten(0, 1).T.contiguous() for i, (start, end) in enumerate(spans)]
        if not with_hidden:
            return mels, durations
        return mels, durations, [h[i, start:end].T.contiguous() for i, (start, end) in enumerate(spans)]

    def _durations(self, phones: Sequence[torch.Tensor], prompt_phones: list[torch.Tensor],
                   prompt_codes: list[torch.Tensor], phones_padded: torch.Tensor, phone_lengths: torch.Tensor,
                   prompt_lengths: torch.Tensor, pace: float, most: int) -> list[torch.Tensor]:
        """Frames (L_i,) of each sentence's phones: predicted from the phones and the prompt alone."""
        codes = pad_right(prompt_codes, max(1, int(prompt_lengths.max())))  # (B, Q, P)
        none = torch.zeros(len(phones), codes.size(2), dtype=torch.long, device=codes.device)
        _, log_frames = self(phones_padded, phone_lengths, codes, prompt_lengths, prompt_lengths, none, none)
        out = []
        for i, sentence in enumerate(phones):
            start = len(prompt_phones[i])
            mean = torch.expm1(log_frames[i, start:start + len(sentence)].float() + self.duration_variance / 2)
            frames = rounded_durations(mean * pace)
            least = torch.from_numpy(~may_skip(sentence.cpu())).to(codes.device).long()
            out.append(frames.clamp(max=most).maximum(least))
        return out
