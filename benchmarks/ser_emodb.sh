#!/usr/bin/env bash
# Issue #7's "must show": SER on EMO-DB after each pretraining, laid out like the
# paper's Table 2, with wall times.
#
#   benchmarks/ser_emodb.sh [CORPUS] [OUT]      (defaults: ../shared/corpora/emodb/wav, bench-out/ser)
#
# About an hour on 2 cores with the defaults (STEPS=400, SEEDS=5).
#
# 1. d-vectors of all 535 utterances -> intra-speaker clusters, k = 20 (the paper's N);
# 2. pretraining on all EMO-DB audio, no emotion labels: speaker, contrastive, mtl,
#    adversarial (STEPS steps of 8 anchors, SEGMENT-s segments);
# 3. evaluate ser: anger, happiness, neutral, sadness; 5 leave-2-speakers-out folds
#    (validation: 1 further speaker); SEEDS seeds; no pretraining and the four encoders.
# Jobs run two at a time with one torch thread each (2 cores). Settings are scaled to a
# CPU (see the variables; segments of 2 s, EMO-DB's utterances average 2.8 s); the paper
# pretrains 250k steps on 4-s segments and fine-tunes 30 epochs at 1e-5.
set -euo pipefail
CORPUS=${1:-../shared/corpora/emodb/wav}
OUT=${2:-bench-out/ser}
SERAL=${SERAL:-seral}
STEPS=${STEPS:-400}
SEGMENT=${SEGMENT:-2}
SEEDS=${SEEDS:-5}
EPOCHS=${EPOCHS:-5}
FT_LR=${FT_LR:-1e-4}
ARCH=${ARCH:---conv-channels 32 --width 128 --layers 2 --heads 4}
FOUR=anger,happiness,neutral,sadness
mkdir -p "$OUT"
export OMP_NUM_THREADS=1

s=$(date +%s)
$SERAL extract --feat dvector --quiet "$CORPUS" "$OUT/dvector.parquet"
$SERAL cluster-speakers --k 20 --quiet "$OUT/dvector.parquet" "$OUT/clusters.parquet"
echo "d-vectors and clusters: $(( $(date +%s) - s )) s"

pretrain() {  # objective
  local s=$(date +%s)
  $SERAL pretrain "$CORPUS" --clusters "$OUT/clusters.parquet" --objective "$1" --steps "$STEPS" --segment "$SEGMENT" \
      $ARCH --quiet --out "$OUT/$1.safetensors"
  echo "pretrain $1: $(( $(date +%s) - s )) s ($STEPS steps)" | tee "$OUT/$1.time"
}
evaluate() {  # name encoder-args...
  local name=$1; shift
  local s=$(date +%s)
  $SERAL evaluate ser "$CORPUS" --emotions $FOUR --folds 5 --seeds "$SEEDS" --epochs "$EPOCHS" --lr "$FT_LR" --segment "$SEGMENT" \
      $ARCH --quiet "$@" "$OUT/ser-$name.parquet" > "$OUT/ser-$name.txt"
  echo "evaluate ser $name: $(( $(date +%s) - s )) s" | tee "$OUT/ser-$name.time"
}

pretrain speaker & pretrain contrastive & wait
pretrain mtl & pretrain adversarial & wait
evaluate none --no-pretrain --folds-out "$OUT/folds.parquet" & evaluate speaker --encoder "speaker=$OUT/speaker.safetensors" & wait
evaluate contrastive --encoder "contrastive=$OUT/contrastive.safetensors" & evaluate mtl --encoder "mtl=$OUT/mtl.safetensors" & wait
evaluate adversarial --encoder "adversarial=$OUT/adversarial.safetensors"

echo
echo "EMO-DB, 4 classes, UAR (%) mean and std over $SEEDS seeds of the mean over 5 folds"
${PYTHON:-python} "$(dirname "$0")/ser_table.py" "$OUT"/ser-*.parquet   # with paired t-tests against no pretraining
echo "(pretraining $STEPS steps, $SEGMENT-s segments; fine-tuning $EPOCHS epochs at lr $FT_LR; encoder $ARCH; total $(( $(date +%s) - s )) s)"
