"""``semid ids build``, ``semid ids inspect`` and ``semid ids encode``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["register", "load_vectors"]


def load_vectors(path: str | Path) -> Any:
    """float32 (n, d) vectors from an embeddings directory (``embeddings.npy``) or a plain ``.npy``."""
    try:
        from semid.embed.base import load_embeddings
    except ImportError:  # embed stage absent in this build: read the two formats directly
        import numpy as np

        p = Path(path)
        f = p / "embeddings.npy" if p.is_dir() else p
        if not f.exists() or f.suffix != ".npy":
            raise FileNotFoundError(f"{path} is neither an embeddings directory (with embeddings.npy) nor a .npy file") from None
        return np.load(f, allow_pickle=False)
    return load_embeddings(path).vectors


def data_hash_of(paths: list[str]) -> str | None:
    """The dataset fingerprint the embeddings directories were built from (their ``data_hash``), when
    every input is one and they agree; None for plain ``.npy`` files (no dataset recorded)."""
    import json

    hashes = set()
    for p in paths:
        meta = Path(p) / "meta.json"
        if not meta.is_file():
            return None
        hashes.add(json.loads(meta.read_text()).get("data_hash"))
    return hashes.pop() if len(hashes) == 1 and None not in hashes else None


def _parse_opts(items: list[str]) -> dict[str, Any]:
    from semid.config import parse_value

    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--opt {item!r} must look like key=value (e.g. epochs=5)")
        k, v = item.split("=", 1)
        out[k.strip().replace("-", "_")] = parse_value(v)
    return out


def _cmd_build(args: argparse.Namespace) -> int:
    import numpy as np

    from semid.ids.build import build_ids
    from semid.ids.diagnostics import format_diagnostics
    from semid.ids.schemes import get_scheme

    search, rec = args.search_embeddings, args.rec_embeddings
    paths = list(args.embeddings or [])
    if get_scheme(args.scheme).inputs == ("shared",):
        if len(paths) != 1 or search or rec:
            raise ValueError(f"scheme {args.scheme!r} takes exactly one --embeddings FILE_OR_DIR")
        sources: dict[str, str] = {"shared": paths[0]}
        embeddings: Any = load_vectors(paths[0])
    else:
        if paths and len(paths) == 2 and not (search or rec):
            search, rec = paths
        if not (search and rec) or (paths and len(paths) != 2):
            raise ValueError(
                f"scheme {args.scheme!r} takes two inputs: --embeddings SEARCH REC, "
                "or --search-embeddings and --rec-embeddings"
            )
        sources = {"search": search, "rec": rec}
        embeddings = {"search": load_vectors(search), "rec": load_vectors(rec)}
    popularity = np.load(args.popularity) if args.popularity else None
    sizes = args.codebook_size[0] if len(args.codebook_size) == 1 else list(args.codebook_size)
    built = build_ids(
        embeddings, scheme=args.scheme, method=args.method, levels=args.levels, codebook_size=sizes,
        collisions=args.collisions, seed=args.seed, preset=args.preset, popularity=popularity,
        bucket_order=args.bucket_order, show_progress=not args.no_progress, max_queries=args.max_queries,
        **_parse_opts(args.opt or []),
    )
    built.ids.config["embeddings"] = {k: str(v) for k, v in sources.items()}
    fingerprint = data_hash_of(list(sources.values()))
    if fingerprint:  # as `semid run` does: a model trained on these IDs refuses other data
        built.ids.config["data_fingerprint"] = fingerprint
    out = built.save(args.out)
    print(format_diagnostics(built.ids.diagnostics))
    print(f"\nwrote {out}/ (codes.npy, config.json, diagnostics.json, quantizer/)")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from semid.ids.diagnostics import format_diagnostics
    from semid.ids.types import SemanticIDs

    ids = SemanticIDs.load(args.dir)
    print(f"{args.dir}: scheme={ids.scheme} items={ids.n_items} levels={ids.level_names} sizes={ids.level_sizes}")
    print(f"tasks={ids.tasks} collisions={ids.config.get('collisions')} bucket_order={ids.config.get('bucket_order')}\n")
    print(format_diagnostics(ids.diagnostics))
    return 0


def _cmd_encode(args: argparse.Namespace) -> int:
    from semid.ids.encode import encode_new_items, read_items_table

    paths = list(args.embeddings)
    if len(paths) not in (1, 2):
        raise ValueError(f"--embeddings takes one file (shared IDs) or two (SEARCH REC), got {len(paths)}")
    embeddings: Any = load_vectors(paths[0]) if len(paths) == 1 else \
        {"search": load_vectors(paths[0]), "rec": load_vectors(paths[1])}
    n = len(embeddings) if len(paths) == 1 else len(embeddings["search"])
    item_ids, titles = read_items_table(args.items, n)
    new = encode_new_items(args.ids, embeddings, item_ids, titles, suffix_policy=args.suffix)
    new.info["embeddings"] = [str(p) for p in paths]
    out = new.save(args.out)
    s = new.info
    print(f"{s['n_new']} new items: {s['own_id']} with an ID of their own, {s['shared_id']} sharing an ID "
          f"(suffix level full), {s['unseen_quantizer_codes']} with quantizer codes no trained item has")
    print(f"wrote {out}/ (codes.npy, quantizer_codes.npy, items.parquet, config.json); "
          f"serve them with: semid serve MODEL --new-items {out}")
    return 0


ENCODE_EPILOG = """examples:
  semid ids encode --ids runs/quickstart/synthetic/ids/multi-task__rq-kmeans__suffix__s0 \\
      --embeddings new_items.npy --items new_items.csv --out new-items
  semid serve MODEL --new-items new-items        # the new items are searchable at once

The embeddings must come from the same source the IDs were built from (the same embedder
applied to the new items' text); give two files (SEARCH REC) for separate/prefix-share IDs."""


BUILD_EPILOG = """examples:
  semid ids build --embeddings runs/mls/embeddings/multitask --levels 2 --codebook-size 256 --out runs/mls/ids/rqk
  semid ids build --scheme separate --search-embeddings runs/mls/embeddings/search \\
      --rec-embeddings runs/mls/embeddings/rec --out runs/mls/ids/separate
  semid ids build --embeddings runs/mls/embeddings/multitask --method rq-vae --preset robust --opt epochs=50 \\
      --out runs/mls/ids/rqvae
"""

INSPECT_EPILOG = """examples:
  semid ids inspect runs/mls/ids/rqk
  semid ids inspect runs/quickstart/synthetic/ids/multi-task__rq-kmeans__suffix__s0
"""


def _entries_help(registry: Any) -> str:
    """``name: help; name: help`` for a registry's entries (an argument's --help)."""
    return "; ".join(f"{e.name}: {e.help}" for e in map(registry.entry, registry))


def register(subparsers: Any) -> None:
    from semid.ids.base import DEFAULT_CODEBOOK_SIZE, DEFAULT_LEVELS
    from semid.ids.collisions import (
        BUCKET_ORDERS,
        COLLISION_MODES,
        DEFAULT_BUCKET_ORDER,
        DEFAULT_COLLISIONS,
    )
    from semid.ids.quantizers import (  # names and help only: imports no quantizer
        DEFAULT_QUANTIZER,
        QUANTIZERS,
    )
    from semid.ids.schemes import DEFAULT_SCHEME, SCHEMES

    p = subparsers.add_parser("ids", help="build and inspect Semantic IDs")
    sub = p.add_subparsers(dest="ids_command", metavar="SUBCOMMAND")
    b = sub.add_parser("build", help="quantize embeddings into Semantic IDs",
                       description="Quantize item embeddings into Semantic IDs (codes.npy, diagnostics.json, "
                                   "the fitted quantizer) under --out.",
                       epilog=BUILD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("--embeddings", nargs="+", metavar="FILE_OR_DIR",
                   help="an embeddings dir or a float32 .npy; two (search, rec) for separate/prefix-share")
    b.add_argument("--search-embeddings", metavar="FILE_OR_DIR", help="search embeddings (separate/prefix-share)")
    b.add_argument("--rec-embeddings", metavar="FILE_OR_DIR", help="rec embeddings (separate/prefix-share)")
    b.add_argument("--method", default=DEFAULT_QUANTIZER,
                   help=f"quantizer (default {DEFAULT_QUANTIZER}): " + _entries_help(QUANTIZERS))
    b.add_argument("--scheme", default=DEFAULT_SCHEME, choices=SCHEMES.names(),
                   help=f"ID scheme (default {DEFAULT_SCHEME}): " + _entries_help(SCHEMES))
    b.add_argument("--levels", type=int, default=DEFAULT_LEVELS, help=f"quantizer levels (default {DEFAULT_LEVELS})")
    b.add_argument("--codebook-size", type=int, nargs="+", default=[DEFAULT_CODEBOOK_SIZE],
                   help=f"one size, or one per level (default {DEFAULT_CODEBOOK_SIZE})")
    b.add_argument("--collisions", default=DEFAULT_COLLISIONS, choices=COLLISION_MODES.names(),
                   help=f"items that share an ID (default {DEFAULT_COLLISIONS}): " + _entries_help(COLLISION_MODES))
    b.add_argument("--bucket-order", default=DEFAULT_BUCKET_ORDER, choices=["auto", *BUCKET_ORDERS],
                   help=f"order of a bucket's items (default {DEFAULT_BUCKET_ORDER}: popularity when given, "
                        "else centroid): " + _entries_help(BUCKET_ORDERS))
    b.add_argument("--popularity", metavar="NPY", help="float (n_items,) popularity for bucket order")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--preset", default=None, help="rq-vae: naive | robust (default robust)")
    b.add_argument("--opt", action="append", metavar="KEY=VALUE", help="method option, e.g. epochs=5 or backend=kmeans")
    b.add_argument("--max-queries", type=int, default=10_000, help="query items sampled for neighbour preservation")
    b.add_argument("--no-progress", action="store_true", help="hide progress bars")
    b.add_argument("--out", required=True, help="output directory")
    b.set_defaults(func=_cmd_build)
    i = sub.add_parser("inspect", help="print the diagnostics of an IDs directory",
                       description="Print the diagnostics of an IDs directory (codes used per level, collisions, "
                                   "bucket sizes, ...).",
                       epilog=INSPECT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    i.add_argument("dir")
    i.set_defaults(func=_cmd_inspect)
    e = sub.add_parser("encode", help="IDs for new items from the saved quantizer, without retraining",
                       description="Give new items Semantic IDs with the quantizer saved by `semid ids build` "
                                   "(a free suffix where the code tuple is taken).",
                       epilog=ENCODE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("--ids", required=True, help="the IDs directory written by `semid ids build` (RUN/DATASET/ids/NAME)")
    e.add_argument("--embeddings", required=True, nargs="+", metavar="FILE_OR_DIR",
                   help="the new items' float32 (m, d) .npy or embeddings dir; two (SEARCH REC) for two-embedding schemes")
    e.add_argument("--items", required=True, metavar="CSV_OR_PARQUET",
                   help="the new items' item_id (and optional title) columns, one row per embedding row")
    e.add_argument("--suffix", default="free", choices=["free", "share"],
                   help="suffix IDs: 'free' gives a new item an unused suffix (its own ID; default), 'share' puts it "
                        "into its code tuple's first ID, after that item (see benchmarks/results/cold_start.md)")
    e.add_argument("--out", required=True, help="output directory")
    e.set_defaults(func=_cmd_encode)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
