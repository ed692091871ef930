"""2T-HGNN: a heterogeneous graph neural network over items inside a two-tower model.

De Nadai, Fabbri, Gigioli, Wang, Li, Zhang, Lalmas, Pagani, "Personalized Audiobook
Recommendations at Spotify Through Graph Neural Networks", WWW 2024 (arXiv 2403.05185):

- the **item tower** is a heterogeneous GNN (GraphSAGE convolutions per edge type, summed
  over edge types: PyG ``HeteroConv``) over the item graph of :mod:`semid.embed.hgnn_graph`
  (co-interaction, genre, tag and title-word links); its inputs are a learned vector per node
  and, optionally, a projection of a sentence embedding of the item text;
- users are **not** graph nodes: the **user tower** pools the item-tower vectors of the
  user's last ``history`` items (mean or attention) and adds an MLP;
- neighbours are drawn per link type with a fan-out each (the multi-link sampler);
- both towers are trained together on next-item examples from the *training* interactions
  (the items before position t -> the item at t) with an in-batch softmax over the batch's
  targets (sampled softmax with the log-frequency correction of Yi et al., RecSys 2019).

Exported like ENMF: ``embeddings.npy`` holds the l2-normalised item-tower vectors and
``user_vectors.npy`` the l2-normalised user-tower vectors of each user's training history, so
``user_vectors @ embeddings.T`` is the model's score and the dense baselines score it as is.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semid.embed.base import Embedder, EmbeddingError, ItemEmbeddings
from semid.embed.hgnn_graph import (
    LINK_TYPES,
    GraphSpec,
    build_item_graph,
    edge_types_of,
    make_loader,
    sample_items,
)
from semid.embed.sentence import pick_device

logger = logging.getLogger(__name__)

__all__ = ["HGNNConfig", "HGNNEmbedder", "next_item_examples"]

POOLINGS = ("mean", "attention")
DEFAULT_FANOUTS = {"co": 10, "genre": 5, "tag": 5, "term": 5}
USER_HISTORIES = ("train", "train+valid")


@dataclass
class HGNNConfig:
    """2T-HGNN settings (defaults measured on ml-latest-small; see benchmarks/results/hgnn.md)."""

    links: list[str] = field(default_factory=lambda: ["co", "genre", "tag"], metadata={
        "help": f"link types of the item graph, from {list(LINK_TYPES)}"})
    fanouts: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_FANOUTS), metadata={
        "help": "neighbours sampled per link type and layer: an int for every layer or a list with one per "
                f"layer; -1 takes all. Link types left out keep their defaults {DEFAULT_FANOUTS}"})
    layers: int = field(default=2, metadata={"help": "graph convolution layers (hops)"})
    dim: int = field(default=64, metadata={"help": "embedding dimension"})
    epochs: int = field(default=3, metadata={"help": "passes over the training next-item examples"})
    batch_size: int = field(default=256, metadata={"help": "examples per step (in-batch negatives)"})
    lr: float = field(default=3e-3, metadata={"help": "Adam learning rate"})
    history: int = field(default=20, metadata={"help": "last items of a history the user tower reads"})
    pooling: str = field(default="mean", metadata={"help": f"user tower pooling: {' | '.join(POOLINGS)}"})
    temperature: float = field(default=0.05, metadata={"help": "softmax temperature on cosine scores"})
    logq_correction: bool = field(default=True, metadata={"help": "subtract log target frequency from in-batch logits"})
    logq_weight: float = field(default=1.0, metadata={
        "help": "share of the logQ correction, in [0, 1]: 1 the full correction; less trades head items for "
                "sparse ones (benchmarks/results/hgnn.md)"})
    dropout: float = field(default=0.1, metadata={"help": "dropout after each convolution"})
    co_window: int = field(default=5, metadata={"help": "co link: items within this many positions of a history"})
    co_max_neighbors: int = field(default=50, metadata={"help": "co link: most frequent co-items kept per item"})
    term_max_df: float = field(default=0.05, metadata={"help": "term link: drop words in more than this share of titles"})
    text_model: str | None = field(default=None, metadata={
        "help": "item-text features for the item nodes: a sentence-transformers model (e.g. all-MiniLM-L6-v2) "
                "or an embeddings directory of this dataset (e.g. the content embeddings); None: learned "
                "vectors only"})
    max_examples_per_epoch: int | None = field(default=None, metadata={
        "help": "a random sample of this many training examples per epoch (None: all)"})
    user_history: str = field(default="train", metadata={
        "help": "history behind the saved user vectors: train (as ENMF) or train+valid"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ...; None picks cuda when available"})

    def __post_init__(self) -> None:
        if isinstance(self.links, str):
            self.links = [self.links]
        self.links = list(self.links)
        bad = [x for x in self.links if x not in LINK_TYPES]
        if bad or not self.links:
            raise ValueError(f"hgnn links {self.links}: each must be one of {list(LINK_TYPES)} (at least one)")
        if len(set(self.links)) != len(self.links):
            raise ValueError(f"hgnn links {self.links}: a link type is listed twice")
        for name in ("layers", "dim", "epochs", "batch_size", "history", "co_window", "co_max_neighbors"):
            if getattr(self, name) < 1:
                raise ValueError(f"hgnn {name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ValueError(f"hgnn batch_size must be >= 2 for in-batch negatives, got {self.batch_size}")
        if not self.lr > 0 or not self.temperature > 0:
            raise ValueError(f"hgnn lr and temperature must be > 0, got {self.lr}, {self.temperature}")
        if not 0 <= self.logq_weight <= 1:
            raise ValueError(f"hgnn logq_weight must be in [0, 1], got {self.logq_weight}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"hgnn dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.term_max_df <= 1:
            raise ValueError(f"hgnn term_max_df must be in (0, 1], got {self.term_max_df}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"hgnn pooling {self.pooling!r} is not one of {list(POOLINGS)}")
        if self.user_history not in USER_HISTORIES:
            raise ValueError(f"hgnn user_history {self.user_history!r} is not one of {list(USER_HISTORIES)}")
        if self.max_examples_per_epoch is not None and self.max_examples_per_epoch < self.batch_size:
            raise ValueError(f"hgnn max_examples_per_epoch ({self.max_examples_per_epoch}) must be >= batch_size "
                             f"({self.batch_size})")
        if not isinstance(self.fanouts, dict):
            raise ValueError(f"hgnn fanouts must map link types to fan-outs, e.g. {DEFAULT_FANOUTS}; got {self.fanouts!r}")
        self.fanouts = {**DEFAULT_FANOUTS, **self.fanouts}
        unknown = [k for k in self.fanouts if k not in LINK_TYPES]
        if unknown:
            raise ValueError(f"hgnn fanouts: unknown link type(s) {unknown}; valid: {list(LINK_TYPES)}")
        for link in self.links:
            self.fanout_list(link)

    def fanout_list(self, link: str) -> list[int]:
        """The fan-out of ``link`` at each layer (a list of ``layers`` ints)."""
        f = self.fanouts[link]
        fl = [f] * self.layers if isinstance(f, int) and not isinstance(f, bool) else list(f) if isinstance(f, list | tuple) else None
        if fl is None or len(fl) != self.layers or any(not isinstance(v, int) or isinstance(v, bool) or (v < 1 and v != -1)
                                                       for v in fl):
            raise ValueError(f"hgnn fanouts.{link} = {f!r}: give an int >= 1 (or -1 for all) or a list of "
                             f"{self.layers} such ints, one per layer")
        return fl

    def num_neighbors(self, links: list[str]) -> dict[tuple[str, str, str], list[int]]:
        """Per edge type fan-outs for PyG's samplers."""
        return {et: self.fanout_list(link) for link in links for et in edge_types_of(link)}


def next_item_examples(histories: dict[int, np.ndarray], history: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (previous ``history`` items -> next item) example of chronological histories.

    Returns hist int64 (n, history) padded with -1 on the left, and targets int64 (n,).
    """
    hs, ts = [], []
    for h in histories.values():
        h = np.asarray(h, dtype=np.int64)
        if len(h) < 2:
            continue
        padded = np.concatenate([np.full(history, -1, dtype=np.int64), h])
        idx = np.arange(1, len(h))[:, None] + np.arange(history)[None, :]
        hs.append(padded[idx])
        ts.append(h[1:])
    if not hs:
        return np.zeros((0, history), np.int64), np.zeros(0, np.int64)
    return np.concatenate(hs), np.concatenate(ts)


def _last_items(h: np.ndarray, history: int) -> np.ndarray:
    out = np.full(history, -1, dtype=np.int64)
    h = np.asarray(h, dtype=np.int64)[-history:]
    if len(h):
        out[-len(h):] = h
    return out


def _build_model(data: Any, cfg: HGNNConfig, text: Any) -> Any:
    import torch
    from torch import nn
    from torch_geometric.nn import HeteroConv, SAGEConv

    class ItemTower(nn.Module):
        """HeteroConv(SAGEConv per edge type, summed) x layers over learned node vectors (+ text)."""

        def __init__(self) -> None:
            super().__init__()
            d = cfg.dim
            self.emb = nn.ModuleDict({t: nn.Embedding(int(data[t].num_nodes), d) for t in data.node_types})
            for e in self.emb.values():
                nn.init.normal_(e.weight, std=0.1)
            self.text = nn.Linear(text.shape[1], d) if text is not None else None
            if text is not None:
                self.register_buffer("text_x", text)
            self.convs = nn.ModuleList([
                HeteroConv({et: SAGEConv((d, d), d) for et in data.edge_types}, aggr="sum")
                for _ in range(cfg.layers)])
            self.norms = nn.ModuleList([nn.ModuleDict({t: nn.LayerNorm(d) for t in data.node_types})
                                        for _ in range(cfg.layers)])
            self.drop = nn.Dropout(cfg.dropout)
            self.out = nn.Linear(d, d)

        def forward(self, batch: Any) -> Any:
            x = {t: self.emb[t](batch[t].n_id) for t in batch.node_types}
            if self.text is not None:
                x["item"] = x["item"] + self.text(self.text_x[batch["item"].n_id])
            for conv, norm in zip(self.convs, self.norms, strict=True):
                h = conv(x, batch.edge_index_dict)
                x = {t: norm[t](x[t] + self.drop(torch.relu(h[t]))) if t in h else x[t] for t in x}
            return self.out(x["item"])

    class UserTower(nn.Module):
        """Mean or attention pooling of the history's item vectors, plus a residual MLP."""

        def __init__(self) -> None:
            super().__init__()
            d = cfg.dim
            self.att = nn.Linear(d, 1) if cfg.pooling == "attention" else None
            self.mlp = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))

        def forward(self, hist: Any, mask: Any) -> Any:
            if self.att is None:
                w = mask.float() / mask.float().sum(1, keepdim=True).clamp(min=1)
            else:
                w = self.att(hist).squeeze(-1).masked_fill(~mask, float("-inf")).softmax(-1).nan_to_num(0.0)
            pooled = (w.unsqueeze(-1) * hist).sum(1)
            return pooled + self.mlp(pooled)

    return ItemTower(), UserTower()


class HGNNEmbedder(Embedder):
    """2T-HGNN (De Nadai et al., WWW 2024): heterogeneous GNN item tower + history user tower.

    Item graph from training interactions and item metadata (users are not nodes); multi-link
    neighbour sampling; in-batch softmax on next-item examples. See the module docstring.
    """

    name = "hgnn"

    def fit(self, dataset: Any, inputs: list[ItemEmbeddings] | None = None) -> HGNNEmbedder:
        import torch
        from tqdm.auto import tqdm

        cfg: HGNNConfig = self.config
        hist = dataset.user_histories(("train",))
        if not hist:
            raise ValueError("the dataset has no training interactions; hgnn needs them")
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        spec = GraphSpec(tuple(cfg.links), cfg.co_window, cfg.co_max_neighbors, cfg.term_max_df)
        data = build_item_graph(dataset, spec, seed=self.seed)
        links = list(data.links)
        loader = make_loader(data, cfg.num_neighbors(links), seed=self.seed)
        text = torch.as_tensor(self._text_features(dataset)) if cfg.text_model else None
        device = torch.device(pick_device(cfg.device))
        items_net, users_net = _build_model(data, cfg, text)
        items_net.to(device)
        users_net.to(device)
        opt = torch.optim.Adam(list(items_net.parameters()) + list(users_net.parameters()), lr=cfg.lr)
        H, T = next_item_examples(hist, cfg.history)
        if len(T) < 2:
            raise ValueError("hgnn needs at least 2 next-item examples (users with 2+ training interactions)")
        freq = np.bincount(T, minlength=dataset.n_items).astype(np.float64)
        logq = torch.as_tensor(cfg.logq_weight * np.log(np.maximum(freq, 1) / freq.sum()), dtype=torch.float32,
                               device=device)
        n_ex = len(T) if cfg.max_examples_per_epoch is None else min(len(T), cfg.max_examples_per_epoch)
        steps = max(1, n_ex // cfg.batch_size)
        losses: list[float] = []
        t0 = time.perf_counter()
        for epoch in range(cfg.epochs):
            items_net.train()
            users_net.train()
            order = rng.permutation(len(T))[: steps * cfg.batch_size]
            total = 0.0
            bar = tqdm(range(steps), desc=f"2T-HGNN epoch {epoch + 1}/{cfg.epochs}", disable=not self.show_progress)
            for s in bar:
                b = order[s * cfg.batch_size: (s + 1) * cfg.batch_size]
                loss = self._step(items_net, users_net, loader, H[b], T[b], logq if cfg.logq_correction else None,
                                  device)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
                bar.set_postfix(loss=f"{total / (s + 1):.3f}")
            mean = total / steps
            if not np.isfinite(mean):
                raise EmbeddingError(f"hgnn loss became {mean} in epoch {epoch + 1}; lower lr (now {cfg.lr})")
            losses.append(mean)
            logger.info("2T-HGNN epoch %d: loss %.4f", epoch + 1, mean)
        self._items_net, self._users_net, self._loader, self._device = items_net, users_net, loader, device
        self._items = self.item_vectors()
        splits = ("train",) if cfg.user_history == "train" else ("train", "valid")
        uh = hist if splits == ("train",) else dataset.user_histories(splits)
        self._user_ids = np.array(sorted(uh), dtype=np.int64)
        self._users = self.user_vectors([uh[int(u)] for u in self._user_ids])
        self._losses = losses
        self._graph = {"/".join(et): int(data[et].edge_index.shape[1]) for et in data.edge_types}
        self._graph_nodes = {t: int(data[t].num_nodes) for t in data.node_types}
        self._links = links
        self._train_seconds = round(time.perf_counter() - t0, 2)
        self._n_examples = int(len(T))
        self._dataset = dataset
        return self

    def _text_features(self, dataset: Any) -> np.ndarray:
        """float32 (n_items, d_text): a saved embeddings directory, or the text model's encoding."""
        from pathlib import Path

        from semid.embed.base import load_embeddings
        from semid.embed.sentence import encode_texts, load_sentence_model

        path = Path(self.config.text_model)
        if (path / "embeddings.npy").exists():
            emb = load_embeddings(path)
            emb.check_matches(dataset.items["item_id"].to_numpy(), where=f"hgnn text_model {path}")
            return emb.vectors
        st = load_sentence_model(self.config.text_model, device=self.config.device)
        return encode_texts(st, dataset.texts, 64, self.show_progress, normalize=True)

    def _step(self, items_net: Any, users_net: Any, loader: Any, hist: np.ndarray, targets: np.ndarray,
              logq: Any, device: Any) -> Any:
        import torch
        import torch.nn.functional as F

        flat = np.concatenate([targets, hist[hist >= 0]])
        seeds, inv = np.unique(flat, return_inverse=True)
        batch = sample_items(loader, seeds).to(device)
        z = F.normalize(items_net(batch)[: len(seeds)], dim=-1)
        inv = torch.as_tensor(inv, device=device)
        tv = z[inv[: len(targets)]]
        mask = torch.as_tensor(hist >= 0, device=device)
        hv = torch.zeros(*hist.shape, z.shape[1], device=device)
        hv[mask] = z[inv[len(targets):]]
        u = F.normalize(users_net(hv, mask), dim=-1)
        logits = u @ tv.T / self.config.temperature
        t = torch.as_tensor(targets, device=device)
        if logq is not None:
            logits = logits - logq[t][None, :]
        dup = (t[:, None] == t[None, :]) & ~torch.eye(len(t), dtype=torch.bool, device=device)
        logits = logits.masked_fill(dup, float("-inf"))
        return F.cross_entropy(logits, torch.arange(len(t), device=device))

    def item_vectors(self, batch_size: int = 2048) -> np.ndarray:
        """float32 (n_items, dim): l2-normalised item-tower vectors of every item (sampled neighbourhoods)."""
        import torch
        import torch.nn.functional as F

        self._items_net.eval()
        n = int(self._loader.data["item"].num_nodes)
        out = []
        with torch.no_grad():
            for s in range(0, n, batch_size):
                seeds = np.arange(s, min(n, s + batch_size))
                batch = sample_items(self._loader, seeds).to(self._device)
                out.append(F.normalize(self._items_net(batch)[: len(seeds)], dim=-1).cpu())
        return torch.cat(out).numpy().astype(np.float32)

    def user_vectors(self, histories: list[np.ndarray]) -> np.ndarray:
        """float32 (n, dim): l2-normalised user-tower vectors of chronological item-index histories."""
        import torch
        import torch.nn.functional as F

        self._users_net.eval()
        items = torch.as_tensor(self._items, device=self._device)
        hist = np.stack([_last_items(h, self.config.history) for h in histories]) if histories else \
            np.zeros((0, self.config.history), np.int64)
        out = []
        with torch.no_grad():
            for s in range(0, len(hist), 1024):
                h = torch.as_tensor(hist[s: s + 1024], device=self._device)
                mask = h >= 0
                hv = items[h.clamp(min=0)] * mask.unsqueeze(-1)
                out.append(F.normalize(self._users_net(hv, mask), dim=-1).cpu())
        if not out:
            return np.zeros((0, self.config.dim), np.float32)
        return torch.cat(out).numpy().astype(np.float32)

    def embed(self) -> ItemEmbeddings:
        ds = self._dataset
        meta = self._base_meta(ds, "2t-hgnn")
        meta["query_encoder"] = None
        meta["training"] = {"loss_first": self._losses[0], "loss_last": self._losses[-1], "epochs": len(self._losses),
                            "examples": self._n_examples, "seconds": self._train_seconds}
        meta["graph"] = {"links": self._links, "nodes": self._graph_nodes, "edges": self._graph}
        return ItemEmbeddings(self._items, meta, None, ds.items["item_id"].to_numpy(),
                              user_vectors=self._users, user_ids=self._user_ids)
