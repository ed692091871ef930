"""``GenerativeRetriever``: a trained model directory ready to answer search and rec requests."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from semid.generative.config import DEFAULT_K
from semid.generative.decode import BeamResult, constrained_beam_search
from semid.generative.trie import IDTrie
from semid.ids.types import SemanticIDs
from semid.io import read_json

logger = logging.getLogger(__name__)

__all__ = ["GenerativeRetriever", "load_model", "expand_items"]


def expand_items(trie: IDTrie, result: BeamResult, k: int) -> list[list[tuple[int, float]]]:
    """Turn ranked IDs into the top ``k`` items: each ID expands into its items (popularity
    order, see :mod:`semid.generative.trie`), all with the ID's score."""
    out = []
    for leaves, scores in zip(result.leaves, result.scores, strict=True):
        items: list[tuple[int, float]] = []
        for leaf, s in zip(leaves, scores, strict=True):
            if leaf < 0 or len(items) >= k:
                break
            for it in trie.leaf_items(int(leaf))[:k - len(items)]:
                items.append((int(it), float(s)))
        out.append(items)
    return out


class GenerativeRetriever:
    """A model backend + IDs + one trie per task.

    ``retrieve(task, inputs, k)`` returns, per input, up to ``k`` distinct
    ``(item_index, score)`` pairs, best first; ``score`` is the log-probability of the
    item's ID under the model.
    """

    def __init__(self, backend, ids: SemanticIDs, popularity: np.ndarray | None = None, device: str | None = None):
        import torch

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.backend = backend.to(self.device)
        self.backend.module.eval()
        self.ids = ids
        self.tries = {t: IDTrie.build(ids, t, popularity) for t in ids.tasks}
        #: the model directory's config.json (set by :func:`load_model`)
        self.config: dict = {}

    def retrieve(self, task: str, inputs: list, k: int = DEFAULT_K, beam_size: int | None = None, num_groups: int = 1,
                 diversity_penalty: float = 0.0, batch_size: int = 64) -> list[list[tuple[int, float]]]:
        """inputs: query strings (``search``) or item-index histories, oldest first (``rec``).

        beam_size: beams per input (default ``k``, see ``semid.generative.config.DEFAULT_BEAM_SIZE``); with
        ``num_groups > 1`` diverse beam search.
        """
        if task not in self.tries:
            raise ValueError(f"this model's IDs define tasks {list(self.tries)}, not {task!r}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        beam_size = beam_size or k
        trie = self.tries[task]
        out: list[list[tuple[int, float]]] = []
        for s in range(0, len(inputs), batch_size):
            memory = self.backend.encode(task, list(inputs[s:s + batch_size]))
            res = constrained_beam_search(self.backend, memory, trie, beam_size=beam_size, num_groups=num_groups,
                                          diversity_penalty=diversity_penalty)
            out += expand_items(trie, res, k)
        return out


def load_model(path: str | os.PathLike, device: str | None = None) -> GenerativeRetriever:
    """Load a model directory written by :func:`semid.generative.train_model` (any backend)."""
    from semid.generative.backends import backend_class

    path = Path(path)
    if not (path / "config.json").exists():
        hint = " (training is unfinished: rerun `semid train` to resume)" if (path / "checkpoints").exists() else ""
        raise FileNotFoundError(f"{path} holds no trained model{hint}; train one with `semid train --out {path}`")
    cfg = read_json(path / "config.json")
    ids = SemanticIDs.load(path / "ids")
    backend = backend_class(cfg.get("backend", "t5")).load(path, cfg, ids)  # models before the seam are T5
    pop = np.load(path / "popularity.npy") if (path / "popularity.npy").exists() else None
    r = GenerativeRetriever(backend, ids, pop, device=device)
    r.config = cfg
    return r
