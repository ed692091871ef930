#!/usr/bin/env bash
# Every quantizer x scheme x collision mode through `semid ids build`, on two inputs:
#   ml-small: content (search) and ENMF (rec) embedding dirs of ml-latest-small
#   npy60k:   a plain float32 .npy of 60,000 x 384 vectors (used for both tasks in two-task schemes)
# Usage: bash benchmarks/ids_cli_matrix.sh SEARCH_EMB REC_EMB NPY60K [OUT]
# Writes OUT/matrix.tsv (one row per run: dataset, method, scheme, collisions, exit code, seconds,
# collision_rate, quantizer_collision_rate, codes_used). rq-vae/rlfq run 2 epochs here (a CPU budget).
set -u
SEARCH=${1:?search embeddings}; REC=${2:?rec embeddings}; NPY=${3:?60k .npy}; OUT=${4:-runs/ids-matrix}
mkdir -p "$OUT"
export OMP_NUM_THREADS=1
TSV="$OUT/matrix.tsv"
[ -f "$TSV" ] || printf "dataset\tmethod\tscheme\tcollisions\texit\tseconds\tcollision_rate\tquantizer_collision_rate\tcodes_used\n" > "$TSV"
for data in ml-small npy60k; do
  for method in rq-kmeans dict rlfq rq-vae; do
    opts=()
    case $method in rq-vae|rlfq) opts=(--opt epochs=2);; dict) opts=(--opt max_fit_items=5000);; esac
    for scheme in shared separate prefix-share; do
      for coll in suffix none; do
        dir="$OUT/$data-$method-$scheme-$coll"
        grep -q "^$data	$method	$scheme	$coll	0" "$TSV" && continue
        if [ "$data" = ml-small ]; then
          if [ $scheme = shared ]; then inp=(--embeddings "$SEARCH"); else inp=(--search-embeddings "$SEARCH" --rec-embeddings "$REC"); fi
        else
          if [ $scheme = shared ]; then inp=(--embeddings "$NPY"); else inp=(--search-embeddings "$NPY" --rec-embeddings "$NPY"); fi
        fi
        t0=$(date +%s)
        semid -q ids build "${inp[@]}" --method $method --scheme $scheme --collisions $coll "${opts[@]}" \
          --max-queries 2000 --no-progress --out "$dir" > "$dir.log" 2>&1
        rc=$?
        t1=$(date +%s)
        stats=$(python -c "import json,sys; d=json.load(open('$dir/diagnostics.json')); print(f\"{d['collision_rate']:.4f}\t{d['quantizer_collision_rate']:.4f}\t{list(d.get('codes_used',{}).values())}\")" 2>/dev/null || printf -- "-\t-\t-")
        printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" $data $method $scheme $coll $rc $((t1 - t0)) "$stats" >> "$TSV"
      done
    done
  done
done
cat "$TSV"
