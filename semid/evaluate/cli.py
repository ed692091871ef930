"""``semid evaluate`` (generative model or the random-ID baseline) and ``semid compare``."""

from __future__ import annotations

import argparse
from typing import Any

from semid.generative.config import DEFAULT_K

EVAL_EPILOG = """examples:
  semid evaluate --model runs/mls/model/rqk --data runs/mls/data --out runs/mls/eval/rqk-seed0
  # the paper's decoding: diverse beam search, beam 60, 30 groups, penalty 0.25
  semid evaluate --model ... --data ... --beam 60 --groups 30 --diversity-penalty 0.25 --out ...
  # sample 2000 test examples per task (seeded, the same for every variant)
  semid evaluate --model ... --data ... --max-examples 2000 --sample-seed 0 --out ...
  # the random-valid-IDs baseline for search
  semid evaluate --baseline random-ids --ids runs/mls/ids/rqk --data runs/mls/data --out runs/mls/eval/random
  # the popularity baseline for recommendation (same sampled users)
  semid evaluate --baseline popularity --data runs/mls/data --out runs/mls/eval/popularity"""

COMPARE_EPILOG = """examples:
  semid compare runs/mls/eval/rqk-seed* runs/mls/eval/svd-seed* --out runs/mls/report/compare.md
Variants are named by metrics.json "variant" or the directory name without -seedN."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("evaluate", help="evaluate a generative model (or the random-ID baseline)",
                              description="Recall@10/30, NDCG@10, head/torso recall for search and recommendation; "
                                          "writes metrics.json and per-example hits.",
                              epilog=EVAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="trained model directory (RUN/model/NAME)")
    p.add_argument("--baseline", choices=["random-ids", "popularity"],
                   help="evaluate a baseline instead of a model (popularity: rec only)")
    p.add_argument("--ids", help="Semantic IDs directory (for --baseline random-ids)")
    p.add_argument("--data", required=True, help="prepared dataset directory")
    p.add_argument("--out", required=True, help="output directory (metrics.json + hits.parquet) or a .json file")
    p.add_argument("--k", type=int, default=DEFAULT_K, help=f"items retrieved per example (default {DEFAULT_K})")
    p.add_argument("--beam", type=int, help="beams per example (default k)")
    p.add_argument("--groups", type=int, default=1, help="diverse beam search groups (default 1: plain beam search)")
    p.add_argument("--diversity-penalty", type=float, default=0.0)
    p.add_argument("--max-examples", type=int, help="sample at most this many test examples per task")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the test sample (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random baseline (default 0)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--variant", help="variant name recorded in metrics.json (for semid compare)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_evaluate)

    c = subparsers.add_parser("compare", help="mean ± std over seeds and paired t-tests between variants",
                              description="Paired t-tests (scipy ttest_rel) with Bonferroni correction.",
                              epilog=COMPARE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("evals", nargs="+", help="evaluation outputs (directories or .json files)")
    c.add_argument("--metrics", nargs="+", default=["search_recall@30", "rec_recall@30"])
    c.add_argument("--pair-by", choices=["auto", "seed", "example"], default="auto")
    c.add_argument("--alpha", type=float, default=0.05)
    c.add_argument("--out", help="write the table (.md) or the tests (.json)")
    c.set_defaults(func=_compare)


def _evaluate(args: argparse.Namespace) -> int:
    from semid.data import Dataset
    from semid.evaluate.generative import (
        evaluate_generative,
        popularity_baseline,
        random_id_baseline,
    )
    from semid.ids.types import SemanticIDs

    if (args.model is None) == (args.baseline is None):
        raise ValueError("give exactly one of --model DIR or --baseline {random-ids,popularity}")
    ds = Dataset.load(args.data)
    if args.baseline == "popularity":
        res = popularity_baseline(ds, k=args.k, max_examples=args.max_examples, sample_seed=args.sample_seed)
    elif args.baseline:
        if not args.ids:
            raise ValueError("--baseline random-ids needs --ids RUN/ids/NAME")
        res = random_id_baseline(ds, SemanticIDs.load(args.ids), k=args.k, seed=args.seed,
                                 max_examples=args.max_examples, sample_seed=args.sample_seed)
    else:
        res = evaluate_generative(args.model, ds, k=args.k, max_examples=args.max_examples, sample_seed=args.sample_seed,
                                  beam=args.beam, num_groups=args.groups, diversity_penalty=args.diversity_penalty,
                                  batch_size=args.batch_size, show_progress=not args.no_progress)
    if args.variant:
        res.metrics["variant"] = args.variant
    out = res.save(args.out)
    m = res.metrics
    sample = " (sampled)" if m["sample"]["sampled"] else ""
    if "search_recall@10" in m:
        print(f"search R@10 {m['search_recall@10']:.4f}  R@30 {m['search_recall@30']:.4f}  NDCG@10 {m['search_ndcg@10']:.4f}"
              f"  on {m['n_search']:,} queries{sample}")
    print(f"rec    R@10 {m['rec_recall@10']:.4f}  R@30 {m['rec_recall@30']:.4f}  NDCG@10 {m['rec_ndcg@10']:.4f}"
          f"  head R@30 {m['rec_head_recall@30']:.4f}  torso R@30 {m['rec_torso_recall@30']:.4f}  on {m['n_rec']:,} users")
    print(f"wrote {out}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from semid.evaluate.significance import compare, load_records
    from semid.io import atomic_write_text, write_json

    res = compare(load_records(args.evals), metrics=tuple(args.metrics), pair_by=args.pair_by, alpha=args.alpha)
    table = res.to_markdown()
    print(table)
    if args.out:
        out = Path(args.out)
        if out.suffix == ".json":
            write_json(out, {"summary": res.summary.to_dict("records"), "tests": res.tests.to_dict("records"),
                             "alpha": res.alpha})
        else:
            atomic_write_text(out, table)
        print(f"wrote {out}")
    return 0
