"""The real-corpus recipes run a few steps on CPU against tiny corpora in each exact on-disk layout.

The override swaps the pretrained EnCodec (a download) for a tiny codec of our own and shrinks
every model; everything else (reader, sample rate, hop, vocoder strides, limits) is the recipe's.
"""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tts.config import load_recipe

ROOT = Path(__file__).resolve().parents[2]
SENTENCES = ["The quick brown fox jumps over the lazy dog.", "She sells sea shells by the sea shore.",
             "A stitch in time saves nine.", "Every cloud has a silver lining.",
             "Actions speak louder than words.", "Time and tide wait for no man."]


def _audio(rate: int, seed: int, seconds: float = 1.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 110 + 10 * seed
    wav = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3)) * (0.6 + 0.4 * np.sin(6 * t))
    return (0.15 * wav + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)


def make_ljspeech(root: Path) -> Path:
    (root / "wavs").mkdir(parents=True)
    lines = []
    for n, text in enumerate(SENTENCES):
        uid = f"LJ001-{n + 1:04d}"
        sf.write(root / "wavs" / f"{uid}.wav", _audio(22050, n), 22050)
        lines.append(f"{uid}|{text}|{text}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def make_libritts(root: Path) -> Path:
    for n, text in enumerate(SENTENCES):
        speaker, chapter = ("19", "198") if n % 2 else ("26", "495")
        base = root / "train-clean-100" / speaker / chapter / f"{speaker}_{chapter}_{n:06d}_000000"
        base.parent.mkdir(parents=True, exist_ok=True)
        sf.write(f"{base}.wav", _audio(24000, n), 24000)
        Path(f"{base}.normalized.txt").write_text(text, encoding="utf-8")
        Path(f"{base}.original.txt").write_text(text, encoding="utf-8")
    return root / "train-clean-100"


def make_vctk(root: Path) -> Path:
    for n, text in enumerate(SENTENCES):
        speaker = "p225" if n % 2 else "p226"
        uid = f"{speaker}_{n + 1:03d}"
        (root / "txt" / speaker).mkdir(parents=True, exist_ok=True)
        (root / "wav48_silence_trimmed" / speaker).mkdir(parents=True, exist_ok=True)
        (root / "txt" / speaker / f"{uid}.txt").write_text(text + "\n", encoding="utf-8")
        for mic in ("mic1", "mic2"):
            sf.write(root / "wav48_silence_trimmed" / speaker / f"{uid}_{mic}.flac", _audio(48000, n), 48000)
    return root


TINY = ["stages=[codec, aligner, ar, nar]", "aligner.width=16", "codec.kind=trained", "codec.channels=4", "codec.dimension=16",
        "codec.lstm_layers=0", "codec.n_codebooks=2", "codec.codebook_size=16",
        "codec.train.batch_size=2", "codec.train.segment_seconds=0.5", "data.min_duration=0.3",
        "data.validation_fraction=0.2"]
for _section in ("ar", "nar", "durations"):
    TINY += [f"{_section}.width=32", f"{_section}.layers=1", f"{_section}.heads=2",
             f"{_section}.train.batch_tokens=400"]
for _section in ("codec", "aligner", "ar", "nar", "durations"):
    TINY += [f"{_section}.train.max_steps=2", f"{_section}.train.warmup_steps=1",
             f"{_section}.train.validate_every=2", f"{_section}.train.checkpoint_every=2",
             f"{_section}.train.sample_every=0", f"{_section}.train.log_every=1"]


@pytest.mark.parametrize("name, make", [("ljspeech", make_ljspeech), ("libritts", make_libritts),
                                        ("vctk", make_vctk)])
def test_real_corpus_recipe_runs_a_few_steps(tmp_path, name, make):
    from tts.data.corpus import PreparedCorpus
    from tts.pipeline import run_recipe
    from tts.synthesize import Synthesizer

    shipped = load_recipe(ROOT / "recipes" / f"{name}.yaml")
    assert shipped.codec.kind == "encodec_24khz" and shipped.ar.width == 1024 and shipped.ar.layers == 12
    corpus = make(tmp_path / "corpus")
    run = tmp_path / "run"
    recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml",
                         TINY + [f"data.root={corpus}", f"output_dir={run}"])
    run_recipe(recipe)
    prepared = PreparedCorpus(run / "prepared")
    assert len(prepared.records("all")) == len(SENTENCES)
    assert prepared.has_codes and prepared.sample_rate == 24000
    assert shipped.stages == ("aligner", "ar", "nar")
    for stage in ("codec", "aligner", "ar", "nar"):
        assert (run / stage / "best.pt").is_file()
    result = Synthesizer.from_run(run).synthesize("Hello.")
    assert result.sample_rate == 24000 and len(result.wav) > 0


def test_offline_recipe_runs_a_few_steps_and_speaks_from_its_durations(tmp_path):
    """The offline recipes' whole chains, tiny, each in one `tts run`. offline_durations.yaml: the vocoder (its
    finer mel loss), the mel-domain codec, its codes, the aligner, its durations, the durations model, its mel
    refiner; then synthesis with no AR, refined, through the vocoder of true log-mels. offline.yaml: the AR chain (the aligner
    before the codec, whose codebook 1 learns its phones; codec_vocoder, AR, NAR, the vocoder fine-tuned on
    the chain's log-mels)."""
    from tts.codec import mel_vocoder_path
    from tts.pipeline import run_recipe
    from tts.synthesize import ARChain, DurationsChain, Synthesizer

    shipped = load_recipe(ROOT / "recipes" / "offline.yaml")
    assert shipped.codec.domain == "mel" and shipped.codec_frame_rate == 25.0 and shipped.codec.phone_weight > 0
    assert shipped.stages == ("vocoder", "aligner", "codec", "codec_vocoder", "ar", "nar", "chain_vocoder")
    durations = load_recipe(ROOT / "recipes" / "offline_durations.yaml")
    assert durations.stages == ("vocoder", "codec", "aligner", "durations", "refiner")
    assert durations.codec.phone_weight == 0 and durations.vocoder.mel_loss_bands == 256
    assert durations.synthesis == shipped.synthesis  # the model speaks its mean durations by itself: pace 1
    assert durations.vocoder == dataclasses.replace(shipped.vocoder, mel_loss_bands=256,
                                                    mel_loss_windows=(0.016, 0.032, 0.064, 0.128))
    corpus = make_libritts(tmp_path / "corpus")
    run = tmp_path / "run"
    tiny = ["vocoder.initial_channels=16", "aligner.width=16", "refiner.channels=16", "refiner.blocks=2"]
    for section in ("vocoder.train", "vocoder.codec_train", "vocoder.chain_train",
                    "aligner.train", "refiner.train"):
        tiny += [f"{section}.batch_size=2", f"{section}.max_steps=2", f"{section}.warmup_steps=1",
                 f"{section}.validate_every=2", f"{section}.checkpoint_every=2", f"{section}.sample_every=0",
                 f"{section}.log_every=1"]
    recipe = load_recipe(ROOT / "recipes" / "offline_durations.yaml",
                         TINY + tiny + [f"stages={list(durations.stages)}", f"data.root={corpus}", f"output_dir={run}"])
    run_recipe(recipe)
    for stage in ("vocoder", "codec", "aligner", "durations", "refiner"):
        assert (run / stage / "best.pt").is_file()
    assert (run / "aligner" / "durations.npz").is_file() and not (run / "ar").exists()
    assert (run / "refiner" / "pairs.npz").is_file()
    synthesizer = Synthesizer.from_run(run)
    assert isinstance(synthesizer.chain, DurationsChain) and synthesizer.chain.refiner is not None
    assert synthesizer.chain.vocoder.source == run / "vocoder" / "best.pt"  # refined frames: the true-mel vocoder
    result = synthesizer.synthesize("Hello.")
    assert result.sample_rate == 16000 and len(result.wav) > 0
    assert set(result.timings) == {"front_end", "durations", "refiner", "vocoder"}
    chain = [f"stages={list(shipped.stages)}"]
    recipe = load_recipe(ROOT / "recipes" / "offline.yaml",
                         TINY + tiny + chain + [f"data.root={corpus}", f"output_dir={tmp_path / 'ar_run'}"])
    run_recipe(recipe)
    assert (tmp_path / "ar_run" / "chain_vocoder" / "chain_mels.npz").is_file()
    assert (tmp_path / "ar_run" / "aligner" / "mel_durations.npz").is_file()  # the codec's phone labels
    assert mel_vocoder_path(recipe) == tmp_path / "ar_run" / "chain_vocoder" / "best.pt"
    synthesizer = Synthesizer.from_run(tmp_path / "ar_run")
    assert isinstance(synthesizer.chain, ARChain)
    result = synthesizer.synthesize("Hello.")
    assert result.sample_rate == 16000 and len(result.wav) > 0 and result.codes[0].shape[0] == 2
