"""New items without retraining: Semantic IDs for items the quantizer never saw.

``semid ids build`` saves its fitted quantizer(s) under ``ids/<name>/quantizer/<role>/``.
:func:`encode_new_items` runs them on new items' embeddings (the same kind of embedding the
IDs were built from) and :func:`assign_codes` completes each ID against the items already
there:

- ``collisions="suffix"``: the suffix is the smallest value in ``[0, suffix_size)`` that no
  item with the same quantizer codes holds, so the new item gets an ID of its own. Where all
  ``suffix_size`` values are taken (the suffix level has no token to spare; the model's
  vocabulary is fixed), the item shares the last suffix's ID and is listed after its items.
- ``collisions="none"``: the new item joins the bucket of its code tuple, after its items.

``suffix_policy="share"`` (instead of the default ``"free"``) puts a new item whose quantizer
codes some item already has into that bucket's first ID (suffix 0), after its items, as if the
IDs had no suffix: the model has only ever produced the suffixes of trained items after a prefix,
so a fresh suffix scores low (benchmarks/results/cold_start.md measures both).

The result is a :class:`NewItems` directory (``semid ids encode --out DIR``) that
``semid.Retriever.add_items`` (and ``semid serve --new-items DIR``) inserts into the
decoder's trie, so search can return the new items at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semid.ids.types import SemanticIDs
from semid.io import atomic_dir, read_json, save_npy, write_json

logger = logging.getLogger(__name__)

SUFFIX_POLICIES = ("free", "share")

__all__ = ["SUFFIX_POLICIES", "NewItems", "Assigned", "encode_new_items", "quantizer_codes", "assign_codes", "extend_ids",
           "ids_fingerprint", "read_items_table"]


def ids_fingerprint(ids: SemanticIDs) -> str:
    """sha256 of the codes and token layout: new items' codes fit only the IDs they were made for."""
    h = hashlib.sha256(np.ascontiguousarray(ids.codes, dtype=np.int64).tobytes())
    h.update(json.dumps([ids.level_names, [int(s) for s in ids.level_sizes], ids.tasks], sort_keys=True).encode())
    return h.hexdigest()


def _suffix_cols(ids: SemanticIDs) -> dict[str, int]:
    """task -> its suffix column (empty without ``collisions="suffix"``)."""
    if ids.config.get("collisions", "none") != "suffix":
        return {}
    return {t: cols[-1] for t, cols in ids.tasks.items()}


def n_quantizer_levels(ids: SemanticIDs) -> int:
    """The leading columns of ``ids.codes`` that come from the quantizer(s) (the rest are suffixes)."""
    return ids.codes.shape[1] - len(set(_suffix_cols(ids).values()))


def quantizer_codes(ids_dir: str | os.PathLike, embeddings: dict[str, np.ndarray] | np.ndarray) -> np.ndarray:
    """int64 (m, n_quantizer_levels): the saved quantizer(s) of ``ids_dir`` applied to new items.

    embeddings: float32 (m, d) for the ``shared`` scheme; ``{"search": ..., "rec": ...}`` for
    ``separate`` / ``prefix-share`` (the same embedding sources the IDs were built from).
    """
    from semid.ids.build import load_quantizers
    from semid.ids.schemes import SCHEMES, prepare_embeddings

    ids = SemanticIDs.load(ids_dir)
    try:
        qs = load_quantizers(ids_dir)
    except FileNotFoundError:
        raise FileNotFoundError(f"{ids_dir} holds no quantizer/ directory: it was not written by `semid ids build` "
                                f"(a model's own ids/ copy has none); pass the run's IDs directory, "
                                f"e.g. RUN/DATASET/ids/NAME") from None
    embs = prepare_embeddings(embeddings, ids.scheme)
    codes = SCHEMES.get_factory(ids.scheme)().encode(qs, embs, ids.config)
    nq = n_quantizer_levels(ids)
    if codes.shape[1] != nq:
        raise ValueError(f"{ids_dir}: the quantizers give {codes.shape[1]} levels, the IDs hold {nq} quantizer levels")
    return codes.astype(np.int64)


@dataclass
class Assigned:
    """What :func:`assign_codes` decided for m new items.

    codes: int64 (m, n_levels) full IDs; bucket_rank: task -> int64 (m,) position inside the
    bucket of items sharing the task's ID (0 = alone); shared: bool (m,) the item shares an ID
    with another item (some task); new_prefix: bool (m,) no item of ``ids`` has its quantizer codes
    (for some task): the model never produced that prefix in training.
    """

    codes: np.ndarray
    bucket_rank: dict[str, np.ndarray]
    shared: np.ndarray
    new_prefix: np.ndarray

    def summary(self) -> dict[str, int]:
        return {"n_new": int(len(self.codes)), "own_id": int((~self.shared).sum()), "shared_id": int(self.shared.sum()),
                "unseen_quantizer_codes": int(self.new_prefix.sum())}


def assign_codes(ids: SemanticIDs, qcodes: np.ndarray, suffix_policy: str = "free") -> Assigned:
    """Complete new items' quantizer codes ``int (m, n_quantizer_levels)`` into IDs that fit
    beside ``ids`` (module docstring: the free-suffix rule, or ``suffix_policy="share"``), in row order."""
    if suffix_policy not in SUFFIX_POLICIES:
        raise ValueError(f"suffix_policy {suffix_policy!r} is unknown; choose one of {list(SUFFIX_POLICIES)}")
    qcodes = np.asarray(qcodes, dtype=np.int64)
    nq = n_quantizer_levels(ids)
    if qcodes.ndim != 2 or qcodes.shape[1] != nq:
        raise ValueError(f"new items' quantizer codes must have shape (m, {nq}), got {qcodes.shape}")
    for j in range(nq):
        if len(qcodes) and (qcodes[:, j].min() < 0 or qcodes[:, j].max() >= ids.level_sizes[j]):
            raise ValueError(f"level {j} ({ids.level_names[j]}) of the new codes lies outside [0, {ids.level_sizes[j]})")
    m = len(qcodes)
    codes = np.zeros((m, ids.codes.shape[1]), dtype=np.int64)
    codes[:, :nq] = qcodes
    suffix = _suffix_cols(ids)
    shared = np.zeros(m, dtype=bool)
    new_prefix = np.zeros(m, dtype=bool)
    ranks: dict[str, np.ndarray] = {}
    done: dict[tuple[int, ...], str] = {}
    for task, cols in ids.tasks.items():
        if tuple(cols) in done:  # shared scheme: both tasks use one ID (and one suffix)
            ranks[task] = ranks[done[tuple(cols)]]
            continue
        done[tuple(cols)] = task
        prefix = [c for c in cols if c != suffix.get(task)]
        # A plain dict walk over the existing IDs (not a numpy group-by) because new items
        # arrive one at a time and each one changes what is free for the next.
        count = Counter(map(tuple, ids.codes[:, cols].tolist()))
        used: dict[tuple[int, ...], set[int]] = defaultdict(set)
        if task in suffix:
            for row in ids.codes[:, [*prefix, suffix[task]]].tolist():
                used[tuple(row[:-1])].add(row[-1])
        else:
            for key in count:
                used[key].add(0)
        seen = set(used)
        rank = np.zeros(m, dtype=np.int64)
        for i in range(m):
            key = tuple(codes[i, prefix].tolist())
            new_prefix[i] |= key not in seen
            if task in suffix:
                size = int(ids.level_sizes[suffix[task]])
                if suffix_policy == "share" and key in seen:
                    free = min(used[key])
                else:
                    free = next((s for s in range(size) if s not in used[key]), size - 1)
                codes[i, suffix[task]] = free
                used[key].add(free)
            full = tuple(codes[i, cols].tolist())
            rank[i] = count[full]
            count[full] += 1
        shared |= rank > 0
        ranks[task] = rank
    return Assigned(codes, ranks, shared, new_prefix)


def extend_ids(ids: SemanticIDs, assigned: Assigned) -> SemanticIDs:
    """``ids`` with the new items appended as rows (bucket ranks extended where the IDs keep them)."""
    codes = np.concatenate([ids.codes, assigned.codes], axis=0)
    ranks = {t: np.concatenate([r, assigned.bucket_rank[t]]) for t, r in ids.bucket_rank.items()}
    cfg = {**ids.config, "n_items": int(len(codes))}
    return SemanticIDs(codes=codes, level_names=list(ids.level_names), level_sizes=list(ids.level_sizes),
                       tasks={t: list(c) for t, c in ids.tasks.items()}, scheme=ids.scheme, config=cfg,
                       diagnostics=ids.diagnostics, bucket_rank=ranks)


def read_items_table(path: str | os.PathLike, n: int | None = None) -> tuple[list[Any], list[str]]:
    """(item ids, titles) from a CSV or Parquet file with an ``item_id`` column (``title`` optional),
    one row per embedding row."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; give a CSV or Parquet file with an item_id column")
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if "item_id" not in df.columns:
        raise ValueError(f"{path} has no item_id column (columns: {list(df.columns)})")
    if n is not None and len(df) != n:
        raise ValueError(f"{path} lists {len(df)} items but the embeddings have {n} rows; give one row per embedding")
    titles = df["title"].fillna("").astype(str).tolist() if "title" in df.columns else [""] * len(df)
    return df["item_id"].tolist(), titles


@dataclass
class NewItems:
    """New items with their IDs, ready for ``semid.Retriever.add_items``.

    item_ids: the catalogue ids (m,); titles: (m,); quantizer_codes: int64 (m, n_quantizer_levels);
    codes: int64 (m, n_levels), as assigned against the IDs of ``ids_fingerprint``.
    """

    item_ids: list[Any]
    titles: list[str]
    quantizer_codes: np.ndarray
    codes: np.ndarray
    ids_fingerprint: str
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        if not (len(self.titles) == n == len(self.quantizer_codes) == len(self.codes)):
            raise ValueError(f"new items: {n} ids, {len(self.titles)} titles, {len(self.quantizer_codes)} quantizer "
                             f"code rows and {len(self.codes)} code rows; they must match")
        dup = [i for i, c in Counter(self.item_ids).items() if c > 1]
        if dup:
            raise ValueError(f"new items list item id(s) {dup[:5]} more than once")

    def save(self, path: str | os.PathLike) -> Path:
        import pandas as pd

        path = Path(path)
        with atomic_dir(path) as tmp:
            save_npy(tmp / "codes.npy", self.codes)
            save_npy(tmp / "quantizer_codes.npy", self.quantizer_codes)
            pd.DataFrame({"item_id": self.item_ids, "title": self.titles}).to_parquet(tmp / "items.parquet")
            write_json(tmp / "config.json", {"ids_fingerprint": self.ids_fingerprint, **self.info})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> NewItems:
        import pandas as pd

        path = Path(path)
        if not (path / "quantizer_codes.npy").exists():
            raise FileNotFoundError(f"{path} holds no new items; make them with `semid ids encode --out {path}`")
        cfg = read_json(path / "config.json")
        items = pd.read_parquet(path / "items.parquet")
        return cls(items["item_id"].tolist(), items["title"].astype(str).tolist(),
                   np.load(path / "quantizer_codes.npy"), np.load(path / "codes.npy"),
                   cfg.pop("ids_fingerprint"), cfg)


def encode_new_items(ids_dir: str | os.PathLike, embeddings: dict[str, np.ndarray] | np.ndarray,
                     item_ids: list[Any], titles: list[str] | None = None, suffix_policy: str = "free") -> NewItems:
    """Codes for new items from the quantizer(s) saved in ``ids_dir`` (module docstring; the
    ``suffix_policy`` is kept with them and used again by ``Retriever.add_items``).

    embeddings: float32 (m, d), or ``{"search", "rec"}`` for two-embedding schemes, one row per
    item of ``item_ids``.
    """
    ids = SemanticIDs.load(ids_dir)
    qc = quantizer_codes(ids_dir, embeddings)
    if len(item_ids) != len(qc):
        raise ValueError(f"{len(item_ids)} item ids for {len(qc)} embedding rows; give one id per row")
    assigned = assign_codes(ids, qc, suffix_policy)
    info = {"ids_dir": str(Path(ids_dir).resolve()), "scheme": ids.scheme, "suffix_policy": suffix_policy,
            **assigned.summary()}
    logger.info("encoded %d new items: %s", len(qc), assigned.summary())
    return NewItems(list(item_ids), list(titles) if titles is not None else [""] * len(qc), qc, assigned.codes,
                    ids_fingerprint(ids), info)
