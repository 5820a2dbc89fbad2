"""`tts export`: a trained run's weights and speakers in a folder that loads like the run and speaks as it does.

Two tiny runs are trained once for the module: the demo recipe (the AR chain) through `tts run`, and the offline
recipe's durations chain on the bundled demo corpus.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from tts.cli import app
from tts.config import load_recipe

ROOT = Path(__file__).resolve().parents[1]
DEMO_CORPUS = ROOT / "data" / "demo"
TEXT = "Hello there."
SPEAKERS = {"101": "flite:slt", "102": "flite:rms", "103": "flite:awb"}  # data/demo/speakers.tsv
CHAIN_STAGES = {"ar": {"ar", "nar", "codec"}, "durations": {"durations", "vocoder", "codec"}}
TRAINING_KEYS = ("optimizers", "schedulers", "rng", "epoch", "batch_in_epoch", "best_metric", "elapsed")


def _tiny(sections: tuple[str, ...], steps: int) -> list[str]:
    return [f"{section}.{key}={value}" for section in sections
            for key, value in (("max_steps", steps), ("warmup_steps", 1), ("validate_every", steps),
                               ("checkpoint_every", steps), ("sample_every", 0), ("log_every", 1))]


@pytest.fixture(scope="module")
def ar_run(tmp_path_factory) -> Path:
    """The demo recipe, a few steps per stage, through `tts run`."""
    run = tmp_path_factory.mktemp("ar") / "run"
    settings = [f"output_dir={run}", f"data.root={DEMO_CORPUS}", "threads=1",
                *_tiny(("codec.train", "ar.train", "nar.train"), 3)]
    result = CliRunner().invoke(app, ["run", str(ROOT / "recipes" / "demo.yaml"),
                                      *[arg for setting in settings for arg in ("--set", setting)]])
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def durations_run(tmp_path_factory) -> Path:
    """The offline recipe's durations chain (vocoder, mel codec, aligner, durations), tiny, on the demo corpus."""
    from tts.pipeline import run_recipe

    run = tmp_path_factory.mktemp("durations") / "run"
    settings = [f"output_dir={run}", f"data.root={DEMO_CORPUS}", "threads=1",
                "stages=[vocoder, codec, aligner, durations]", "codec.channels=4", "codec.dimension=16",
                "codec.n_codebooks=2", "codec.codebook_size=16", "codec.train.batch_size=2",
                "vocoder.initial_channels=16", "vocoder.train.batch_size=2", "aligner.width=16",
                "durations.width=32", "durations.layers=1", "durations.heads=2", "durations.train.batch_tokens=400",
                *_tiny(("vocoder.train", "codec.train", "aligner.train", "durations.train"), 2)]
    run_recipe(load_recipe(ROOT / "recipes" / "offline.yaml", settings))
    return run


@pytest.fixture(scope="module")
def runs(ar_run, durations_run) -> dict[str, Path]:
    return {"ar": ar_run, "durations": durations_run}


@pytest.fixture(scope="module")
def exports(runs, tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Each run exported as fp16 (through `tts export`) and as fp32."""
    from tts.export import export_run

    folder = tmp_path_factory.mktemp("exports")
    made = {}
    for chain, run in runs.items():
        made[chain, "fp16"] = folder / f"{chain}-fp16"
        result = CliRunner().invoke(app, ["export", str(run), str(made[chain, "fp16"])])
        assert result.exit_code == 0, result.output
        assert "MB in all" in result.output and "codec/best.pt" in result.output
        made[chain, "fp32"] = export_run(run, folder / f"{chain}-fp32", dtype="fp32").folder
    return made


def _checkpoints(folder: Path) -> dict[str, Path]:
    return {path.parent.name: path for path in folder.glob("*/best.pt")}


@pytest.mark.parametrize("chain", ["ar", "durations"])
def test_the_export_holds_the_chains_weights_alone(chain, runs, exports):
    from tts.export import INFERENCE_KEYS

    run = runs[chain]
    sizes = {}
    for dtype, torch_dtype in (("fp16", torch.float16), ("fp32", torch.float32)):
        folder = exports[chain, dtype]
        files = _checkpoints(folder)
        assert set(files) == CHAIN_STAGES[chain]  # nothing else: no aligner, no numbered or last checkpoints
        assert not list(folder.glob("*/last.pt")) and not list(folder.glob("*/ckpt-*.pt"))
        for stage, path in files.items():
            checkpoint = torch.load(path, map_location="cpu", weights_only=False)
            assert not set(checkpoint) & set(TRAINING_KEYS), (stage, sorted(checkpoint))
            assert set(checkpoint) <= {*INFERENCE_KEYS, "modules"}
            assert set(checkpoint["modules"]) in ({"model"}, {"generator"})  # no discriminator
            tensors = [t for state in checkpoint["modules"].values() for t in state.values()
                       if torch.is_floating_point(t)]
            assert tensors and all(t.dtype == torch_dtype for t in tensors), stage
            trained = torch.load(run / stage / "best.pt", map_location="cpu", weights_only=False)
            assert checkpoint["step"] == trained["step"] and checkpoint["stage"] == trained["stage"]
        sizes[dtype] = sum(path.stat().st_size for path in files.values())
        info = json.loads((folder / "export.json").read_text())
        assert info["chain"] == chain and info["dtype"] == dtype
        assert {f["path"] for f in info["files"] if f["step"] is not None} == {f"{s}/best.pt" for s in files}
        recipe = load_recipe(folder / "recipe.yaml")  # the resolved recipe, its codec the folder's own
        assert recipe.codec.vocoder is None and recipe.codec.checkpoint is None
    trained_size = sum((run / stage / "best.pt").stat().st_size for stage in CHAIN_STAGES[chain])
    assert sizes["fp32"] < 0.6 * trained_size  # no optimiser state
    assert sizes["fp16"] < 0.6 * sizes["fp32"]


@pytest.mark.parametrize("chain", ["ar", "durations"])
def test_the_export_speaks_as_the_run(chain, runs, exports):
    """fp32: the same audio, sample for sample, with each speaker's prompt; fp16: the same within its rounding."""
    from tts.synthesize import Synthesizer

    run = Synthesizer.from_run(runs[chain])
    full, half = Synthesizer.from_run(exports[chain, "fp32"]), Synthesizer.from_run(exports[chain, "fp16"])
    assert all(p.dtype == torch.float32 for model in half.chain.models for p in model.parameters())
    assert half.steps == run.steps == full.steps
    bounds = {"min_frames_per_phone": 1.0, "max_frames_per_phone": 3.0} if chain == "ar" else {}
    options = run.options(seed=7, **bounds)
    for speaker in ("101", "103"):
        prompt = run.prompt_from_speaker(speaker)
        exported = full.prompt_from_speaker(speaker)  # its reference clip, encoded: the recording's own codes
        assert torch.equal(exported.codes, prompt.codes) and exported.phones == prompt.phones
        expected = run.synthesize(TEXT, prompt, options)
        assert len(expected.wav) > 0
        np.testing.assert_array_equal(full.synthesize(TEXT, exported, options).wav, expected.wav)
        rounded = half.synthesize(TEXT, prompt, options)
        assert len(rounded.wav) == len(expected.wav)
        peak = np.abs(expected.wav).max()
        assert np.abs(rounded.wav - expected.wav).max() <= 0.02 * peak, speaker
        if chain == "ar":
            assert np.array_equal(rounded.codes[0][0], expected.codes[0][0])  # the AR sampled the same codebook 1


def test_the_export_holds_each_speakers_training_recording(ar_run, exports):
    from tts.data.corpus import PreparedCorpus
    from tts.synthesize import PROMPT_SECONDS

    corpus = PreparedCorpus(ar_run / "prepared")
    records = {r["id"]: r for r in corpus.records("all")}
    folder = exports["ar", "fp16"]
    voices = json.loads((folder / "voices.json").read_text())["speakers"]
    assert {v["speaker"]: v["name"] for v in voices} == SPEAKERS
    for voice in voices:
        record = records[voice["utterance"]]
        assert record["speaker"] == voice["speaker"] and record["split"] == "train"
        assert voice["text"] == record["text"] and voice["phones"] == record["phones"]
        info = sf.info(folder / voice["audio"])
        assert info.subtype == "PCM_16" and info.samplerate == corpus.sample_rate
        assert 2.0 <= info.duration <= 4.0
        pcm, _ = sf.read(folder / voice["audio"], dtype="int16")
        np.testing.assert_array_equal(pcm, np.round(corpus.audio(record) * 32768).astype(np.int16))
        own = [r for r in corpus.records("train") if r["speaker"] == voice["speaker"]]
        assert abs(record["duration"] - PROMPT_SECONDS) == min(abs(r["duration"] - PROMPT_SECONDS) for r in own)


def test_tts_voice_lets_synthesize_speak_without_a_model(exports, ar_run, tmp_path):
    env = {"TTS_VOICE": str(exports["durations", "fp16"])}
    out = tmp_path / "out.wav"
    spoken = CliRunner().invoke(app, ["synthesize", TEXT, str(out)], env=env)
    assert spoken.exit_code == 0, spoken.output
    assert sf.info(out).frames > 0 and "voice: speaker 101 (flite:slt)" in spoken.output  # the first speaker
    spoken = CliRunner().invoke(app, ["synthesize", TEXT, str(out), "--speaker", "103"], env=env)
    assert spoken.exit_code == 0 and "voice: speaker 103 (flite:awb)" in spoken.output, spoken.output
    unknown = CliRunner().invoke(app, ["synthesize", TEXT, str(out), "--speaker", "999"], env=env)
    assert unknown.exit_code == 1 and "'999'" in unknown.output and "101, 102, 103" in unknown.output
    both = CliRunner().invoke(app, ["synthesize", TEXT, str(out), "--speaker", "103", "--prompt-wav", str(out)],
                              env=env)
    assert both.exit_code == 1 and "not both" in both.output
    listed = CliRunner().invoke(app, ["voices"], env=env)
    assert listed.exit_code == 0, listed.output
    voices = json.loads((exports["durations", "fp16"] / "voices.json").read_text())["speakers"]
    for voice in voices:
        line = next(line for line in listed.output.splitlines() if line.startswith(voice["speaker"] + " "))
        assert SPEAKERS[voice["speaker"]] in line and voice["text"] in line
        assert str(exports["durations", "fp16"] / voice["audio"]) in line
    of_run = CliRunner().invoke(app, ["voices", "--model", str(ar_run)], env=env)  # a run: its corpus's recordings
    assert of_run.exit_code == 0 and "flite:rms" in of_run.output and str(DEMO_CORPUS / "102") in of_run.output


def _linked(run: Path, folder: Path, stages: list[str]) -> Path:
    """A run folder holding only some of `run`'s stage folders (links, not copies)."""
    folder.mkdir()
    for stage in stages:
        (folder / stage).symlink_to(run / stage, target_is_directory=True)
    return folder


def test_export_refuses_a_run_without_a_model_and_a_folder_of_other_files(runs, exports, tmp_path):
    out = tmp_path / "out"
    without_nar = _linked(runs["ar"], tmp_path / "no_nar", ["ar", "codec", "prepared"])
    result = CliRunner().invoke(app, ["export", str(without_nar), str(out)])
    assert result.exit_code == 1 and "cannot export" in result.output and "no trained nar" in result.output
    without_vocoder = _linked(runs["durations"], tmp_path / "no_vocoder", ["durations", "codec", "prepared"])
    result = CliRunner().invoke(app, ["export", str(without_vocoder), str(out)])
    assert result.exit_code == 1 and "cannot export" in result.output and "vocoder" in result.output
    assert not out.exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["export", str(runs["durations"]), str(tmp_path / "other")])
    assert result.exit_code == 1 and "not an earlier export" in result.output
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    result = CliRunner().invoke(app, ["export", str(runs["durations"]), str(out), "--dtype", "int8"])
    assert result.exit_code == 1 and "use fp16 or fp32" in result.output


def test_an_earlier_export_is_replaced_whole(runs, tmp_path):
    from tts.export import export_run

    out = tmp_path / "voice"
    export_run(runs["ar"], out)
    export_run(runs["durations"], out)  # another chain into the same folder: nothing of the first stays
    assert set(_checkpoints(out)) == CHAIN_STAGES["durations"]
    assert not (tmp_path / ".voice.partial").exists()


def test_the_durations_vocoder_goes_in_place_of_the_vocoder(durations_run, tmp_path):
    """A run with durations_vocoder/ speaks through it, and its mel codec, which only encodes prompts, needs
    no vocoder: the export holds neither vocoder/ nor codec_vocoder/."""
    from tts.export import export_run
    from tts.synthesize import Synthesizer

    run = _linked(durations_run, tmp_path / "run", ["durations", "codec", "prepared"])
    (run / "durations_vocoder").mkdir()
    shutil.copyfile(durations_run / "vocoder" / "best.pt", run / "durations_vocoder" / "best.pt")
    out = export_run(run, tmp_path / "voice").folder
    assert set(_checkpoints(out)) == {"durations", "durations_vocoder", "codec"}
    synthesizer = Synthesizer.from_run(out)
    assert synthesizer.chain.vocoder.source == out / "durations_vocoder" / "best.pt"
    assert len(synthesizer.synthesize(TEXT, synthesizer.prompt_from_speaker("102")).wav) > 0
