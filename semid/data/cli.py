"""``semid data``: prepare a dataset directory, print its statistics, download MovieLens.

Heavy imports (pandas, the readers) happen inside the command functions.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["register", "dataset_stats", "format_stats"]

_PREPARE_EPILOG = """\
examples:
  # the built-in synthetic world (no files needed)
  semid data prepare --source synthetic --n-items 500 --n-users 300 --out runs/demo/data

  # a local, unzipped MovieLens copy (ml-latest-small, ml-25m, ml-100k, ml-1m, ...)
  semid data prepare --source movielens --path ~/data/ml-latest-small --out runs/mls/data

  # download the GroupLens archive into the cache first (sha256-checked)
  semid data prepare --source movielens --download ml-25m --out runs/ml25m/data

  # your own catalogue (queries are generated unless --queries-file is given); ids may be strings
  semid data prepare --source files --items items.csv --interactions events.parquet --out runs/mine/data

  # the shared Amazon Beauty copy (ASINs as item ids), queries about "products"
  semid data prepare --source files --items ../shared/data/amazon-beauty/items.csv \\
      --interactions ../shared/data/amazon-beauty/interactions.csv --item-noun product --out runs/beauty/data

  # the Amazon review files as downloaded (2014 reviews_Beauty_5.json.gz + meta_Beauty.json.gz; 2018, 2023)
  semid data prepare --source amazon --path ~/data/amazon/reviews_Beauty_5.json.gz --out runs/beauty/data

  # queries from an OpenAI-compatible LLM, as in the paper (key from $OPENAI_API_KEY or --llm-api-key)
  semid data prepare --source movielens --path ml-latest-small --queries llm \\
      --llm-base-url http://localhost:8000/v1 --llm-model my-model --out runs/mls-llm/data

The output directory is written atomically: on any error nothing is left at --out.
"""

_STATS_EPILOG = """\
examples:
  semid data stats runs/mls/data
  semid data stats runs/mls/data --json | jq .n_items
"""

_DOWNLOAD_EPILOG = """\
examples:
  semid data download ml-latest-small
  semid data download ml-32m --sha256 <hex digest to pin>
  SEMID_CACHE=/big/disk semid data download ml-25m
"""


def register(subparsers: Any) -> None:
    """Add ``semid data {prepare,stats,download}``."""
    from semid.data.download import MOVIELENS_ARCHIVES
    from semid.data.sources import DATA_SOURCES, QUERY_GENERATORS

    names = sorted(MOVIELENS_ARCHIVES)
    data = subparsers.add_parser("data", help="prepare datasets and inspect them",
                                 description="Prepare datasets (items, interactions, queries, splits) and inspect them.")
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    p = sub.add_parser(
        "prepare", help="read or generate a catalogue, generate queries, split, write RUN/data",
        description="Read a catalogue (synthetic, MovieLens, Amazon reviews or your own files), generate 10+10 queries\n"
                    "per item, split the interactions leave-last-out and write the dataset directory.\n\n"
                    "sources (--source):\n" + DATA_SOURCES.help_lines() + "\n\nquery generators (--queries):\n"
                    + QUERY_GENERATORS.help_lines(),
        epilog=_PREPARE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", type=_registered(DATA_SOURCES), required=True, metavar="|".join(DATA_SOURCES),
                   help="where the catalogue comes from (listed above)")
    p.add_argument("--out", required=True, metavar="DIR", help="dataset directory to write (replaced atomically)")
    g = p.add_argument_group("movielens and amazon")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--path", metavar="DIR", help="movielens: an unzipped MovieLens directory (movies.csv+ratings.csv, "
                                                   "u.data or ratings.dat); amazon: a directory with one category's "
                                                   "reviews and meta files, or the reviews file")
    src.add_argument("--download", metavar="NAME", choices=names, help=f"download a GroupLens archive: {', '.join(names)}")
    g.add_argument("--cache-dir", metavar="DIR", help="download cache (default: $SEMID_CACHE or ~/.cache/semid)")
    g.add_argument("--sha256", metavar="HEX", help="expected sha256 of the downloaded archive (overrides the built-in one)")
    g.add_argument("--base-url", metavar="URL", help="a mirror holding NAME.zip (default: files.grouplens.org)")
    g.add_argument("--meta", metavar="FILE", help="amazon: the meta_<Category> file (default: the one beside the reviews)")
    g.add_argument("--n-genome-tags", type=int, default=10, metavar="K",
                   help="Tag Genome tags (most relevant first) added to each movie's tags where present (default: 10)")
    g = p.add_argument_group("files (your own data; CSV, TSV, Parquet or JSON Lines)")
    g.add_argument("--items", metavar="FILE", help="item_id + text (or title, genres, tags, description)")
    g.add_argument("--interactions", metavar="FILE", help="user_id, item_id, timestamp[, rating]")
    g.add_argument("--queries-file", metavar="FILE", help="item_id, text, split (train/test); default: generate queries")
    g = p.add_argument_group("synthetic")
    g.add_argument("--n-items", type=int, metavar="N", help="catalogue size of the synthetic world")
    g.add_argument("--n-users", type=int, metavar="N", help="number of synthetic users")
    g = p.add_argument_group("queries")
    g.add_argument("--queries", type=_registered(QUERY_GENERATORS), default="offline",
                   metavar="|".join(QUERY_GENERATORS),
                   help="how queries are made (listed above; default: offline)")
    g.add_argument("--item-noun", metavar="WORD",
                   help="what offline queries call an item (default: movie for synthetic/movielens, product for "
                        "amazon, item for files); 'movie' keeps the MovieLens phrasings")
    g.add_argument("--llm-base-url", metavar="URL", help="OpenAI-compatible API root (or $OPENAI_BASE_URL)")
    g.add_argument("--llm-model", metavar="NAME", help="chat model name (or $SEMID_LLM_MODEL)")
    g.add_argument("--llm-api-key", metavar="KEY", help="API key (prefer $OPENAI_API_KEY; it is never stored)")
    g.add_argument("--llm-cache", metavar="DIR", help="per-item answer cache so that runs resume")
    g = p.add_argument_group("splits")
    g.add_argument("--min-history", type=int, default=1, metavar="N",
                   help="users need N training interactions plus a valid and a test one; others are dropped (default: 1)")
    g.add_argument("--seed", type=int, default=0, help="random seed for the synthetic world and the queries (default: 0)")
    p.set_defaults(func=_cmd_prepare)

    s = sub.add_parser("stats", help="print the sizes of a prepared dataset",
                       description="Print items, users, interactions, queries per split, head/torso sizes and "
                                   "percentiles of the users' training-history length.",
                       epilog=_STATS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("dir", metavar="DIR", help="a directory written by `semid data prepare`")
    s.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    s.set_defaults(func=_cmd_stats)

    d = sub.add_parser("download", help="download a GroupLens MovieLens archive into the cache",
                       description="Download, sha256-check and unzip a GroupLens archive; print its directory.",
                       epilog=_DOWNLOAD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("name", choices=names, metavar="NAME", help=f"one of: {', '.join(names)}")
    d.add_argument("--cache-dir", metavar="DIR", help="download cache (default: $SEMID_CACHE or ~/.cache/semid)")
    d.add_argument("--sha256", metavar="HEX", help="expected sha256 (overrides the built-in one)")
    d.add_argument("--base-url", metavar="URL", help="a mirror holding NAME.zip (default: files.grouplens.org)")
    d.set_defaults(func=_cmd_download)


def _registered(registry: Any) -> Any:
    """An argparse ``type`` that accepts exactly the registry's names; an unknown one gets the
    registry's message, which lists the valid names."""
    def check(name: str) -> str:
        try:
            registry.entry(name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return name

    check.__name__ = registry.noun
    return check


# ------------------------------------------------------------------- commands
def _cmd_download(args: argparse.Namespace) -> int:
    from semid.data.download import download_movielens

    path = download_movielens(args.name, cache_dir=args.cache_dir, base_url=args.base_url, sha256=args.sha256,
                              show_progress=not getattr(args, "quiet", False))
    print(path)
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from semid.data.schema import SchemaError

    show = not getattr(args, "quiet", False)
    t0 = time.perf_counter()
    if args.source == "synthetic":
        given = [f"--{n.replace('_', '-')}" for n in ("path", "download", "sha256", "base_url") if getattr(args, n)]
        if given:
            raise ValueError(f"{', '.join(given)} only apply to --source movielens; drop them or use --source movielens")
    elif args.source == "files":
        if not (args.items and args.interactions):
            raise ValueError("--source files needs --items FILE and --interactions FILE")
    elif args.source == "amazon":
        if not args.path or args.download:
            raise ValueError("--source amazon needs --path (a directory holding reviews_<Category>_5.json.gz and "
                             "meta_<Category>.json.gz, or the reviews file); --download is for MovieLens only")
    elif not (args.path or args.download):
        raise ValueError("--source movielens needs --path DIR (a local copy) or --download NAME (a GroupLens archive)")
    if args.source in ("movielens", "amazon", "files") and (args.n_items is not None or args.n_users is not None):
        raise ValueError("--n-items/--n-users only apply to --source synthetic")
    if args.meta and args.source != "amazon":
        raise ValueError("--meta only applies to --source amazon")
    path = args.path
    if args.download:
        from semid.data.download import download_movielens

        path = str(download_movielens(args.download, cache_dir=args.cache_dir, base_url=args.base_url,
                                      sha256=args.sha256, show_progress=show))
    synthetic = {k: v for k, v in (("n_items", args.n_items), ("n_users", args.n_users)) if v is not None}
    llm = {k: v for k, v in (("base_url", args.llm_base_url), ("model", args.llm_model),
                             ("api_key", args.llm_api_key), ("cache_dir", args.llm_cache)) if v is not None}
    if llm and args.queries != "llm":
        raise ValueError("--llm-* options only apply with --queries llm")
    from semid.data.prepare import prepare

    try:
        ds = prepare(source=args.source, path=path, queries=args.queries, min_history=args.min_history,
                     seed=args.seed, synthetic_options=synthetic or None, llm_options=llm or None,
                     n_genome_tags=args.n_genome_tags, show_progress=show, items_path=args.items,
                     interactions_path=args.interactions, queries_path=args.queries_file,
                     item_noun=args.item_noun, meta_path=args.meta)
    except SchemaError as exc:
        if args.source == "movielens" and path:  # e.g. no user with enough history: name the ratings file
            from semid.data.movielens import ratings_file

            rf = ratings_file(path)
            if str(rf) not in str(exc):
                raise SchemaError(f"{rf}: {exc}") from None
        raise
    ds.save(args.out)
    st = dataset_stats(ds)
    name = ds.meta.get("name") or ds.meta.get("source") or args.source
    hl = st["history_length"]
    print(
        f"Prepared {name} ({args.source}, {args.queries} queries) in {time.perf_counter() - t0:.1f}s: "
        f"{st['n_items']:,} items ({st['n_head']:,} head, {st['n_torso']:,} torso), {st['n_users']:,} users, "
        f"{st['n_interactions']:,} interactions (train {st['n_interactions_train']:,}, valid "
        f"{st['n_interactions_valid']:,}, test {st['n_interactions_test']:,}; median training history "
        f"{hl['p50']:g}), {st['n_queries_train']:,} train and {st['n_queries_test']:,} test queries"
        f"{_dropped(ds.meta.get('duplicates_dropped', 0))}. "
        f"Wrote {args.out}; inspect it with `semid data stats {args.out}`."
    )
    return 0


def _dropped(n: int) -> str:
    return f"; dropped {n:,} exact duplicate interaction row(s)" if n else ""


def _cmd_stats(args: argparse.Namespace) -> int:
    from semid.data.schema import Dataset

    st = dataset_stats(Dataset.load(args.dir))
    print(json.dumps(st, indent=2) if args.json else format_stats(st, args.dir))
    return 0


# ------------------------------------------------------------------- library helpers
PERCENTILES = (5, 25, 50, 75, 95)


def dataset_stats(ds: Any) -> dict[str, Any]:
    """:meth:`Dataset.sizes` plus interactions per split and training-history percentiles.

    ``history_length`` holds min, p5, p25, p50, p75, p95, max and mean of the number of
    *training* interactions per user.
    """
    import numpy as np

    st: dict[str, Any] = dict(ds.sizes())
    inter = ds.interactions
    by_split = inter["split"].value_counts()
    for s in ("train", "valid", "test"):
        st[f"n_interactions_{s}"] = int(by_split.get(s, 0))
    hist = inter[inter["split"] == "train"].groupby("user_id").size().to_numpy()
    if len(hist) == 0:
        hist = np.zeros(1, dtype=np.int64)
    hl = {"min": int(hist.min())}
    hl.update({f"p{q}": round(float(np.percentile(hist, q)), 2) for q in PERCENTILES})
    hl.update({"max": int(hist.max()), "mean": round(float(hist.mean()), 2)})
    st["history_length"] = hl
    meta = getattr(ds, "meta", {}) or {}
    st["source"] = meta.get("name") or meta.get("source")
    return st


def format_stats(st: dict[str, Any], where: str | Path = "") -> str:
    """Human-readable form of :func:`dataset_stats`."""
    hl = st["history_length"]
    pct = ", ".join(f"p{q} {hl[f'p{q}']:g}" for q in PERCENTILES)
    lines = [
        f"dataset       {where}" + (f"  ({st['source']})" if st.get("source") else ""),
        f"items         {st['n_items']:>10,}   head {st['n_head']:,} (top 1% by training popularity), torso {st['n_torso']:,}",
        f"users         {st['n_users']:>10,}",
        f"interactions  {st['n_interactions']:>10,}   train {st['n_interactions_train']:,}, valid "
        f"{st['n_interactions_valid']:,}, test {st['n_interactions_test']:,}",
        f"queries       {st['n_queries_train'] + st['n_queries_test']:>10,}   train {st['n_queries_train']:,}, "
        f"test {st['n_queries_test']:,}",
        f"history       training interactions per user: min {hl['min']}, {pct}, max {hl['max']}, mean {hl['mean']:g}",
    ]
    return "\n".join(lines)
