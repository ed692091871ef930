"""``semid train``: train the joint generative retriever on a dataset and its Semantic IDs."""

from __future__ import annotations

import argparse
from typing import Any

EPILOG = """examples:
  # offline: a small T5 built from a config, with a tokenizer trained on the dataset's text
  semid train --data runs/mls/data --ids runs/mls/ids/rqk --model small --out runs/mls/model/rqk

  # the paper's model (needs the hub or a local copy), paper defaults (3 epochs, lr 2e-3, batch 128)
  semid train --data runs/ml25m/data --ids runs/ml25m/ids/rqk --model google/flan-t5-base --out runs/ml25m/model/rqk

  # several GPUs
  accelerate launch -m semid.cli train --data ... --ids ... --model google/flan-t5-base --out ...

Rerunning the same command after an interruption resumes from the newest checkpoint in --out/checkpoints."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("train", help="train the joint generative model (search + rec)",
                              description="Train a seq2seq model with Semantic-ID tokens on search and recommendation jointly.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="prepared dataset directory (semid data prepare)")
    p.add_argument("--ids", required=True, help="Semantic IDs directory (semid ids build)")
    p.add_argument("--model", default="small", help="'small' (offline, default), a hub name or a local path")
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
    flags = {"model": args.model, "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
             "grad_accum": args.grad_accum, "max_history": args.max_history, "rec_targets": args.rec_targets,
             "seed": args.seed, "max_steps": args.max_steps}
    data.update({k: v for k, v in flags.items() if v is not None})
    data = apply_overrides(data, args.set)
    cfg = from_dict(TrainConfig, data, "TrainConfig")
    ds = Dataset.load(args.data)
    out = train_model(ds, args.ids, cfg, args.out, show_progress=not args.no_progress)
    info = json.loads((out / "config.json").read_text())
    print(f"trained {info['steps']} steps on {info['n_train_examples']:,} examples "
          f"({info['n_search_examples']:,} search, {info['n_rec_examples']:,} rec) in {info['train_time_s']:.1f}s; "
          f"final validation loss {info['history'][-1]['val_loss']:.4f}. Wrote {out}; "
          f"evaluate it with `semid evaluate --model {out} --data {args.data} --out EVAL_DIR`.")
    return 0
