"""``semid train``: train the joint generative retriever on a dataset and its Semantic IDs."""

from __future__ import annotations

import argparse
from typing import Any

EPILOG = """which backend:
  encoder-decoder (default)  a frozen pretrained text encoder (all-MiniLM-L6-v2 ships offline) whose
                             training-query states are computed once, plus a small trainable ID decoder.
                             Learns search and rec in minutes on a CPU: use it on a laptop or for grids.
                             The decoder reads every token state of a query through the states' fixed
                             top-d_model principal components (search_projection=pca, the default: fitted
                             and applied once: 1.14x the training throughput of
                             --set search_projection=learned, which trains the projection, for a median
                             7% less search over the movielens-small grid and 40% less with rec-tuned IDs:
                             benchmarks/results/decoder_check.md and projection_grid.md. Use learned when
                             search on IDs unrelated to the text matters more than speed).
                             --set search_memory=pooled reads the sentence embedding alone (cheaper, weaker
                             on search); --set decoder=mlp is a lighter decoder: about 2x the training
                             throughput, the same rec but a fifth less search at 4 epochs
                             (benchmarks/results/decoder_check_previous.md).
  t5                         a seq2seq T5: --model google/flan-t5-base (the paper's; hub name or local
                             path) on GPUs, or --model small (built from a config, trained from scratch:
                             it must learn language from the queries alone and does not learn search at
                             CPU budgets).

examples:
  # the CPU default: frozen MiniLM + ID decoder
  semid train --data runs/mls/data --ids runs/mls/ids/rqk --out runs/mls/model/rqk --epochs 8

  # another encoder (any sentence-transformers model by hub name or local path), a wider decoder
  semid train --data ... --ids ... --out ... --encoder all-mpnet-base-v2 --set d_model=256

  # a cheaper decoder input (the query's pooled sentence embedding), with dropout
  semid train --data ... --ids ... --out ... --set search_memory=pooled --set dropout=0.1

  # reuse the training queries' encoder states, encoded once for this dataset and encoder
  semid train --data ... --ids ... --out ... --query-states runs/mls/query-states/all-MiniLM-L6-v2-64
  # ... and the item texts' (RUN/DATASET/item-states/)
  semid train --data ... --ids ... --out ... --query-states Q_DIR --item-states runs/mls/item-states/all-MiniLM-L6-v2-64

  # the paper's model (needs the hub or a local copy), paper defaults (3 epochs, lr 2e-3, batch 128)
  semid train --data runs/ml25m/data --ids runs/ml25m/ids/rqk --backend t5 --model google/flan-t5-base --out runs/ml25m/model/rqk

  # several GPUs
  accelerate launch -m semid.cli train --data ... --ids ... --backend t5 --model google/flan-t5-base --out ...

Rerunning the same command after an interruption resumes from the newest checkpoint in --out/checkpoints."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("train", help="train the joint generative model (search + rec)",
                              description="Train the generative retriever (search: query -> item ID; rec: history IDs -> next item ID) jointly, with the encoder-decoder backend (default) or a T5.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="prepared dataset directory (semid data prepare)")
    p.add_argument("--ids", required=True, help="Semantic IDs directory (semid ids build)")
    from semid.generative.backends import BACKENDS

    p.add_argument("--backend", choices=BACKENDS.names(),
                   help="model backend (default encoder-decoder; --model alone implies t5); see below")
    p.add_argument("--model", help="t5: 'small' (offline, from scratch), a hub name such as google/flan-t5-base, or a local path")
    p.add_argument("--encoder", help="encoder-decoder: sentence-transformers encoder, hub name or local path "
                                     "(default all-MiniLM-L6-v2, offline)")
    p.add_argument("--query-states", help="encoder-decoder: a directory of training-query states to reuse "
                                          "(written by semid run under RUN/DATASET/query-states/)")
    p.add_argument("--item-states", help="encoder-decoder: the same for the item texts (RUN/DATASET/item-states/); "
                                         "without it they are encoded again")
    p.add_argument("--out", required=True, help="model directory to write (RUN/model/NAME)")
    p.add_argument("--config", help="TrainConfig file (.toml/.yaml/.json); flags below override it")
    p.add_argument("--epochs", type=float)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--grad-accum", type=int)
    p.add_argument("--max-history", type=int, help="rec input: the last N history items (default 20)")
    p.add_argument("--rec-targets", choices=["all", "last"], help="every next item of each history, or only the last")
    p.add_argument("--seed", type=int)
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any TrainConfig field, e.g. --set small_d_model=256 (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    import json

    from semid.config import apply_overrides, from_dict, load_config_file
    from semid.data import Dataset
    from semid.generative import TrainConfig, train_model

    data = load_config_file(args.config) if args.config else {}
    backend = args.backend or ("t5" if args.model else None)
    flags = {"backend": backend, "model": args.model, "encoder": args.encoder, "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
             "grad_accum": args.grad_accum, "max_history": args.max_history, "rec_targets": args.rec_targets,
             "seed": args.seed, "max_steps": args.max_steps}
    data.update({k: v for k, v in flags.items() if v is not None})
    data = apply_overrides(data, args.set)
    cfg = from_dict(TrainConfig, data, "TrainConfig")
    ds = Dataset.load(args.data)
    out = train_model(ds, args.ids, cfg, args.out, show_progress=not args.no_progress, query_states=args.query_states,
                      item_states=args.item_states)
    info = json.loads((out / "config.json").read_text())
    print(f"trained {info['steps']} steps on {info['n_train_examples']:,} examples "
          f"({info['n_search_examples']:,} search, {info['n_rec_examples']:,} rec) in {info['train_time_s']:.1f}s; "
          f"final validation loss {info['history'][-1]['val_loss']:.4f}. Wrote {out}; "
          f"evaluate it with `semid evaluate --model {out} --data {args.data} --out EVAL_DIR`.")
    return 0
