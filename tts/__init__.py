"""tts: a staged, recipe-driven text-to-speech toolkit.

    from tts import Synthesizer, load_recipe, text_to_phones

Names are imported on first use, so `import tts` stays instant (no torch at import).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Synthesizer": "tts.synthesize",
    "SynthesisConfig": "tts.config",
    "SynthesisResult": "tts.synthesize",
    "load_recipe": "tts.config",
    "Recipe": "tts.config",
    "text_to_phones": "tts.text",
    "normalize_text": "tts.text",
    "load_audio": "tts.audio.io",
    "save_audio": "tts.audio.io",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tts' has no attribute {name!r}")
