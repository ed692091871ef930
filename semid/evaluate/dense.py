"""Dense retrieval baselines over item embeddings (no Semantic IDs, no generative model).

- **search**: each test query is embedded by the embeddings' query encoder (the content model,
  or the saved fine-tuned model for search/multitask) and items are ranked by dot product.
  Embeddings without a query encoder (``rec``/ENMF, fused, plain ``.npy``) cannot embed
  queries: their ``search_*`` keys are **null** in ``metrics.json`` and ``n_search`` is 0.
- **rec**: for each ``Dataset.rec_examples("test")`` example the user vector is the mean of
  the embeddings of the user's history (train + valid items) and items are ranked by dot
  product with it. ENMF embeddings also carry their own user vectors (trained on train only);
  those are scored too, under the ``enmf_`` prefix (``enmf_rec_recall@30`` ...).
- **popularity**: the recommendation popularity baseline, under the ``popularity_`` prefix.

Nothing is excluded from the ranking: items already in the history stay candidates, as in
the generative evaluation, which does not filter them either.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semid.evaluate.baselines import popularity_ranks
from semid.evaluate.metrics import METRIC_KEYS, task_metrics
from semid.generative.config import DEFAULT_K

logger = logging.getLogger(__name__)

__all__ = ["DenseResult", "evaluate_dense", "topk_ranks"]

SEARCH_KEYS = tuple(k for k in METRIC_KEYS if k.startswith("search_"))


@dataclass
class DenseResult:
    """metrics: flat dict for ``metrics.json``; ranks: int64 per example, -1 when outside the top k."""

    metrics: dict[str, Any]
    search_ranks: np.ndarray | None
    rec_ranks: np.ndarray
    extra_ranks: dict[str, np.ndarray] = field(default_factory=dict)


def topk_ranks(queries: np.ndarray, items: np.ndarray, targets: np.ndarray, k: int = DEFAULT_K,
               batch_size: int = 512, show_progress: bool = False, desc: str = "rank") -> np.ndarray:
    """Rank of each target among all items by dot product, -1 when outside the top ``k``.

    queries: float32 (n, d); items: float32 (n_items, d); targets: int (n,).
    Ties are broken towards the lower item index.
    """
    from tqdm.auto import tqdm

    n = len(queries)
    out = np.full(n, -1, dtype=np.int64)
    k = min(k, items.shape[0])
    for s in tqdm(range(0, n, batch_size), desc=desc, disable=not show_progress):
        scores = queries[s: s + batch_size] @ items.T  # (b, n_items)
        t = targets[s: s + batch_size]
        ts = scores[np.arange(len(t)), t][:, None]
        idx = np.arange(items.shape[0])[None, :]
        better = (scores > ts) | ((scores == ts) & (idx < t[:, None]))
        r = better.sum(axis=1)
        out[s: s + batch_size] = np.where(r < k, r, -1)
    return out


def _query_encoder(embeddings: Any) -> Any:
    if embeddings.model is not None:
        return embeddings.model
    path = embeddings.query_encoder_path()
    if path is None:
        return None
    from semid.embed.sentence import load_sentence_model

    return load_sentence_model(path, max_seq_length=embeddings.meta.get("max_seq_length"))


def evaluate_dense(dataset: Any, embeddings: Any, k: int = DEFAULT_K, show_progress: bool = True,
                   max_search_queries: int | None = None, seed: int = 0) -> DenseResult:
    """Dense search and recommendation metrics of ``embeddings`` on ``dataset``'s test split.

    embeddings: an :class:`semid.embed.ItemEmbeddings` whose rows follow ``dataset``'s item order.
    max_search_queries: evaluate a random sample of this many test queries (None: all); the
    sample depends only on ``seed`` and the dataset, so methods stay comparable.
    Returns a :class:`DenseResult`; metric keys follow :mod:`semid.evaluate.metrics`.
    """
    if k < 30:
        raise ValueError(f"k must be >= 30 to report recall@30, got {k}")
    embeddings.check_matches(dataset.items["item_id"].to_numpy())
    items = embeddings.vectors
    metrics: dict[str, Any] = {"method": embeddings.meta.get("method"), "k": k}
    head = dataset.head_mask

    search_ranks = None
    encoder = _query_encoder(embeddings)
    if encoder is not None:
        from semid.embed.sentence import encode_texts

        q = dataset.queries_for("test")
        if max_search_queries is not None and len(q) > max_search_queries:
            sel = np.sort(np.random.default_rng(seed).choice(len(q), max_search_queries, replace=False))
            q = q.iloc[sel].reset_index(drop=True)
            metrics["search_sampled_queries"] = int(max_search_queries)
        qv = encode_texts(encoder, q["text"].tolist(), 64, show_progress, normalize=True)
        search_ranks = topk_ranks(qv, items, q["item_index"].to_numpy(), k, show_progress=show_progress, desc="search")
        metrics.update(task_metrics("search", search_ranks))
    else:
        metrics.update({key: None for key in SEARCH_KEYS})
        metrics["n_search"] = 0

    ex = dataset.rec_examples("test")
    targets = np.array([e.target for e in ex], dtype=np.int64)
    users = np.stack([items[e.history].mean(axis=0) for e in ex]) if ex else np.zeros((0, items.shape[1]), np.float32)
    rec_ranks = topk_ranks(users, items, targets, k, show_progress=show_progress, desc="rec")
    metrics.update(task_metrics("rec", rec_ranks, head[targets]))

    extra: dict[str, np.ndarray] = {}
    if embeddings.user_vectors is not None and ex:
        row = {int(u): i for i, u in enumerate(embeddings.user_ids)}
        keep = np.array([e.user_id in row for e in ex])
        uv = np.stack([embeddings.user_vectors[row[e.user_id]] for e, kk in zip(ex, keep, strict=True) if kk])
        r = topk_ranks(uv, items, targets[keep], k, show_progress=show_progress, desc="rec (ENMF users)")
        extra["enmf_rec"] = r
        metrics.update({f"enmf_{key}": v for key, v in task_metrics("rec", r, head[targets[keep]]).items()})

    pop = popularity_ranks(dataset, ex, k)
    extra["popularity_rec"] = pop
    metrics.update({f"popularity_{key}": v for key, v in task_metrics("rec", pop, head[targets]).items()})
    return DenseResult(metrics, search_ranks, rec_ranks, extra)
