"""Benchmark: every embedding method on MovieLens ml-latest-small, time + dense figures.

Regenerate the committed results with::

    python benchmarks/bench_embeddings.py --ml-path ../shared/data/ml-latest-small \\
        --out benchmarks/results/embeddings

It prepares the dataset (offline template queries), computes content, search, rec (ENMF),
multitask, fused-concat (search + rec) and fused-svd (search + rec) embeddings, evaluates each
with ``semid.evaluate.dense.evaluate_dense`` and writes ``OUT.json`` and ``OUT.md``.

The paper's defaults (search/multitask: 5 epochs over all ~97k query pairs) take hours on a
2-core CPU, so by default this script fine-tunes on a budget (see ``--ft-*``; the settings are
written into the results file). ``--paper`` runs the library defaults instead (GPU advised).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ml-path", default="../shared/data/ml-latest-small")
    ap.add_argument("--data", default=None, help="an already prepared dataset dir (skips preparation)")
    ap.add_argument("--work", default="/tmp/semid_bench_embeddings", help="scratch dir for data and embeddings")
    ap.add_argument("--out", default="benchmarks/results/embeddings", help="results path without suffix")
    ap.add_argument("--methods", nargs="+", default=["content", "rec", "search", "fused-concat", "fused-svd", "multitask"])
    ap.add_argument("--paper", action="store_true", help="use the library (paper) defaults for fine-tuning")
    ap.add_argument("--ft-epochs", type=float, default=1.0)
    ap.add_argument("--ft-batch-size", type=int, default=64)
    ap.add_argument("--ft-queries-per-item", type=int, default=1)
    ap.add_argument("--ft-max-items", type=int, default=2000, help="fine-tune on the query pairs of at most this many items")
    ap.add_argument("--ft-rec-pairs", type=int, default=None, help="multitask: at most this many next-item pairs (default: as many as query pairs)")
    ap.add_argument("--max-seq-length", type=int, default=64)
    ap.add_argument("--max-search-queries", type=int, default=1000, help="test queries sampled for dense search recall")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("sentence_transformers", "transformers", "httpx", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    import torch

    from semid.data import Dataset
    from semid.embed import build_embeddings, load_embeddings
    from semid.evaluate.dense import evaluate_dense

    work = Path(args.work)
    t0 = time.perf_counter()
    if args.data:
        ds = Dataset.load(args.data)
    else:
        from semid.data.prepare import prepare

        ds = prepare("movielens", path=args.ml_path, seed=args.seed, show_progress=False)
        ds.save(work / "data")
    prep_s = time.perf_counter() - t0

    ft: dict = {} if args.paper else {
        "epochs": args.ft_epochs, "batch_size": args.ft_batch_size,
        "max_queries_per_item": args.ft_queries_per_item, "max_seq_length": args.max_seq_length,
    }
    ft_ds = ds
    if args.ft_max_items and not args.paper:
        import copy

        keep = set(np.random.default_rng(args.seed).choice(ds.items["item_id"].to_numpy(), args.ft_max_items, replace=False).tolist())
        ft_ds = copy.copy(ds)
        ft_ds.queries = ds.queries[ds.queries["item_id"].isin(keep)].reset_index(drop=True)
    n_q = len(ft_ds.queries_for("train").groupby("item_index").head(ft.get("max_queries_per_item") or 10**9))
    configs = {
        "content": {} if args.paper else {"max_seq_length": args.max_seq_length},
        "search": ft,
        "rec": {},
        "multitask": ft if args.paper else {**ft, "max_rec_pairs": args.ft_rec_pairs or n_q},
    }
    rows = []
    done: dict[str, Path] = {}
    for method in args.methods:
        inputs = None
        if method.startswith("fused"):
            if "search" not in done or "rec" not in done:
                logging.warning("skipping %s: needs search and rec", method)
                continue
            inputs = [load_embeddings(done["search"]), load_embeddings(done["rec"])]
        t = time.perf_counter()
        train_ds = ft_ds if method in ("search", "multitask") else ds
        emb = build_embeddings(train_ds, method, configs.get(method, {}), inputs=inputs, seed=args.seed)
        path = emb.save(work / "embeddings" / method)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        res = evaluate_dense(ds, load_embeddings(path), max_search_queries=args.max_search_queries, seed=args.seed)
        eval_s = time.perf_counter() - t
        done[method] = path
        row = {"method": method, "dim": emb.dim, "embed_seconds": round(fit_s, 1), "eval_seconds": round(eval_s, 1),
               "config": emb.meta.get("config"), "training": emb.meta.get("training"), "metrics": res.metrics}
        rows.append(row)
        logging.info("%s: %s", method, {k: v for k, v in res.metrics.items() if "recall@30" in k})
        _write(args, rows, ds, prep_s, torch, t0)
    _write(args, rows, ds, prep_s, torch, t0)
    return 0


def _write(args, rows, ds, prep_s, torch, t0) -> None:
    from semid.io import atomic_write_text, write_json

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = "python benchmarks/bench_embeddings.py " + " ".join(sys.argv[1:])
    info = {
        "command": cmd.strip(),
        "dataset": ds.sizes(),
        "settings": vars(args),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()},
        "prepare_seconds": round(prep_s, 1),
        "total_seconds": round(time.perf_counter() - t0, 1),
        "results": rows,
    }
    write_json(out.with_suffix(".json"), info)
    keys = ["search_recall@10", "search_recall@30", "rec_recall@10", "rec_recall@30", "rec_head_recall@30", "rec_torso_recall@30"]
    fmt = lambda v: "–" if v is None else f"{v:.4f}"  # noqa: E731
    lines = [f"# Embedding benchmark on ml-latest-small ({ds.sizes()['n_items']} items, {ds.sizes()['n_users']} users)", "",
             f"Command: `{cmd.strip()}`", "",
             f"Fine-tuning settings: {'library (paper) defaults' if args.paper else 'budget, see settings in the JSON'}; "
             f"search recall over {args.max_search_queries} sampled test queries; '–' = no query encoder.", "",
             "| method | dim | embed s | eval s | " + " | ".join(keys) + " |",
             "|---" * (4 + len(keys)) + "|"]
    for r in rows:
        m = r["metrics"]
        lines.append(f"| {r['method']} | {r['dim']} | {r['embed_seconds']} | {r['eval_seconds']} | " + " | ".join(fmt(m.get(k)) for k in keys) + " |")
    if rows:
        m = rows[0]["metrics"]
        lines.append(f"| popularity | – | – | – | – | – | {fmt(m['popularity_rec_recall@10'])} | {fmt(m['popularity_rec_recall@30'])} | "
                     f"{fmt(m['popularity_rec_head_recall@30'])} | {fmt(m['popularity_rec_torso_recall@30'])} |")
        enmf = [r for r in rows if "enmf_rec_recall@30" in r["metrics"]]
        for r in enmf:
            m = r["metrics"]
            lines.append(f"| rec (ENMF user vectors) | {r['dim']} | – | – | – | – | {fmt(m['enmf_rec_recall@10'])} | {fmt(m['enmf_rec_recall@30'])} | "
                         f"{fmt(m['enmf_rec_head_recall@30'])} | {fmt(m['enmf_rec_torso_recall@30'])} |")
    lines += ["", f"Total wall time: {info['total_seconds']} s on {info['machine']['platform']} ({info['machine']['threads']} torch threads, cuda={info['machine']['cuda']})."]
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    json.dumps(info, default=str)


if __name__ == "__main__":
    sys.exit(main())
