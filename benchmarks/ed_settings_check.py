"""Single-seed check of encoder-decoder settings on ml-latest-small (content IDs, RQ-KMeans 2x256
+ suffix, seed 0): train for EPOCHS with the TrainConfig overrides given as JSON, then evaluate
on the movielens-small sample (1,000 search queries, all 610 rec users).

    python benchmarks/ed_settings_check.py EPOCHS TAG '{"lr": 5e-3, "batch_size": 256}'

Needs runs/movielens-small/ml-latest-small/{data,embeddings/content} (from `semid run
configs/movielens-small.toml`; another run directory with $SEMID_RUN); reuses that run's
query-states / item-states stages when they exist; works in $SEMID_EXP (default /tmp/exp).
Appends one JSON line per run to $SEMID_EXP/results.jsonl. The runs quoted in
benchmarks/results/ed_settings.md were made with it.
"""
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from semid.data import Dataset
from semid.embed import load_embeddings
from semid.evaluate.generative import evaluate_generative
from semid.generative import TrainConfig, train_model
from semid.generative.query_states import encode_states
from semid.ids import build_ids

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

R = Path(os.environ.get("SEMID_RUN", "runs/movielens-small")) / "ml-latest-small"
ds = Dataset.load(R / "data")
W = Path(os.environ.get("SEMID_EXP", "/tmp/exp"))
W.mkdir(parents=True, exist_ok=True)
if not (W / "ids").exists():
    if (R / "embeddings/content").exists():
        x = load_embeddings(R / "embeddings/content").vectors
    else:  # a stand-in for quick checks: MiniLM's item-text embeddings at 64 tokens (the item-states stage)
        from semid.generative.query_states import QueryStates

        print("IDs from the item-states' pooled vectors (no content embeddings yet)", flush=True)
        x = QueryStates.load(R / "item-states/all-MiniLM-L6-v2-64").pooled(np.arange(ds.n_items))
    build_ids(x, scheme="shared", method="rq-kmeans", levels=2, codebook_size=256, collisions="suffix", seed=0,
              popularity=np.asarray(ds.train_counts), show_progress=False).save(W / "ids")
for name, stage in (("qs", "query-states"), ("its", "item-states")):
    src = R / stage / "all-MiniLM-L6-v2-64"
    if not (W / name).exists() and (src / "stage.json").exists():
        (W / name).symlink_to(src.resolve())
if not (W / "qs").exists():
    t0 = time.time()
    encode_states(ds.queries_for("train")["text"].tolist(), "all-MiniLM-L6-v2", 64, show_progress=False).save(W / "qs")
    print("encode s", time.time() - t0, flush=True)
if not (W / "its").exists():
    t0 = time.time()
    encode_states(ds.texts, "all-MiniLM-L6-v2", 64, show_progress=False).save(W / "its")
    print("item encode s", time.time() - t0, flush=True)
epochs, tag = float(sys.argv[1]), sys.argv[2]
extra = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
cfg = TrainConfig(epochs=epochs, max_history=10, **extra)
out = W / f"m-{tag}"
t0 = time.time()
train_model(ds, W / "ids", cfg, out, show_progress=False, query_states=W / "qs", item_states=W / "its")
print("train s", time.time() - t0, flush=True)
t0 = time.time()
res = evaluate_generative(out, ds, k=30, max_examples=1000, beam=30, show_progress=False)
m = res.metrics
keep = {k: v for k, v in m.items() if "recall@30" in k or "per_s" in k}
print(tag, "eval s", time.time() - t0, keep, flush=True)
done = json.loads((out / "config.json").read_text())
with open(W / "results.jsonl", "a") as f:
    f.write(json.dumps({"tag": tag, "epochs": epochs, "settings": extra, "train_time_s": done["train_time_s"],
                        "examples_per_s": done["examples_per_s"], **keep}) + "\n")
