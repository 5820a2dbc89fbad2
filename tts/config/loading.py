"""Reading a recipe: YAML, `key.sub=value` overrides, type checks against the dataclasses."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from tts.config.base import ConfigError
from tts.config.recipe import Recipe


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


def _build(cls: type, data: dict[str, Any], prefix: str = "", base: Any = None) -> Any:
    hints = typing.get_type_hints(cls)
    defaults = base if base is not None else cls()
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            dotted = f"{prefix}.{key}" if prefix else key
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
    if not sep or not key.strip():
        raise ValueError(f"override {text!r} must look like section.key=value, e.g. ar.train.lr=3e-4")
    value = yaml.safe_load(raw) if raw.strip() else ""
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
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(data, key, value)
    try:
        recipe = _build(Recipe, data)
        recipe.validate()
    except ConfigError as err:
        if source:
            raise ConfigError(err.key, err.value, err.allowed, source) from None
        raise
    return recipe


def load_recipe(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> Recipe:
    """Load a YAML recipe, apply overrides, validate; errors name the file and the dotted key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe {path} does not exist; the shipped ones are in recipes/")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a recipe must be a mapping of sections, got {type(data).__name__}")
    return recipe_from_dict(data, overrides, source=str(path))


def save_recipe(recipe: Recipe, path: str | Path) -> None:
    """Write the resolved recipe as YAML (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False), encoding="utf-8")
    tmp.replace(path)
