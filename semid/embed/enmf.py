"""ENMF: Efficient Neural Matrix Factorization without sampling (the *rec* embeddings).

Chen, Zhang, Zhang, Liu, Ma, "Efficient Neural Matrix Factorization without Sampling for
Recommendation", ACM TOIS 38(2), 2020. The user-based variant (ENMF-U), as in RecBole's
``ENMF`` (the paper's implementation, which no longer runs with current numpy/pandas/torch):

- score ``y_ui = h^T (p_u ⊙ q_i)`` with a user table ``P``, an item table ``Q`` and a vector ``h``;
  dropout on the user vector during training;
- whole-data weighted regression over *all* (user, item) pairs of a user batch ``B``: weight 1 on
  observed pairs (target 1), weight ``c0`` on all others (target 0). Dropping the constant
  ``|R_B|`` this equals::

      L = sum_{u in B} sum_{i in R_u} ((1 - c0) y_ui^2 - 2 y_ui)
          + c0 * sum_{d, d'} (sum_{u in B} p_ud p_ud') (sum_i q_id q_id') (h_d h_d')

  which costs O((|B| + |I|) d^2 + |R_B| d) instead of O(|B| |I| d)
  (:func:`enmf_loss`; :func:`enmf_loss_bruteforce` is the direct sum used to test it).

Only *training* interactions are used. The exported item vectors are ``q_i ⊙ sqrt|h|`` and the
user vectors ``p_u ⊙ sign(h) sqrt|h|``, so that ``user_vectors @ embeddings.T`` is exactly ENMF's score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semid.embed.base import Embedder, EmbeddingError, ItemEmbeddings
from semid.embed.sentence import pick_device

logger = logging.getLogger(__name__)

__all__ = ["ENMFConfig", "ENMFEmbedder", "enmf_loss", "enmf_loss_bruteforce"]


@dataclass
class ENMFConfig:
    """ENMF settings; defaults are the paper's (30 epochs, batch 512, dim 256, lr 1e-3) and RecBole's."""

    epochs: int = field(default=30, metadata={"help": "passes over the users"})
    batch_size: int = field(default=512, metadata={"help": "users per batch"})
    dim: int = field(default=256, metadata={"help": "embedding dimension"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    negative_weight: float = field(default=0.5, metadata={"help": "c0, the weight of unobserved pairs (RecBole default 0.5)"})
    dropout: float = field(default=0.7, metadata={"help": "dropout on the user vector (RecBole default 0.7)"})
    reg_weight: float = field(default=0.0, metadata={"help": "L2 weight on the parameters (RecBole default 0)"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ...; None picks cuda when available"})

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 < self.negative_weight < 1:
            raise ValueError(f"negative_weight must be in (0, 1), got {self.negative_weight}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.reg_weight < 0:
            raise ValueError(f"reg_weight must be >= 0, got {self.reg_weight}")


def enmf_loss(p: Any, q: Any, h: Any, pos_rows: Any, pos_items: Any, c0: float) -> Any:
    """The efficient whole-data ENMF loss of a user batch (constant ``|R_B|`` dropped).

    p: float (B, d) user vectors; q: float (n_items, d) all item vectors; h: float (d,);
    pos_rows / pos_items: int64 (n_pos,) observed pairs (row in the batch, item index).
    """
    ph = p * h  # (B, d)
    y_pos = (ph[pos_rows] * q[pos_items]).sum(-1)  # (n_pos,)
    pos_term = ((1.0 - c0) * y_pos.square() - 2.0 * y_pos).sum()
    all_term = ((p.T @ p) * (q.T @ q) * torch_outer(h)).sum()
    return pos_term + c0 * all_term


def torch_outer(h: Any) -> Any:
    return h[:, None] * h[None, :]


def enmf_loss_bruteforce(p: Any, q: Any, h: Any, r: Any, c0: float) -> Any:
    """Direct weighted squared error over every (user, item) pair, minus the constant ``r.sum()``.

    r: float (B, n_items) 0/1 observed matrix. Reference for :func:`enmf_loss`.
    """
    y = (p * h) @ q.T  # (B, n_items)
    c = r + c0 * (1 - r)
    return (c * (r - y).square()).sum() - r.sum()


def _csr(histories: dict[int, np.ndarray], n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    users = np.array(sorted(histories), dtype=np.int64)
    rows = [np.unique(histories[u]) for u in users]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    return users, indptr, indices


class ENMFEmbedder(Embedder):
    """ENMF (Chen et al., TOIS 2020), user-based variant as in RecBole, trained on training interactions.

    The *rec-tuned* source of Penha et al. (RecSys 2025).
    """

    name = "rec"

    def fit(self, dataset: Any, inputs: list[ItemEmbeddings] | None = None) -> ENMFEmbedder:
        import torch
        from tqdm.auto import trange

        cfg = self.config
        hist = dataset.user_histories(("train",))
        if not hist:
            raise ValueError("the dataset has no training interactions; ENMF needs them")
        n_items = dataset.n_items
        users, indptr, indices = _csr(hist, n_items)
        n_users = len(users)
        device = torch.device(pick_device(cfg.device))
        gen = torch.Generator().manual_seed(self.seed)
        P = torch.empty(n_users, cfg.dim)
        Q = torch.empty(n_items, cfg.dim)
        H = torch.empty(1, cfg.dim)
        for t in (P, Q, H):  # RecBole: xavier_normal_initialization
            torch.nn.init.xavier_normal_(t, generator=gen)
        P, Q = P.to(device).requires_grad_(), Q.to(device).requires_grad_()
        H = H[0].to(device).requires_grad_()
        opt = torch.optim.Adam([P, Q, H], lr=cfg.lr)
        drop = torch.nn.Dropout(cfg.dropout)
        rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        losses = []
        bar = trange(cfg.epochs, desc="ENMF", disable=not self.show_progress)
        for _ in bar:
            order = rng.permutation(n_users)
            total = 0.0
            for s in range(0, n_users, cfg.batch_size):
                b = order[s: s + cfg.batch_size]
                lens = indptr[b + 1] - indptr[b]
                rows = np.repeat(np.arange(len(b)), lens)
                items = np.concatenate([indices[indptr[u]: indptr[u + 1]] for u in b])
                p = drop(P[torch.as_tensor(b, device=device)])
                loss = enmf_loss(p, Q, H, torch.as_tensor(rows, device=device),
                                 torch.as_tensor(items, device=device), cfg.negative_weight)
                if cfg.reg_weight:
                    loss = loss + cfg.reg_weight * (P.square().sum() + Q.square().sum() + H.square().sum())
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
            if not np.isfinite(total):
                raise EmbeddingError(f"ENMF loss became {total} after epoch {len(losses) + 1}; lower lr (now {cfg.lr})")
            losses.append(total)
            bar.set_postfix(loss=f"{total:.1f}")
        scale = H.detach().abs().sqrt()
        self._items = (Q.detach() * scale).cpu().numpy().astype(np.float32)
        self._users = (P.detach() * torch.sign(H.detach()) * scale).cpu().numpy().astype(np.float32)
        self._user_ids = users
        self._losses = losses
        self._dataset = dataset
        return self

    def embed(self) -> ItemEmbeddings:
        ds = self._dataset
        meta = self._base_meta(ds, "enmf")
        meta["query_encoder"] = None
        meta["training"] = {"loss_first": self._losses[0], "loss_last": self._losses[-1], "epochs": len(self._losses)}
        return ItemEmbeddings(self._items, meta, None, ds.items["item_id"].to_numpy(),
                              user_vectors=self._users, user_ids=self._user_ids)
