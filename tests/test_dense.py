"""Dense baselines: ranks against a brute-force sort, user vectors, popularity, null search keys."""

from __future__ import annotations

import numpy as np
import pytest

from semid.embed import ItemEmbeddings
from semid.evaluate.baselines import popularity_metrics, popularity_order, popularity_ranks
from semid.evaluate.dense import evaluate_dense, topk_ranks


def test_topk_ranks_match_bruteforce_sort():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(50, 6)).astype(np.float32)
    queries = rng.normal(size=(20, 6)).astype(np.float32)
    targets = rng.integers(0, 50, size=20)
    got = topk_ranks(queries, items, targets, k=30, batch_size=7)
    for q, t, r in zip(queries, targets, got, strict=True):
        order = np.argsort(-(items @ q), kind="stable")
        pos = int(np.flatnonzero(order == t)[0])
        assert r == (pos if pos < 30 else -1)


def test_ties_go_to_the_lower_item_index():
    items = np.ones((5, 2), np.float32)
    got = topk_ranks(np.ones((3, 2), np.float32), items, np.array([0, 2, 4]), k=30)
    np.testing.assert_array_equal(got, [0, 2, 4])


def test_popularity_ranks_follow_training_counts(tiny_dataset):
    order = popularity_order(tiny_dataset)
    counts = tiny_dataset.train_counts
    assert np.all(np.diff(counts[order]) <= 0)
    ex = tiny_dataset.rec_examples("test")
    r = popularity_ranks(tiny_dataset, ex, k=30)
    for e, rank in zip(ex, r, strict=True):
        pos = int(np.flatnonzero(order == e.target)[0])
        assert rank == (pos if pos < 30 else -1)
    m = popularity_metrics(tiny_dataset)
    assert m["n_rec"] == len(ex) and 0 <= m["rec_recall@30"] <= 1


def test_mean_history_user_vector_finds_the_genre(tiny_dataset):
    # one-hot genre embeddings: a user's mean history points at their genre, so the target
    # (same genre, 10 items of it among 40) is ranked in the top 10 by the tie rule only if its
    # index is among the first 10 of its genre; all are in the top 30.
    genre = np.arange(40) % 4
    x = np.eye(4, dtype=np.float32)[genre]
    emb = ItemEmbeddings(x, {"method": "onehot"}, None, tiny_dataset.items["item_id"].to_numpy())
    res = evaluate_dense(tiny_dataset, emb, show_progress=False)
    m = res.metrics
    assert m["rec_recall@30"] == 1.0 and m["n_rec"] == 30
    assert m["search_recall@10"] is None and m["search_recall@30"] is None and m["n_search"] == 0
    assert res.search_ranks is None and len(res.rec_ranks) == 30
    assert "popularity_rec_recall@30" in m and "enmf_rec_recall@30" not in m


def test_enmf_user_vectors_are_scored(tiny_dataset):
    genre = np.arange(40) % 4
    x = np.eye(4, dtype=np.float32)[genre]
    users = np.array(sorted(tiny_dataset.user_histories().keys()))
    uv = -np.eye(4, dtype=np.float32)[users % 4]  # points away from each user's genre
    emb = ItemEmbeddings(x, {"method": "rec"}, None, tiny_dataset.items["item_id"].to_numpy(), None, uv, users)
    m = evaluate_dense(tiny_dataset, emb, show_progress=False).metrics
    assert m["enmf_rec_recall@30"] < m["rec_recall@30"] == 1.0


def test_embeddings_of_another_dataset_are_rejected(tiny_dataset):
    emb = ItemEmbeddings(np.zeros((39, 4), np.float32))
    with pytest.raises(ValueError, match="39 item vectors but the dataset has 40"):
        evaluate_dense(tiny_dataset, emb, show_progress=False)
    ids = tiny_dataset.items["item_id"].to_numpy()[::-1].copy()
    with pytest.raises(ValueError, match="item order differs"):
        evaluate_dense(tiny_dataset, ItemEmbeddings(np.zeros((40, 4), np.float32), item_ids=ids), show_progress=False)
