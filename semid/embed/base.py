"""Item embeddings: the artifact, its checks, the embedder base class and registry.

An embeddings directory looks like::

    embeddings/<name>/
      embeddings.npy     float32 (n_items, d), rows in the dataset's item order
      item_ids.npy       int64 or str (n_items,), the dataset's item ids in that order
      meta.json          method, model, dim, config, data_hash, item_ids_hash, n_items,
                         query_encoder (hub name, or "model" for the saved fine-tuned model, or null)
      model/             optional: the fine-tuned SentenceTransformer (search, multitask)
      user_vectors.npy   optional: float32 (n_users, d) ENMF user vectors
      user_ids.npy       optional: int64 (n_users,) the users of those rows

Dense retrieval scores items by the dot product with these vectors (ENMF's item and user
vectors are split so that ``user_vectors @ embeddings.T`` is exactly ENMF's score).
"""

from __future__ import annotations

import abc
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semid.io import atomic_dir, read_json, save_npy, write_json

logger = logging.getLogger(__name__)

__all__ = [
    "ItemEmbeddings",
    "EmbeddingError",
    "EmbeddingTypeError",
    "Embedder",
    "check_vectors",
    "load_embeddings",
    "dataset_hash",
    "item_ids_hash",
]


class EmbeddingError(ValueError):
    """Vectors that cannot be used: NaN/inf values, wrong dtype or shape, mismatched items."""


class EmbeddingTypeError(EmbeddingError, TypeError):
    """Vectors that are not a float array: an :class:`EmbeddingError` and a ``TypeError``."""


def check_vectors(x: Any, where: str = "embeddings", min_items: int = 1,
                  fix: str = "the embedder diverged or the file is corrupt: recompute the embeddings") -> np.ndarray:
    """Validate an embedding matrix and return it as C-contiguous float32 (n, d).

    The one vector validator: embeddings use it directly, quantizers through
    :func:`semid.ids.base.validate_embeddings`. Floating inputs of any precision are cast to
    float32 (values beyond its range become inf and are caught). A non-array or a non-float
    dtype raises :class:`EmbeddingTypeError`; a non-2-D shape, no columns, fewer than
    ``min_items`` rows or NaN/inf rows (the message names the first, then says ``fix``) raise
    :class:`EmbeddingError`.
    """
    if not isinstance(x, np.ndarray):
        raise EmbeddingTypeError(f"{where}: expected a numpy array of float32 vectors, got {type(x).__name__}")
    if x.ndim != 2:
        raise EmbeddingError(f"{where}: expected a 2-D array (n_items, d), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise EmbeddingTypeError(f"{where}: expected float32 values, got dtype {x.dtype}; convert with x.astype('float32')")
    if x.shape[1] == 0 or (x.shape[0] == 0 and min_items > 0):
        raise EmbeddingError(f"{where}: empty array of shape {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise EmbeddingError(
            f"{where}: {len(rows)} row(s) hold NaN or inf (first: row {int(rows[0])}; rows {rows[:5].tolist()}); {fix}"
        )
    return x


def as_item_ids(item_ids: Any) -> np.ndarray:
    """Item ids as an array: int64 for integer ids, unicode for string ids (ASINs, SKUs)."""
    a = np.asarray(item_ids)
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    return a.astype(str)


def item_ids_hash(item_ids: np.ndarray) -> str:
    """Short sha256 of the item ids in order (int64 bytes; string ids: NUL-joined UTF-8)."""
    a = as_item_ids(item_ids)
    data = a.tobytes() if a.dtype == np.int64 else "\x00".join(a.tolist()).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


def dataset_hash(dataset: Any) -> str:
    """Short sha256 of a dataset's content: items (id, text), interactions and queries."""
    import pandas as pd

    h = hashlib.sha256()
    for frame, cols in (
        (dataset.items, ["item_id", "text"]),
        (dataset.interactions, ["user_id", "item_id", "timestamp", "split"]),
        (dataset.queries, ["item_id", "text", "split"]),
    ):
        cols = [c for c in cols if c in frame.columns]
        h.update(pd.util.hash_pandas_object(frame[cols], index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class ItemEmbeddings:
    """One vector per item, in the dataset's item order.

    vectors: float32 (n_items, d). meta: method, model, dim, config, data_hash, ...
    path: the directory it was loaded from or saved to (None when in memory only).
    item_ids: int64 or str (n_items,), or None (a plain .npy carries no ids).
    model: an in-memory SentenceTransformer to save under ``model/`` (search, multitask).
    user_vectors / user_ids: float32 (n_users, d) / int64 (n_users,) ENMF user vectors.
    """

    vectors: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    item_ids: np.ndarray | None = None
    model: Any = None
    user_vectors: np.ndarray | None = None
    user_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.vectors = check_vectors(self.vectors, str(self.path or "embeddings"))
        if self.item_ids is not None:
            self.item_ids = as_item_ids(self.item_ids)
            if len(self.item_ids) != len(self.vectors):
                raise EmbeddingError(
                    f"{self.path or 'embeddings'}: {len(self.vectors)} vectors but {len(self.item_ids)} item ids"
                )
        if self.user_vectors is not None:
            self.user_vectors = check_vectors(self.user_vectors, f"{self.path or 'embeddings'} user_vectors")
            if self.user_ids is None or len(self.user_ids) != len(self.user_vectors):
                raise EmbeddingError("user_vectors need user_ids of the same length")
            self.user_ids = np.asarray(self.user_ids, dtype=np.int64)

    @property
    def n_items(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def method(self) -> str | None:
        return self.meta.get("method")

    def query_encoder_path(self) -> str | None:
        """Where to load a query encoder from: a hub name/local path, or None (cannot embed queries)."""
        enc = self.meta.get("query_encoder")
        if not enc:
            return None
        if enc == "model":
            if self.path is None or not (Path(self.path) / "model").is_dir():
                if self.model is not None:
                    return None
                raise FileNotFoundError(f"{self.path}: meta.json names a saved query encoder but model/ is missing")
            return str(Path(self.path) / "model")
        return str(enc)

    def check_matches(self, item_ids: np.ndarray, where: str = "") -> None:
        """Raise :class:`EmbeddingError` unless these embeddings cover ``item_ids`` in the same order."""
        item_ids = as_item_ids(item_ids)
        name = where or str(self.path or "embeddings")
        if self.n_items != len(item_ids):
            raise EmbeddingError(
                f"{name}: {self.n_items} item vectors but the dataset has {len(item_ids)} items; "
                f"recompute the embeddings from this dataset"
            )
        if self.item_ids is not None and not (self.item_ids.dtype.kind == item_ids.dtype.kind
                                              and np.array_equal(self.item_ids, item_ids)):
            a, b = self.item_ids.astype(str), item_ids.astype(str)
            first = int(np.flatnonzero(a != b)[0]) if (a != b).any() else 0
            raise EmbeddingError(
                f"{name}: item order differs from the dataset's at row {first} "
                f"(item_id {a[first]} vs {b[first]}); recompute the embeddings"
            )

    def save(self, path: str | os.PathLike) -> Path:
        """Atomically write the embeddings directory (see the module docstring)."""
        path = Path(path)
        with atomic_dir(path) as tmp:
            save_npy(tmp / "embeddings.npy", self.vectors)
            meta = dict(self.meta)
            meta["dim"] = self.dim
            meta["n_items"] = self.n_items
            if self.item_ids is not None:
                save_npy(tmp / "item_ids.npy", self.item_ids)
                meta["item_ids_hash"] = item_ids_hash(self.item_ids)
            if self.user_vectors is not None:
                save_npy(tmp / "user_vectors.npy", self.user_vectors)
                save_npy(tmp / "user_ids.npy", self.user_ids)
            if self.model is not None:
                self.model.save(str(tmp / "model"))
                meta["query_encoder"] = "model"
            write_json(tmp / "meta.json", meta)
        self.path = path
        self.meta = read_json(path / "meta.json")
        logger.info("wrote %d x %d embeddings to %s", self.n_items, self.dim, path)
        return path


def load_embeddings(path: str | os.PathLike) -> ItemEmbeddings:
    """Load an embeddings directory written by :meth:`ItemEmbeddings.save`, or a plain ``.npy``.

    A plain ``.npy`` must hold float32 (n_items, d); it has no meta (empty dict) and no item ids.
    Raises :class:`EmbeddingError` for NaN/inf, a wrong dtype or a non 2-D array.
    """
    path = Path(path)
    if path.is_dir():
        f = path / "embeddings.npy"
        if not f.exists():
            raise FileNotFoundError(f"{f} is missing; create it with `semid embed --out {path}`")
        meta = read_json(path / "meta.json") if (path / "meta.json").exists() else {}
        ids = np.load(path / "item_ids.npy") if (path / "item_ids.npy").exists() else None
        uv = uid = None
        if (path / "user_vectors.npy").exists():
            uv = np.load(path / "user_vectors.npy")
            uid = np.load(path / "user_ids.npy")
        vectors = _load_npy(f)
        if vectors.dtype != np.float32:
            raise EmbeddingError(f"{f}: expected float32, got {vectors.dtype}; recompute or convert with astype('float32')")
        return ItemEmbeddings(vectors, meta, path, ids, None, uv, uid)
    if path.suffix == ".npy":
        if not path.exists():
            raise FileNotFoundError(f"embeddings file {path} does not exist")
        vectors = _load_npy(path)
        if vectors.dtype != np.float32:
            raise EmbeddingError(f"{path}: expected float32, got {vectors.dtype}; convert with astype('float32')")
        return ItemEmbeddings(vectors, {}, path)
    raise FileNotFoundError(f"{path} is neither an embeddings directory nor a .npy file")


def _load_npy(f: Path) -> np.ndarray:
    try:
        return np.load(f, allow_pickle=False)
    except ValueError as exc:
        raise EmbeddingError(f"{f}: not a plain numpy array file ({exc})") from None


class Embedder(abc.ABC):
    """Base class for embedding methods: ``fit(dataset)`` then ``embed() -> ItemEmbeddings``.

    ``inputs`` are existing embeddings (the fused methods); other methods take none.
    """

    name: str = ""
    n_inputs: int = 0

    def __init__(self, config: Any, seed: int = 0, show_progress: bool = True) -> None:
        self.config = config
        self.seed = seed
        self.show_progress = show_progress
        self._dataset: Any = None

    @abc.abstractmethod
    def fit(self, dataset: Any, inputs: list[ItemEmbeddings] | None = None) -> Embedder:
        """Train (or prepare) on ``dataset``; returns self."""

    @abc.abstractmethod
    def embed(self) -> ItemEmbeddings:
        """The item vectors for the fitted dataset, float32 (n_items, d), with meta."""

    def _base_meta(self, dataset: Any, model: str | None) -> dict[str, Any]:
        from semid.config import to_dict

        return {
            "method": self.name,
            "model": model,
            "config": to_dict(self.config),
            "seed": self.seed,
            "data_hash": dataset_hash(dataset),
        }
