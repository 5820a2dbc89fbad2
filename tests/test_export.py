"""`tts export`: a trained run's weights and speakers in a folder that loads like the run and speaks as it does.

Two tiny runs are trained once for the module: the demo recipe (the AR chain) through `tts run`, and the offline
recipe's durations chain on the bundled demo corpus.
"""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from run_fixtures import DEMO_CORPUS, ROOT, durations_settings, tiny, train_durations_run
from tts.cli import app
from tts.config import load_recipe

TEXT = "Hello there."
SPEAKERS = {"101": "flite:slt", "102": "flite:rms", "103": "flite:awb"}  # data/demo/speakers.tsv
CHAIN_STAGES = {"ar": {"ar", "nar", "codec"}, "durations": {"durations", "vocoder", "codec"}}
TRAINING_KEYS = ("optimizers", "schedulers", "rng", "epoch", "batch_in_epoch", "best_metric", "elapsed")


@pytest.fixture(scope="module")
def ar_run(tmp_path_factory) -> Path:
    """The demo recipe, a few steps per stage, through `tts run`."""
    run = tmp_path_factory.mktemp("ar") / "run"
    settings = [f"output_dir={run}", f"data.root={DEMO_CORPUS}", "threads=1",
                "aligner.width=16", *tiny(("codec.train", "aligner.train", "ar.train", "nar.train"), 3)]
    result = CliRunner().invoke(app, ["run", str(ROOT / "recipes" / "demo.yaml"),
                                      *[arg for setting in settings for arg in ("--set", setting)]])
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def durations_run(tmp_path_factory) -> Path:
    """The offline recipe's durations chain (vocoder, mel codec, aligner, durations), tiny, on the demo corpus."""
    return train_durations_run(tmp_path_factory.mktemp("durations") / "run")


@pytest.fixture(scope="module")
def runs(ar_run, durations_run) -> dict[str, Path]:
    return {"ar": ar_run, "durations": durations_run}


@pytest.fixture(scope="module")
def exports(runs, tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Each run exported as fp16 and int8 (through `tts export`) and as fp32."""
    from tts.export import export_run

    folder = tmp_path_factory.mktemp("exports")
    made = {}
    for chain, run in runs.items():
        for dtype, option in (("fp16", []), ("int8", ["--dtype", "int8"])):
            made[chain, dtype] = folder / f"{chain}-{dtype}"
            result = CliRunner().invoke(app, ["export", str(run), str(made[chain, dtype]), *option])
            assert result.exit_code == 0, result.output
            assert "MB in all" in result.output
            for stage in CHAIN_STAGES[chain]:  # each model's line names its storage
                assert re.search(rf"{stage}/best\.pt .* MB  {dtype}, step \d+", result.output), result.output
        made[chain, "fp32"] = export_run(run, folder / f"{chain}-fp32", dtype="fp32").folder
    return made


def _checkpoints(folder: Path) -> dict[str, Path]:
    return {path.parent.name: path for path in folder.glob("*/best.pt")}


@pytest.mark.parametrize("chain", ["ar", "durations"])
def test_the_export_holds_the_chains_weights_alone(chain, runs, exports):
    from tts.export import INFERENCE_KEYS

    run = runs[chain]
    sizes = {}
    for dtype in ("fp16", "fp32", "int8"):
        folder = exports[chain, dtype]
        files = _checkpoints(folder)
        assert set(files) == CHAIN_STAGES[chain]  # nothing else: no aligner, no numbered or last checkpoints
        assert not list(folder.glob("*/last.pt")) and not list(folder.glob("*/ckpt-*.pt"))
        for stage, path in files.items():
            checkpoint = torch.load(path, map_location="cpu", weights_only=False)
            assert not set(checkpoint) & set(TRAINING_KEYS), (stage, sorted(checkpoint))
            assert set(checkpoint) <= {*INFERENCE_KEYS, "modules", "storage", "scales"}
            assert set(checkpoint["modules"]) in ({"model"}, {"generator"})  # no discriminator
            keys = [key for state in checkpoint["modules"].values() for key in state]
            assert not [key for key in keys if key.endswith("embed_avg")]  # the codebooks' EMA training state
            assert (stage != "codec") or [key for key in keys if key.endswith("_codebook.embed")]
            assert checkpoint["storage"] == dtype and ("scales" in checkpoint) == (dtype == "int8")
            scales = checkpoint.get("scales", {})
            tensors = [t for name, state in checkpoint["modules"].items() for key, t in state.items()
                       if key not in scales.get(name, {}) and torch.is_floating_point(t)]
            assert tensors and all(t.dtype == (torch.float32 if dtype == "fp32" else torch.float16)
                                   for t in tensors), stage
            trained = torch.load(run / stage / "best.pt", map_location="cpu", weights_only=False)
            assert checkpoint["step"] == trained["step"] and checkpoint["stage"] == trained["stage"]
        sizes[dtype] = {stage: path.stat().st_size for stage, path in files.items()}
        info = json.loads((folder / "export.json").read_text())
        assert info["chain"] == chain and info["dtype"] == dtype
        models = {f["path"]: f["dtype"] for f in info["files"] if f["step"] is not None}
        assert models == {f"{s}/best.pt": dtype for s in files}
        recipe = load_recipe(folder / "recipe.yaml")  # the resolved recipe, its codec the folder's own
        assert recipe.codec.vocoder is None and recipe.codec.checkpoint is None
    trained_size = sum((run / stage / "best.pt").stat().st_size for stage in CHAIN_STAGES[chain])
    assert sum(sizes["fp32"].values()) < 0.6 * trained_size  # no optimiser state
    assert sum(sizes["fp16"].values()) < 0.6 * sum(sizes["fp32"].values())
    for stage, path in _checkpoints(exports[chain, "int8"]).items():
        share = _int8_share(torch.load(path, map_location="cpu", weights_only=False))
        if share > 0.9:  # a model whose weight matrices dominate: about half the fp16 file
            assert sizes["int8"][stage] < 0.6 * sizes["fp16"][stage], (stage, share, sizes)
    if chain == "ar":  # the demo recipe's models are large enough for that; the tiny durations chain's are not
        assert min(_int8_share(torch.load(path, map_location="cpu", weights_only=False))
                   for path in _checkpoints(exports[chain, "int8"]).values()) > 0.9


def _int8_share(checkpoint: dict) -> float:
    """The share of a checkpoint's floating weights that it stores as int8."""
    counts = {"int8": 0, "other": 0}
    for state in checkpoint["modules"].values():
        for value in state.values():
            counts["int8" if value.dtype == torch.int8 else "other"] += value.numel()
    return counts["int8"] / sum(counts.values())


def test_int8_checkpoints_hold_the_layers_weights_as_rows_and_load_as_fp32(exports):
    """Each int8 entry is a layer's weight (or a stack of them) with a float32 scale per row; read back, it is
    q * scale in fp32."""
    from tts.checkpoint import read_checkpoint
    from tts.models.storage import int8_row_dims

    for chain in CHAIN_STAGES:
        for stage, path in _checkpoints(exports[chain, "int8"]).items():
            stored = torch.load(path, map_location="cpu", weights_only=False)
            loaded = read_checkpoint(path)
            assert "scales" not in loaded and loaded["storage"] == "int8"
            for name, state in stored["modules"].items():
                scales = stored["scales"][name]
                assert {key for key, value in state.items() if value.dtype == torch.int8} == set(scales)
                assert {key for key, value in state.items() if int8_row_dims(key, value.float())} == set(scales)
                for key, q in state.items():
                    if key in scales:
                        rows = q.shape[:int8_row_dims(key, q.float())]
                        assert scales[key].dtype == torch.float32 and scales[key].shape == rows
                        expected = q.float() * scales[key].reshape(*rows, *[1] * (q.dim() - len(rows)))
                        assert loaded["modules"][name][key].dtype == torch.float32
                        assert torch.equal(loaded["modules"][name][key], expected), (stage, key)
                    else:
                        assert torch.equal(loaded["modules"][name][key], q)


# max |int8 - fp32| over the fp32 export's peak, for the same text, prompt and seed: 0.002-0.003 on these tiny runs
# (fp16: 0.0002-0.0003). Taking each row's scale from its neighbour gives 0.04 (durations chain; 0.002 in the AR
# chain, whose rows have nearly one scale); leaving the scales out gives 44 or another length or codebook 1
INT8_BOUND = 0.01
LENGTH_BOUNDS = {"ar": {"min_frames_per_phone": 1.0, "max_frames_per_phone": 3.0}, "durations": {}}


def _int8_distances(chain: str, exports) -> list[float]:
    """max |int8 - fp32| / fp32 peak of each speaker's waveform; inf where the int8 export spoke another length
    or (the AR chain) sampled another codebook 1."""
    from tts.synthesize import Synthesizer

    full, quantised = Synthesizer.from_run(exports[chain, "fp32"]), Synthesizer.from_run(exports[chain, "int8"])
    assert all(p.dtype == torch.float32 for model in quantised.chain.models for p in model.parameters())
    options = full.options(seed=7, **LENGTH_BOUNDS[chain])
    distances = []
    for speaker in ("101", "103"):
        prompt = full.prompt_from_speaker(speaker)
        expected, spoken = full.synthesize(TEXT, prompt, options), quantised.synthesize(TEXT, prompt, options)
        assert len(expected.wav) > 0
        if len(spoken.wav) != len(expected.wav) or (chain == "ar" and not np.array_equal(spoken.codes[0][0],
                                                                                           expected.codes[0][0])):
            distances.append(float("inf"))
        else:
            distances.append(float(np.abs(spoken.wav - expected.wav).max() / np.abs(expected.wav).max()))
    return distances


@pytest.mark.parametrize("chain", ["ar", "durations"])
def test_the_int8_export_speaks_close_to_the_fp32_one(chain, exports):
    assert max(_int8_distances(chain, exports)) <= INT8_BOUND


@pytest.mark.parametrize("chain, broken", [("ar", "no scales"), ("durations", "no scales"),
                                           ("durations", "each row's neighbour's scale")])
def test_the_int8_bound_fails_a_broken_dequantisation(chain, broken, exports, monkeypatch):
    """The bound above tells a right dequantisation from a wrong one: some speaker falls outside it. (The AR
    chain's 3-step models have rows of nearly one scale, so a neighbour's scale changes them no more than int8
    itself: the durations chain's longer-trained rows tell that bug.)"""
    from tts.models import storage

    right = storage.dequantize_rows
    wrong = {"no scales": lambda q, scale: q.float(),
             "each row's neighbour's scale": lambda q, scale: right(q, scale.roll(1))}
    monkeypatch.setattr(storage, "dequantize_rows", wrong[broken])
    assert max(_int8_distances(chain, exports)) > INT8_BOUND


@pytest.mark.parametrize("shape", [(64, 96), (16, 8, 5), (1, 4096), (5, 1)])
def test_int8_rows_come_back_within_half_a_scale(shape):
    from tts.models.storage import dequantize_rows, quantize_rows

    torch.manual_seed(0)
    weight = torch.randn(shape) * torch.logspace(-4, 2, shape[0]).reshape(-1, *[1] * (len(shape) - 1))
    if shape[0] > 1:
        weight[shape[0] // 2] = 0.0  # a row of zeros
    q, scale = quantize_rows(weight)
    assert q.dtype == torch.int8 and q.shape == weight.shape and q.abs().max() <= 127
    assert scale.dtype == torch.float32 and scale.shape == (shape[0],)
    rows = weight.reshape(shape[0], -1)
    assert torch.equal(scale, rows.abs().amax(dim=1) / 127)
    nonzero = scale > 0
    assert torch.all(q.reshape(shape[0], -1).abs().amax(dim=1)[nonzero] == 127)  # each row's absmax is +-127
    restored = dequantize_rows(q, scale)
    assert restored.dtype == torch.float32 and restored.shape == weight.shape
    error = (restored - weight).abs().reshape(shape[0], -1).amax(dim=1)
    assert torch.all(error <= scale / 2 * (1 + 1e-5))  # (1 + 1e-5): w / scale is rounded in float32 first
    assert torch.all(restored.reshape(shape[0], -1)[~nonzero] == 0)  # zeros, not nan


def test_a_stack_of_matrices_has_a_scale_per_row_of_each():
    from tts.models.storage import dequantize_rows, quantize_rows

    torch.manual_seed(0)
    heads = torch.randn(3, 40, 16) * torch.logspace(-3, 1, 3 * 40).reshape(3, 40, 1)  # every row its own range
    q, scale = quantize_rows(heads, row_dims=2)
    assert q.shape == heads.shape and scale.shape == (3, 40)
    assert torch.equal(scale, heads.abs().amax(dim=2) / 127)
    error = (dequantize_rows(q, scale) - heads).abs().amax(dim=2)
    assert torch.all(error <= scale / 2 * (1 + 1e-5))
    assert not torch.equal(quantize_rows(heads)[0], q)  # one scale per matrix would round the small rows away


def test_a_codecs_running_sums_come_back_as_entry_times_count():
    from tts.models.codec_model import with_running_sums, without_running_sums

    state = {"vq.layers.0._codebook.embed": torch.randn(8, 4), "vq.layers.0._codebook.cluster_size": torch.rand(8),
             "vq.layers.0._codebook.embed_avg": torch.randn(8, 4), "vq.layers.0._codebook.inited": torch.ones(1)}
    exported = without_running_sums(state)
    assert set(exported) == set(state) - {"vq.layers.0._codebook.embed_avg"}
    back = with_running_sums(exported)
    assert set(back) == set(state)
    assert torch.allclose(back["vq.layers.0._codebook.embed_avg"],
                          state["vq.layers.0._codebook.embed"] * state["vq.layers.0._codebook.cluster_size"][:, None])
    assert with_running_sums(state)["vq.layers.0._codebook.embed_avg"] is state["vq.layers.0._codebook.embed_avg"]


def test_int8_storage_keeps_only_the_layers_weights_as_int8():
    from tts.models.storage import restored, store

    torch.manual_seed(0)
    state = {"proj.weight": torch.randn(64, 64), "conv.weight_v": torch.randn(32, 16, 8),
             "ups.0.parametrizations.weight.original1": torch.randn(16, 32, 8),
             "proj.bias": torch.randn(4096), "norm.weight": torch.randn(4096), "small.weight": torch.randn(32, 64),
             "vq._codebook.embed": torch.randn(256, 64), "heads": torch.randn(3, 64, 32),
             "steps": torch.tensor([5, 6])}
    kept, scales = store(state, "int8")
    assert set(scales) == {"proj.weight", "conv.weight_v", "ups.0.parametrizations.weight.original1", "heads"}
    assert scales["heads"].shape == (3, 64) and scales["conv.weight_v"].shape == (32,)  # a row of each head
    assert {key: kept[key].dtype for key in state} == {
        **{key: torch.int8 for key in scales}, "steps": torch.int64,
        **{key: torch.float16 for key in ("proj.bias", "norm.weight", "small.weight", "vq._codebook.embed")}}
    back = restored({"storage": "int8", "modules": {"model": kept}, "scales": {"model": scales}})
    for key in scales:
        assert torch.allclose(back["modules"]["model"][key], state[key], atol=state[key].abs().max() / 254 * 1.001)
    assert store(state, "fp32")[0]["proj.weight"] is state["proj.weight"] and store(state, "fp16")[1] == {}
    with pytest.raises(ValueError, match="'int4'.*fp16, fp32, int8"):
        restored({"storage": "int4", "modules": {}})
    with pytest.raises(ValueError, match="no scales"):
        restored({"storage": "int8", "modules": {"model": kept}})


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
    result = CliRunner().invoke(app, ["export", str(runs["durations"]), str(out), "--dtype", "int4"])
    assert result.exit_code == 1 and "use fp16, fp32, int8" in result.output


def test_an_export_takes_new_decoding_defaults_and_only_those(runs, tmp_path):
    """--set synthesis.KEY=VALUE changes what the voice speaks with by default (recipe.yaml and the checkpoints'
    recipes, which synthesis reads); any other key, or a bad value, is refused by name and writes nothing."""
    from tts.config import load_recipe
    from tts.synthesize import Synthesizer

    out = tmp_path / "voice"
    result = CliRunner().invoke(app, ["export", str(runs["durations"]), str(out), "--set", "synthesis.pace=1.5"])
    assert result.exit_code == 0, result.output
    slow, plain = Synthesizer.from_run(out), Synthesizer.from_run(runs["durations"])
    assert slow.recipe.synthesis.pace == 1.5 and plain.recipe.synthesis.pace == 1.0  # the recipe's
    assert load_recipe(out / "recipe.yaml").synthesis.pace == 1.5
    assert json.loads((out / "export.json").read_text())["synthesis_set"] == ["synthesis.pace=1.5"]
    prompt = slow.prompt_from_speaker("102")
    spoken = slow.synthesize(TEXT, prompt).wav
    assert np.array_equal(spoken, slow.synthesize(TEXT, prompt, slow.options(pace=1.5)).wav)
    assert spoken.shape != slow.synthesize(TEXT, prompt, slow.options(pace=0.25)).wav.shape
    for bad, said in ((["--set", "durations.width=8"], "only decoding defaults"),
                      (["--set", "synthesis.pace=0"], "synthesis.pace"),
                      (["--set", "synthesis.speed=2"], "unknown key")):
        result = CliRunner().invoke(app, ["export", str(runs["durations"]), str(tmp_path / "bad"), *bad])
        assert result.exit_code == 1 and said in result.output, result.output
        assert not (tmp_path / "bad").exists()
    # the keys are checked before the run is loaded: a folder with no models still gets the key's message
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["export", str(tmp_path / "empty"), str(tmp_path / "bad"), "--set", "ar.width=8"])
    assert result.exit_code == 1 and "only decoding defaults" in result.output, result.output


def test_an_earlier_export_is_replaced_whole(runs, tmp_path):
    from tts.export import export_run

    out = tmp_path / "voice"
    export_run(runs["ar"], out)
    export_run(runs["durations"], out)  # another chain into the same folder: nothing of the first stays
    assert set(_checkpoints(out)) == CHAIN_STAGES["durations"]
    assert not (tmp_path / ".voice.partial").exists()


def test_a_retired_durations_vocoder_is_named_and_the_run_speaks_through_its_vocoder(durations_run, tmp_path, caplog):
    """A run trained with the retired stage durations_vocoder loads, says that durations_vocoder/ is not used,
    and speaks and exports through vocoder/; its mel codec, which only encodes prompts, needs no vocoder of its
    own."""
    from tts.export import export_run
    from tts.synthesize import Synthesizer

    run = _linked(durations_run, tmp_path / "run", ["durations", "codec", "prepared", "vocoder"])
    (run / "durations_vocoder").mkdir()
    shutil.copyfile(durations_run / "vocoder" / "best.pt", run / "durations_vocoder" / "best.pt")
    with caplog.at_level("WARNING"):
        synthesizer = Synthesizer.from_run(run)
    assert "durations_vocoder/ is a retired stage's vocoder" in caplog.text
    assert synthesizer.chain.vocoder.source == run / "vocoder" / "best.pt"
    assert len(synthesizer.synthesize(TEXT, synthesizer.prompt_from_speaker("102")).wav) > 0
    assert set(_checkpoints(export_run(run, tmp_path / "voice").folder)) == {"durations", "vocoder", "codec"}


def test_a_trained_refiner_speaks_between_the_durations_model_and_the_vocoder(durations_run, tmp_path):
    """A run with refiner/ refines the durations model's log-mels before its vocoder (synthesis.refiner_steps
    Euler steps); the export carries the refiner."""
    from tts.export import export_run
    from tts.synthesize import Synthesizer
    from tts.train.stages import train_stages

    run = _linked(durations_run, tmp_path / "run", ["durations", "codec", "prepared", "aligner", "vocoder"])
    recipe = load_recipe(ROOT / "recipes" / "offline_durations.yaml", durations_settings(run))
    train_stages(recipe, ["refiner"])
    out = export_run(run, tmp_path / "voice").folder
    assert set(_checkpoints(out)) == {"durations", "refiner", "vocoder", "codec"}
    synthesizer = Synthesizer.from_run(out)
    chain = synthesizer.chain
    assert chain.refiner is not None and synthesizer.steps["refiner"] == 2
    assert chain.vocoder.source == out / "vocoder" / "best.pt"
    result = synthesizer.synthesize(TEXT, synthesizer.prompt_from_speaker("102"))
    assert len(result.wav) > 0 and "refiner" in result.timings
    one_step = synthesizer.synthesize(TEXT, synthesizer.prompt_from_speaker("102"), synthesizer.options(refiner_steps=1))
    assert one_step.wav.shape == result.wav.shape and not np.array_equal(one_step.wav, result.wav)
    quantized = Synthesizer.from_run(out, quantize="int8")  # the transformer's linear layers; the refiner stays
    assert len(quantized.synthesize(TEXT, quantized.prompt_from_speaker("102")).wav) > 0

    plain = _linked(durations_run, tmp_path / "plain", ["durations", "codec", "prepared", "aligner", "vocoder"])
    assert Synthesizer.from_run(plain).chain.refiner is None


def test_synthesize_decodes_through_the_vocoder_it_is_given(runs, tmp_path):
    """--vocoder replaces the run's mel vocoder: the same weights speak the same samples, other weights other
    ones; a run whose codec writes samples itself (the demo's waveform codec) refuses it by name."""
    checkpoint = torch.load(runs["durations"] / "vocoder" / "best.pt", map_location="cpu", weights_only=False)
    for name, tensor in checkpoint["modules"]["generator"].items():
        if torch.is_floating_point(tensor):
            checkpoint["modules"]["generator"][name] = tensor * 1.5
    other = tmp_path / "other" / "best.pt"
    other.parent.mkdir()
    torch.save(checkpoint, other)
    spoken = {}
    for label, extra in (("run", []), ("same", ["--vocoder", str(runs["durations"] / "vocoder")]),
                         ("other", ["--vocoder", str(other)])):
        out = tmp_path / f"{label}.wav"
        result = CliRunner().invoke(app, ["synthesize", TEXT, str(out), "--model", str(runs["durations"]), *extra])
        assert result.exit_code == 0, result.output
        spoken[label] = sf.read(out)[0]
    np.testing.assert_array_equal(spoken["same"], spoken["run"])
    assert spoken["other"].shape == spoken["run"].shape and not np.allclose(spoken["other"], spoken["run"])
    result = CliRunner().invoke(app, ["synthesize", TEXT, str(tmp_path / "x.wav"), "--model", str(runs["ar"]),
                                      "--vocoder", str(other)])
    assert result.exit_code == 1 and "writes samples itself" in result.output
    result = CliRunner().invoke(app, ["synthesize", TEXT, str(tmp_path / "x.wav"), "--model", str(runs["durations"]),
                                      "--vocoder", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no vocoder checkpoint" in result.output


def test_a_checkpoint_of_another_phone_inventory_is_refused_by_name(exports, tmp_path):
    """Phone ids are the checkpoint's: a model trained on another inventory would read every phone as another."""
    from tts.synthesize import Synthesizer

    folder = tmp_path / "voice"
    shutil.copytree(exports["ar", "fp16"], folder)
    path = folder / "ar" / "best.pt"
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    symbols = list(checkpoint["symbols"])
    symbols[5], symbols[6] = symbols[6], symbols[5]
    torch.save({**checkpoint, "symbols": symbols}, path)
    with pytest.raises(ValueError, match=f"{folder / 'ar'}: the checkpoint's phone inventory differs"):
        Synthesizer.from_run(folder)
