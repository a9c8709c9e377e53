#!/usr/bin/env bash
# The seral pipeline as a shell script, on any corpus directory (or the synthetic one).
#
#   CORPUS=../shared/corpora/emodb/wav examples/pipeline.sh
#   CORPUS=~/data/ravdess OUT=ravdess-out examples/pipeline.sh
#
# CORPUS  directory of audio (labels from file names with --corpus auto) or a manifest;
#         unset: a synthetic corpus is made first.
# OUT     where the tables go (default: pipeline-out).
# CPC=1 also trains CPC and compares CPC and log-mel selection features in the simulation
# (EPOCHS caps CPC training, default 30).
set -euo pipefail
OUT=${OUT:-pipeline-out}
SERAL=${SERAL:-seral}
mkdir -p "$OUT"
if [ -z "${CORPUS:-}" ]; then
    $SERAL synth "$OUT/corpus"
    CORPUS="$OUT/corpus"
fi

# 1. 600-dim log-mel functionals, labels from the file names (or the manifest's columns)
$SERAL extract --feat logmel --corpus "${CORPUS_NAME:-auto}" --on-error skip "$CORPUS" "$OUT/logmel.parquet"

# 2. What the table holds
$SERAL info "$OUT/logmel.parquet" | tee "$OUT/logmel.info.txt"

# 3. Selection features: log-mel reduced by PCA to 32 dims (and CPC, when CPC=1)
$SERAL reduce --method pca --dim 32 "$OUT/logmel.parquet" "$OUT/logmel-pca32.parquet"
SELECT=(--select "$OUT/logmel.parquet" --select "$OUT/logmel-pca32.parquet")
if [ -n "${CPC:-}" ]; then
    $SERAL train-cpc "$CORPUS" "$OUT/cpc.safetensors" --epochs "${EPOCHS:-30}"
    $SERAL extract --feat cpc --model "$OUT/cpc.safetensors" "$CORPUS" "$OUT/cpc.parquet"
    $SERAL reduce --method pca --dim 32 "$OUT/cpc.parquet" "$OUT/cpc-pca32.parquet"
    SELECT+=(--select "$OUT/cpc.parquet" --select "$OUT/cpc-pca32.parquet")
fi

# 4. The annotation queue: medoids of k-medoids clusters (k = N/3), largest cluster first
$SERAL mal-select --budget 10% "$OUT/logmel-pca32.parquet" "$OUT/queue.parquet"

# 5. The paper's simulation: MAL against random sampling across labelling budgets,
#    an RBF SVM on the log-mel features, MCC with paired t-tests, and the figure
$SERAL evaluate al "${SELECT[@]}" --classify "$OUT/logmel.parquet" \
    --repeats "${REPEATS:-5}" --plot "$OUT/al.png" "$OUT/al.parquet"
echo "annotation queue: $OUT/queue.parquet; simulation: $OUT/al.parquet; figure: $OUT/al.png"
