"""Evaluation of the generative retriever, and the random-valid-ID baseline for search.

Test examples (DESIGN.md step 5):

- search: every query of ``Dataset.queries_for("test")``; ``example`` = its row there;
- rec: every ``Dataset.rec_examples("test")`` example (history = train + valid items,
  the last ``max_history`` used); ``example`` = the user id.

With ``max_examples``, each task is subsampled to at most that many examples with
``numpy.random.default_rng(sample_seed)``. The choice depends only on the dataset, the
task and the seed, never on the model, so every variant sees the same examples; the
sample is stated in ``metrics.json`` under ``sample``.

An :class:`EvalResult` holds the metrics (the same keys as the dense baselines, from
:func:`semid.evaluate.metrics.task_metrics`) and ``hits``: one row per example with
``task``, ``example``, ``target`` (item index) and ``rank`` (0-based, -1 outside the top
``k``), kept for the significance tests in :mod:`semid.evaluate.significance`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from semid.evaluate.metrics import hit_ranks, task_metrics
from semid.generative.config import DEFAULT_K
from semid.io import atomic_dir, write_json

logger = logging.getLogger(__name__)

__all__ = ["EvalResult", "evaluate_generative", "random_id_baseline", "popularity_baseline", "eval_examples", "load_eval"]


@dataclass
class EvalResult:
    """metrics: the flat ``metrics.json`` dict; hits: DataFrame (task, example, target, rank, head)."""

    metrics: dict[str, Any]
    hits: pd.DataFrame

    def save(self, out: str | os.PathLike) -> Path:
        """Write ``metrics.json`` and ``hits.parquet`` into directory ``out`` (atomically).

        ``out`` ending in ``.json`` names the metrics file itself; the hits then go beside it
        as ``<stem>.hits.parquet``.
        """
        out = Path(out)
        if out.suffix == ".json":
            write_json(out, self.metrics)
            tmp = out.with_name(f".{out.stem}.hits.parquet.tmp")
            self.hits.to_parquet(tmp, index=False)
            os.replace(tmp, out.with_name(f"{out.stem}.hits.parquet"))
            return out
        with atomic_dir(out) as tmp:
            write_json(tmp / "metrics.json", self.metrics)
            self.hits.to_parquet(tmp / "hits.parquet", index=False)
        return out


def load_eval(path: str | os.PathLike) -> EvalResult:
    """Read an evaluation written by :meth:`EvalResult.save` (directory or ``.json`` file)."""
    from semid.io import read_json

    path = Path(path)
    if path.is_dir():
        mfile, hfile = path / "metrics.json", path / "hits.parquet"
    else:
        mfile, hfile = path, path.with_name(f"{path.stem}.hits.parquet")
    metrics = read_json(mfile)
    if not hfile.exists():
        raise FileNotFoundError(f"{hfile} is missing: significance tests need per-example hits; rerun `semid evaluate`")
    return EvalResult(metrics, pd.read_parquet(hfile))


def _sample(n: int, max_examples: int | None, seed: int, task: str) -> np.ndarray:
    if max_examples is None or max_examples >= n:
        return np.arange(n)
    rng = np.random.default_rng([seed, 0 if task == "search" else 1])
    return np.sort(rng.choice(n, size=max_examples, replace=False))


def eval_examples(dataset, max_examples: int | None = None, sample_seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per task: ``example`` ids, ``targets`` (item indices), ``inputs`` (queries or histories)
    and ``n_total`` (before sampling)."""
    q = dataset.queries_for("test")
    si = _sample(len(q), max_examples, sample_seed, "search")
    rec = dataset.rec_examples("test")
    ri = _sample(len(rec), max_examples, sample_seed, "rec")
    return {
        "search": {"example": si.astype(np.int64), "targets": q["item_index"].to_numpy()[si].astype(np.int64),
                   "inputs": q["text"].to_numpy()[si].tolist(), "n_total": len(q)},
        "rec": {"example": np.array([rec[i].user_id for i in ri], dtype=np.int64),
                "targets": np.array([rec[i].target for i in ri], dtype=np.int64),
                "inputs": [rec[i].history for i in ri], "n_total": len(rec)},
    }


def _result(dataset, ex: dict, ranked: dict[str, list[list[int]]], k: int, extra: dict[str, Any]) -> EvalResult:
    metrics: dict[str, Any] = {}
    frames = []
    for task, lists in ranked.items():
        ranks = hit_ranks(lists, ex[task]["targets"])
        ranks = np.where(ranks < k, ranks, -1)
        head = dataset.head_mask[ex[task]["targets"]] if task == "rec" else None
        metrics.update(task_metrics(task, ranks, head))
        is_head = dataset.head_mask[ex[task]["targets"]] if task == "rec" else np.zeros(len(ranks), dtype=bool)
        frames.append(pd.DataFrame({"task": task, "example": ex[task]["example"], "target": ex[task]["targets"],
                                    "rank": ranks, "head": is_head}))
    metrics["k"] = k
    metrics.update(extra)
    return EvalResult(metrics, pd.concat(frames, ignore_index=True))


def _sample_info(ex: dict, max_examples: int | None, sample_seed: int) -> dict[str, Any]:
    return {"sample": {"max_examples": max_examples, "seed": sample_seed,
                       **{f"n_{t}_total": int(v["n_total"]) for t, v in ex.items()},
                       "sampled": any(len(v["example"]) < v["n_total"] for v in ex.values())}}


def evaluate_generative(model_dir_or_retriever, dataset, k: int = DEFAULT_K, max_examples: int | None = None,
                        sample_seed: int = 0, beam: int | None = None, num_groups: int = 1,
                        diversity_penalty: float = 0.0, batch_size: int = 64, tasks: tuple[str, ...] = ("search", "rec"),
                        show_progress: bool = True) -> EvalResult:
    """Retrieve the top ``k`` items for every (sampled) test example of each task.

    beam: beams per example (default ``k``, see ``semid.generative.config.DEFAULT_BEAM_SIZE``);
    ``num_groups``/``diversity_penalty`` switch to
    diverse beam search (the paper: beam 60, 30 groups, 0.25).
    """
    from tqdm.auto import tqdm

    from semid.generative.retriever import GenerativeRetriever, load_model

    r = model_dir_or_retriever
    if not isinstance(r, GenerativeRetriever):
        r = load_model(r)
    if getattr(r, "config", None):  # a model written by semid train: its data fingerprint
        from semid.generative.fingerprint import check_model_data

        check_model_data(r.config, dataset, "the model" if r is model_dir_or_retriever else model_dir_or_retriever)
    if r.ids.n_items != dataset.n_items:
        raise ValueError(f"the model's IDs cover {r.ids.n_items} items but the dataset has {dataset.n_items}: "
                         f"evaluate on the dataset the model was trained on")
    ex = eval_examples(dataset, max_examples, sample_seed)
    ranked: dict[str, list[list[int]]] = {}
    timing = {}
    for task in tasks:
        inputs = ex[task]["inputs"]
        t0 = time.perf_counter()
        lists: list[list[int]] = []
        for s in tqdm(range(0, len(inputs), batch_size), desc=f"eval {task}", disable=not show_progress):
            res = r.retrieve(task, inputs[s:s + batch_size], k=k, beam_size=beam, num_groups=num_groups,
                             diversity_penalty=diversity_penalty, batch_size=batch_size)
            lists += [[i for i, _ in lst] for lst in res]
        dt = time.perf_counter() - t0
        timing[f"{task}_decode_s"] = dt
        timing[f"{task}_queries_per_s"] = len(inputs) / dt if dt > 0 else None
        ranked[task] = lists
    extra = {"evaluator": "generative", "beam": beam or k, "num_groups": num_groups,
             "diversity_penalty": diversity_penalty, **timing, **_sample_info(ex, max_examples, sample_seed)}
    cfg = getattr(r, "config", {}) or {}
    if cfg:
        extra["seed"] = cfg.get("train_config", {}).get("seed")
        extra["train_time_s"] = cfg.get("train_time_s")
    return _result(dataset, ex, ranked, k, extra)


def random_id_baseline(dataset, ids, k: int = DEFAULT_K, seed: int = 0, max_examples: int | None = None,
                       sample_seed: int = 0) -> EvalResult:
    """Each example gets distinct valid IDs drawn uniformly at random, expanded into their items
    (popularity order inside a shared ID, as the generative model does) until ``k`` items.

    ids: the task's SemanticIDs (the same as the model's). Both tasks are scored; the
    search side is the baseline that the generative model must beat.
    """
    from semid.generative.trie import IDTrie

    if ids.n_items != dataset.n_items:
        raise ValueError(f"the IDs cover {ids.n_items} items but the dataset has {dataset.n_items}")
    from semid.generative.fingerprint import check_ids_data

    check_ids_data(ids, dataset)
    ex = eval_examples(dataset, max_examples, sample_seed)
    rng = np.random.default_rng(seed)
    ranked = {}
    for task in ("search", "rec"):
        trie = IDTrie.build(ids, task, dataset.train_counts)
        lists = []
        for _ in range(len(ex[task]["targets"])):
            items: list[int] = []
            for leaf in rng.choice(trie.n_leaves, size=min(k, trie.n_leaves), replace=False):
                items += trie.leaf_items(int(leaf))[:k - len(items)].tolist()
                if len(items) >= k:
                    break
            lists.append(items)
        ranked[task] = lists
    return _result(dataset, ex, ranked, k, {"evaluator": "random-valid-ids", "seed": seed,
                                            **_sample_info(ex, max_examples, sample_seed)})


def popularity_baseline(dataset, k: int = DEFAULT_K, max_examples: int | None = None, sample_seed: int = 0) -> EvalResult:
    """The popularity baseline for recommendation on the same (sampled) test users as
    :func:`evaluate_generative`: every user gets the ``k`` most-interacted training items
    (:func:`semid.evaluate.baselines.popularity_order`). Only the ``rec`` task is scored."""
    from semid.evaluate.baselines import popularity_order

    ex = eval_examples(dataset, max_examples, sample_seed)
    top = popularity_order(dataset)[:k].tolist()
    ranked = {"rec": [top] * len(ex["rec"]["targets"])}
    return _result(dataset, ex, ranked, k, {"evaluator": "popularity", "seed": 0,
                                            **_sample_info(ex, max_examples, sample_seed)})
