"""``GenerativeRetriever``: a trained model directory ready to answer search and rec requests."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from semid.generative.decode import BeamResult, constrained_beam_search
from semid.generative.examples import TaskEncoder
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
    """Model + tokenizer + IDs + one trie per task.

    ``retrieve(task, inputs, k)`` returns, per input, up to ``k`` distinct
    ``(item_index, score)`` pairs, best first; ``score`` is the log-probability of the
    item's ID under the model.
    """

    def __init__(self, model, tokenizer, ids: SemanticIDs, popularity: np.ndarray | None = None,
                 max_history: int = 20, max_query_tokens: int = 64, device: str | None = None):
        import torch

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.ids = ids
        self.encoder = TaskEncoder(tokenizer, ids, max_history=max_history, max_query_tokens=max_query_tokens)
        self.tries = {t: IDTrie.build(ids, t, popularity) for t in ids.tasks}
        self.pad_id = int(tokenizer.pad_token_id)
        #: the model directory's config.json (set by :func:`load_model`)
        self.config: dict = {}

    def level_offsets(self, task: str) -> np.ndarray:
        return self.encoder.level_offset[self.ids.tasks[task]]

    def batch_tensors(self, task: str, inputs: list):
        from semid.generative.train import collate

        ids, mask, _ = collate(self.encoder.inputs(task, inputs), None, self.pad_id)
        return ids.to(self.device), mask.to(self.device)

    def retrieve(self, task: str, inputs: list, k: int = 30, beam_size: int | None = None, num_groups: int = 1,
                 diversity_penalty: float = 0.0, batch_size: int = 64) -> list[list[tuple[int, float]]]:
        """inputs: query strings (``search``) or item-index histories, oldest first (``rec``).

        beam_size: beams per input (default ``k``); with ``num_groups > 1`` diverse beam search.
        """
        if task not in self.tries:
            raise ValueError(f"this model's IDs define tasks {list(self.tries)}, not {task!r}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        beam_size = beam_size or k
        trie = self.tries[task]
        out: list[list[tuple[int, float]]] = []
        for s in range(0, len(inputs), batch_size):
            ids, mask = self.batch_tensors(task, list(inputs[s:s + batch_size]))
            res = constrained_beam_search(self.model, ids, mask, trie, self.level_offsets(task), beam_size=beam_size,
                                          num_groups=num_groups, diversity_penalty=diversity_penalty)
            out += expand_items(trie, res, k)
        return out


def load_model(path: str | os.PathLike, device: str | None = None) -> GenerativeRetriever:
    """Load a model directory written by :func:`semid.generative.train_model`."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").exists():
        hint = " (training is unfinished: rerun `semid train` to resume)" if (path / "checkpoints").exists() else ""
        raise FileNotFoundError(f"{path} holds no trained model{hint}; train one with `semid train --out {path}`")
    cfg = read_json(path / "config.json")
    tc = cfg.get("train_config", {})
    model = AutoModelForSeq2SeqLM.from_pretrained(path / "model")
    tok = AutoTokenizer.from_pretrained(path / "tokenizer")
    ids = SemanticIDs.load(path / "ids")
    pop = np.load(path / "popularity.npy") if (path / "popularity.npy").exists() else None
    r = GenerativeRetriever(model, tok, ids, pop, max_history=int(tc.get("max_history", 20)),
                            max_query_tokens=int(tc.get("max_query_tokens", 64)), device=device)
    r.config = cfg
    return r
