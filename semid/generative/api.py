"""``semid.Retriever``: ask a trained model for items, in the catalogue's own item ids.

    from semid import Retriever

    r = Retriever.load("runs/quickstart/synthetic/model/multi-task__rq-kmeans__suffix__s0")
    r.search(["a dark comedy about a heist"], k=10)    # -> [[Hit(item_id, title, score), ...]]
    r.recommend([[12, 7, 40]], k=10)                   # histories: original item ids, oldest first

Scores are the model's log-probabilities of the items' IDs (items sharing an ID share its score).
The model directory holds everything needed (``catalogue.parquet``: item ids and titles).

New items join without retraining: ``r.add_items("new-items")`` takes the directory written by
``semid ids encode`` (or a :class:`~semid.ids.encode.NewItems`), puts their IDs into the
decoder's trie and the catalogue, and ``search`` can return them at once. They cannot appear in
a ``recommend`` history yet (the backend's history tokens are fixed at load).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semid.generative.config import DEFAULT_BEAM_SIZE, DEFAULT_SERVE_K

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

    def __init__(self, generative, catalogue, popularity: np.ndarray | None = None) -> None:
        self._gen = generative
        self._ids = catalogue["item_id"].tolist()
        self._titles = catalogue["title"].astype(str).tolist()
        self._index = {i: n for n, i in enumerate(self._ids)}
        self._popularity = popularity
        #: items the model was trained with (rows after these were added by add_items)
        self.n_trained = len(self._ids)
        self._base_fingerprint: str | None = None

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
        pop = np.load(path / "popularity.npy") if (path / "popularity.npy").exists() else None
        return cls(gen, pd.read_parquet(path / CATALOGUE), pop)

    @property
    def device(self) -> str:
        return str(self._gen.device)

    @property
    def n_items(self) -> int:
        return len(self._ids)

    def item(self, item_id) -> Hit:
        """The catalogue entry of ``item_id`` (score 0)."""
        return Hit(item_id, self._titles[self._to_index([item_id])[0]], 0.0)

    def find(self, item_id) -> Any:
        """The catalogue's own id for ``item_id`` given as it is or as text (``"42"`` -> ``42``
        when the catalogue's ids are integers); None when the catalogue has no such item."""
        if item_id in self._index:
            return item_id
        if isinstance(item_id, str):
            try:
                n = int(item_id)
            except ValueError:
                return None
            return n if n in self._index else None
        return None

    def add_items(self, items, suffix_policy: str | None = None) -> dict[str, int]:
        """Make new items retrievable without retraining.

        items: a directory written by ``semid ids encode`` or a :class:`~semid.ids.encode.NewItems`
        for the IDs this model was trained on. Their IDs are completed against every item already
        here (a free suffix, as ``semid ids encode`` does), appended to the catalogue and inserted
        into the tries. ``suffix_policy``: "free" or "share" (see :mod:`semid.ids.encode`; default: the
        one the items were encoded with). Returns counts (``n_new``, ``own_id``, ``shared_id``,
        ``unseen_quantizer_codes``).
        """
        from semid.generative.trie import IDTrie
        from semid.ids.encode import NewItems, assign_codes, extend_ids, ids_fingerprint

        new = items if isinstance(items, NewItems) else NewItems.load(items)
        if self._base_fingerprint is None:  # the trained IDs (taken before the first addition)
            self._base_fingerprint = ids_fingerprint(self._gen.ids)
        if new.ids_fingerprint != self._base_fingerprint:
            raise ValueError("the new items were encoded for other IDs than this model's (ids fingerprint differs); "
                             "run `semid ids encode --ids` on the IDs directory this model was trained on")
        clash = [i for i in new.item_ids if i in self._index]
        if clash:
            raise ValueError(f"{len(clash)} new item id(s) are already in the catalogue: {clash[:5]}")
        assigned = assign_codes(self._gen.ids, new.quantizer_codes,
                                suffix_policy or new.info.get("suffix_policy", "free"))
        ids = extend_ids(self._gen.ids, assigned)
        pop = None
        if self._popularity is not None:  # new items have no training interactions
            pop = np.concatenate([self._popularity, np.zeros(ids.n_items - len(self._popularity), dtype=np.int64)])
        tries = {t: IDTrie.build(ids, t, pop) for t in self._gen.tries}
        # swap everything in only when all of it is built (a request never sees half an update)
        start = len(self._ids)
        self._gen.ids, self._gen.tries, self._popularity = ids, tries, pop
        self._ids = self._ids + list(new.item_ids)
        self._titles = self._titles + [str(t) for t in new.titles]
        self._index = {**self._index, **{i: start + n for n, i in enumerate(new.item_ids)}}
        return assigned.summary()

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

    def search(self, texts: str | list[str], k: int = DEFAULT_SERVE_K, beam_size: int | None = None, num_groups: int = 1,
               diversity_penalty: float = 0.0, batch_size: int = 64) -> list[list[Hit]]:
        """The top ``k`` items for each query (a string or a list of strings)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        self._check(k, len(texts))
        bad = [t for t in texts if not isinstance(t, str) or not t.strip()]
        if bad:
            raise ValueError(f"queries must be non-empty strings, got {bad[:3]!r}")
        return self._hits(self._gen.retrieve("search", texts, k=k, beam_size=beam_size or max(k, DEFAULT_BEAM_SIZE),
                                             num_groups=num_groups, diversity_penalty=diversity_penalty,
                                             batch_size=batch_size))

    def recommend(self, histories: list, k: int = DEFAULT_SERVE_K, beam_size: int | None = None, num_groups: int = 1,
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
        added = sorted({self._ids[i] for h in idx for i in h if i >= self.n_trained}, key=str)
        if added:
            raise ValueError(f"item id(s) {added[:5]} were added after training (add_items); a history can hold "
                             f"only items the model was trained with")
        return self._hits(self._gen.retrieve("rec", idx, k=k, beam_size=beam_size or max(k, DEFAULT_BEAM_SIZE),
                                             num_groups=num_groups, diversity_penalty=diversity_penalty,
                                             batch_size=batch_size))
