#!/usr/bin/env bash
# An offline recipe from nothing to its score on a 2-core CPU, as docs/results.md records it: generate the
# 12-hour corpus, prepare it and train every stage of the recipe with `tts run` (two threads per stage), and
# score 100 held-out sentences. Every step skips or resumes finished work, so a killed run continues when
# this is started again.
#
#   scripts/train_offline.sh [CORPUS [RUN]] [--recipe RECIPE] [--set key=value ...]
#
# RECIPE defaults to recipes/offline.yaml (the AR chain); recipes/offline_durations.yaml is the durations
# model. CORPUS defaults to corpora/offline12, RUN to runs/offline12; any --set goes to every tts command.
# Logs: RUN/logs/. The score: RUN/eval_100.json. Times: docs/results.md.
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
CORPUS="corpora/offline12"
RUN="runs/offline12"
RECIPE=recipes/offline.yaml
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && { CORPUS="$1"; shift; }
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && { RUN="$1"; shift; }
if [ $# -gt 1 ] && [ "$1" = "--recipe" ]; then RECIPE="$2"; shift 2; fi
SETS=(--set "data.root=$CORPUS" --set "output_dir=$RUN" "$@")
LOGS="$RUN/logs"
mkdir -p "$LOGS"

step() {  # step LABEL COMMAND...: run it with its output in LOGS/LABEL.log, and say how long it took
    local label="$1" start=$SECONDS
    shift
    echo "$(date +%H:%M:%S) $label (log: $LOGS/$label.log)"
    if ! "$@" >>"$LOGS/$label.log" 2>&1; then
        echo "$label failed or stopped; run this again to resume it. The end of $LOGS/$label.log:" >&2
        tail -n 20 "$LOGS/$label.log" >&2
        return 1
    fi
    echo "$(date +%H:%M:%S) $label done in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
}

step corpus python scripts/make_corpus.py --out "$CORPUS" --hours 12 --seed 0
step train tts run "$RECIPE" --workers 2 "${SETS[@]}"
# the time of each step of this start (the log keeps earlier starts above its last "== prepare ==")
tac "$LOGS/train.log" | awk '/tts\.pipeline: == prepare ==$/ {exit} /tts\.pipeline: +(prepare|train) .*[0-9] s$/' | tac || true
step eval tts eval model "$RUN" --limit 100 -o "$RUN/eval_100.json"
tail -n 25 "$LOGS/eval.log"
