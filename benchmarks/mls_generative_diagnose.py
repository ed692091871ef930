"""Why does (or doesn't) the generative model beat popularity on rec? Numbers for a trained model.

On the rec test examples (every user's last item, history = train + valid):
- the model's cross-entropy of the target's ID (teacher forcing, nats per ID, full vocabulary)
  vs the unconditional prior -log p(item) with p = add-one-smoothed training counts
  (with collision-free IDs this is the ID prior);
- how much of the model's top-30 is the popularity top-30, and how much is head.

    python benchmarks/mls_generative_diagnose.py --data RUN/data --model RUN/model/NAME --out RUN/diagnose.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-retrieve", type=int, default=200, help="users whose top-30 lists are inspected")
    args = ap.parse_args()
    import torch

    from semid.data import Dataset
    from semid.evaluate.baselines import popularity_order
    from semid.generative import load_model
    from semid.generative.train import collate

    torch.set_num_threads(1)
    ds = Dataset.load(args.data)
    r = load_model(args.model, device="cpu")
    rec = ds.rec_examples("test")
    hist = [e.history for e in rec]
    tgt = np.array([e.target for e in rec])
    ce = []
    with torch.no_grad():
        for s in range(0, len(rec), 64):
            inp = r.encoder.inputs("rec", hist[s:s + 64])
            lab = [r.encoder.target("rec", int(t)) for t in tgt[s:s + 64]]
            ids, mask, labels = collate(inp, lab, r.pad_id)
            logits = r.model(input_ids=ids, attention_mask=mask, labels=labels).logits
            lp = torch.log_softmax(logits.float(), -1).gather(-1, labels.clamp(min=0)[..., None])[..., 0]
            ce += (-(lp * (labels >= 0))).sum(1).tolist()
    counts = ds.train_counts.astype(np.float64) + 1.0
    prior = -np.log(counts[tgt] / counts.sum())
    pop30 = set(popularity_order(ds)[:30].tolist())
    lists = r.retrieve("rec", hist[:args.n_retrieve], k=30)
    items = [[i for i, _ in lst] for lst in lists]
    head = ds.head_mask
    n_head = np.array([int(e.target) for e in rec])
    out = {
        "n_rec": len(rec),
        "model_rec_ce_nats_per_id": float(np.mean(ce)),
        "prior_rec_ce_nats_per_id": float(prior.mean()),
        "model_ce_head_targets": float(np.mean(np.array(ce)[head[n_head]])),
        "prior_ce_head_targets": float(prior[head[n_head]].mean()),
        "model_ce_torso_targets": float(np.mean(np.array(ce)[~head[n_head]])),
        "prior_ce_torso_targets": float(prior[~head[n_head]].mean()),
        "users_with_model_ce_below_prior": float(np.mean(np.array(ce) < prior)),
        "top30_overlap_with_popularity_top30": float(np.mean([len(pop30 & set(x)) for x in items])),
        "top30_head_share": float(np.mean([head[x].mean() for x in items if x])),
        "top30_distinct_items_over_users": len({i for x in items for i in x}),
        "n_retrieve": len(items),
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
