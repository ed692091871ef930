"""Done-when check of the generative model on a prepared dataset (ml-latest-small).

Evaluates a trained model (plain beam search and optionally the paper's diverse beam search),
the random-valid-ID baseline (search) and the popularity baseline (rec) on the same seeded
test sample, and runs paired t-tests (per example, Bonferroni) model vs baseline.

    python benchmarks/mls_generative_check.py --data RUN/data --model RUN/model/NAME --out benchmarks/results/generative_mls
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True, help="output path without suffix (.json and .md are written)")
    ap.add_argument("--max-examples", type=int, default=2000)
    ap.add_argument("--diverse", action="store_true", help="also evaluate beam 60 / 30 groups / 0.25")
    args = ap.parse_args()
    from semid.data import Dataset
    from semid.evaluate.baselines import popularity_ranks
    from semid.evaluate.generative import EvalResult, evaluate_generative, random_id_baseline
    from semid.evaluate.metrics import task_metrics
    from semid.evaluate.significance import EvalRecord, compare
    from semid.generative import load_model

    ds = Dataset.load(args.data)
    r = load_model(args.model)
    results = {}
    t = time.perf_counter()
    results["generative"] = evaluate_generative(r, ds, k=30, max_examples=args.max_examples, sample_seed=0, show_progress=False)
    print("generative", {k: round(v, 4) for k, v in results["generative"].metrics.items() if "recall" in k},
          f"{time.perf_counter() - t:.0f}s", flush=True)
    if args.diverse:
        t = time.perf_counter()
        results["generative-diverse"] = evaluate_generative(r, ds, k=30, max_examples=args.max_examples, sample_seed=0,
                                                            beam=60, num_groups=30, diversity_penalty=0.25, show_progress=False)
        print("diverse", {k: round(v, 4) for k, v in results["generative-diverse"].metrics.items() if "recall" in k},
              f"{time.perf_counter() - t:.0f}s", flush=True)
    results["random-ids"] = random_id_baseline(ds, r.ids, k=30, seed=0, max_examples=args.max_examples, sample_seed=0)
    rec = ds.rec_examples("test")
    ranks = popularity_ranks(ds, rec, k=30)
    head = ds.head_mask[[e.target for e in rec]]
    pop_hits = pd.DataFrame({"task": "rec", "example": [e.user_id for e in rec], "target": [e.target for e in rec],
                             "rank": ranks, "head": head})
    results["popularity"] = EvalResult(task_metrics("rec", ranks, head), pop_hits)
    recs = {k: EvalRecord(k, 0, v.metrics, v.hits) for k, v in results.items()}
    tests = []
    for model_name in [k for k in results if k.startswith("generative")]:
        for base, metric in (("random-ids", "search_recall@30"), ("random-ids", "search_recall@10"),
                             ("popularity", "rec_recall@30"), ("random-ids", "rec_recall@30")):
            c = compare([recs[model_name], recs[base]], metrics=(metric,), pair_by="example")
            tests.append(c.tests.iloc[0].to_dict())
    n = len(tests)
    for row in tests:  # Bonferroni over all the tests of this report
        row["p_bonferroni"] = min(1.0, row["p"] * n)
        row["significant"] = bool(row["p_bonferroni"] < 0.05)
    cfg = r.config
    out = {"model": args.model, "train": {k: cfg.get(k) for k in ("train_time_s", "examples_per_s", "steps", "n_train_examples",
                                                                    "n_search_examples", "n_rec_examples", "n_parameters")},
           "train_config": cfg.get("train_config"), "val_history": cfg.get("history"),
           "metrics": {k: v.metrics for k, v in results.items()}, "tests": tests}
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(out, indent=2, default=float) + "\n")
    lines = ["# Generative model on ml-latest-small vs baselines", "",
             f"Model: {args.model}; trained {cfg.get('steps')} steps in {cfg.get('train_time_s', 0):.0f}s "
             f"({cfg.get('examples_per_s') or 0:.0f} examples/s) on CPU.", "",
             "| system | search R@10 | search R@30 | rec R@10 | rec R@30 | rec head R@30 | rec torso R@30 | n search | n rec |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for k, v in results.items():
        m = v.metrics

        def f(key: str, m: dict = m) -> str:
            return f"{m[key]:.4f}" if key in m else "-"

        lines.append(f"| {k} | {f('search_recall@10')} | {f('search_recall@30')} | {f('rec_recall@10')} | {f('rec_recall@30')} | "
                     f"{f('rec_head_recall@30')} | {f('rec_torso_recall@30')} | {m.get('n_search', '-')} | {m.get('n_rec', '-')} |")
    lines += ["", f"Paired t-tests per example (scipy ttest_rel), Bonferroni over {n} tests:", "",
              "| a | b | metric | n | mean a | mean b | t | p | p Bonferroni |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in tests:
        lines.append(f"| {row['a']} | {row['b']} | {row['metric']} | {row['n']} | {row['mean_a']:.4f} | {row['mean_b']:.4f} | "
                     f"{row['t']:.2f} | {row['p']:.2g} | {row['p_bonferroni']:.2g} |")
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
