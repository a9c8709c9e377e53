#!/usr/bin/env bash
# Issue #5's "must show": the paper's AL simulation on EMO-DB with 600-dim log-mel
# functionals (cosine MAL) against random sampling, with paired t-tests, and the
# wall time of the full grid (5 folds x 5 repeats x 7 budgets x 2 tasks).
#
#   benchmarks/al_emodb.sh [CORPUS] [OUT]     (defaults: ../shared/corpora/emodb/wav, bench-out)
set -euo pipefail
CORPUS=${1:-../shared/corpora/emodb/wav}
OUT=${2:-bench-out}
SERAL=${SERAL:-seral}
mkdir -p "$OUT"
echo "machine: $(uname -m), $(nproc) CPUs"
start=$(date +%s%N)
$SERAL extract --feat logmel --corpus emodb -q "$CORPUS" "$OUT/emodb-logmel.parquet"
mid=$(date +%s%N)
$SERAL evaluate al --select "$OUT/emodb-logmel.parquet" --classify "$OUT/emodb-logmel.parquet" \
    --plot "$OUT/emodb-al.png" -q "$OUT/emodb-al.parquet"
end=$(date +%s%N)
echo
echo "wall time: extract $(( (mid - start) / 1000000 )) ms, evaluate al (full grid) $(( (end - mid) / 1000000 )) ms"
echo "results: $OUT/emodb-al.parquet, figure: $OUT/emodb-al.png"
