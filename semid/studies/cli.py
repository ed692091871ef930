"""``semid study rqvae``: the RQ-VAE vs RQ-KMeans study (issue 7) and its report."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semid.ids.base import DEFAULT_CODEBOOK_SIZE, DEFAULT_LEVELS

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


ABLATION_EPILOG = """examples:
  # two real embedding sets, 3 seeds, epochs cut to a quarter (naive 5, robust 15) for a 2-core CPU
  semid study rqvae-ablation --embeddings ml=runs/ml/embeddings/content@runs/ml/data \\
      --embeddings beauty=runs/beauty/embeddings/content@runs/beauty/data --epoch-scale 0.25 --threads 1
  # only two factors, one seed
  semid study rqvae-ablation --embeddings mine=my_vectors.npy --factors kmeans_init recon_sum --seeds 0
Then `semid study rqvae-report --ablation OUT/ablation.json` puts the table into the report.
"""


REPORT_EPILOG = """examples:
  # the committed report, from the committed JSON
  semid study rqvae-report --ablation docs/results/rqvae-ablation/ablation.json
  # with the downstream numbers of a new run (also saved into FIGURES/study.json)
  semid study rqvae-report --ablation docs/results/rqvae-ablation/ablation.json --run runs/rqvae-study
  # one run per dataset (a dataset in two runs is an error), written elsewhere
  semid study rqvae-report --ablation docs/results/rqvae-ablation/ablation.json --run runs/rqvae-study \\
      --run runs/rqvae-study-beauty --out /tmp/r/report.md --figures /tmp/r/figures
"""


def _factor_names() -> list[str]:
    from semid.studies.rqvae_ablation import FACTORS

    return list(FACTORS)


def _parse_set(text: str) -> tuple[str, str, str | None]:
    if "=" not in text:
        raise ValueError(f"--embeddings {text!r} must look like NAME=PATH or NAME=PATH@DATA_DIR")
    name, rest = text.split("=", 1)
    path, _, data = rest.partition("@")
    if not name or not path:
        raise ValueError(f"--embeddings {text!r}: empty name or path")
    return name, path, data or None


def _cached_record_fn(cache: Path, levels: int, codebook: int, k: int, cached_only: bool, progress: bool,
                      **record_kwargs: Any):
    """``record_fn(set, spec, seed)`` that keeps each fitted record as JSON under ``cache`` and reuses it;
    ``record_kwargs`` go to :func:`semid.studies.rqvae.quantizer_record` (and into the cache key)."""
    from semid.cache import RecordCache
    from semid.studies.rqvae import quantizer_record

    store = RecordCache(cache, key_length=12, sep="__", max_label=None)  # the names this cache always had

    def cached_record(es, m, s):
        key = {"set": es.name, "shape": list(es.X.shape), "head": es.X[:64].tolist(), "source": es.source,
               "targets": es.targets, "method": vars(m), "seed": s, "levels": levels, "codebook": codebook, "k": k,
               **({"record": record_kwargs} if record_kwargs else {})}
        safe = m.label.replace(" ", "").replace("+", "plus-").replace("-", "_")
        label = f"{es.name}__{safe}__s{s}"
        r = store.get(label, key)
        if r is not None or cached_only:
            return r
        r = quantizer_record(es, m, s, levels, codebook, k, show_progress=progress, **record_kwargs)
        store.put(label, key, r)
        return r

    return cached_record


def _command_line(study: str) -> str:
    """The ``semid study STUDY ...`` command line this process was started with."""
    if study in sys.argv:
        return f"semid study {study} " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index(study) + 1:])
    return f"semid study {study} ..."


def _set_threads(n: int | None) -> None:
    import faiss
    import torch

    if n:
        torch.set_num_threads(n)
        faiss.omp_set_num_threads(n)


def _ablation(args: argparse.Namespace) -> int:
    from semid.io import atomic_write_text, write_json
    from semid.studies.rqvae import load_embedding_set
    from semid.studies.rqvae_ablation import ablation_arms, run_ablation
    from semid.studies.rqvae_tables import ablation_markdown

    _set_threads(args.threads)
    sets = [load_embedding_set(n, p, d) for n, p, d in map(_parse_set, args.embeddings)]
    arms = ablation_arms(args.factors)
    record = _cached_record_fn(Path(args.cache), args.levels, args.codebook_size, args.k, args.cached_only,
                               not args.no_progress, max_queries=args.neighbour_queries)
    result = run_ablation(sets, arms, args.seeds, args.epoch_scale, args.levels, args.codebook_size, args.k,
                          record_fn=record, show_progress=not args.no_progress)
    result["command"] = _command_line("rqvae-ablation")
    result["notes"] = list(args.note or [])
    out = Path(args.out)
    write_json(out / "ablation.json", result)
    atomic_write_text(out / "README.md", ablation_markdown(result))
    print(f"ablation: {out / 'ablation.json'} and {out / 'README.md'} ({len(result['records'])} records)")
    return 0


@dataclass
class StudySettings:
    """What `semid study rqvae` fits: quantizers, ID size, seeds, ceiling k, Zipf exponent, paper catalogue size."""

    methods: list[Any]
    levels: int
    codebook: int
    seeds: list[int]
    k: int
    zipf: float
    paper_n_items: int


def _study_settings(args: argparse.Namespace) -> StudySettings:
    """The command line's settings, or with ``--config`` the typed config's [[quantizers]] and [ids], with
    its [scale_test] (validated on load) over -k and --zipf-exponent and under an explicit --seeds."""
    from semid.studies.rqvae import DEFAULT_METHODS, PAPER_N_ITEMS, MethodSpec

    s = StudySettings(list(DEFAULT_METHODS), args.levels, args.codebook_size, args.seeds, args.k, args.zipf_exponent,
                      PAPER_N_ITEMS)
    if args.config:
        from semid.experiment import load_experiment_config

        cfg = load_experiment_config(args.config)
        scale = cfg.scale_test
        s.methods = [MethodSpec(q.method_label, q.method, q.preset, {**q.options, **scale.options.get(q.method_label, {})})
                     for q in cfg.quantizers]
        s.levels, s.codebook = cfg.ids.levels, cfg.ids.codebook_size
        s.seeds = args.seeds if args.seeds is not None else scale.seeds
        s.k, s.zipf = scale.k or s.k, scale.zipf_exponent if scale.zipf_exponent is not None else s.zipf
        s.paper_n_items = scale.paper_n_items or s.paper_n_items
    if s.seeds is None:
        s.seeds = [0, 1, 2]
    if args.methods:
        known = {m.label: m for m in s.methods}
        bad = [m for m in args.methods if m not in known]
        if bad:
            raise ValueError(f"--methods {bad} unknown; valid: {sorted(known)}")
        s.methods = [known[m] for m in args.methods]
    return s


def _study(args: argparse.Namespace) -> int:
    from semid.io import read_json, write_json
    from semid.studies.rqvae import load_embedding_set, run_quantizer_study
    from semid.studies.rqvae_downstream import downstream_runs

    _set_threads(args.threads)
    st = _study_settings(args)
    levels, codebook, k, zipf = st.levels, st.codebook, st.k, st.zipf
    sets = [load_embedding_set(n, p, d, zipf_exponent=zipf) for n, p, d in map(_parse_set, args.embeddings)]

    cached_record = _cached_record_fn(Path(args.cache), levels, codebook, k, args.cached_only, not args.no_progress)
    study = run_quantizer_study(sets, st.methods, st.seeds, levels, codebook, k, st.paper_n_items,
                                zipf, show_progress=not args.no_progress, record_fn=cached_record)
    study["command"] = _command_line("rqvae")
    study["config"] = args.config
    down = downstream_runs(args.run, k) if args.run else None
    out = Path(args.out)
    fig_dir = Path(args.figures) if args.figures else out.parent / "figures" / "rqvae"
    write_json(fig_dir / "study.json", {"study": study, "downstream": down})
    ablation = read_json(args.ablation) if args.ablation else None
    _write_report(study, down, ablation, out, fig_dir, study["command"])
    return 0


def _write_report(study: dict[str, Any], down: dict[str, Any] | None, ablation: dict[str, Any] | None, out: Path,
                  fig_dir: Path, command: str) -> None:
    """Figures, the report and its appendix (``<out stem>-appendix.md`` beside it)."""
    from semid.io import atomic_write_text
    from semid.studies.rqvae_figures import write_figures
    from semid.studies.rqvae_report import render_report

    figures = write_figures(study, fig_dir, ablation)
    main, appendix = render_report(study, down, ablation, figures, fig_dir, out, command)
    atomic_write_text(out, main)
    atomic_write_text(out.with_name(f"{out.stem}-appendix.md"), appendix)
    print(f"report: {out} ({len(main.split()):,} words) and {out.with_name(out.stem + '-appendix.md')}\n"
          f"figures: {fig_dir} ({sum(len(v) for v in figures.values())})")


def _report(args: argparse.Namespace) -> int:
    from semid.io import read_json, write_json
    from semid.studies.rqvae_downstream import as_merged, downstream_runs

    path = Path(args.study)
    if not path.exists():
        raise FileNotFoundError(f"--study {path} does not exist; write it with `semid study rqvae` (it saves "
                                "FIGURES/study.json)")
    saved = read_json(path)
    study, down = saved["study"], as_merged(saved.get("downstream"))
    fig_dir = Path(args.figures) if args.figures else path.parent
    if args.run:
        down = downstream_runs(args.run, int(study["k"]))
    ablation = None
    if args.ablation:
        if not Path(args.ablation).exists():
            raise FileNotFoundError(f"--ablation {args.ablation} does not exist; write it with `semid study rqvae-ablation`")
        ablation = read_json(args.ablation)
    if args.run:
        write_json(fig_dir / "study.json", {**saved, "downstream": down})  # the report's raw numbers
    _write_report(study, down, ablation, Path(args.out), fig_dir, _command_line("rqvae-report"))
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


def _add_fit_args(p: argparse.ArgumentParser, cache: str) -> None:
    """The options both fitting studies share: embedding sets, ID size, k, the record cache, threads, progress."""
    p.add_argument("--embeddings", action="append", required=True, metavar="NAME=PATH[@DATA_DIR]",
                   help="a float32 .npy (n, d) or `semid embed` dir; @DATA_DIR adds the dataset (repeatable)")
    p.add_argument("--levels", type=int, default=DEFAULT_LEVELS)
    p.add_argument("--codebook-size", type=int, default=DEFAULT_CODEBOOK_SIZE)
    p.add_argument("-k", type=int, default=30)
    p.add_argument("--cache", default=cache, help="directory of fitted records (reused)")
    p.add_argument("--cached-only", action="store_true", help="report only records already in --cache; fit nothing")
    p.add_argument("--threads", type=int, default=None, help="torch and faiss threads (1 on a busy machine)")
    p.add_argument("--no-progress", action="store_true")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="studies that answer open questions (rqvae: why RQ-VAE collapsed)")
    ssub = p.add_subparsers(dest="study", metavar="STUDY")
    r = ssub.add_parser("rqvae", help="RQ-VAE vs RQ-KMeans: diagnostics, oracle ceilings, ID-space arithmetic, report",
                        description="Fit every quantizer on every embedding set for every seed (2 x 256 by default), "
                                    "measure codes used, perplexity, buckets, ceilings; read a `semid run` directory "
                                    "for downstream recall; write the Markdown report, figures and study.json.",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_fit_args(r, "runs/study/cache")
    r.add_argument("--config", default=None, help="experiment config whose [[quantizers]], [ids] (over --levels and "
                   "--codebook-size) and [scale_test] to use; validated as `semid run` validates it")
    r.add_argument("--run", action="append", default=None, metavar="RUN",
                   help="a `semid run` directory of that config (downstream recall); repeatable, one per dataset")
    r.add_argument("--ablation", default=None, help="an ablation.json of `semid study rqvae-ablation` for the report")
    r.add_argument("--seeds", type=int, nargs="+", default=None, help="quantizer seeds (default: config or 0 1 2)")
    r.add_argument("--methods", nargs="+", default=None, help="labels to fit, e.g. rq-kmeans rq-vae-naive rq-vae-robust")
    r.add_argument("--zipf-exponent", type=float, default=1.0, help="simulated popularity for sets without data")
    r.add_argument("--out", default="docs/rqvae-vs-rqkmeans.md", help="report path")
    r.add_argument("--figures", default=None, help="figure dir (default: OUT_DIR/figures/rqvae)")
    r.set_defaults(func=_study)
    a = ssub.add_parser("rqvae-ablation", help="which RQ-VAE setting decides collapse: one factor at a time",
                        description="Fit RQ-VAE arms that differ from the naive or robust preset in exactly one "
                                    "factor (k-means init, dead-code restarts, commitment 0.25, EMA decay 0.99, "
                                    "epochs and schedule, summed reconstruction loss) on each embedding set for "
                                    "each seed; write OUT/ablation.json and OUT/README.md (codes used, distinct "
                                    "IDs, largest bucket, search and rec oracle ceilings).",
                        epilog=ABLATION_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_fit_args(a, "runs/study/ablation-cache")
    a.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    a.add_argument("--factors", nargs="+", default=None, metavar="FACTOR",
                   help="factors to toggle (default: all): " + ", ".join(_factor_names()))
    a.add_argument("--epoch-scale", type=float, default=1.0,
                   help="multiply every arm's epochs (naive 20, robust 60) to bound compute, e.g. 0.25")
    a.add_argument("--neighbour-queries", type=int, default=1000,
                   help="items sampled for the neighbour-preservation diagnostic (kNN; 10,000 in `study rqvae`)")
    a.add_argument("--out", default="docs/results/rqvae-ablation", help="directory for ablation.json and README.md")
    a.add_argument("--note", action="append", metavar="TEXT",
                   help="a line about how the embeddings or records were made, shown in the report (repeatable)")
    a.set_defaults(func=_ablation)
    rep = ssub.add_parser("rqvae-report", help="rewrite the RQ-VAE report and appendix from saved JSON (fits nothing)",
                          description="Regenerate docs/rqvae-vs-rqkmeans.md, its appendix and figures from the "
                                      "study.json of `semid study rqvae`, the ablation.json of `semid study "
                                      "rqvae-ablation` and, optionally, a fresh `semid run` directory for the "
                                      "downstream table.", epilog=REPORT_EPILOG,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    rep.add_argument("--study", default="docs/figures/rqvae/study.json", help="study.json of `semid study rqvae`")
    rep.add_argument("--ablation", default=None, help="ablation.json of `semid study rqvae-ablation`")
    rep.add_argument("--run", action="append", default=None, metavar="RUN",
                     help="a `semid run` directory: replaces the downstream results in --study (saved into "
                          "FIGURES/study.json); repeatable, one run per dataset, merged")
    rep.add_argument("--out", default="docs/rqvae-vs-rqkmeans.md", help="report path (appendix: <stem>-appendix.md)")
    rep.add_argument("--figures", default=None, help="figure dir (default: the --study file's folder)")
    rep.set_defaults(func=_report)
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
