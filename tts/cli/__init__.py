"""The `tts` command line: each command parses options, loads the recipe and calls one library function.

Imports of torch and friends happen inside the commands so that `tts --help` is instant.
"""

# each module registers its commands, in the order `tts --help` lists them
from tts.cli import training  # noqa: F401,I001
from tts.cli import speaking  # noqa: F401
from tts.cli import inspecting  # noqa: F401
from tts.cli.common import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry
    app()
