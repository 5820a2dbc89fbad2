"""The whole recipe: its stages, its sections, and the checks that span sections."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tts.config.base import _check
from tts.config.sections import (AlignerConfig, ARConfig, AudioConfig, CodecConfig, DataConfig, DurationsConfig,
                                  NARConfig, RefinerConfig, SynthesisConfig, TextConfig, VocoderConfig)


STAGES = ("codec", "ar", "nar", "vocoder", "codec_vocoder", "aligner", "durations", "refiner", "chain_vocoder")
RETIRED_STAGES = {  # stage -> where it went; a run's recipe that lists one loads without it
    "durations_vocoder": "the durations chain speaks through its refiner and the vocoder of true log-mels: "
                         "docs/experiments/durations-vocoder.md",
}
TUNED_VOCODERS = {  # stage -> (its TrainConfig in vocoder:, what the vocoder reads, the run's vocoders it starts from)
    "codec_vocoder": ("codec_train", "codec_mel", ("vocoder",)),
    "chain_vocoder": ("chain_train", "mel", ("codec_vocoder", "vocoder")),
}


@dataclass(frozen=True)
class Recipe:
    """A whole recipe: where things go, which stages run, and every section."""

    name: str = "recipe"  # a label for logs and plots
    output_dir: str = "runs/recipe"  # run folder: prepared data, checkpoints, samples
    seed: int = 1234  # global seed (data split, initialisation, data order)
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    threads: int = 0  # CPU threads per training process (0 = torch's default: one per core)
    stages: tuple[str, ...] = ("codec", "ar", "nar")  # stages `tts train` runs, in order
    audio: AudioConfig = field(default_factory=AudioConfig)
    text: TextConfig = field(default_factory=TextConfig)
    data: DataConfig = field(default_factory=DataConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    ar: ARConfig = field(default_factory=ARConfig)
    nar: NARConfig = field(default_factory=NARConfig)
    durations: DurationsConfig = field(default_factory=DurationsConfig)
    refiner: RefinerConfig = field(default_factory=RefinerConfig)
    vocoder: VocoderConfig = field(default_factory=VocoderConfig)
    aligner: AlignerConfig = field(default_factory=AlignerConfig)
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)

    @property
    def codec_hop(self) -> int:
        """Samples per codec frame, whatever the codec's domain."""
        if self.codec.kind == "trained" and self.codec.domain == "mel":
            return self.codec.mel_frames_per_code * self.audio.hop_length
        return self.codec.hop_length

    @property
    def codec_frame_rate(self) -> float:
        return self.audio.sample_rate / self.codec_hop

    def tuned_vocoder_recipe(self, stage: str) -> "Recipe":
        """The recipe a vocoder fine-tuning stage (TUNED_VOCODERS) trains with, and its checkpoints carry: a
        vocoder-stage recipe reading the stage's input (codec_mel: the codec's decoded log-mels; mel: log-mels a
        model spoke, tts/train/spoken_mels.py), trained by the stage's section of vocoder:, from the
        first trained of its starting points in the run unless that section's init_from names a checkpoint."""
        section, features, starts = TUNED_VOCODERS[stage]
        train = getattr(self.vocoder, section)
        if not train.init_from:
            paths = [Path(self.output_dir) / start / "best.pt" for start in starts]
            train = dataclasses.replace(train, init_from=str(next((p for p in paths if p.is_file()), paths[-1])))
        return dataclasses.replace(self, stages=("vocoder",),
                                   vocoder=dataclasses.replace(self.vocoder, input=features, train=train))

    def validate(self) -> None:
        _check(bool(self.output_dir.strip()), "output_dir", self.output_dir,
               "a folder path, e.g. runs/demo (an empty one would write into the current folder)")
        _check(bool(self.stages) and all(s in STAGES for s in self.stages), "stages",
               self.stages, f"a non-empty list drawn from {list(STAGES)}")
        _check(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
               "device", self.device, "auto, cpu, cuda or cuda:N")
        _check(self.threads >= 0, "threads", self.threads, ">= 0 (0 = torch's default)")
        if "refiner" in self.stages:
            _check(_before(self.stages, "durations", "refiner"), "stages", self.stages,
                   "durations before refiner (it refines the durations model's log-mels)")
        if "chain_vocoder" in self.stages and "nar" in self.stages:
            _check(_before(self.stages, "nar", "chain_vocoder"), "stages", self.stages,
                   "nar before chain_vocoder (it hears the NAR's log-mels)")
        if "durations" in self.stages:
            _check(_before(self.stages, "aligner", "durations"), "stages", self.stages,
                   "aligner before durations (the durations model trains at the aligner's durations)")
        if self.codec.phone_weight > 0 and "aligner" in self.stages and "codec" in self.stages:
            _check(_before(self.stages, "aligner", "codec"), "stages", self.stages,
                   "aligner before codec (codec.phone_weight trains codebook 1 on the aligner's phones)")
        if "aligner" in self.stages and "ar" in self.stages:
            _check(_before(self.stages, "aligner", "ar"), "stages", self.stages,
                   "aligner before ar (the AR's phone pointer learns the aligner's durations)")
        if self.codec.kind == "encodec_24khz":
            _check(self.audio.sample_rate == 24000, "audio.sample_rate", self.audio.sample_rate,
                   "24000 Hz, the rate of codec.kind=encodec_24khz")
        if self.vocoder.input == "codec_mel":
            _check(self.codec.kind == "trained" and self.codec.domain == "mel", "vocoder.input",
                   self.vocoder.input, "mel: codec_mel needs codec.domain mel")
        for stage in ("codec_vocoder", "chain_vocoder"):  # they hear what a mel-domain codec decodes
            if stage in self.stages:
                _check(self.codec.kind == "trained" and self.codec.domain == "mel", "stages", self.stages,
                       f"stages without {stage}: it fine-tunes a mel vocoder for codec.domain mel only")
        for stage in TUNED_VOCODERS:
            if stage in self.stages:
                _check(self.vocoder.input == "mel", "vocoder.input", self.vocoder.input,
                       f"mel: stage {stage} fine-tunes the mel vocoder of stage vocoder")
        _check(self.codec_hop % self.audio.hop_length == 0, "audio.hop_length",
               self.audio.hop_length,
               f"a divisor of the codec hop ({self.codec_hop} samples) so that mel "
               "frames line up with codec frames")
        istft = f" times the iSTFT hop {self.vocoder.istft_hop}" if self.vocoder.istft_n_fft else ""
        _check(self.vocoder.upsampling == self.audio.hop_length, "vocoder.upsample_rates",
               self.vocoder.upsample_rates,
               f"rates whose product{istft} ({self.vocoder.upsampling}) equals audio.hop_length "
               f"({self.audio.hop_length} samples per mel frame)")

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)


def _before(stages: tuple[str, ...], first: str, then: str) -> bool:
    """Whether `first` is among the stages, before `then`."""
    return first in stages and then in stages and stages.index(first) < stages.index(then)


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [_to_plain(v) for v in obj]
    return obj
