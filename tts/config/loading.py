"""Reading a recipe: YAML, `key.sub=value` overrides, type checks against the dataclasses."""

from __future__ import annotations

import dataclasses
import logging
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from tts.config.base import ConfigError
from tts.config.recipe import RETIRED_STAGES, Recipe

log = logging.getLogger(__name__)


class DuplicateKeyError(ValueError):
    """A YAML mapping that names one key twice (YAML itself would keep the last silently), or an alias
    inside what it names."""


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping, at any depth, naming both lines."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *anchor` merges may be overridden on purpose
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:
                    continue  # an unhashable key: SafeLoader's own error names it
                if first != key_node.start_mark.line + 1:
                    dotted = ".".join(str(k) for k in (*self._path(node), key))
                    raise DuplicateKeyError(f"key '{dotted}' appears twice in one mapping, at lines {first} and "
                                            f"{key_node.start_mark.line + 1}; keep one")
        return super().construct_mapping(node, deep=deep)

    def _path(self, node: yaml.Node) -> list[Any]:
        """The keys leading to `node` from the document root (empty where it cannot be told)."""
        path: list[Any] = []
        target = node
        while True:
            parent = self._parents.get(id(target)) if hasattr(self, "_parents") else None
            if parent is None:
                return path[::-1]
            key, target = parent
            path.append(key)

    def compose_document(self) -> yaml.Node:
        root = super().compose_document()
        self._parents: dict[int, tuple[Any, yaml.Node]] = {}
        self._walk(root, set(), set())
        return root

    def _walk(self, node: yaml.Node, ancestors: set[int], done: set[int]) -> None:
        """Note each value's parent key; refuse an alias inside the structure it names (a cycle)."""
        if id(node) in ancestors:
            raise DuplicateKeyError(f"line {node.start_mark.line + 1}: an alias (*name) stands inside the very "
                                    "mapping or list it names, which never ends; write the values out")
        if id(node) in done:
            return  # an alias to a part already walked
        ancestors.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    self._parents[id(value_node)] = (key_node.value, node)
                self._walk(key_node, ancestors, done)
                self._walk(value_node, ancestors, done)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self._walk(item, ancestors, done)
        ancestors.discard(id(node))
        done.add(id(node))


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} values"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str, base: Any = None) -> Any:
    """Check `value` against the annotation `tp` and convert lists to tuples.

    `base` is the field's default; a partial mapping for a nested section keeps the rest of it
    (so `codec.train: {lr: ...}` keeps the codec's own training defaults, not TrainConfig's).
    """
    origin = typing.get_origin(tp)
    bad = ConfigError(key, value, f"expected {_type_name(tp)}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad
        return _build(tp, value, key, base)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise bad
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise bad
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise bad
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")  # a bug in this file


# Keys that left the recipes: {dotted key: (the value the code now always follows, where the others went)}.
# A recipe (or a checkpoint's) that sets the kept value loads without it; any other value is an error.
# A kept value of None: a training-only key whose every value loads (the trained model is the same kind).
RETIRED = {"ar.alignment": ("window", "the AR always has the phone pointer and its attention window; "
                                      "docs/experiments/ar-alignment-none.md, ar-pointer-without-window.md"),
           "nar.predict": ("codes", "the NAR always predicts codes; the model over log-mels is stage durations "
                                    "(recipe section durations:, docs/durations.md)"),
           "nar.condition": ("codebook1", "the NAR always reads codebook 1; the model at phone durations is stage "
                                          "durations (recipe section durations:, docs/durations.md)"),
           "synthesis.decoder": ("codec", "the AR chain decodes through its codec, a mel-domain codec through "
                                          "its own mel vocoder (codec.vocoder)"),
           "ar.guided_attention": (None, "the AR's attention window keeps it on its phones: "
                                         "docs/experiments/ar-guided-attention.md"),
           "vocoder.phase_loss_weight": (None, "docs/experiments/vocoder-phase-loss.md"),
           "vocoder.source": (False, "the generator has no source-filter excitation: "
                                     "docs/experiments/vocoder-source.md"),
           "refiner.steps": (None, "the mel refiner's Euler steps are a synthesis option, synthesis.refiner_steps: "
                                   "docs/refiner.md"),
           "vocoder.durations_train": (None, "docs/experiments/durations-vocoder.md"),
           "vocoder.durations_utterances": (None, "docs/experiments/durations-vocoder.md"),
           "durations.adversarial_weight": (None, "docs/experiments/durations-mel-adversarial.md"),
           "durations.discriminator_channels": (None, "docs/experiments/durations-mel-adversarial.md"),
           "durations.pitch": (False, "the durations model reads no pitch: docs/experiments/durations-pitch.md"),
           "durations.phone_context": (False, "the durations model's frames see their phone and place in it: "
                                              "docs/experiments/durations-phone-context.md")}


def _build(cls: type, data: dict[str, Any], prefix: str = "", base: Any = None) -> Any:
    hints = typing.get_type_hints(cls)
    defaults = base if base is not None else cls()
    names = [f.name for f in dataclasses.fields(cls)]
    data = dict(data)
    for key in list(data):
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in names and dotted in RETIRED:
            kept, why = RETIRED[dotted]
            value = data.pop(key)
            if kept is not None and value != kept:
                raise ConfigError(dotted, value, f"a retired key ({why}); delete the line")
        elif key not in names:
            raise ConfigError(dotted, data[key], "unknown key; valid keys here are " + ", ".join(names))
    kwargs = {}
    for name in names:
        if name in data:
            dotted = f"{prefix}.{name}" if prefix else name
            kwargs[name] = _coerce(data[name], hints[name], dotted, getattr(defaults, name))
    obj = dataclasses.replace(defaults, **kwargs)
    if hasattr(obj, "validate"):
        try:
            obj.validate()
        except ConfigError as err:
            dotted = f"{prefix}.{err.key}" if prefix else err.key
            raise ConfigError(dotted, err.value, err.allowed) from None
    return obj


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(dotted, value, f"'{part}' is not a section")
        node = child
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one `--set key.sub=value` override; the value is read as YAML (3e-4, [8, 5], null)."""
    key, sep, raw = text.partition("=")
    form = "section.key=value with a YAML value, e.g. ar.train.lr=3e-4 or codec.strides=[8,5,4,2]"
    if not sep or not key.strip():
        raise ValueError(f"override {text!r} must look like {form}")
    try:
        value = yaml.load(raw, Loader=UniqueKeyLoader) if raw.strip() else ""
    except (yaml.YAMLError, DuplicateKeyError) as err:
        problem = str(err).splitlines()[0]
        raise ValueError(f"override {text!r}: its value is not valid YAML ({problem}); it must look like {form} "
                         "(quote it in the shell)") from None
    if isinstance(value, str) and _looks_like_float(value):  # YAML 1.1 reads '3e-4' as a string
        value = float(value)
    return key.strip(), value


def _looks_like_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return any(c in text.lower() for c in "e.") and text.strip().lower() not in ("nan", "inf", "-inf")


def _float_fix(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _float_fix(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_float_fix(v) for v in node]
    if isinstance(node, str) and _looks_like_float(node):
        return float(node)
    return node


def recipe_from_dict(data: dict[str, Any], overrides: tuple[str, ...] | list[str] = (),
                     source: str | None = None) -> Recipe:
    """Build and validate a Recipe from a plain mapping plus `key=value` overrides."""
    data = _float_fix(data)
    stages = data.get("stages")
    if isinstance(stages, list) and any(s in RETIRED_STAGES for s in stages):
        data = {**data, "stages": [s for s in stages if s not in RETIRED_STAGES]}
    for text in overrides:
        key, value = parse_override(text)
        retired = next((k for k in RETIRED if key == k or key.startswith(k + ".")), None)
        if retired and RETIRED[retired][0] is None:  # older runs load with it; set anew it would do nothing
            raise ConfigError(key, value, f"a retired key ({RETIRED[retired][1]}); it no longer changes anything, "
                                          "so leave out this --set", source)
        _set_dotted(data, key, value)
    try:
        recipe = _build(Recipe, data)
        recipe.validate()
    except ConfigError as err:
        if source:
            raise ConfigError(err.key, err.value, err.allowed, source) from None
        raise
    return recipe


def load_recipe(path: str | Path, overrides: tuple[str, ...] | list[str] = (), warn_retired: bool = False) -> Recipe:
    """Load a YAML recipe, apply overrides, validate; errors name the file and the dotted key.

    A recipe may start with `base: other.yaml` (a path relative to its own folder): it is that recipe with
    this file's keys laid over it, section by section (a list replaces the base's list). `warn_retired`: a
    retired key in it (which loads, as run folders written before it left must) is logged as a warning.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe {path} does not exist; the shipped ones are in recipes/")
    data = _read_with_base(path, ())
    if warn_retired:
        for key in retired_keys(data):
            log.warning("%s: recipe key %r is retired (%s) and changes nothing; delete the line", path, key,
                        RETIRED[key][1])
        for stage in [s for s in data.get("stages") or [] if s in RETIRED_STAGES]:
            log.warning("%s: stage %r is retired (%s) and is skipped; delete it from stages", path, stage,
                        RETIRED_STAGES[stage])
    return recipe_from_dict(data, overrides, source=str(path))


def retired_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys of a recipe mapping that RETIRED lists."""
    found = []
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if dotted in RETIRED:
            found.append(dotted)
        elif isinstance(value, dict):
            found += retired_keys(value, dotted)
    return found


def _read_with_base(path: Path, children: tuple[Path, ...]) -> dict[str, Any]:
    data = _read_mapping(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base.strip():
        raise ConfigError("base", base, "the path of another recipe, relative to this one's folder", str(path))
    base_path = path.parent / base
    if not base_path.is_file():
        raise FileNotFoundError(f"{path}: base: {base_path} does not exist (the path is relative to {path.parent})")
    if base_path.resolve() in {p.resolve() for p in (*children, path)}:
        raise ValueError(f"{path}: base: {base} leads back to a recipe already read; the bases form a loop")
    return _lay_over(_read_with_base(base_path, (*children, path)), data)


def _lay_over(base: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in data.items():
        inner = merged.get(key)
        merged[key] = _lay_over(inner, value) if isinstance(value, dict) and isinstance(inner, dict) else value
    return merged


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except DuplicateKeyError as err:
        raise ValueError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from None
    if data is None or data == {}:
        raise ValueError(f"{path}: the recipe is empty (no sections, only comments or blank lines); "
                         "start from one of the shipped recipes in recipes/")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a recipe must be a mapping of sections, got {type(data).__name__}")
    return data


def save_recipe(recipe: Recipe, path: str | Path) -> None:
    """Write the resolved recipe as YAML (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False), encoding="utf-8")
    tmp.replace(path)
