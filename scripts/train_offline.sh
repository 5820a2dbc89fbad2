#!/usr/bin/env bash
# The offline recipe from nothing to its score, on a 2-core CPU, as docs/results.md records it:
# generate the 12-hour corpus, prepare it, train the vocoder, the codec and the aligner side by side
# (one thread each), add the codes, train the durations model and then durations_vocoder (two
# threads), and score 100 held-out sentences. Every step skips or resumes finished work, so a killed
# run continues when this is started again.
#
#   scripts/train_offline.sh [CORPUS [RUN]] [--set key=value ...]
#
# About 1 h 55 min on a 2-core CPU (docs/results.md). CORPUS defaults to corpora/offline12, RUN to
# runs/offline12; any --set goes to every tts command.
# Logs: RUN/logs/. The score: RUN/eval_100.json.
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
CORPUS="corpora/offline12"
RUN="runs/offline12"
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && { CORPUS="$1"; shift; }
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && { RUN="$1"; shift; }
RECIPE=recipes/offline.yaml
SETS=(--set "data.root=$CORPUS" --set "output_dir=$RUN" "$@")
LOGS="$RUN/logs"
mkdir -p "$LOGS"

step() {  # step LABEL COMMAND...: run it with its output in LOGS/LABEL.log, and say how long it took
    local label="$1" start=$SECONDS
    shift
    echo "$(date +%H:%M:%S) $label (log: $LOGS/$label.log)"
    if ! "$@" >"$LOGS/$label.log" 2>&1; then
        echo "$label failed; the end of $LOGS/$label.log:" >&2
        tail -n 20 "$LOGS/$label.log" >&2
        return 1
    fi
    echo "$(date +%H:%M:%S) $label done in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
}

step corpus python scripts/make_corpus.py --out "$CORPUS" --hours 12 --seed 0
step prepare tts prepare "$RECIPE" "${SETS[@]}"

# three stages that need only the prepared features, side by side on the two cores
pids=()
for stage in vocoder codec aligner; do
    step "$stage" tts train "$RECIPE" --stage "$stage" --set threads=1 "${SETS[@]}" &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || { echo "a stage failed: run this again to resume it" >&2; exit 1; }

step codes tts prepare "$RECIPE" "${SETS[@]}"
step durations tts train "$RECIPE" --stage durations --set threads=2 "${SETS[@]}"
step durations_vocoder tts train "$RECIPE" --stage durations_vocoder --set threads=2 "${SETS[@]}"
step eval tts eval model "$RUN" --limit 100 -o "$RUN/eval_100.json"
tail -n 25 "$LOGS/eval.log"
