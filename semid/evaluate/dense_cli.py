"""``semid evaluate-dense``: dense retrieval baselines of an embeddings directory.

It was part of ``semid.embed.cli``; it lives in the evaluate layer because it imports
``semid.evaluate.dense`` (the embed layer must not import the evaluate layer above it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from semid.generative.config import DEFAULT_K

DENSE_EPILOG = """examples:
  semid evaluate-dense --data runs/mls/data --embeddings runs/mls/embeddings/rec
  semid evaluate-dense --data runs/mls/data --embeddings runs/mls/embeddings/search --max-search-queries 2000 \\
      --out runs/mls/eval/dense-search
"""


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("evaluate-dense", help="dense retrieval baselines of an embeddings dir (+ popularity)",
                       description="Search and recommendation recall of item embeddings by dot product; writes metrics.json.",
                       epilog=DENSE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--data", required=True, help="prepared dataset directory")
    d.add_argument("--embeddings", required=True, help="embeddings directory or .npy file")
    d.add_argument("--out", default=None, help="output directory (default: EMBEDDINGS/dense)")
    d.add_argument("-k", type=int, default=DEFAULT_K, help=f"list length (>= 30; default {DEFAULT_K})")
    d.add_argument("--max-search-queries", type=int, default=None, help="evaluate a random sample of test queries (default: all)")
    d.add_argument("--seed", type=int, default=0, help="seed of the query sample")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=_evaluate_dense)


def _evaluate_dense(args: argparse.Namespace) -> int:
    import numpy as np

    from semid.data import Dataset
    from semid.embed import load_embeddings
    from semid.evaluate.dense import evaluate_dense
    from semid.io import atomic_dir, write_json

    dataset = Dataset.load(args.data)
    emb = load_embeddings(args.embeddings)
    res = evaluate_dense(dataset, emb, k=args.k, show_progress=not args.no_progress,
                         max_search_queries=args.max_search_queries, seed=args.seed)
    src = Path(args.embeddings)
    out = Path(args.out) if args.out else (src / "dense" if src.is_dir() else src.with_name(src.stem + "_dense"))
    with atomic_dir(out) as tmp:
        write_json(tmp / "metrics.json", res.metrics)
        ranks = {"rec": res.rec_ranks, **res.extra_ranks}
        if res.search_ranks is not None:
            ranks["search"] = res.search_ranks
        np.savez(tmp / "ranks.npz", **ranks)
    print(json.dumps({k: v for k, v in res.metrics.items()}, indent=2))
    print(f"wrote {out / 'metrics.json'}")
    return 0
