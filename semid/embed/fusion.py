"""Fused embeddings from two existing sources (DESIGN.md step 2).

- *fused-concat*: each input l2-normalised per row, then concatenated: float32 (n, d1 + d2).
- *fused-svd*: each input l2-normalised; the wider one is reduced by truncated SVD to the
  narrower one's dimension, then the two are added: float32 (n, min(d1, d2)).
  (With equal widths nothing is reduced.)

Both inputs must cover the same items in the same order; when both carry item ids (saved
embeddings directories) the order is checked id by id, otherwise only the counts are.
Neither fused method has a query encoder, so dense search recall is not defined for them.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semid.embed.base import Embedder, EmbeddingError, ItemEmbeddings

logger = logging.getLogger(__name__)

__all__ = ["FusionConfig", "FusedConcatEmbedder", "FusedSVDEmbedder", "l2_normalize", "fuse_concat", "fuse_svd"]


@dataclass
class FusionConfig:
    """Settings of the fused methods (the inputs are passed separately)."""

    svd_algorithm: str = field(default="randomized", metadata={"help": "TruncatedSVD algorithm: randomized or arpack"})

    def __post_init__(self) -> None:
        if self.svd_algorithm not in ("randomized", "arpack"):
            raise ValueError(f"svd_algorithm {self.svd_algorithm!r} is unknown; choose 'randomized' or 'arpack'")


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit l2 norm (zero rows stay zero): float32 (n, d)."""
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(n > 0, n, 1.0)).astype(np.float32)


def fuse_concat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[normalize(a), normalize(b)]: float32 (n, da + db)."""
    return np.concatenate([l2_normalize(a), l2_normalize(b)], axis=1).astype(np.float32)


def fuse_svd(a: np.ndarray, b: np.ndarray, seed: int = 0, algorithm: str = "randomized") -> np.ndarray:
    """normalize(small) + TruncatedSVD_k(normalize(large)), k = the smaller width: float32 (n, k)."""
    a, b = l2_normalize(a), l2_normalize(b)
    if a.shape[1] == b.shape[1]:
        return (a + b).astype(np.float32)
    small, large = (a, b) if a.shape[1] < b.shape[1] else (b, a)
    k = small.shape[1]
    if k >= min(large.shape):
        # fewer items than dimensions: the exact SVD has only min(n, d) components; the
        # remaining ones are zero, so pad with zeros to k columns.
        u, sv, _ = np.linalg.svd(large.astype(np.float64), full_matrices=False)
        reduced = np.zeros((large.shape[0], k))
        reduced[:, : len(sv)] = u * sv
        return (small + reduced).astype(np.float32)
    from sklearn.decomposition import TruncatedSVD

    reduced = TruncatedSVD(n_components=k, algorithm=algorithm, random_state=seed).fit_transform(large)
    return (small + reduced).astype(np.float32)


class _FusedBase(Embedder):
    n_inputs = 2

    def fit(self, dataset: Any, inputs: list[ItemEmbeddings] | None = None) -> _FusedBase:
        if not inputs or len(inputs) != 2:
            raise ValueError(f"{self.name} takes exactly two input embeddings (--inputs A B), got {len(inputs or [])}")
        a, b = inputs
        names = [str(e.path or f"input {i}") for i, e in enumerate(inputs)]
        if a.n_items != b.n_items:
            raise EmbeddingError(f"{self.name}: the inputs cover different item counts: {names[0]} has {a.n_items}, {names[1]} has {b.n_items}")
        if a.item_ids is not None and b.item_ids is not None and not np.array_equal(a.item_ids, b.item_ids):
            first = int(np.flatnonzero(a.item_ids != b.item_ids)[0])
            raise EmbeddingError(
                f"{self.name}: {names[0]} and {names[1]} list their items in different orders "
                f"(row {first}: item_id {a.item_ids[first]} vs {b.item_ids[first]}); compute both from the same dataset"
            )
        ids = dataset.items["item_id"].to_numpy() if dataset is not None else (a.item_ids if a.item_ids is not None else b.item_ids)
        for e, n in zip(inputs, names, strict=True):
            if ids is not None:
                e.check_matches(ids, n)
        self._inputs, self._names, self._ids, self._dataset = inputs, names, ids, dataset
        return self

    @abc.abstractmethod
    def _combine(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """float32 (n, d) from the two inputs' vectors (each subclass's fusion rule)."""

    def embed(self) -> ItemEmbeddings:
        a, b = self._inputs
        x = self._combine(a.vectors, b.vectors)
        from semid.config import to_dict

        meta = self._base_meta(self._dataset, None) if self._dataset is not None else {
            "method": self.name, "model": None, "config": to_dict(self.config), "seed": self.seed}
        meta["inputs"] = [{"path": n, "method": e.method, "dim": e.dim, "data_hash": e.meta.get("data_hash")}
                          for n, e in zip(self._names, self._inputs, strict=True)]
        meta["query_encoder"] = None
        return ItemEmbeddings(x, meta, None, self._ids)


class FusedConcatEmbedder(_FusedBase):
    """Concatenation of two l2-normalised sources (Penha et al., RecSys 2025, *fused-concat*)."""

    name = "fused-concat"

    def _combine(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return fuse_concat(a, b)


class FusedSVDEmbedder(_FusedBase):
    """Sum of two l2-normalised sources after truncated SVD of the wider one (Penha et al., RecSys 2025, *fused-svd*)."""

    name = "fused-svd"

    def _combine(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return fuse_svd(a, b, self.seed, self.config.svd_algorithm)
