#!/usr/bin/env bash
# The annotation loop on your own audio: features -> MAL queue -> people label it in the
# browser (or in Label Studio) -> predictions for the rest (PROPAGATE=1: through cluster
# labels) -> next round.
#
#   CORPUS=~/recordings examples/annotate.sh                # label in the browser, Ctrl-C when done
#   CORPUS=~/recordings examples/annotate.sh                # again: the next round
#   CORPUS=~/recordings LABEL_STUDIO=1 examples/annotate.sh # tasks for Label Studio instead; then
#   CORPUS=~/recordings LABEL_STUDIO=1 LABELS=export.json examples/annotate.sh   # its labels, next round
#
# CORPUS   a directory of audio or a manifest (unset: a synthetic corpus is made); long
#          recordings: SEGMENT=1 cuts them into utterances first (seral segment)
# CHOICES  the labels to choose from (default anger,happiness,neutral,sadness); COLUMN their
#          column (default emotion)
# BUDGET   new queries per round (default 5%); PORT the page's port (default 8000)
# LABELS   the answers (default $OUT/labels.csv; a Label Studio export works too)
# OUT      where everything goes (default annotate-out)
set -euo pipefail
OUT=${OUT:-annotate-out}
SERAL=${SERAL:-seral}
CHOICES=${CHOICES:-anger,happiness,neutral,sadness}
COLUMN=${COLUMN:-emotion}
LABELS=${LABELS:-$OUT/labels.csv}
mkdir -p "$OUT"
if [ -z "${CORPUS:-}" ]; then
    [ -d "$OUT/corpus" ] || $SERAL synth "$OUT/corpus"
    CORPUS="$OUT/corpus"
fi

# 1. Utterances (cut from long recordings when SEGMENT=1) and their log-mel functionals,
#    without labels: nobody has labelled anything yet
if [ ! -f "$OUT/features.parquet" ]; then
    if [ -n "${SEGMENT:-}" ]; then
        $SERAL segment "$CORPUS" "$OUT/utterances.parquet"
        CORPUS="$OUT/utterances.parquet"
    fi
    $SERAL extract --feat logmel --corpus none --on-error skip "$CORPUS" "$OUT/features.parquet"
fi

# 2. The queue: the MAL order (medoids of the largest clusters first). A next round leaves
#    out every utterance already answered and continues the same order.
# labels exist when the file holds more than a header (a Label Studio JSON export: when not empty)
has_labels() { [ -s "$LABELS" ] && { [ "${LABELS##*.}" = json ] || [ "$(wc -l < "$LABELS")" -gt 1 ]; }; }
ROUND=(--budget "${BUDGET:-5%}")
if has_labels; then ROUND+=(--labelled "$LABELS"); fi
$SERAL mal-select "${ROUND[@]}" "$OUT/features.parquet" "$OUT/queue.parquet"

# 3. People label it: a page on http://127.0.0.1:${PORT:-8000} (Ctrl-C to stop; every answer
#    is saved at once), or tasks and a labelling config for Label Studio
if [ -n "${LABEL_STUDIO:-}" ]; then
    $SERAL export-tasks "$OUT/queue.parquet" "$OUT/tasks.json" --clips "$OUT/clips" \
        --column "$COLUMN" --choices "$CHOICES" --config "$OUT/label-config.xml"
    echo "Import $OUT/tasks.json into Label Studio (labelling config: $OUT/label-config.xml), label, export"
    echo "JSON or CSV, and run again with LABEL_STUDIO=1 LABELS=that-export for the labels and the next round."
else
    $SERAL annotate "$OUT/queue.parquet" "$LABELS" --column "$COLUMN" --choices "$CHOICES" --port "${PORT:-8000}"
fi

# 4. The paper's classifier (RBF SVM) trained on the answers predicts every utterance
#    (PROPAGATE=1: on every medoid's label for its whole cluster, the paper's cluster labels)
if ! has_labels; then
    echo "No labels yet ($LABELS): nothing to propagate or predict."
    exit 0
fi
$SERAL labels "$LABELS" >&2  # counts per class and annotator, agreement
if [ -n "${PROPAGATE:-}" ]; then  # the paper's cluster labels first (opt-in: behind the answers alone in benchmarks/raters.py)
    $SERAL cluster-labels --column "$COLUMN" "$OUT/queue.parquet" "$LABELS" "$OUT/labelled.parquet"
    TRAIN="$OUT/labelled.parquet"
else
    TRAIN="$LABELS"
fi
$SERAL predict --column "$COLUMN" "$TRAIN" "$OUT/features.parquet" "$OUT/predicted.parquet"
echo "answers: $LABELS; predictions for every utterance:"
echo "$OUT/predicted.parquet (${COLUMN}_predicted, ${COLUMN}_score). Run again for the next round."
