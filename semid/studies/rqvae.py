"""Why did RQ-VAE collapse against RQ-KMeans, especially for search? (issue 7)

Penha et al., "Semantic IDs for Joint Generative Search and Recommendation", RecSys 2025,
Table 3 (2 x 256 codes, 62,138 movies), Recall@30 search / rec: RQ-KMeans 0.046 / 0.049,
RQ-VAE 0.002 / 0.024. This module measures the mechanism without training a generative
model; :mod:`semid.studies.rqvae_downstream` reads the downstream recall of ``semid run``.

**The oracle ceiling.** With ``collisions="none"`` the items that share an ID form a bucket;
a generated ID expands into its bucket in popularity order (``semid.ids.collisions``). Even
a model that always generates the target's exact ID first puts the target at its position
in the bucket, so the target is reachable in the top ``k`` only when ``bucket_rank < k``.
The ceiling of a task is the mean of ``[bucket_rank[target] < k]`` over its test targets:
search targets are spread evenly over items, rec targets follow popularity, and popular
items sit at the front of their buckets. It is an upper bound: a real list also spends
slots on other IDs. With the collision suffix every ID is unique, and the same ranks are
the suffix codes: ``P(rank = 0)`` is then the share of targets whose suffix is the
trivially guessed "0".

**ID-space arithmetic** (:func:`id_space_arithmetic`): ``N`` items assigned uniformly at
random to ``M`` IDs; the bucket of a random item has size ``1 + Binomial(N - 1, 1/M)``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semid.generative.config import DEFAULT_K
from semid.ids.base import DEFAULT_CODEBOOK_SIZE, DEFAULT_LEVELS

logger = logging.getLogger(__name__)

__all__ = [
    "PAPER_N_ITEMS",
    "DEFAULT_METHODS",
    "EmbeddingSet",
    "MethodSpec",
    "id_space_arithmetic",
    "uniform_ceiling_curve",
    "ceiling",
    "task_ceilings",
    "zipf_popularity",
    "id_entropy_bits",
    "load_embedding_set",
    "quantizer_record",
    "run_quantizer_study",
    "lsa_embeddings",
]

PAPER_N_ITEMS = 62_138


@dataclass
class MethodSpec:
    """One quantizer of the study: ``label`` (e.g. "rq-vae-robust"), registry ``method``, rq-vae ``preset``, options."""

    label: str
    method: str
    preset: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


DEFAULT_METHODS = [
    MethodSpec("rq-kmeans", "rq-kmeans"),
    MethodSpec("rq-vae-naive", "rq-vae", "naive"),
    MethodSpec("rq-vae-robust", "rq-vae", "robust"),
    MethodSpec("rlfq", "rlfq"),
    MethodSpec("dict", "dict"),
]


# ------------------------------------------------------------------ arithmetic
def _size_pmf(n_items: int, n_ids: int) -> tuple[np.ndarray, np.ndarray]:
    """Sizes s >= 1 and P(the bucket of a random item has size s) under uniform assignment."""
    from scipy.stats import binom

    p = 1.0 / n_ids
    mean, sd = (n_items - 1) * p, math.sqrt(max((n_items - 1) * p * (1 - p), 1e-12))
    hi = int(min(n_items - 1, mean + 12 * sd + 60))
    lo = int(max(0, mean - 12 * sd - 60))
    j = np.arange(lo, hi + 1)
    return j + 1, binom.pmf(j, n_items - 1, p)


def id_space_arithmetic(n_items: int = PAPER_N_ITEMS, n_ids: int = 256 * 256, k: int = DEFAULT_K) -> dict[str, float]:
    """Collisions forced by the ID space when ``n_items`` go uniformly at random into ``n_ids`` IDs.

    Returns ``share_colliding`` = 1 - (1 - 1/M)^(N-1) (fraction of items sharing their ID),
    ``expected_distinct`` = M (1 - (1 - 1/M)^N), ``expected_colliding_items``,
    ``p_bucket_over_k`` (a random item's bucket holds more than ``k`` items),
    ``search_ceiling`` = E[min(S, k) / S] (uniform targets, any bucket order) and
    ``expected_max_bucket`` (the size s where M * P(bucket size >= s) first drops below 1).
    """
    if n_items < 1 or n_ids < 1:
        raise ValueError(f"n_items and n_ids must be >= 1, got {n_items}, {n_ids}")
    n, m = int(n_items), int(n_ids)
    share = 1.0 - (1.0 - 1.0 / m) ** (n - 1)
    distinct = m * (1.0 - (1.0 - 1.0 / m) ** n)
    sizes, pmf = _size_pmf(n, m)
    ceil = float((pmf * np.minimum(sizes, k) / sizes).sum() / pmf.sum())
    over = float(pmf[sizes > k].sum())
    from scipy.stats import binom

    s = np.arange(1, 200)
    # number of IDs holding >= s items: M * P(Binomial(N, 1/M) >= s)
    tail = m * binom.sf(s - 1, n, 1.0 / m)
    max_bucket = int(s[np.argmax(tail < 1)]) if (tail < 1).any() else int(s[-1])
    return {"n_items": n, "n_ids": m, "k": k, "share_colliding": share, "expected_distinct": distinct,
            "expected_colliding_items": n * share, "p_bucket_over_k": over, "search_ceiling": ceil,
            "expected_max_bucket": max_bucket}


def zipf_popularity(n_items: int, exponent: float = 1.0, seed: int = 0) -> np.ndarray:
    """Simulated popularity: float64 (n,), ``1 / rank^exponent`` with ranks in a seeded random order."""
    ranks = np.random.default_rng(seed).permutation(n_items) + 1
    return 1.0 / ranks.astype(np.float64) ** float(exponent)


def ceiling(rank: np.ndarray, weights: np.ndarray, k: int = DEFAULT_K) -> float:
    """Oracle Recall@k ceiling: ``sum_i w_i [rank_i < k] / sum_i w_i``.

    rank: int (n,) position of each item in its bucket (0 = first); weights: float (n,),
    how many test targets each item is (or its probability of being one).
    """
    rank, w = np.asarray(rank), np.asarray(weights, dtype=np.float64)
    if rank.shape != w.shape:
        raise ValueError(f"rank has shape {rank.shape} but weights {w.shape}; give one weight per item")
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    return float((w * (rank < k)).sum() / w.sum())


def task_ceilings(rank: np.ndarray, search_w: np.ndarray, rec_w: np.ndarray, head: np.ndarray | None,
                  k: int = DEFAULT_K) -> dict[str, float]:
    """Ceilings of search, rec (and rec head / torso), plus the share of targets first in their bucket."""
    out = {"search": ceiling(rank, search_w, k), "rec": ceiling(rank, rec_w, k),
           "search_first": ceiling(rank, search_w, 1), "rec_first": ceiling(rank, rec_w, 1)}
    if head is not None:
        for part, mask in (("rec_head", head), ("rec_torso", ~head)):
            w = np.where(mask, rec_w, 0.0)
            out[part] = ceiling(rank, w, k) if w.sum() > 0 else float("nan")
    return out


def uniform_ceiling_curve(n_items: int, n_ids: list[int], popularity: np.ndarray, k: int = DEFAULT_K,
                          seed: int = 0) -> dict[str, list[float]]:
    """Ceilings when ``n_items`` go uniformly at random into ``M`` IDs, for each ``M`` in ``n_ids``.

    search: exact (E[min(S,k)/S]); rec: one seeded simulation with the given popularity
    (float (n_items,)) as bucket order and target weights.
    """
    from semid.ids.collisions import bucket_rank

    rng = np.random.default_rng(seed)
    search, rec = [], []
    for m in n_ids:
        sizes, pmf = _size_pmf(n_items, int(m))
        search.append(float((pmf * np.minimum(sizes, k) / sizes).sum() / pmf.sum()))
        rank, _ = bucket_rank(rng.integers(0, int(m), size=(n_items, 1)), popularity)
        rec.append(ceiling(rank, popularity, k))
    return {"n_ids": [int(m) for m in n_ids], "search": search, "rec": rec}


def id_entropy_bits(codes: np.ndarray) -> float:
    """Entropy (bits) of the ID distribution over items, codes: int (n, L)."""
    from semid.ids.collisions import group_ids

    gid, g = group_ids(codes)
    p = np.bincount(gid, minlength=g) / len(gid)
    return float(-(p * np.log2(p)).sum())


# ------------------------------------------------------------------ inputs
@dataclass
class EmbeddingSet:
    """Vectors plus what the ceilings need. X: float32 (n, d); popularity, search_w, rec_w: float64 (n,);
    head: bool (n,) or None."""

    name: str
    X: np.ndarray
    popularity: np.ndarray
    search_w: np.ndarray
    rec_w: np.ndarray
    head: np.ndarray | None
    source: str
    targets: str


def _dataset_target_weights(ds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test targets per item of a Dataset: search queries float64 (n,), rec examples float64 (n,),
    and the head mask bool (n,)."""
    n = ds.n_items
    q = np.bincount(ds.queries_for("test")["item_index"].to_numpy(), minlength=n).astype(float)
    rec = np.bincount(np.array([e.target for e in ds.rec_examples("test")], dtype=np.int64), minlength=n).astype(float)
    return q, rec, np.asarray(ds.head_mask, dtype=bool)


def _hits_target_weights(hits_file: Path, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """As :func:`_dataset_target_weights`, for the evaluated examples in a ``hits.parquet``
    (None when it lacks search or rec targets)."""
    import pandas as pd

    h = pd.read_parquet(hits_file)
    q, rec = (np.bincount(h.loc[h["task"] == task, "target"].to_numpy(dtype=np.int64), minlength=n).astype(float)
              for task in ("search", "rec"))
    head = np.zeros(n, dtype=bool)
    rec_h = h[h["task"] == "rec"]
    head[rec_h.loc[rec_h["head"].astype(bool), "target"].to_numpy(dtype=np.int64)] = True
    return (q, rec, head) if q.sum() and rec.sum() else None


def load_embedding_set(name: str, path: str | Path, data_dir: str | Path | None = None,
                       zipf_exponent: float = 1.0, seed: int = 0) -> EmbeddingSet:
    """A ``.npy`` (float32 (n, d)) or ``semid embed`` directory, with its dataset when given.

    With ``data_dir``: popularity = training interaction counts, search weights = test
    queries per item, rec weights = rec test targets per item, head = the dataset's head.
    Without: simulated Zipf popularity (``zipf_exponent``), every item one search target,
    rec targets in proportion to popularity, head = the 1% most popular items.
    """
    from semid.embed import load_embeddings
    from semid.ids.base import validate_embeddings

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"embeddings {path} do not exist (a float32 .npy of shape (n, d) or a `semid embed` directory)")
    X = np.load(path) if path.suffix == ".npy" else load_embeddings(path).vectors
    X = validate_embeddings(X, where=str(path))
    n = len(X)
    if data_dir is not None:
        from semid.data import Dataset

        ds = Dataset.load(data_dir)
        if ds.n_items != n:
            raise ValueError(f"{path} has {n} rows but the dataset {data_dir} has {ds.n_items} items")
        pop = np.asarray(ds.train_counts, dtype=np.float64)
        return EmbeddingSet(name, X, pop, *_dataset_target_weights(ds), str(path),
                            f"dataset {data_dir}: test queries and rec test examples")
    from semid.data.splits import head_mask_of

    pop = zipf_popularity(n, zipf_exponent, seed)
    head = head_mask_of(pop)
    return EmbeddingSet(name, X, pop, np.ones(n), pop.copy(), head, str(path),
                        f"simulated: uniform search targets, Zipf(s={zipf_exponent}) popularity for rec targets")


# ------------------------------------------------------------------ quantizer study
def quantizer_record(es: EmbeddingSet, spec: MethodSpec, seed: int, levels: int = DEFAULT_LEVELS,
                     codebook_size: int = DEFAULT_CODEBOOK_SIZE,
                     k: int = DEFAULT_K, show_progress: bool = False, max_queries: int = 10_000) -> dict[str, Any]:
    """Fit one quantizer on one embedding set and measure it (JSON-ready dict).

    ``max_queries``: items sampled for the neighbour-preservation diagnostic (a brute-force kNN,
    the slowest part of a record after training)."""
    from semid.ids import build_ids

    t0 = time.perf_counter()
    built = build_ids(es.X, method=spec.method, levels=levels, codebook_size=codebook_size, collisions="none",
                      seed=seed, preset=spec.preset, popularity=es.popularity, bucket_order="popularity",
                      show_progress=show_progress, max_queries=max_queries, **spec.options)
    ids = built.ids
    d = ids.diagnostics
    codes = ids.task_codes("search")
    rank = ids.bucket_rank["search"]
    from semid.ids.collisions import group_ids

    gid, g = group_ids(codes)
    bsizes = np.bincount(gid, minlength=g)
    size_vals, size_counts = np.unique(bsizes, return_counts=True)
    rec = {
        "set": es.name, "label": spec.label, "method": spec.method, "preset": spec.preset, "seed": seed,
        "n_items": ids.n_items,
        "codes_used": list(d["codes_used"].values()), "perplexity": list(d["perplexity"].values()),
        "distinct_ids": d["quantizer_distinct_ids"], "collision_rate": d["quantizer_collision_rate"],
        "max_bucket": d["max_bucket"], "mean_bucket": d["mean_bucket"], "rel_sq_error": d["rel_sq_error"],
        "neighbour_preservation": d["neighbour_preservation"],
        "id_entropy_bits": id_entropy_bits(codes), "log2_n_items": math.log2(ids.n_items),
        "items_in_buckets_over_k": float((bsizes[gid] > k).mean()),
        "ceiling": task_ceilings(rank, es.search_w, es.rec_w, es.head, k),
        "code_counts": [np.bincount(codes[:, j], minlength=codebook_size).tolist() for j in range(codes.shape[1])],
        "bucket_sizes": {"size": size_vals.tolist(), "n_buckets": size_counts.tolist()},
        "seconds": time.perf_counter() - t0,
        "options": ids.config.get("method_options", {}).get("shared", {}),
    }
    curve = (d.get("training_curve") or {}).get("shared")
    if curve:
        rec["training_curve"] = {key: curve[key] for key in ("epoch", "loss", "recon_loss", "quant_loss", "codes_in_use")}
    logger.info("%s %s seed %d: codes %s, distinct %d, max bucket %d, ceiling search %.3f rec %.3f (%.0fs)",
                es.name, spec.label, seed, rec["codes_used"], rec["distinct_ids"], rec["max_bucket"],
                rec["ceiling"]["search"], rec["ceiling"]["rec"], rec["seconds"])
    return rec


def run_quantizer_study(sets: list[EmbeddingSet], methods: list[MethodSpec], seeds: list[int],
                        levels: int = DEFAULT_LEVELS, codebook_size: int = DEFAULT_CODEBOOK_SIZE, k: int = DEFAULT_K,
                        paper_n_items: int = PAPER_N_ITEMS,
                        zipf_exponent: float = 1.0, show_progress: bool = True,
                        record_fn: Any = None) -> dict[str, Any]:
    """Every (set, method, seed) record, the ID-space arithmetic and the uniform-assignment curves.

    ``record_fn(set, method, seed)`` replaces :func:`quantizer_record` (e.g. a cache); a None
    return leaves that record out.
    """
    from tqdm.auto import tqdm

    if not sets:
        raise ValueError("the study needs at least one embedding set (--embeddings NAME=PATH)")
    n_ids = codebook_size ** levels
    jobs = [(es, m, s) for es in sets for m in methods for s in seeds]
    records = []
    bar = tqdm(jobs, desc="quantizer study", disable=not show_progress)
    for es, m, s in bar:
        bar.set_postfix_str(f"{es.name}/{m.label}/s{s}")
        r = record_fn(es, m, s) if record_fn else quantizer_record(es, m, s, levels, codebook_size, k)
        if r is not None:
            records.append(r)
    grid = sorted({int(v) for v in np.geomspace(16, 4 * n_ids, 15).round()} | {n_ids})
    arithmetic = {"paper": id_space_arithmetic(paper_n_items, n_ids, k),
                  "paper_curve": uniform_ceiling_curve(paper_n_items, grid, zipf_popularity(paper_n_items, zipf_exponent), k),
                  "sets": {es.name: id_space_arithmetic(len(es.X), n_ids, k) for es in sets}}
    return {"levels": levels, "codebook_size": codebook_size, "k": k, "zipf_exponent": zipf_exponent,
            "seeds": list(seeds), "methods": [vars(m) for m in methods],
            "sets": [{"name": es.name, "n_items": int(len(es.X)), "dim": int(es.X.shape[1]), "source": es.source,
                      "targets": es.targets} for es in sets],
            "arithmetic": arithmetic, "records": records}


def lsa_embeddings(texts: list[str], dim: int = 384, seed: int = 0) -> np.ndarray:
    """Latent semantic analysis vectors: TF-IDF (unigrams + bigrams, sublinear tf) then truncated SVD.

    A fast, model-free stand-in for neural text embeddings at catalogue scale on a CPU.
    Returns float32 (n, dim), l2-normalised.
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(texts) <= dim:
        raise ValueError(f"lsa_embeddings needs more texts ({len(texts)}) than dimensions ({dim})")
    tf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True).fit_transform(texts)
    Z = TruncatedSVD(n_components=dim, random_state=seed).fit_transform(tf).astype(np.float32)
    Z /= np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    return Z
