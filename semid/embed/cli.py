"""``semid embed`` (``semid evaluate-dense`` lives in :mod:`semid.evaluate.dense_cli`, a layer above)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# shortcut flag -> config field (only for the methods whose config has that field)
EMBED_EPILOG = """examples:
  semid embed --data runs/mls/data --method content --out runs/mls/embeddings/content
  semid embed --data runs/mls/data --method search --epochs 1 --batch-size 64 --out runs/mls/embeddings/search
  semid embed --data runs/mls/data --method rec --epochs 30 --dim 256 --set negative_weight=0.1 --out runs/mls/embeddings/rec
  semid embed --data runs/mls/data --method fused-svd --inputs runs/mls/embeddings/search runs/mls/embeddings/rec \\
      --out runs/mls/embeddings/fused-svd
"""

SHORTCUTS = {"model": "model", "epochs": "epochs", "batch_size": "batch_size", "lr": "lr",
             "max_seq_length": "max_seq_length", "device": "device", "dim": "dim"}


def register(sub: argparse._SubParsersAction) -> None:
    from semid.embed.registry import EMBEDDERS

    methods = ", ".join(EMBEDDERS)
    p = sub.add_parser("embed", help=f"compute item embeddings ({methods})",
                       description="Compute one item embedding per item and write RUN/embeddings/NAME "
                                   "(embeddings.npy float32 (n_items, d) + meta.json).\n\nmethods:\n"
                                   + EMBEDDERS.help_lines(),
                       epilog=EMBED_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="prepared dataset directory (semid data prepare --out)")
    p.add_argument("--method", required=True, metavar="METHOD",
                   help=f"one of {methods} (listed above; hgnn's options: --set links=... --set fanouts.co=10 "
                   "--set layers=2, see semid/embed/hgnn.py)")
    p.add_argument("--out", required=True, help="output embeddings directory")
    p.add_argument("--inputs", nargs="+", default=None, help="fused methods: two embeddings dirs or .npy files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default=None, help="sentence-transformers hub id or local path (default all-MiniLM-L6-v2; paper: all-mpnet-base-v2)")
    p.add_argument("--epochs", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--dim", type=int, default=None, help="rec, hgnn: embedding dimension")
    p.add_argument("--max-seq-length", type=int, default=None)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--config", default=None, help="TOML/YAML/JSON file with the method's config keys")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=_embed)


def _config(args: argparse.Namespace) -> dict[str, Any]:
    import dataclasses

    from semid.config import apply_overrides, load_config_file
    from semid.embed.registry import EMBEDDERS

    EMBEDDERS.get_factory(args.method)
    cfg: dict[str, Any] = load_config_file(args.config) if args.config else {}
    fields = {f.name for f in dataclasses.fields(EMBEDDERS.options_class(args.method))}
    for flag, key in SHORTCUTS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if key not in fields:
            raise ValueError(f"--{flag.replace('_', '-')} does not apply to method {args.method!r} (its keys: {sorted(fields)})")
        cfg[key] = value
    return apply_overrides(cfg, args.set)


def _embed(args: argparse.Namespace) -> int:
    from semid.data import Dataset
    from semid.embed import build_embeddings, load_embeddings

    cfg = _config(args)
    dataset = Dataset.load(args.data)
    inputs = [load_embeddings(p) for p in args.inputs] if args.inputs else None
    emb = build_embeddings(dataset, args.method, cfg, inputs=inputs, seed=args.seed, show_progress=not args.no_progress)
    emb.meta["data_path"] = str(Path(args.data))
    path = emb.save(args.out)
    print(f"wrote {emb.n_items} x {emb.dim} {args.method} embeddings to {path} ({emb.meta['seconds']}s)")
    return 0
