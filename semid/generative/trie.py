"""A dense, level-by-level trie over one task's Semantic IDs.

Every ID of a task has the same length ``L``. Depth ``t`` holds one node per distinct
prefix of length ``t`` (the root is node 0 of depth 0), and
``children[t]: int32 (n_nodes_t, C_t)`` gives the child reached with code ``c`` at that
level, or -1 where no ID continues that way. Masking a beam step is one gather.

Leaves (nodes of depth ``L``) are the distinct IDs. An ID may be shared by several items
(collisions left in place): ``leaf_items(leaf)`` lists them, most popular first by
``Dataset.train_counts`` (ties by item index). ``bucket_order`` in the IDs' config.json
may say ``"popularity"`` (the default) or ``"index"`` (item order) instead; ``"centroid"``
(``semid ids build`` without popularity) uses the IDs' stored ``bucket_rank`` of the task,
or popularity where the IDs hold none (with suffix IDs every leaf holds one item anyway).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from semid.ids.collisions import BUCKET_ORDERS
from semid.ids.types import SemanticIDs

logger = logging.getLogger(__name__)

__all__ = ["IDTrie", "BUCKET_ORDERS"]



@dataclass
class IDTrie:
    """children: per depth int32 (n_nodes_t, C_t); leaf_codes: int64 (n_leaves, L);
    leaf_ptr: int64 (n_leaves + 1,) and leaf_item_list: int64 (n_items,) in CSR form;
    item_leaf: int64 (n_items,) the leaf of every item."""

    task: str
    level_sizes: list[int]
    children: list[np.ndarray]
    leaf_codes: np.ndarray
    leaf_ptr: np.ndarray
    leaf_item_list: np.ndarray
    item_leaf: np.ndarray

    @classmethod
    def build(cls, ids: SemanticIDs, task: str, popularity: np.ndarray | None = None,
              bucket_order: str | None = None) -> IDTrie:
        """popularity: int (n_items,) training counts used to order items inside a shared ID."""
        codes = ids.task_codes(task)
        sizes = [int(ids.level_sizes[j]) for j in ids.tasks[task]]
        n = codes.shape[0]
        order_name = bucket_order or ids.config.get("bucket_order", "popularity")
        if order_name not in BUCKET_ORDERS:
            raise ValueError(f"bucket_order {order_name!r} (ids config.json) is unknown; choose one of {list(BUCKET_ORDERS)}")
        if order_name == "centroid":  # the IDs' own bucket order (see the module docstring)
            order_name = "bucket_rank" if task in ids.bucket_rank else "popularity"
        node = np.zeros(n, dtype=np.int64)
        children = []
        n_nodes = 1
        for t, size in enumerate(sizes):
            key = node * size + codes[:, t]
            uniq, inv = np.unique(key, return_inverse=True)
            ch = np.full((n_nodes, size), -1, dtype=np.int32)
            ch[uniq // size, uniq % size] = np.arange(len(uniq), dtype=np.int32)
            children.append(ch)
            node = inv.reshape(-1).astype(np.int64)
            n_nodes = len(uniq)
        if order_name == "popularity" and popularity is not None:
            pop = np.asarray(popularity, dtype=np.int64)
            if pop.shape != (n,):
                raise ValueError(f"popularity must have shape ({n},), got {pop.shape}")
            order = np.lexsort((np.arange(n), -pop, node))
        elif order_name == "bucket_rank":
            order = np.lexsort((np.arange(n), ids.bucket_rank[task], node))
        else:
            order = np.lexsort((np.arange(n), node))
        counts = np.bincount(node, minlength=n_nodes)
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        leaf_codes = codes[order[ptr[:-1]]]
        return cls(task, sizes, children, leaf_codes, ptr, order.astype(np.int64), node)

    def children_tensors(self, device) -> list:
        """The ``children`` tables as int64 torch tensors on ``device`` (cached per device)."""
        import torch

        cache = self.__dict__.setdefault("_tensors", {})
        key = str(device)
        if key not in cache:
            cache[key] = [torch.as_tensor(c, dtype=torch.long, device=device) for c in self.children]
        return cache[key]

    @property
    def depth(self) -> int:
        return len(self.level_sizes)

    @property
    def n_leaves(self) -> int:
        return int(len(self.leaf_ptr) - 1)

    def leaf_items(self, leaf: int) -> np.ndarray:
        return self.leaf_item_list[self.leaf_ptr[leaf]:self.leaf_ptr[leaf + 1]]

    def allowed_codes(self, prefix: list[int] | np.ndarray) -> np.ndarray:
        """Codes that may follow ``prefix`` (a list of codes, shorter than the depth)."""
        node = 0
        for t, c in enumerate(prefix):
            if t >= self.depth:
                return np.zeros(0, dtype=np.int64)
            node = int(self.children[t][node, int(c)])
            if node < 0:
                return np.zeros(0, dtype=np.int64)
        if len(prefix) >= self.depth:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.children[len(prefix)][node] >= 0)

    def leaf_of(self, codes: list[int] | np.ndarray) -> int:
        """The leaf of a full code tuple, or -1 when no item has that ID."""
        node = 0
        for t, c in enumerate(codes):
            node = int(self.children[t][node, int(c)])
            if node < 0:
                return -1
        return node
