#!/usr/bin/env bash
# The speaker-embedding paper as a shell script, on any corpus with speaker and emotion
# labels (or the synthetic one):
#
#   CORPUS=../shared/corpora/emodb/wav examples/speaker_pipeline.sh
#
# 1. d-vectors -> intra-speaker clusters (k = 4) -> how they follow emotion (Table 1, Fig. 1)
# 2. clusters for pretraining (k = 20) -> contrastive and multi-task pretraining
# 3. SER fine-tuning on speaker-independent folds: no pretraining vs the two (Table 2)
#
# CORPUS  audio directory or manifest (unset: a synthetic corpus of 5 speakers)
# OUT     where everything goes (default: speaker-pipeline-out)
# STEPS, SEEDS, EPOCHS, FOLDS, LR, ARCH: pretraining steps (200), fine-tuning seeds (5),
#         epochs (30), folds (5), fine-tuning learning rate (1e-5), encoder size options
set -euo pipefail
OUT=${OUT:-speaker-pipeline-out}
SERAL=${SERAL:-seral}
ARCH=${ARCH:-}
mkdir -p "$OUT"
if [ -z "${CORPUS:-}" ]; then
    $SERAL synth --speakers 5 "$OUT/corpus"
    CORPUS="$OUT/corpus"
fi

# 1. intra-speaker clusters of d-vectors and how they follow emotion
$SERAL extract --feat dvector "$CORPUS" "$OUT/dvector.parquet"
$SERAL cluster-speakers --k 4 "$OUT/dvector.parquet" "$OUT/clusters-k4.parquet"
$SERAL evaluate clusters --plot "$OUT/map.png" "$OUT/clusters-k4.parquet" "$OUT/clusters-k4-metrics.parquet"

# 2. pretraining on the clusters (no emotion labels)
$SERAL cluster-speakers --k 20 "$OUT/dvector.parquet" "$OUT/clusters-k20.parquet"
for objective in contrastive mtl; do
    $SERAL pretrain "$CORPUS" --clusters "$OUT/clusters-k20.parquet" --objective $objective \
        --steps "${STEPS:-200}" $ARCH "$OUT/$objective.safetensors"
done

# 3. SER: UAR on speaker-independent folds
$SERAL evaluate ser "$CORPUS" --no-pretrain --encoder "contrastive=$OUT/contrastive.safetensors" \
    --encoder "mtl=$OUT/mtl.safetensors" --folds "${FOLDS:-5}" --seeds "${SEEDS:-5}" --epochs "${EPOCHS:-30}" \
    --lr "${LR:-1e-5}" $ARCH --folds-out "$OUT/folds.parquet" "$OUT/ser.parquet" | tee "$OUT/ser.txt"
echo "clusters: $OUT/clusters-k4-metrics.parquet, map $OUT/map.png; encoders: $OUT/*.safetensors; SER: $OUT/ser.parquet"
