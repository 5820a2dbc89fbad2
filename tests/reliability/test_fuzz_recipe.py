"""Recipe loading under random input: any mapping, file text or override either loads or fails with a
ConfigError / ValueError / FileNotFoundError that says something; never a TypeError, KeyError, AttributeError
or a YAML exception."""

from __future__ import annotations

import dataclasses

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tts.config import ConfigError, Recipe, load_recipe, recipe_from_dict

SECTIONS = [f.name for f in dataclasses.fields(Recipe)]
KEYS = sorted({f.name for section in (Recipe(), *(getattr(Recipe(), s) for s in SECTIONS))
               if dataclasses.is_dataclass(section) for f in dataclasses.fields(section)} | {"train", "lr"})
FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

names = st.sampled_from(SECTIONS + KEYS) | st.text(max_size=8)
scalars = (st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=12) | st.sampled_from(["3e-4", "cpu", "trained", "mel", "", "nan", "-inf"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
                      max_leaves=12)
recipes = st.dictionaries(names, values, max_size=6)
override_texts = st.lists(st.builds(lambda k, v: f"{k}={v}", st.lists(names, min_size=1, max_size=3).map(".".join),
                                    st.text(max_size=10) | scalars.map(str)) | st.text(max_size=15), max_size=3)


def _loads_or_explains(call) -> None:
    try:
        recipe = call()
    except (ConfigError, ValueError, FileNotFoundError) as err:
        assert str(err).strip(), repr(err)
    else:
        assert isinstance(recipe, Recipe)


@FUZZ
@given(recipes, override_texts)
@example({"ar": {"train": 1}}, ["ar.train.lr=[1,2", "stages=&x [*x]"])
@example({"ar": [1]}, ["ar.train.lr=3e-4"])
def test_random_mappings_and_overrides_load_or_explain(data, overrides):
    _loads_or_explains(lambda: recipe_from_dict(data, overrides))


@FUZZ
@given(st.one_of(recipes.map(lambda d: yaml.safe_dump(d, sort_keys=False)),
                 st.text(alphabet=st.sampled_from(list("ab:-[]{},'\"#&*!|>\n  \t0123.e")), max_size=60)),
       override_texts)
@example("stages: &x [codec, *x]\n", [])
@example("a: &x {b: *x}\n", [])
@example("audio:\n  trim_db: 1\naudio: {}\n", [])
def test_random_recipe_files_load_or_explain(tmp_path_factory, text, overrides):
    path = tmp_path_factory.mktemp("fuzz") / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    _loads_or_explains(lambda: load_recipe(path, overrides))
