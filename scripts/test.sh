#!/usr/bin/env bash
# Create .venv if missing, install tts with its extras, run the default test suite (CPU only).
# Extra arguments go to pytest, e.g. scripts/test.sh -m slow
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
exec python -m pytest -q "$@"
