"""Stage chain_vocoder: the AR chain's mel vocoder, fine-tuned on the log-mels of the codes NAR's levels
(docs/ar-chain.md).

Stage codec_vocoder fine-tunes the vocoder on what the codec decodes from all of a recording's true codes; the
AR chain feeds it something else: codebook 1 and the NAR's expected levels 2..Q, which carry much less than the
true ones. Here the vocoder learns from what the NAR makes of each recording's true codebook 1, lined up with
the recording (tts/train/spoken_mels.py): the NAR (<run>/nar/best.pt) fills in levels
2..Q, prompted like synthesis with another recording of the speaker; the codec decodes codebook 1's entries plus
those expected latents to log-mels; and the vocoder trains on (those log-mels, the recording's audio) from
<run>/codec_vocoder/best.pt (else vocoder/best.pt). The log-mels are computed once and kept in
<run>/chain_vocoder/chain_mels.npz; the codec then decodes through chain_vocoder/best.pt (tts.codec.run_mel_vocoder).

Shapes: M mel bins, T codec frames, Q codebooks, E latent width.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from tts.checkpoint import read_checkpoint
from tts.train.spoken_mels import SpokenMelCorpus, read_spoken_mels, write_spoken_mels
from tts.train.vocoder_task import VocoderTask

FILE = "chain_mels.npz"


class ChainVocoderTask(VocoderTask):
    """Training stage "chain_vocoder": VocoderTask on the codes NAR's log-mels (see the module docstring),
    computed once into <run>/chain_vocoder/chain_mels.npz."""

    def open_corpus(self) -> Any:
        corpus = super().open_corpus()
        path = Path(self.recipe.output_dir) / "chain_vocoder" / FILE
        if not path.exists():
            compute_chain_mels(self.recipe, corpus, path)
        return SpokenMelCorpus(corpus, read_spoken_mels(path))


def compute_chain_mels(recipe: Any, corpus: Any, path: Path, codec: Any = None) -> None:
    """The log-mels (M, T x strides) that the codec decodes from the true codebook 1 and the NAR's expected levels
    2..Q of vocoder.chain_utterances training recordings (0: all) and every validation one (module docstring);
    saved at `path` (kept when the recipe changes: delete it to compute them again). `codec`: the run's trained
    codec unless given."""
    from tts.models.nar import NARModel
    from tts.text.symbols import encode

    run_dir = Path(recipe.output_dir)
    needed = [run_dir / "nar" / "best.pt"] + ([run_dir / "codec" / "best.pt"] if codec is None else [])
    for file in needed:
        if not file.is_file():
            raise RuntimeError(f"stage chain_vocoder hears the NAR through the codec, but {file} does not exist: "
                               f"train it first (`tts train <recipe> --stage {file.parent.name}`)")
    nar = NARModel.from_checkpoint(read_checkpoint(needed[0])).eval()
    if codec is None:
        from tts.codec import codec_from_checkpoint

        codec = codec_from_checkpoint(needed[1], "cpu", with_vocoder=False)
    books = codec.codebooks()  # (Q, V, E)
    codes = lambda r: torch.as_tensor(np.asarray(corpus.codes(r)), dtype=torch.long)  # noqa: E731 (Q, T)

    def speak(group: list[dict], prompt_records: list[dict]) -> list[torch.Tensor]:
        _, latents = nar.generate([torch.tensor(encode(r["phones"])) for r in group], [codes(r)[0] for r in group],
                                  [codes(p) for p in prompt_records],
                                  [torch.tensor(encode(p["phones"])) for p in prompt_records], codebooks=books)
        return [codec.latent_features(z[None], "codec_mel")[0] for z in latents]

    write_spoken_mels(path, corpus, None, recipe.vocoder.chain_utterances, recipe.seed, speak, "NAR")
