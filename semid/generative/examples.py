"""Training and inference examples for the joint model (DESIGN.md step 4).

- search: ``search: <query>`` -> the item's search ID tokens;
- rec: ``recommend: <ID tokens of the last N history items>`` -> the next item's rec ID tokens.

Inputs end with ``</s>``; targets are the ID tokens alone (every ID of a task has the same
length, so the decoder needs no end token). Under ``separate`` IDs, history items are
written with the rec task's tokens and the two tasks never share an ID token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from semid.ids.types import SemanticIDs

logger = logging.getLogger(__name__)

__all__ = ["TaskEncoder", "Examples", "build_examples", "rec_pairs", "SEARCH_PREFIX", "REC_PREFIX"]

SEARCH_PREFIX = "search: "
REC_PREFIX = "recommend:"
REC_TARGETS = ("all", "last")


class TaskEncoder:
    """Turns queries and histories into token ids, and items into their ID-token ids."""

    def __init__(self, tokenizer, ids: SemanticIDs, max_history: int = 20, max_query_tokens: int = 64):
        if max_history < 1:
            raise ValueError(f"max_history must be >= 1, got {max_history}")
        self.tokenizer = tokenizer
        self.ids = ids
        self.max_history = max_history
        self.max_query_tokens = max_query_tokens
        first = [ids.token(j, 0) for j in range(len(ids.level_sizes))]
        offs = tokenizer.convert_tokens_to_ids(first)
        unk = tokenizer.unk_token_id
        if any(o is None or o == unk for o in offs):
            raise ValueError("the tokenizer lacks the ID tokens of these IDs; was the model trained on other IDs?")
        #: int64 (n_levels,): token id of code 0 at each level (codes of a level are consecutive)
        self.level_offset = np.asarray(offs, dtype=np.int64)
        self.eos_id = int(tokenizer.eos_token_id)
        self.rec_prefix = tokenizer(REC_PREFIX, add_special_tokens=False)["input_ids"]
        #: int64 (n_items, id_len) per task: the token ids of every item's ID
        self.task_token_ids = {t: ids.codes[:, cols] + self.level_offset[cols] for t, cols in ids.tasks.items()}

    def target(self, task: str, item: int) -> list[int]:
        return self.task_token_ids[task][item].tolist()

    def search_inputs(self, queries: list[str]) -> list[list[int]]:
        enc = self.tokenizer([SEARCH_PREFIX + q for q in queries], truncation=True, max_length=self.max_query_tokens)
        return enc["input_ids"]

    def rec_input(self, history: np.ndarray) -> list[int]:
        """history: int item indices, oldest first; the last ``max_history`` are used."""
        h = np.asarray(history, dtype=np.int64)[-self.max_history:]
        toks = self.task_token_ids["rec"][h].reshape(-1).tolist()
        return self.rec_prefix + toks + [self.eos_id]

    def inputs(self, task: str, inputs: list) -> list[list[int]]:
        """Token ids for a batch: query strings for ``search``, item-index histories for ``rec``."""
        if task == "search":
            if not all(isinstance(q, str) for q in inputs):
                raise TypeError("search inputs must be query strings")
            return self.search_inputs(list(inputs))
        if task == "rec":
            return [self.rec_input(h) for h in inputs]
        raise ValueError(f"unknown task {task!r}; tasks are ['search', 'rec']")


@dataclass
class Examples:
    """input_ids and labels (lists of token-id lists) plus task: str per example."""

    input_ids: list[list[int]]
    labels: list[list[int]]
    task: list[str]

    def __len__(self) -> int:
        return len(self.input_ids)

    def subset(self, idx: np.ndarray) -> Examples:
        return Examples([self.input_ids[i] for i in idx], [self.labels[i] for i in idx], [self.task[i] for i in idx])


def rec_pairs(dataset, rec_targets: str, max_history: int):
    """Yield ``(history, target)`` for every rec training example: int item indices of the up to
    ``max_history`` items before position t, and the item at t (``all``: every t >= 1 of each
    user's training history; ``last``: only the last)."""
    if rec_targets not in REC_TARGETS:
        raise ValueError(f"rec_targets must be one of {list(REC_TARGETS)}, got {rec_targets!r}")
    for hist in dataset.user_histories(("train",)).values():
        positions = range(1, len(hist)) if rec_targets == "all" else ([len(hist) - 1] if len(hist) > 1 else [])
        for t in positions:
            yield hist[max(0, t - max_history):t], int(hist[t])


def build_examples(dataset, encoder: TaskEncoder, rec_targets: str = "all", tasks: tuple[str, ...] = ("search", "rec")) -> Examples:
    """Every training example of both tasks, for one joint training run.

    rec_targets: ``all`` makes every next item of each user's training history a target
    (the item at position t with the up-to-N items before it); ``last`` only the last.
    """
    if rec_targets not in REC_TARGETS:
        raise ValueError(f"rec_targets must be one of {list(REC_TARGETS)}, got {rec_targets!r}")
    inp: list[list[int]] = []
    lab: list[list[int]] = []
    task: list[str] = []
    if "search" in tasks:
        q = dataset.queries_for("train")
        inp += encoder.search_inputs(q["text"].tolist())
        lab += [encoder.target("search", int(i)) for i in q["item_index"].to_numpy()]
        task += ["search"] * len(q)
    if "rec" in tasks:
        n0 = len(inp)
        for hist, target in rec_pairs(dataset, rec_targets, encoder.max_history):
            inp.append(encoder.rec_input(hist))
            lab.append(encoder.target("rec", target))
        task += ["rec"] * (len(inp) - n0)
    logger.info("built %d search and %d rec training examples", task.count("search"), task.count("rec"))
    return Examples(inp, lab, task)
