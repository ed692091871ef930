"""``semid.Retriever``: ask a trained model for items, in the catalogue's own item ids.

    from semid import Retriever

    r = Retriever.load("runs/quickstart/synthetic/model/multi-task__rq-kmeans__suffix__s0")
    r.search(["a dark comedy about a heist"], k=10)    # -> [[Hit(item_id, title, score), ...]]
    r.recommend([[12, 7, 40]], k=10)                   # histories: original item ids, oldest first

Scores are the model's log-probabilities of the items' IDs (items sharing an ID share its score).
The model directory holds everything needed (``catalogue.parquet``: item ids and titles).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Retriever", "Hit", "CATALOGUE"]

CATALOGUE = "catalogue.parquet"


@dataclass(frozen=True)
class Hit:
    """One ranked answer: the catalogue's item id, its title, the model's score."""

    item_id: Any
    title: str
    score: float


class Retriever:
    """A trained generative model answering search queries and histories (module docstring)."""

    def __init__(self, generative, catalogue) -> None:
        self._gen = generative
        self._ids = catalogue["item_id"].tolist()
        self._titles = catalogue["title"].astype(str).tolist()
        self._index = {i: n for n, i in enumerate(self._ids)}

    @classmethod
    def load(cls, model_dir: str | os.PathLike, device: str | None = None) -> Retriever:
        """Load a model directory written by ``semid train`` / ``semid run``; ``device`` defaults to
        ``cuda`` when available, else ``cpu``."""
        import pandas as pd

        from semid.generative.retriever import load_model

        path = Path(model_dir)
        gen = load_model(path, device=device)
        if not (path / CATALOGUE).exists():
            raise FileNotFoundError(f"{path / CATALOGUE} is missing: this model was trained before semid saved the "
                                    f"catalogue with it; retrain it (semid train) to use it here")
        return cls(gen, pd.read_parquet(path / CATALOGUE))

    @property
    def n_items(self) -> int:
        return len(self._ids)

    def item(self, item_id) -> Hit:
        """The catalogue entry of ``item_id`` (score 0)."""
        return Hit(item_id, self._titles[self._to_index([item_id])[0]], 0.0)

    def _to_index(self, item_ids) -> list[int]:
        unknown = [i for i in item_ids if i not in self._index]
        if unknown:
            raise ValueError(f"{len(unknown)} item id(s) are not in this model's catalogue: {unknown[:5]}")
        return [self._index[i] for i in item_ids]

    def _hits(self, ranked: list[list[tuple[int, float]]]) -> list[list[Hit]]:
        return [[Hit(self._ids[i], self._titles[i], s) for i, s in lst] for lst in ranked]

    def _check(self, k: int, n: int) -> None:
        if not isinstance(k, int | np.integer) or k < 1 or k > self.n_items:
            raise ValueError(f"k must be an integer in [1, {self.n_items}], got {k!r}")
        if n == 0:
            raise ValueError("no inputs given")

    def search(self, texts: str | list[str], k: int = 10, beam_size: int | None = None, num_groups: int = 1,
               diversity_penalty: float = 0.0, batch_size: int = 64) -> list[list[Hit]]:
        """The top ``k`` items for each query (a string or a list of strings)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        self._check(k, len(texts))
        bad = [t for t in texts if not isinstance(t, str) or not t.strip()]
        if bad:
            raise ValueError(f"queries must be non-empty strings, got {bad[:3]!r}")
        return self._hits(self._gen.retrieve("search", texts, k=k, beam_size=beam_size or max(k, 30),
                                             num_groups=num_groups, diversity_penalty=diversity_penalty,
                                             batch_size=batch_size))

    def recommend(self, histories: list, k: int = 10, beam_size: int | None = None, num_groups: int = 1,
                  diversity_penalty: float = 0.0, batch_size: int = 64) -> list[list[Hit]]:
        """The top ``k`` next items for each history (a list of item ids, oldest first; a flat list
        of ids is one history)."""
        histories = list(histories)
        if histories and not isinstance(histories[0], list | tuple | np.ndarray):
            histories = [histories]
        self._check(k, len(histories))
        if any(len(h) == 0 for h in histories):
            raise ValueError("every history needs at least one item id")
        idx = [np.asarray(self._to_index(list(h)), dtype=np.int64) for h in histories]
        return self._hits(self._gen.retrieve("rec", idx, k=k, beam_size=beam_size or max(k, 30),
                                             num_groups=num_groups, diversity_penalty=diversity_penalty,
                                             batch_size=batch_size))
