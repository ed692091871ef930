"""The item graph of 2T-HGNN and its multi-link neighbour sampler.

The graph (a PyTorch Geometric ``HeteroData``) has item nodes and, per attribute link type,
attribute nodes; users are not nodes (De Nadai et al., WWW 2024, section 3). Link types:

- ``co``: co-interaction. Two items a user interacted with within ``co_window`` positions of
  each other in their chronological *training* history (valid and test interactions never
  enter the graph). Edges in both directions; each item keeps its ``co_max_neighbors``
  most frequent co-items.
- ``genre`` / ``tag``: item <-> genre / tag nodes from the ``|``-separated item columns.
- ``term``: item <-> word nodes from the item title (words in at least 2 and at most
  ``term_max_df`` of the items), for catalogues whose only metadata is a title.

Each attribute link ``L`` gives two edge types, ``(item, has_L, L)`` and ``(L, L_of, item)``,
so messages flow both ways. The sampler draws neighbours *per edge type*, with a fan-out per
link type, so every link type contributes to an item's neighbourhood (the paper's multi-link
sampler) instead of the densest type crowding out the others.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["LINK_TYPES", "GraphSpec", "build_item_graph", "co_interaction_pairs", "edge_types_of",
           "MultiLinkSampler", "make_loader", "sample_items"]

LINK_TYPES = ("co", "genre", "tag", "term")
CO = ("item", "co", "item")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass
class GraphSpec:
    """How to build the graph: which links, the co-interaction window and caps."""

    links: tuple[str, ...] = ("co", "genre", "tag")
    co_window: int = 5
    co_max_neighbors: int = 50
    term_max_df: float = 0.05


def edge_types_of(link: str) -> list[tuple[str, str, str]]:
    """The PyG edge types of one link type (``co`` has one, attribute links two)."""
    if link == "co":
        return [CO]
    return [("item", f"has_{link}", link), (link, f"{link}_of", "item")]


def co_interaction_pairs(histories: Iterable[np.ndarray], n_items: int, window: int,
                         max_neighbors: int, seed: int = 0) -> np.ndarray:
    """Directed co-interaction edges int64 (2, E) from chronological item-index histories.

    Items at distance 1..``window`` in a history are linked (both directions; self-pairs
    dropped). Each destination keeps its ``max_neighbors`` most frequent sources (ties at random).
    """
    src, dst = [], []
    for h in histories:
        h = np.asarray(h, dtype=np.int64)
        for d in range(1, window + 1):
            if len(h) <= d:
                break
            src += [h[:-d], h[d:]]
            dst += [h[d:], h[:-d]]
    if not src:
        return np.zeros((2, 0), dtype=np.int64)
    s, t = np.concatenate(src), np.concatenate(dst)
    keep = s != t
    key = t[keep] * n_items + s[keep]
    uniq, counts = np.unique(key, return_counts=True)
    t_u, s_u = uniq // n_items, uniq % n_items
    # strongest first within each destination, random tie-break
    tie = np.random.default_rng(seed).random(len(uniq))
    order = np.lexsort((tie, -counts, t_u))
    t_u, s_u = t_u[order], s_u[order]
    starts = np.searchsorted(t_u, t_u, side="left")
    rank = np.arange(len(t_u)) - starts
    sel = rank < max_neighbors
    return np.stack([s_u[sel], t_u[sel]])


def _attribute_lists(dataset: Any, link: str, term_max_df: float) -> list[list[str]]:
    items = dataset.items
    if link in ("genre", "tag"):
        col = "genres" if link == "genre" else "tags"
        if col not in items.columns:
            return [[] for _ in range(len(items))]
        return [[v.strip().lower() for v in str(s).split("|") if v.strip() and v.strip() != "(no genres listed)"]
                for s in items[col].fillna("").tolist()]
    words = [sorted(set(_WORD.findall(str(t).lower()))) for t in items["title"].fillna("").tolist()]
    df: dict[str, int] = {}
    for ws in words:
        for w in ws:
            df[w] = df.get(w, 0) + 1
    hi = max(2, int(term_max_df * len(items)))
    return [[w for w in ws if 2 <= df[w] <= hi and not w.isdigit()] for ws in words]


def build_item_graph(dataset: Any, spec: GraphSpec, seed: int = 0) -> Any:
    """The ``HeteroData`` item graph of ``dataset`` (training interactions only).

    Returns a HeteroData with ``data["item"].num_nodes == dataset.n_items`` (node i is item
    index i), one node type per attribute link (node k is the k-th value in sorted order), and the edge types
    of :func:`edge_types_of`. A link type with no edges (e.g. no genres in the data) is
    left out and logged; ``data.links`` lists the link types that remain.
    """
    import torch
    from torch_geometric.data import HeteroData

    data = HeteroData()
    n = dataset.n_items
    data["item"].num_nodes = n
    links = []
    for link in spec.links:
        if link == "co":
            hist = dataset.user_histories(("train",))
            ei = co_interaction_pairs(hist.values(), n, spec.co_window, spec.co_max_neighbors, seed)
            if ei.shape[1] == 0:
                logger.warning("link 'co': no co-interactions in the training data; left out of the graph")
                continue
            data[CO].edge_index = torch.as_tensor(ei)
            links.append(link)
            continue
        lists = _attribute_lists(dataset, link, spec.term_max_df)
        names = sorted({v for vs in lists for v in vs})
        if not names:
            logger.warning("link %r: the items have no %s values; left out of the graph", link, link)
            continue
        index = {v: k for k, v in enumerate(names)}
        item = np.repeat(np.arange(n), [len(vs) for vs in lists])
        attr = np.fromiter((index[v] for vs in lists for v in vs), dtype=np.int64, count=len(item))
        data[link].num_nodes = len(names)
        has, of = edge_types_of(link)
        data[has].edge_index = torch.as_tensor(np.stack([item, attr]))
        data[of].edge_index = torch.as_tensor(np.stack([attr, item]))
        links.append(link)
    if not links:
        raise ValueError(f"the item graph has no edges for links {list(spec.links)}: the dataset has no "
                         f"training interactions and no item genres/tags/titles to link")
    data.links = links
    logger.info("item graph: %s", {"/".join(et): int(data[et].edge_index.shape[1]) for et in data.edge_types})
    return data


class MultiLinkSampler:
    """Neighbour sampling per edge type with a fan-out per link type (2T-HGNN's multi-link sampler).

    A PyG ``BaseSampler``: for every hop and every edge type ``(src, rel, dst)`` each frontier
    node of type ``dst`` receives up to ``fanouts[link][hop]`` of its incoming ``rel`` edges,
    drawn uniformly without replacement; nodes reached for the first time form the next
    frontier. The output is a ``HeteroSamplerOutput`` that PyG's ``NodeLoader`` turns into a
    ``HeteroData`` mini-batch (seed items first, in the given order).

    Written here because PyG's own ``NeighborSampler`` needs pyg-lib or torch-sparse, which
    have no wheels on PyPI for current torch; :func:`make_loader` uses PyG's
    ``NeighborLoader`` instead when one of them is installed.
    """

    def __init__(self, data: Any, num_neighbors: dict[tuple[str, str, str], list[int]], seed: int = 0) -> None:
        import torch

        self.num_neighbors = num_neighbors
        self.num_nodes = {t: int(data[t].num_nodes) for t in data.node_types}
        self.csc: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
        for et in data.edge_types:
            src, dst = data[et].edge_index
            perm = torch.argsort(dst * self.num_nodes[et[0]] + src)
            counts = torch.bincount(dst, minlength=self.num_nodes[et[2]])
            colptr = torch.zeros(len(counts) + 1, dtype=torch.long)
            colptr[1:] = torch.cumsum(counts, 0)
            self.csc[et] = (colptr, src[perm], perm)
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def edge_permutation(self) -> None:
        return None

    def _sample_edges(self, et: tuple[str, str, str], nodes: Any, k: int) -> tuple[Any, Any, Any]:
        """Up to ``k`` incoming edges per node: (src global ids, position in ``nodes``, edge ids)."""
        import torch

        colptr, row, perm = self.csc[et]
        start, deg = colptr[nodes], colptr[nodes + 1] - colptr[nodes]
        take = deg if k < 0 else deg.clamp(max=k)
        total = int(deg.sum())
        if total == 0:
            e = torch.zeros(0, dtype=torch.long)
            return e, e, e
        # every candidate edge gets a random key; the k smallest keys of each node are kept
        owner = torch.repeat_interleave(torch.arange(len(nodes)), deg)
        offset = torch.arange(total) - torch.repeat_interleave(torch.cumsum(deg, 0) - deg, deg)
        key = torch.rand(total, generator=self.generator)
        order = torch.argsort(owner.double() * 2 + key.double())  # owner-major, random within owner
        owner, offset = owner[order], offset[order]
        rank = torch.arange(total) - torch.repeat_interleave(torch.cumsum(deg, 0) - deg, deg)
        keep = rank < take[owner]
        owner, offset = owner[keep], offset[keep]
        pos = start[owner] + offset
        return row[pos], owner, perm[pos]

    def sample_from_nodes(self, index: Any, **kwargs: Any) -> Any:
        import torch
        from torch_geometric.sampler import HeteroSamplerOutput

        seeds = torch.as_tensor(index.node, dtype=torch.long)
        nodes = {t: [] for t in self.num_nodes}
        local = {t: torch.full((n,), -1, dtype=torch.long) for t, n in self.num_nodes.items()}
        seed_type = index.input_type or "item"
        uniq = torch.unique(seeds, sorted=False)
        if len(uniq) != len(seeds):
            raise ValueError("sample_from_nodes: the seed items must be distinct")
        local[seed_type][seeds] = torch.arange(len(seeds))
        nodes[seed_type].append(seeds)
        count = {t: (len(seeds) if t == seed_type else 0) for t in self.num_nodes}
        frontier = {t: (seeds if t == seed_type else torch.zeros(0, dtype=torch.long)) for t in self.num_nodes}
        rows: dict[Any, list] = {et: [] for et in self.csc}
        cols: dict[Any, list] = {et: [] for et in self.csc}
        eids: dict[Any, list] = {et: [] for et in self.csc}
        hops = max((len(v) for v in self.num_neighbors.values()), default=0)
        for hop in range(hops):
            new = {t: [] for t in self.num_nodes}
            for et, fan in self.num_neighbors.items():
                src_t, _, dst_t = et
                if hop >= len(fan) or fan[hop] == 0 or len(frontier[dst_t]) == 0:
                    continue
                src, owner, eid = self._sample_edges(et, frontier[dst_t], fan[hop])
                if len(src) == 0:
                    continue
                fresh = torch.unique(src[local[src_t][src] < 0])
                if len(fresh):
                    local[src_t][fresh] = count[src_t] + torch.arange(len(fresh))
                    count[src_t] += len(fresh)
                    nodes[src_t].append(fresh)
                    new[src_t].append(fresh)
                rows[et].append(local[src_t][src])
                cols[et].append(local[dst_t][frontier[dst_t][owner]])
                eids[et].append(eid)
            frontier = {t: (torch.cat(v) if v else torch.zeros(0, dtype=torch.long)) for t, v in new.items()}
        empty = torch.zeros(0, dtype=torch.long)
        cat = {t: (torch.cat(v) if v else empty) for t, v in nodes.items()}
        return HeteroSamplerOutput(
            node=cat,
            row={et: (torch.cat(v) if v else empty) for et, v in rows.items()},
            col={et: (torch.cat(v) if v else empty) for et, v in cols.items()},
            edge={et: (torch.cat(v) if v else empty) for et, v in eids.items()},
            batch=None,
            metadata=(index.input_id, None),
        )

    def sample_from_edges(self, index: Any, neg_sampling: Any = None) -> Any:
        raise NotImplementedError("2T-HGNN samples from item nodes only")


def _has_pyg_sampler() -> bool:
    import torch_geometric.typing as t

    return bool(t.WITH_PYG_LIB or t.WITH_TORCH_SPARSE)


def make_loader(data: Any, num_neighbors: dict[tuple[str, str, str], list[int]], seed: int = 0,
                batch_size: int = 1024, force_own_sampler: bool = False) -> Any:
    """A PyG loader over the item nodes with per-edge-type fan-outs.

    PyG's ``NeighborLoader`` when pyg-lib or torch-sparse is installed, else PyG's
    ``NodeLoader`` around :class:`MultiLinkSampler`. Use :func:`sample_items` to draw the
    subgraph of a chosen set of items.
    """
    from torch_geometric.loader import NeighborLoader, NodeLoader

    if _has_pyg_sampler() and not force_own_sampler:
        return NeighborLoader(data, num_neighbors=num_neighbors, input_nodes="item", batch_size=batch_size)
    sampler = MultiLinkSampler(data, num_neighbors, seed=seed)
    return NodeLoader(data, node_sampler=sampler, input_nodes="item", batch_size=batch_size)


def sample_items(loader: Any, items: Any) -> Any:
    """The sampled ``HeteroData`` subgraph around distinct item indices ``items`` (int64 (b,)).

    The first ``len(items)`` item nodes of the result are ``items`` in order;
    ``out["item"].n_id`` maps every sampled node back to its item index.
    """
    import torch
    from torch_geometric.data import HeteroData

    out = loader.collate_fn(torch.as_tensor(items, dtype=torch.long))
    return out if isinstance(out, HeteroData) else loader.filter_fn(out)
