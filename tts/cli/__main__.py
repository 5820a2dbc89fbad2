"""`python -m tts.cli ...` (what torchrun starts)."""

from tts.cli import app

app()
