# Sourced by demo.sh, test.sh and train_offline.sh: create .venv if missing and install the project into it,
# with every extra those scripts need (tests, corpus generation), so that switching between them never
# reinstalls. A second run finds the install stamp up to date and starts in seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
EXTRAS="test,corpus"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV"
    "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.tts-installed"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
    echo "installing tts[$EXTRAS] into $VENV (first time: a few minutes, ~5 GB)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
    for attempt in 1 2 3; do  # a download cut short resumes (PIP_RESUME_RETRIES), then the whole install again
        if PIP_RESUME_RETRIES=20 "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$EXTRAS]"; then
            touch "$STAMP"
            break
        fi
        if [ "$attempt" = 3 ]; then
            echo "the install failed 3 times (the network?); run the same command again to retry" >&2
            exit 1
        fi
        echo "the install was interrupted (attempt $attempt of 3); trying again"
    done
fi
export PATH="$VENV/bin:$PATH"
