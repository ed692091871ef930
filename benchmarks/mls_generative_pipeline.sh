#!/usr/bin/env bash
# Issue 5 "Done when" on ml-latest-small, through the CLI a user runs:
#   data -> embeddings -> RQ-KMeans 2x128 + suffix IDs -> small T5 (CPU) -> evaluate
# and the baselines (random valid IDs for search, popularity for rec), then paired t-tests with
# Bonferroni (semid.evaluate.significance.compare) written to benchmarks/results/<OUT>.{md,json}.
#
#   bash benchmarks/mls_generative_pipeline.sh [VARIANT] [RUN_DIR (default runs/g5)] [ML_PATH]
#
# VARIANT  sep (default): scheme "separate", search IDs from MiniLM content embeddings, rec IDs from ENMF
#                         -> benchmarks/results/generative_mls_pipeline.{md,json}
#          rec:           one shared ID from ENMF (rec-tuned) embeddings
#                         -> benchmarks/results/generative_mls_pipeline_enmf.{md,json}
# Each stage is skipped when its output exists (delete the directory to recompute).
# Wall time on a shared 2-core CPU: content embeddings ~12 min, ENMF ~7 min, IDs ~30 s,
# training ~13 min (one thread), evaluation ~1.5 min.
set -euo pipefail
VARIANT=${1:-sep}
RUN=${2:-runs/g5}
ML=${3:-../shared/data/ml-latest-small}
MAXEX=2000
case "$VARIANT" in
  sep) OUT=benchmarks/results/generative_mls_pipeline ;;
  rec) OUT=benchmarks/results/generative_mls_pipeline_enmf ;;
  *) echo "VARIANT must be sep or rec, got $VARIANT" >&2; exit 2 ;;
esac
EV="$RUN/eval/$VARIANT"
# one torch thread: on a busy 2-core machine, 2 threads trained >10x slower (see semid.generative.train)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}

# ENMF: 610 users, so the paper's batch of 512 users gives 2 Adam steps per epoch (60 in all, under-trained);
# batch 64 x 100 epochs gives ~1,000 steps.
ENMF_ARGS=(--batch-size 64 --epochs 100)
# small T5: d_model 64 / d_ff 256 / 3,000 BPE tokens, 2 epochs, max_history 10 (fits ~15 CPU minutes)
TRAIN_ARGS=(--epochs 2 --max-history 10 --set small_d_model=64 --set small_d_ff=256 --set small_vocab_size=3000)

[ -f "$RUN/data/meta.json" ] || semid data prepare --source movielens --path "$ML" --out "$RUN/data"
[ -f "$RUN/emb/rec/meta.json" ] || semid embed --data "$RUN/data" --method rec "${ENMF_ARGS[@]}" --out "$RUN/emb/rec" --no-progress
[ -f "$RUN/emb/rec/dense/metrics.json" ] || semid evaluate-dense --data "$RUN/data" --embeddings "$RUN/emb/rec" --max-search-queries 100 --no-progress
if [ "$VARIANT" = sep ]; then
  [ -f "$RUN/emb/content/meta.json" ] || semid embed --data "$RUN/data" --method content --max-seq-length 64 --out "$RUN/emb/content" --no-progress
  [ -f "$RUN/ids/sep/codes.npy" ] || semid ids build --scheme separate --search-embeddings "$RUN/emb/content" --rec-embeddings "$RUN/emb/rec" \
      --method rq-kmeans --codebook-size 128 --collisions suffix --out "$RUN/ids/sep" --no-progress
else
  [ -f "$RUN/ids/rec/codes.npy" ] || semid ids build --embeddings "$RUN/emb/rec" --method rq-kmeans --codebook-size 128 --collisions suffix --out "$RUN/ids/rec" --no-progress
fi
M="$RUN/model/$VARIANT"
[ -f "$M/config.json" ] || semid train --data "$RUN/data" --ids "$RUN/ids/$VARIANT" --model small --out "$M" "${TRAIN_ARGS[@]}" --no-progress
[ -f "$EV/generative/metrics.json" ] || semid evaluate --model "$M" --data "$RUN/data" --max-examples $MAXEX --variant generative --out "$EV/generative" --no-progress
[ -f "$EV/generative-beam60/metrics.json" ] || semid evaluate --model "$M" --data "$RUN/data" --max-examples $MAXEX --beam 60 --variant generative-beam60 --out "$EV/generative-beam60" --no-progress
[ -f "$EV/random-ids/metrics.json" ] || semid evaluate --baseline random-ids --ids "$RUN/ids/$VARIANT" --data "$RUN/data" --max-examples $MAXEX --variant random-ids --out "$EV/random-ids"
[ -f "$RUN/eval/popularity/metrics.json" ] || semid evaluate --baseline popularity --data "$RUN/data" --max-examples $MAXEX --variant popularity --out "$RUN/eval/popularity"
[ -f "$EV/diagnose.json" ] || python benchmarks/mls_generative_diagnose.py --data "$RUN/data" --model "$M" --out "$EV/diagnose.json"

RUN="$RUN" OUT="$OUT" VARIANT="$VARIANT" python - <<'EOF'
import json, os
from pathlib import Path

from semid.evaluate.significance import compare, load_records
from semid.io import read_json

run, out, variant = Path(os.environ["RUN"]), Path(os.environ["OUT"]), os.environ["VARIANT"]
ev = run / "eval" / variant
dirs = {n: ev / n for n in ("generative", "generative-beam60", "random-ids")} | {"popularity": run / "eval" / "popularity"}
names = [n for n, d in dirs.items() if (d / "metrics.json").exists()]
recs = {r.variant: r for r in load_records([dirs[n] for n in names])}
pairs = []
for g in [n for n in names if n.startswith("generative")]:
    pairs += [(g, "popularity", "rec_recall@30"), (g, "popularity", "rec_recall@10"),
              (g, "random-ids", "search_recall@30"), (g, "random-ids", "search_recall@10")]
tests = []
for a, b, m in pairs:
    tests.append(compare([recs[a], recs[b]], metrics=(m,), pair_by="example").tests.iloc[0].to_dict())
for t in tests:  # Bonferroni over every test of this report
    t["p_bonferroni"] = min(1.0, t["p"] * len(tests))
    t["significant"] = bool(t["p_bonferroni"] < 0.05)
cfg = read_json(run / "model" / variant / "config.json")
dense = read_json(run / "emb" / "rec" / "dense" / "metrics.json")
ids_diag = read_json(run / "ids" / variant / "diagnostics.json")
keys = ["search_recall@10", "search_recall@30", "rec_recall@10", "rec_recall@30", "rec_head_recall@30", "rec_torso_recall@30", "n_search", "n_rec"]
metrics = {n: {k: recs[n].metrics.get(k) for k in keys + ["beam", "search_decode_s", "rec_decode_s"]} for n in names}
metrics["ENMF dense (mean of history)"] = {k: dense.get(k) for k in keys}
res = {"run": str(run), "variant": variant, "train": {k: cfg.get(k) for k in ("train_time_s", "examples_per_s", "steps", "n_train_examples",
                                                        "n_search_examples", "n_rec_examples", "n_parameters")},
       "train_config": cfg.get("train_config"), "val_history": cfg.get("history"),
       "ids": {k: ids_diag.get(k) for k in ("distinct_ids", "quantizer_distinct_ids", "max_bucket", "rel_sq_error", "bucket_order")},
       "metrics": metrics, "tests": tests,
       "diagnose": read_json(ev / "diagnose.json") if (ev / "diagnose.json").exists() else None}
out.parent.mkdir(parents=True, exist_ok=True)
out.with_suffix(".json").write_text(json.dumps(res, indent=2, default=float) + "\n")

def f(v):
    return "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

tc = cfg.get("train_config", {})
ids_text = {"sep": "scheme separate: search IDs = RQ-KMeans 2x128 on all-MiniLM-L6-v2 content embeddings, rec IDs = "
                   "RQ-KMeans 2x128 on ENMF item vectors (dim 256, batch 64, 100 epochs); each + suffix",
            "rec": "one shared ID: RQ-KMeans 2x128 on ENMF item vectors (dim 256, batch 64, 100 epochs) + suffix"}[variant]
L = [f"# Generative model on ml-latest-small through the CLI pipeline ({variant})", "",
     f"Reproduce: `bash benchmarks/mls_generative_pipeline.sh {variant}` (commands inside).", "",
     f"Training: {cfg.get('steps')} steps in {cfg.get('train_time_s', 0):.0f} s ({cfg.get('examples_per_s') or 0:.0f} examples/s), "
     f"{cfg.get('n_parameters')} parameters, CPU (1 thread, shared 2-core machine). Settings: epochs {tc.get('epochs')}, lr {tc.get('lr')}, "
     f"batch {tc.get('batch_size')}, warmup {tc.get('warmup_ratio')}, max_history {tc.get('max_history')}, rec_targets {tc.get('rec_targets')}, "
     f"d_model {tc.get('small_d_model')}, d_ff {tc.get('small_d_ff')}, layers {tc.get('small_layers')}+{tc.get('small_decoder_layers')}, "
     f"vocab {tc.get('small_vocab_size')}.", "",
     f"IDs: {ids_text}: {ids_diag.get('quantizer_distinct_ids')} distinct quantizer IDs, largest bucket "
     f"{ids_diag.get('max_bucket')} (means over tasks for separate), suffix order {ids_diag.get('bucket_order')}.", "",
     "| system | search R@10 | search R@30 | rec R@10 | rec R@30 | rec head R@30 | rec torso R@30 | n search | n rec |",
     "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
for n, m in metrics.items():
    L.append("| " + " | ".join([n] + [f(m.get(k)) for k in keys]) + " |")
L += ["", f"Paired t-tests per example (scipy ttest_rel), Bonferroni over {len(tests)} tests:", "",
      "| a | b | metric | n | mean a | mean b | t | p | p Bonferroni | significant |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
for t in tests:
    L.append(f"| {t['a']} | {t['b']} | {t['metric']} | {t['n']} | {t['mean_a']:.4f} | {t['mean_b']:.4f} | {t['t']:.2f} | "
             f"{t['p']:.2g} | {t['p_bonferroni']:.2g} | {'yes' if t['significant'] else 'no'} |")
d = res["diagnose"]
if d:
    L += ["", f"Diagnosis on all {d['n_rec']} rec test users (benchmarks/mls_generative_diagnose.py):", "",
          f"- rec cross-entropy of the target ID: model {d['model_rec_ce_nats_per_id']:.2f} nats vs unconditional item prior "
          f"{d['prior_rec_ce_nats_per_id']:.2f} (head targets {d['model_ce_head_targets']:.2f} vs {d['prior_ce_head_targets']:.2f}, "
          f"torso {d['model_ce_torso_targets']:.2f} vs {d['prior_ce_torso_targets']:.2f}); model below prior for "
          f"{d['users_with_model_ce_below_prior']:.0%} of users.",
          f"- top-30 lists of {d['n_retrieve']} users: {d['top30_overlap_with_popularity_top30']:.1f} items shared with the popularity "
          f"top-30, {d['top30_head_share']:.0%} head items, {d['top30_distinct_items_over_users']} distinct items over the users."]
out.with_suffix(".md").write_text("\n".join(L) + "\n")
print("\n".join(L))
EOF
