"""Recipes load into typed config; bad keys, types and values fail with the dotted key."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from tts.config import (ConfigError, Recipe, load_recipe, parse_override, recipe_from_dict,
                        save_recipe)

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))


def test_defaults_validate():
    recipe = recipe_from_dict({})
    assert isinstance(recipe, Recipe)
    assert recipe.codec.hop_length == 320
    assert recipe.codec_frame_rate == 50.0


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_shipped_recipes_load(path):
    recipe = load_recipe(path)
    assert recipe.vocoder.upsampling == recipe.audio.hop_length
    assert recipe.codec_hop % recipe.audio.hop_length == 0


def test_shipped_recipes_exist():
    names = {p.stem for p in RECIPES}
    assert {"demo", "offline", "ljspeech", "libritts", "vctk"} <= names


@pytest.mark.parametrize("data, key, fragment", [
    ({"audio": {"sample_rte": 16000}}, "audio.sample_rte", "valid keys here are"),
    ({"bogus": 1}, "bogus", "unknown key"),
    ({"audio": {"sample_rate": "16k"}}, "audio.sample_rate", "expected int"),
    ({"audio": {"sample_rate": 16000.5}}, "audio.sample_rate", "expected int"),
    ({"audio": {"hop_length": 150}}, "audio.hop_length", "divisor of the codec hop"),
    ({"vocoder": {"upsample_rates": [8, 8, 2]}}, "vocoder.upsample_rates", "equals audio.hop_length"),
    ({"codec": {"kind": "soundstream"}}, "codec.kind", "one of"),
    ({"codec": {"kind": "encodec_24khz"}}, "audio.sample_rate", "24000"),
    ({"codec": {"kind": "encodec_24khz", "bandwidth": 5.0}, "audio": {"sample_rate": 24000}},
     "codec.bandwidth", "1.5, 3, 6, 12, 24"),
    ({"ar": {"width": 100, "heads": 3}}, "ar.heads", "divisor of width"),
    ({"ar": {"train": {"lr": -1}}}, "ar.train.lr", "positive"),
    ({"ar": {"mel_loss": 0.5}}, "ar.mel_loss", "unknown key"),
    ({"nar": {"guided_attention": 1.0}}, "nar.guided_attention", "valid keys here are"),  # the AR's (retired) key
    ({"nar": {"predict": "mel"}}, "nar.predict", "retired key"),
    ({"durations": {"width": 100, "heads": 3}}, "durations.heads", "divisor of width"),
    ({"durations": {"prompt_seconds": -1.0}}, "durations.prompt_seconds", ">= 0 seconds"),
    ({"durations": {"condition": "durations"}}, "durations.condition", "unknown key"),
    ({"stages": ["codec", "durations"]}, "stages", "aligner before durations"),
    ({"stages": ["codec", "durations", "aligner"]}, "stages", "aligner before durations"),
    ({"stages": ["vocoder", "nar_vocoder"]}, "stages", "drawn from"),
    ({"stages": ["vocoder", "codec", "aligner", "ar", "chain_vocoder", "nar"]}, "stages", "nar before chain_vocoder"),
    ({"stages": ["aligner", "ar", "nar", "chain_vocoder"], "codec": {"kind": "encodec_24khz"},
      "audio": {"sample_rate": 24000}}, "stages", "without chain_vocoder"),
    ({"stages": ["codec", "ar", "aligner", "nar"]}, "stages", "aligner before ar"),
    ({"aligner": {"kernel": 4}}, "aligner.kernel", "odd"),
    ({"nar": {"level2_share": 0}}, "nar.level2_share", "(0, 1]"),
    ({"ar": {"level2_share": 0.5}}, "ar.level2_share", "unknown key"),
    ({"aligner": {"train": {"batch_tokens": 0}}}, "aligner.train.batch_tokens", "> 0"),
    ({"synthesis": {"ar_decode": "sample"}}, "synthesis.ar_decode", "unknown key"),
    ({"synthesis": {"pace": 0}}, "synthesis.pace", "> 0"),
    ({"ar": {"train": {"betas": [0.9]}}}, "ar.train.betas", "list of 2"),
    ({"nar": {"train": {"precision": "fp16"}}}, "nar.train.precision", "one of"),
    ({"data": {"max_duration": 0.1}}, "data.max_duration", "min_duration"),
    ({"stages": ["ar", "diffusion"]}, "stages", "drawn from"),
    ({"synthesis": {"top_p": 0}}, "synthesis.top_p", "(0, 1]"),
    ({"audio": "loud"}, "audio", "a mapping"),
    ({"text": {"keep_punctuation": "yes"}}, "text.keep_punctuation", "bool"),
])
def test_bad_values_name_the_key(data, key, fragment):
    with pytest.raises(ConfigError) as info:
        recipe_from_dict(data)
    assert info.value.key == key
    assert fragment in str(info.value)
    assert f"'{key}'" in str(info.value)


def test_error_names_the_file(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("audio:\n  n_mels: -3\n")
    with pytest.raises(ConfigError, match=r"r\.yaml: recipe key 'audio\.n_mels' = -3"):
        load_recipe(path)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("audio: [1, 2\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_recipe(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        load_recipe(scalar)


def test_base_recipe_is_laid_under_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "base.yaml").write_text("name: base\nstages: [codec, ar]\nar:\n  width: 64\n  train:\n    lr: 3e-4\n")
    child = tmp_path / "sub" / "child.yaml"
    child.write_text("base: ../base.yaml\nname: child\nstages: [codec]\nar:\n  train:\n    max_steps: 7\n")
    recipe = load_recipe(child, ["ar.heads=2"])
    assert recipe.name == "child" and recipe.stages == ("codec",)  # a list replaces the base's
    assert recipe.ar.width == 64 and recipe.ar.heads == 2  # sections merge key by key
    assert recipe.ar.train.lr == pytest.approx(3e-4) and recipe.ar.train.max_steps == 7


def test_base_recipe_errors_name_the_file(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("base: missing.yaml\n")
    with pytest.raises(FileNotFoundError, match=r"child\.yaml: base: .*missing\.yaml does not exist"):
        load_recipe(child)
    child.write_text("base: [1]\n")
    with pytest.raises(ConfigError, match=r"child\.yaml: recipe key 'base'"):
        load_recipe(child)
    (tmp_path / "a.yaml").write_text("base: child.yaml\n")
    child.write_text("base: a.yaml\n")
    with pytest.raises(ValueError, match="loop"):
        load_recipe(child)
    (tmp_path / "a.yaml").write_text("audio:\n  n_mels: -3\n")
    with pytest.raises(ConfigError, match=r"child\.yaml: recipe key 'audio\.n_mels' = -3"):
        load_recipe(child)


@pytest.mark.parametrize("text, key, value", [
    ("ar.train.lr=3e-4", "ar.train.lr", 3e-4),
    ("codec.strides=[8, 5, 4, 4]", "codec.strides", [8, 5, 4, 4]),
    ("audio.f_max=null", "audio.f_max", None),
    ("name=my run", "name", "my run"),
    ("text.keep_punctuation=false", "text.keep_punctuation", False),
])
def test_parse_override(text, key, value):
    assert parse_override(text) == (key, value)


def test_override_applies_and_validates():
    recipe = recipe_from_dict({}, ["ar.train.lr=3e-4", "codec.strides=[8,5,4,4]", "audio.hop_length=320",
                                   "vocoder.upsample_rates=[8,5,4,2]"])
    assert recipe.ar.train.lr == pytest.approx(3e-4)
    assert recipe.codec_hop == 640 and recipe.codec_frame_rate == 25.0
    with pytest.raises(ConfigError, match="ar.train.lrr"):
        recipe_from_dict({}, ["ar.train.lrr=1"])
    with pytest.raises(ValueError, match="section.key=value"):
        recipe_from_dict({}, ["lr"])


def test_float_strings_from_yaml_become_floats(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("ar:\n  train:\n    lr: 3e-4\n")
    assert load_recipe(path).ar.train.lr == pytest.approx(3e-4)


def test_save_roundtrip(tmp_path):
    recipe = recipe_from_dict({"name": "x", "codec": {"strides": [8, 5, 4, 4]}}, ["audio.hop_length=320", "vocoder.upsample_rates=[8,5,4,2]"])
    save_recipe(recipe, tmp_path / "out" / "recipe.yaml")
    again = load_recipe(tmp_path / "out" / "recipe.yaml")
    assert again == recipe
    assert yaml.safe_load((tmp_path / "out" / "recipe.yaml").read_text())["codec"]["strides"] == [8, 5, 4, 4]


def test_recipe_is_frozen():
    recipe = recipe_from_dict({})
    with pytest.raises(Exception):
        recipe.audio.sample_rate = 8000  # type: ignore[misc]


def test_partial_section_keeps_that_sections_defaults():
    recipe = recipe_from_dict({"vocoder": {"train": {"lr": 1e-4}}, "codec": {"train": {"max_steps": 5}}})
    assert recipe.vocoder.train.lr == pytest.approx(1e-4)
    assert recipe.vocoder.train.schedule == "constant" and recipe.vocoder.train.betas == (0.8, 0.99)
    assert recipe.codec.train.max_steps == 5 and recipe.codec.train.warmup_steps == 500


def test_each_model_section_has_its_own_keys():
    from tts.config import ARConfig, DurationsConfig, NARConfig

    recipe = recipe_from_dict({"stages": ["vocoder", "codec", "aligner", "durations"],
                               "durations": {"width": 64, "train": {"max_steps": 7}}})
    assert isinstance(recipe.ar, ARConfig) and isinstance(recipe.nar, NARConfig)
    assert isinstance(recipe.durations, DurationsConfig)
    assert recipe.durations.width == 64 and recipe.durations.train.max_steps == 7 and recipe.nar.width == 256
    tuned = recipe.tuned_vocoder_recipe("chain_vocoder")
    assert tuned.stages == ("vocoder",) and tuned.vocoder.input == "mel"
    assert tuned.vocoder.train == dataclasses.replace(recipe.vocoder.chain_train,
                                                      init_from=str(Path(recipe.output_dir) / "vocoder" / "best.pt"))


def test_a_retired_key_loads_at_its_kept_value_and_names_where_the_others_went():
    """Recipes and checkpoints of AR runs trained with ar.alignment: window are the AR of today."""
    assert recipe_from_dict({"ar": {"alignment": "window", "width": 64}}).ar.width == 64
    for lost in ("pointer", "none"):
        with pytest.raises(ConfigError, match=f"'ar.alignment' = '{lost}' .*retired key.*ar-pointer-without-window"):
            recipe_from_dict({"ar": {"alignment": lost}})
    assert recipe_from_dict({"nar": {"predict": "codes", "condition": "codebook1"}}).nar == recipe_from_dict({}).nar
    assert recipe_from_dict({"ar": {"guided_attention": 1.0}}).ar == recipe_from_dict({}).ar  # training-only: any value
    with pytest.raises(ConfigError, match="'nar.predict' = 'mel' .*stage durations"):
        recipe_from_dict({"nar": {"predict": "mel"}})
    assert recipe_from_dict({"synthesis": {"decoder": "codec"}}).synthesis == recipe_from_dict({}).synthesis
    with pytest.raises(ConfigError, match="'synthesis.decoder' = 'vocoder' .*retired key.*its own mel vocoder"):
        recipe_from_dict({"synthesis": {"decoder": "vocoder"}})


def test_the_ar_needs_the_aligner_first():
    """The AR's pointer learns the aligner's durations: a recipe with both trains the aligner first."""
    assert recipe_from_dict({"stages": ["codec", "aligner", "ar", "nar"]}).stages == ("codec", "aligner", "ar", "nar")
    assert recipe_from_dict({"stages": ["codec", "ar", "nar"]}).stages == ("codec", "ar", "nar")  # trained apart


def test_keys_of_removed_training_modes_load_from_older_runs_and_name_their_page():
    """A run trained before a mode left (its recipe.yaml and checkpoints) still loads; a lost mode is refused."""
    from tts.config.loading import RETIRED

    old = {"vocoder": {"source": False, "phase_loss_weight": 3.0}, "refiner": {"steps": 10},
           "durations": {"adversarial_weight": 0.1, "discriminator_channels": 32, "pitch": False,
                         "phone_context": False, "width": 64}}
    recipe = recipe_from_dict(old)
    assert recipe.vocoder == recipe_from_dict({}).vocoder and recipe.durations.width == 64
    with pytest.raises(ConfigError, match=r"'vocoder.source' = True .*retired key.*experiments/vocoder-source.md"):
        recipe_from_dict({"vocoder": {"source": True}})
    with pytest.raises(ConfigError, match=r"'durations.pitch' = True .*experiments/durations-pitch.md"):
        recipe_from_dict({"durations": {"pitch": True}})
    # set anew on the command line, a retired key is refused rather than silently doing nothing
    with pytest.raises(ConfigError, match=r"'vocoder.phase_loss_weight' = 3.0 .*retired key.*vocoder-phase-loss.md"):
        recipe_from_dict({}, ["vocoder.phase_loss_weight=3.0"])
    assert recipe_from_dict({}, ["durations.pitch=false"]) == recipe_from_dict({})  # the kept value: a no-op
    with pytest.raises(ConfigError, match=r"'durations.pitch' = True .*retired key"):
        recipe_from_dict({}, ["durations.pitch=true"])
    root = Path(__file__).resolve().parents[2]
    pages = [page.rstrip(",:;)") for _, why in RETIRED.values() for page in why.split() if page.startswith("docs/")]
    assert len(pages) >= 6 and all((root / page).is_file() for page in pages)


def test_a_retired_stage_leaves_the_stages_of_an_older_run_and_cannot_be_set_anew():
    """Runs trained with stage durations_vocoder (and its vocoder sections) load without it."""
    from tts.config.recipe import RETIRED_STAGES

    old = recipe_from_dict({"stages": ["vocoder", "codec", "aligner", "durations", "durations_vocoder"],
                            "vocoder": {"durations_utterances": 4000, "durations_train": {"max_steps": 16000}}})
    assert old.stages == ("vocoder", "codec", "aligner", "durations") and old.vocoder == recipe_from_dict({}).vocoder
    with pytest.raises(ConfigError, match="'stages' .*drawn from"):
        recipe_from_dict({}, ["stages=[vocoder, durations_vocoder]"])
    with pytest.raises(ConfigError, match=r"'vocoder.durations_train.max_steps' = 8 .*retired key.*durations-vocoder"):
        recipe_from_dict({}, ["vocoder.durations_train.max_steps=8"])
    root = Path(__file__).resolve().parents[2]
    for why in RETIRED_STAGES.values():
        assert all((root / p.rstrip(",:;)")).is_file() for p in why.split() if p.startswith("docs/"))


def test_a_recipe_file_given_to_a_command_warns_of_its_retired_keys(tmp_path, caplog):
    """A retired key in a recipe file loads (run folders keep theirs) but, given to prepare, train or run, is
    named with its page; a run folder's recipe.yaml loads quietly."""
    import logging

    from tts.config import load_recipe

    path = tmp_path / "mine.yaml"
    path.write_text("stages: [vocoder, durations_vocoder]\nrefiner:\n  steps: 10\nvocoder:\n  phase_loss_weight: 2.0\n"
                    "  mel_loss_bands: 256\n")
    with caplog.at_level(logging.WARNING, logger="tts.config.loading"):
        quiet = load_recipe(path)
        assert not caplog.records
        loud = load_recipe(path, warn_retired=True)
    assert loud == quiet and quiet.vocoder.mel_loss_bands == 256
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 3 and "'refiner.steps' is retired (the mel refiner's Euler steps" in said[0]
    assert "'vocoder.phase_loss_weight'" in said[1] and "delete the line" in said[1]
    assert "stage 'durations_vocoder' is retired" in said[2] and quiet.stages == ("vocoder",)
