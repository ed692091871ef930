#!/bin/bash
# Content IDs of a finished movielens-small grid, 3 seeds (seed k trains on the IDs of seed k), the
# default encoder-decoder for EPOCHS epochs, three runs at a time. Lines go to DIR/s{k}/results.jsonl.
#   benchmarks/ed_seeds_check.sh EPOCHS [RUN=runs/movielens-small] [DIR=/tmp/ed-seeds]
# Made benchmarks/results/ed_settings_2026-12-02_4ep.jsonl with EPOCHS=4.
set -euo pipefail
EPOCHS=${1:?usage: ed_seeds_check.sh EPOCHS [RUN] [DIR]}
RUN=$(realpath "${2:-runs/movielens-small}")
DIR=${3:-/tmp/ed-seeds}
R=$RUN/ml-latest-small
for k in 0 1 2; do
  W=$DIR/s$k; mkdir -p "$W"
  ln -sfn "$R/ids/content__rq-kmeans__suffix__s$k" "$W/ids"
  ln -sfn "$R/query-states/all-MiniLM-L6-v2-64" "$W/qs"
  ln -sfn "$R/item-states/all-MiniLM-L6-v2-64" "$W/its"
  SEMID_RUN=$RUN SEMID_EXP=$W OMP_NUM_THREADS=1 python "$(dirname "$0")/ed_settings_check.py" "$EPOCHS" "c${EPOCHS}s$k" \
    "{\"lr\": 5e-3, \"batch_size\": 256, \"seed\": $k}" > "$W/log" 2>&1 &
done
wait
cat "$DIR"/s*/results.jsonl
