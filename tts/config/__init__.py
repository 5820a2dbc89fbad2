"""Recipes as typed config: one frozen dataclass per YAML section.

`load_recipe(path, overrides)` reads YAML, applies `key.sub=value` overrides, and
builds the dataclasses. Unknown keys, wrong types and impossible values fail here,
at load time, with the dotted key, the bad value and what is allowed. Derived values
(codec hop and frame rate, vocoder upsampling) are properties, never typed twice.
"""

from tts.config.base import ConfigError, TrainConfig
from tts.config.loading import load_recipe, parse_override, recipe_from_dict, save_recipe
from tts.config.recipe import STAGES, TUNED_VOCODERS, Recipe
from tts.config.sections import (AlignerConfig, ARConfig, AudioConfig, CodecConfig, DataConfig, DurationsConfig,
                                 NARConfig, RefinerConfig, SynthesisConfig, TextConfig, TransformerSize, VocoderConfig)

__all__ = ["ConfigError", "TrainConfig", "load_recipe", "parse_override", "recipe_from_dict", "save_recipe", "STAGES",
           "TUNED_VOCODERS", "Recipe", "AlignerConfig", "ARConfig", "AudioConfig", "CodecConfig", "DataConfig",
           "DurationsConfig", "NARConfig", "RefinerConfig", "SynthesisConfig", "TextConfig", "TransformerSize",
           "VocoderConfig"]
