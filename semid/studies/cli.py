"""``semid study rqvae``: the RQ-VAE vs RQ-KMeans study (issue 7) and its report."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["register"]

EPILOG = """examples:
  # the quantizer-only study on your own vectors (float32 .npy, one row per item) and the report
  semid study rqvae --embeddings mine=my_vectors.npy --seeds 0 1 2 --out docs/rqvae-vs-rqkmeans.md
  # with a dataset (real popularity and test targets) and the downstream run of configs/rqvae-study.toml
  semid study rqvae --config configs/rqvae-study.toml --run runs/rqvae-study \\
      --embeddings ml=runs/rqvae-study/ml-latest-small/embeddings/multitask@runs/rqvae-study/ml-latest-small/data
Fitted records are cached under --cache (default: runs/study/cache); rerunning reuses them.
"""


def _parse_set(text: str) -> tuple[str, str, str | None]:
    if "=" not in text:
        raise ValueError(f"--embeddings {text!r} must look like NAME=PATH or NAME=PATH@DATA_DIR")
    name, rest = text.split("=", 1)
    path, _, data = rest.partition("@")
    if not name or not path:
        raise ValueError(f"--embeddings {text!r}: empty name or path")
    return name, path, data or None


def _study(args: argparse.Namespace) -> int:
    import faiss
    import torch

    from semid.config import load_config_file
    from semid.io import hash_json, read_json, write_json
    from semid.studies.rqvae import (
        DEFAULT_METHODS,
        MethodSpec,
        downstream_results,
        load_embedding_set,
        quantizer_record,
        run_quantizer_study,
    )
    if args.threads:
        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
    scale: dict[str, Any] = {}
    methods = list(DEFAULT_METHODS)
    levels, codebook = args.levels, args.codebook_size
    if args.config:
        cfg = load_config_file(args.config)
        scale = dict(cfg.get("scale_test") or {})
        opts = scale.get("options") or {}
        if cfg.get("quantizers"):
            methods = []
            for q in cfg["quantizers"]:
                label = f"{q['method']}-{q['preset']}" if q.get("preset") else q["method"]
                methods.append(MethodSpec(label, q["method"], q.get("preset"), {**q.get("options", {}), **opts.get(label, {})}))
        levels = int(cfg.get("ids", {}).get("levels", levels))
        codebook = int(cfg.get("ids", {}).get("codebook_size", codebook))
    if args.methods:
        known = {m.label: m for m in methods}
        bad = [m for m in args.methods if m not in known]
        if bad:
            raise ValueError(f"--methods {bad} unknown; valid: {sorted(known)}")
        methods = [known[m] for m in args.methods]
    seeds = args.seeds if args.seeds is not None else list(scale.get("seeds", [0, 1, 2]))
    k = int(scale.get("k", args.k))
    zipf = float(scale.get("zipf_exponent", args.zipf_exponent))
    sets = [load_embedding_set(n, p, d, zipf_exponent=zipf) for n, p, d in map(_parse_set, args.embeddings)]

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)

    def cached_record(es, m, s):
        key = hash_json({"set": es.name, "shape": list(es.X.shape), "head": es.X[:64].tolist(), "source": es.source,
                         "targets": es.targets, "method": vars(m), "seed": s, "levels": levels, "codebook": codebook, "k": k})
        f = cache / f"{es.name}__{m.label}__s{s}__{key[:12]}.json"
        if f.exists():
            return read_json(f)
        if args.cached_only:
            return None
        r = quantizer_record(es, m, s, levels, codebook, k, show_progress=not args.no_progress)
        write_json(f, r)
        return r

    study = run_quantizer_study(sets, methods, seeds, levels, codebook, k, int(scale.get("paper_n_items", 62_138)),
                                zipf, show_progress=not args.no_progress, record_fn=cached_record)
    from semid.studies.rqvae_report import render_markdown, write_figures

    down = downstream_results(args.run, k) if args.run else None
    out = Path(args.out)
    fig_dir = Path(args.figures) if args.figures else out.parent / "figures" / "rqvae"
    command = "semid study rqvae " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index("rqvae") + 1:]) \
        if "rqvae" in sys.argv else "semid study rqvae ..."
    study["command"] = command
    study["config"] = args.config
    write_json(fig_dir / "study.json", {"study": study, "downstream": down})
    figures = write_figures(study, fig_dir)
    from semid.io import atomic_write_text

    atomic_write_text(out, render_markdown(study, down, figures, fig_dir, out))
    print(f"report: {out}\nfigures and raw numbers: {fig_dir} ({sum(len(v) for v in figures.values())} figures, study.json)")
    return 0


def _lsa(args: argparse.Namespace) -> int:
    import numpy as np

    from semid.io import save_npy
    from semid.studies.rqvae import lsa_embeddings

    path = Path(args.texts)
    if not path.exists():
        if not args.passages:
            raise SystemExit(f"--texts {path} does not exist; pass --passages N to collect N docstring passages "
                             "of the installed Python packages into it first")
        from semid.io import atomic_write_text
        from semid.studies.corpus import docstring_passages

        atomic_write_text(path, "\n".join(docstring_passages(args.passages)))
        print(f"wrote {args.passages} docstring passages to {path}")
    texts = [t for t in path.read_text(encoding="utf-8").split("\n") if t.strip()]
    Z = lsa_embeddings(texts, args.dim, args.seed)
    save_npy(args.out, Z.astype(np.float32))
    print(f"wrote {Z.shape[0]} x {Z.shape[1]} LSA vectors to {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="studies that answer open questions (rqvae: why RQ-VAE collapsed)")
    ssub = p.add_subparsers(dest="study", metavar="STUDY")
    r = ssub.add_parser("rqvae", help="RQ-VAE vs RQ-KMeans: diagnostics, oracle ceilings, ID-space arithmetic, report",
                        description="Fit every quantizer on every embedding set for every seed (2 x 256 by default), "
                                    "measure codes used, perplexity, buckets, ceilings; read a `semid run` directory "
                                    "for downstream recall; write the Markdown report, figures and study.json.",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--embeddings", action="append", required=True, metavar="NAME=PATH[@DATA_DIR]",
                   help="a float32 .npy (n, d) or `semid embed` dir; @DATA_DIR adds the dataset (repeatable)")
    r.add_argument("--config", default=None, help="experiment config whose [[quantizers]], [ids], [scale_test] to use")
    r.add_argument("--run", default=None, help="a `semid run` directory of that config (downstream recall)")
    r.add_argument("--seeds", type=int, nargs="+", default=None, help="quantizer seeds (default: config or 0 1 2)")
    r.add_argument("--methods", nargs="+", default=None, help="labels to fit, e.g. rq-kmeans rq-vae-naive rq-vae-robust")
    r.add_argument("--levels", type=int, default=2)
    r.add_argument("--codebook-size", type=int, default=256)
    r.add_argument("-k", type=int, default=30)
    r.add_argument("--zipf-exponent", type=float, default=1.0, help="simulated popularity for sets without data")
    r.add_argument("--cache", default="runs/study/cache", help="directory of fitted records (reused)")
    r.add_argument("--cached-only", action="store_true", help="report only records already in --cache; fit nothing")
    r.add_argument("--threads", type=int, default=None, help="torch and faiss threads (1 on a busy machine)")
    r.add_argument("--out", default="docs/rqvae-vs-rqkmeans.md", help="report path")
    r.add_argument("--figures", default=None, help="figure dir (default: OUT_DIR/figures/rqvae)")
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=_study)
    lsa = ssub.add_parser("lsa", help="TF-IDF + SVD vectors of a text file (one passage per line) as a .npy",
                          description="Model-free real-text vectors for the scale test, e.g. of runs/scale/docstrings-60k.txt.")
    lsa.add_argument("--texts", required=True, help="text file, one passage per line")
    lsa.add_argument("--passages", type=int, metavar="N",
                     help="if --texts does not exist, first write N docstring passages of the installed Python "
                          "packages to it (deterministic for a given environment)")
    lsa.add_argument("--out", required=True, help=".npy to write, float32 (n, dim)")
    lsa.add_argument("--dim", type=int, default=384, help="SVD dimensions")
    lsa.add_argument("--seed", type=int, default=0)
    lsa.set_defaults(func=_lsa)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
