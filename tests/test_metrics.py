"""Ranking metrics at the benchmark's cutoffs (Recall@5/10/30, NDCG@5/10) against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semid.evaluate.dense import SEARCH_KEYS, topk_ranks
from semid.evaluate.metrics import METRIC_KEYS, hit_ranks, ndcg_at, recall_at, task_metrics


def _brute_force(ranked: list[list[int]], targets: list[int], k: int) -> tuple[float, float]:
    """Recall@k and NDCG@k by their definitions: relevance 1 for the target, DCG = sum rel_i / log2(i + 1)
    over 1-based positions i <= k, divided by the ideal DCG (the target first: 1)."""
    recall, ndcg = [], []
    for lst, t in zip(ranked, targets, strict=True):
        top = lst[:k]
        recall.append(float(t in top))
        dcg = sum((1.0 if item == t else 0.0) / math.log2(i + 1) for i, item in enumerate(top, start=1))
        ndcg.append(dcg / 1.0)
    return float(np.mean(recall)), float(np.mean(ndcg))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recall_and_ndcg_at_every_cutoff_match_brute_force_on_random_rankings(seed):
    rng = np.random.default_rng(seed)
    n_items, n = 40, 300
    # ranked lists of varying length (a beam may return fewer than k items), targets inside or outside them
    ranked = [list(rng.permutation(n_items)[: rng.integers(1, 35)]) for _ in range(n)]
    targets = [int(rng.integers(n_items)) for _ in range(n)]
    m = task_metrics("rec", hit_ranks(ranked, targets))
    for k in (5, 10, 30):
        want_recall, want_ndcg = _brute_force(ranked, targets, k)
        assert m[f"rec_recall@{k}"] == pytest.approx(want_recall)
        if k in (5, 10):
            assert m[f"rec_ndcg@{k}"] == pytest.approx(want_ndcg)
    assert m["n_rec"] == n


def test_known_values_for_one_relevant_item():
    # 0-based ranks: first place, second, fifth, sixth, eleventh, absent
    ranks = np.array([0, 1, 4, 5, 10, -1])
    assert list(recall_at(ranks, 5)) == [1, 1, 1, 0, 0, 0]
    assert list(recall_at(ranks, 10)) == [1, 1, 1, 1, 0, 0]
    assert ndcg_at(ranks, 5) == pytest.approx([1.0, 1 / math.log2(3), 1 / math.log2(6), 0, 0, 0])
    assert ndcg_at(ranks, 10) == pytest.approx([1.0, 1 / math.log2(3), 1 / math.log2(6), 1 / math.log2(7), 0, 0])
    m = task_metrics("search", ranks)
    assert m["search_recall@5"] == pytest.approx(3 / 6)
    assert m["search_ndcg@5"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 6)


def test_every_task_reports_every_metric_key_and_dense_search_knows_them():
    m = {**task_metrics("search", np.array([0, -1])), **task_metrics("rec", np.array([3]), np.array([True]))}
    assert set(METRIC_KEYS) <= set(m)
    assert {"search_recall@5", "search_ndcg@5", "rec_recall@5", "rec_ndcg@5"} <= set(METRIC_KEYS)
    # a dense baseline without a query encoder nulls every search key, the new cutoffs included
    assert set(SEARCH_KEYS) == {k for k in METRIC_KEYS if k.startswith("search_")}


def test_no_examples_give_zeros_not_nan():
    m = task_metrics("rec", np.array([], dtype=np.int64))
    assert m["rec_recall@5"] == 0.0 and m["rec_ndcg@5"] == 0.0 and m["n_rec"] == 0


def test_dense_ranks_cover_the_full_catalogue_like_a_full_sort():
    """topk_ranks ranks each target among all items: the same rank as a stable full sort by score."""
    rng = np.random.default_rng(0)
    items = rng.normal(size=(57, 6)).astype(np.float32)
    items[7] = items[3]  # a tie: the lower index ranks first
    queries = rng.normal(size=(80, 6)).astype(np.float32)
    targets = rng.integers(0, 57, size=80)
    targets[:5] = 7
    got = topk_ranks(queries, items, targets, k=57, batch_size=13)
    scores = queries @ items.T
    for q, t in enumerate(targets):
        order = np.lexsort((np.arange(57), -scores[q]))  # by score descending, ties by index
        assert got[q] == int(np.flatnonzero(order == t)[0])
    cut = topk_ranks(queries, items, targets, k=5)
    assert np.array_equal(cut, np.where(got < 5, got, -1))
