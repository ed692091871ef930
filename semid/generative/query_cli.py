"""``semid search`` and ``semid recommend``: ask a trained model for items."""

from __future__ import annotations

import argparse
import json
from typing import Any

from semid.generative.config import DEFAULT_BEAM_SIZE, DEFAULT_SERVE_K

SEARCH_EPILOG = """examples:
  semid search runs/quickstart/synthetic/model/multi-task__rq-kmeans__suffix__s0 "a funny space adventure"
  semid search MODEL "dark thriller" "romantic comedy" --k 5 --json
  semid search MODEL "a new kind of film" --new-items new-items   # items from `semid ids encode`"""

REC_EPILOG = """examples:
  semid recommend runs/quickstart/synthetic/model/multi-task__rq-kmeans__suffix__s0 --history 3,17,42
  semid recommend MODEL --history 1,2,3 --k 20 --json

Item ids are the catalogue's own (the item_id column of your data), oldest first."""


def _common(p) -> None:
    p.add_argument("model", help="trained model directory (semid train --out, or RUN/DATASET/model/VARIANT)")
    p.add_argument("--k", type=int, default=DEFAULT_SERVE_K, help=f"items to return (default {DEFAULT_SERVE_K})")
    p.add_argument("--beam", type=int, help=f"beam width (default max(k, {DEFAULT_BEAM_SIZE}))")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    p.add_argument("--json", action="store_true", help="print JSON (one list of {rank, item_id, title, score} per input)")
    p.add_argument("--new-items", action="append", metavar="DIR",
                   help="add items encoded by `semid ids encode` first (repeatable; no retraining)")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("search", help="search a trained model with text queries",
                              description="Print the top items a trained model generates for each query.",
                              epilog=SEARCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("queries", nargs="+", help="one or more query strings")
    p.set_defaults(func=_search)
    p = subparsers.add_parser("recommend", help="recommend the next items for a history of item ids",
                              description="Print the top next items a trained model generates for a user history.",
                              epilog=REC_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--history", required=True, action="append",
                   help="comma-separated item ids, oldest first (repeat for several histories)")
    p.set_defaults(func=_recommend)


def _print(inputs: list[str], results, as_json: bool) -> None:
    if as_json:
        print(json.dumps([[{"rank": r + 1, "item_id": h.item_id, "title": h.title, "score": round(h.score, 4)}
                           for r, h in enumerate(lst)] for lst in results], default=str))
        return
    for text, lst in zip(inputs, results, strict=True):
        print(f"{text}")
        print(f"{'rank':>4}  {'item_id':<12} {'score':>8}  title")
        for r, h in enumerate(lst, 1):
            print(f"{r:>4}  {h.item_id!s:<12} {h.score:>8.3f}  {h.title}")
        print()


def _load(args: argparse.Namespace):
    from semid.generative.api import Retriever

    r = Retriever.load(args.model, device=args.device)
    for d in args.new_items or []:
        r.add_items(d)
    return r


def _search(args: argparse.Namespace) -> int:
    r = _load(args)
    _print(args.queries, r.search(args.queries, k=args.k, beam_size=args.beam), args.json)
    return 0


def _recommend(args: argparse.Namespace) -> int:
    raw = [[x.strip() for x in h.split(",") if x.strip()] for h in args.history]
    r = _load(args)
    # the catalogue decides what an id is: "0000000003" stays a string in a catalogue of ASINs,
    # "42" becomes 42 in one of integers; an unknown id is passed on as typed, for the error to name
    histories = [[x if r.find(x) is None else r.find(x) for x in h] for h in raw]
    _print([f"history {h}" for h in args.history], r.recommend(histories, k=args.k, beam_size=args.beam), args.json)
    return 0
