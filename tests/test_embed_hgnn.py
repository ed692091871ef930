"""2T-HGNN: the multi-link sampler, the training-only graph, learning on a known world, bad options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from semid.cli import main
from semid.data import make_dataset
from semid.embed import EMBEDDERS, build_embeddings, load_embeddings, make_config
from semid.embed.hgnn import next_item_examples
from semid.embed.hgnn_graph import (
    GraphSpec,
    build_item_graph,
    co_interaction_pairs,
    make_loader,
    sample_items,
)

CO = ("item", "co", "item")
HAS_G, G_OF = ("item", "has_genre", "genre"), ("genre", "genre_of", "item")
HAS_T, T_OF = ("item", "has_tag", "tag"), ("tag", "tag_of", "item")


def hand_graph():
    """12 items, 3 genres, 4 tags. Item 0: 6 co-neighbours (1..6), genres {0, 1}, tags {0, 1, 2, 3}."""
    from torch_geometric.data import HeteroData

    d = HeteroData()
    d["item"].num_nodes, d["genre"].num_nodes, d["tag"].num_nodes = 12, 3, 4
    co_src = [1, 2, 3, 4, 5, 6, 0, 7, 8]
    co_dst = [0, 0, 0, 0, 0, 0, 1, 1, 1]
    d[CO].edge_index = torch.tensor([co_src, co_dst])
    item_genre = [(0, 0), (0, 1)] + [(i, i % 3) for i in range(1, 12)]
    item_tag = [(0, t) for t in range(4)] + [(i, i % 4) for i in range(1, 12)]
    for (has, of), pairs in (((HAS_G, G_OF), item_genre), ((HAS_T, T_OF), item_tag)):
        ei = torch.tensor(pairs).T
        d[has].edge_index = ei
        d[of].edge_index = ei.flip(0)
    return d


def edges_into(batch, et, local_dst):
    """Global source ids of the sampled ``et`` edges into local node ``local_dst``."""
    src_t, _, dst_t = et
    ei = batch[et].edge_index
    return batch[src_t].n_id[ei[0][ei[1] == local_dst]].tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_link_type_contributes_its_fanout_of_neighbours(seed):
    data = hand_graph()
    fan = {CO: [3], HAS_G: [1], G_OF: [1], HAS_T: [2], T_OF: [2]}
    batch = sample_items(make_loader(data, fan, seed=seed, force_own_sampler=True), [0])
    assert batch["item"].n_id[0] == 0  # the seed comes first
    co = edges_into(batch, CO, 0)
    assert len(co) == 3 and len(set(co)) == 3 and set(co) <= {1, 2, 3, 4, 5, 6}
    genres = edges_into(batch, G_OF, 0)
    assert len(genres) == 1 and set(genres) <= {0, 1}
    tags = edges_into(batch, T_OF, 0)
    assert len(tags) == 2 and len(set(tags)) == 2
    # one hop only: nothing flows into the genre/tag nodes, and no item other than item 0 receives edges
    assert batch[HAS_G].edge_index.shape[1] == 0 and batch[HAS_T].edge_index.shape[1] == 0
    assert set(batch[CO].edge_index[1].tolist()) == {0}


def test_second_hop_samples_into_the_new_frontier_and_minus_one_takes_all():
    data = hand_graph()
    fan = {CO: [-1, 0], HAS_G: [0, 2], G_OF: [2, 0], HAS_T: [0, 0], T_OF: [0, 0]}
    batch = sample_items(make_loader(data, fan, force_own_sampler=True), [0])
    assert sorted(edges_into(batch, CO, 0)) == [1, 2, 3, 4, 5, 6]  # -1: every co-neighbour
    assert sorted(edges_into(batch, G_OF, 0)) == [0, 1]
    # hop 2: each genre node reached in hop 1 receives exactly 2 of its items
    ei = batch[HAS_G].edge_index
    for g in range(batch["genre"].num_nodes):
        srcs = batch["item"].n_id[ei[0][ei[1] == g]].tolist()
        genre = int(batch["genre"].n_id[g])
        assert len(srcs) == 2
        assert all(genre in ([0, 1] if i == 0 else [i % 3]) for i in srcs)
    assert batch[CO].edge_index.shape[1] == 6  # hop 2 has fan-out 0 for co


def test_sampler_draws_every_neighbour_eventually():
    data = hand_graph()
    loader = make_loader(data, {CO: [2], HAS_G: [1], G_OF: [1], HAS_T: [1], T_OF: [1]}, force_own_sampler=True)
    seen = set()
    for _ in range(60):
        seen |= set(edges_into(sample_items(loader, [0, 5]), CO, 0))
    assert seen == {1, 2, 3, 4, 5, 6}


def test_seed_order_is_kept_for_many_seeds():
    data = hand_graph()
    loader = make_loader(data, {CO: [2, 2], HAS_G: [1, 1], G_OF: [1, 1], HAS_T: [1, 1], T_OF: [1, 1]},
                         force_own_sampler=True)
    seeds = [7, 0, 11, 3]
    assert sample_items(loader, seeds)["item"].n_id[:4].tolist() == seeds


def test_co_interaction_window_and_neighbour_cap():
    hist = [np.array([0, 1, 2, 3]), np.array([0, 1]), np.array([0, 1, 4])]
    ei = co_interaction_pairs(hist, 5, window=1, max_neighbors=10)
    pairs = set(map(tuple, ei.T.tolist()))
    assert pairs == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (1, 4), (4, 1)}
    # item 1 has sources {0 (x3), 2, 4}: with a cap of 1 it keeps the most frequent, item 0
    ei = co_interaction_pairs(hist, 5, window=1, max_neighbors=1)
    assert ei[0][ei[1] == 1].tolist() == [0]
    ei = co_interaction_pairs(hist, 5, window=2, max_neighbors=10)
    assert (0, 2) in set(map(tuple, ei.T.tolist()))


def test_next_item_examples_pad_on_the_left():
    h, t = next_item_examples({7: np.array([4, 5, 6])}, history=2)
    np.testing.assert_array_equal(h, [[-1, 4], [4, 5]])
    np.testing.assert_array_equal(t, [5, 6])


def leak_dataset():
    """Users interact with pool A in training; their last two interactions (valid, test) are items
    of pool B, which nobody interacts with in training."""
    rng = np.random.default_rng(0)
    n_a, n_b = 20, 10
    items = pd.DataFrame({"item_id": np.arange(n_a + n_b), "title": [f"item {i}" for i in range(n_a + n_b)],
                          "genres": ["a" if i < n_a else "b" for i in range(n_a + n_b)]})
    items["text"] = items["title"]
    rows = []
    for u in range(15):
        seq = list(rng.choice(n_a, 6, replace=False)) + list(n_a + rng.choice(n_b, 2, replace=False))
        rows += [(u, int(i), t) for t, i in enumerate(seq)]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    queries = pd.DataFrame({"item_id": items["item_id"], "text": items["title"], "split": "train"})
    return make_dataset(items, inter, queries)


def test_no_valid_or_test_interaction_enters_the_graph():
    ds = leak_dataset()
    assert set(ds.interactions.loc[ds.interactions["split"] != "train", "item_id"]) >= {20}  # pool B held out
    data = build_item_graph(ds, GraphSpec(links=("co", "genre"), co_window=10))
    pool_b = set(ds.to_index(range(20, 30)).tolist())
    co = data[CO].edge_index
    assert co.shape[1] > 0
    assert not (set(co[0].tolist()) | set(co[1].tolist())) & pool_b
    # and every co edge is a pair seen within the window in some user's training history
    hist = ds.user_histories(("train",))
    allowed = set(map(tuple, co_interaction_pairs(hist.values(), ds.n_items, 10, 10**6).T.tolist()))
    assert set(map(tuple, co.T.tolist())) <= allowed


def test_two_tower_training_sees_no_valid_or_test_interaction(monkeypatch):
    """End to end: the embedder's graph and its next-item training examples come from training only."""
    import semid.embed.hgnn as hgnn_mod

    ds = leak_dataset()
    pool_b = set(ds.to_index(range(20, 30)).tolist())
    seen = []

    def spy(histories, history):
        h, t = next_item_examples(histories, history)
        seen.append((h, t))
        return h, t

    monkeypatch.setattr(hgnn_mod, "next_item_examples", spy)
    emb = build_embeddings(ds, "hgnn", {"epochs": 1, "dim": 8, "batch_size": 8, "links": ["co", "genre"],
                                        "co_window": 10}, show_progress=False)
    (h, t), = seen
    assert len(t) == 15 * 5  # 6 training items per user: 5 next-item examples each
    assert not (set(t.tolist()) | set(h[h >= 0].tolist())) & pool_b
    train_only = build_item_graph(ds, GraphSpec(links=("co", "genre"), co_window=10))
    assert emb.meta["graph"]["edges"]["item/co/item"] == train_only[CO].edge_index.shape[1]


def test_attribute_links_skip_types_the_data_lacks(caplog):
    ds = leak_dataset()  # genres only, no tags
    data = build_item_graph(ds, GraphSpec(links=("co", "genre", "tag")))
    assert data.links == ["co", "genre"]
    assert "tag" not in data.node_types
    assert data["genre"].num_nodes == 2


def cold_world():
    """The conftest tiny world (user u likes genre u % 4) plus 8 items nobody interacts with."""
    from conftest import build_tiny_dataset

    base = build_tiny_dataset()
    genres = ["action", "comedy", "drama", "horror"]
    cold = pd.DataFrame({"item_id": np.arange(500, 508), "title": [f"New {i}" for i in range(8)],
                         "year": 2020, "genres": [genres[i % 4] for i in range(8)], "tags": "",
                         "description": [f"a new {genres[i % 4]} story" for i in range(8)]})
    cold["text"] = cold["title"] + ". " + cold["genres"]
    items = pd.concat([base.items[list(cold.columns)], cold], ignore_index=True)
    inter = base.interactions[["user_id", "item_id", "timestamp", "rating"]]
    return make_dataset(items, inter, base.queries)


@pytest.fixture(scope="module")
def cold_emb():
    ds = cold_world()
    emb = build_embeddings(ds, "hgnn", {"epochs": 25, "dim": 16, "batch_size": 32, "links": ["co", "genre"]},
                           seed=0, show_progress=False)
    return ds, emb


def test_hgnn_learns_the_users_genre_and_places_cold_items_by_their_genre(cold_emb):
    ds, emb = cold_emb
    assert emb.vectors.shape == (48, 16) and emb.user_vectors.shape == (30, 16)
    assert emb.meta["training"]["loss_last"] < emb.meta["training"]["loss_first"]
    genre = ds.items["genres"].to_numpy()
    scores = emb.user_vectors @ emb.vectors.T
    liked = np.array(["action", "comedy", "drama", "horror"])[emb.user_ids % 4]
    warm, cold = ds.train_counts > 0, ds.items["item_id"].to_numpy() >= 500
    assert cold.sum() == 8 and ds.train_counts[cold].sum() == 0
    for mask in (warm, cold):  # the users' genre wins on warm items and on never-seen items alike
        own = [(scores[r, mask & (genre == g)].mean() > scores[r, mask & (genre != g)].mean()) for r, g in enumerate(liked)]
        assert np.mean(own) == 1.0


def test_hgnn_saves_user_vectors_that_the_dense_baseline_scores(cold_emb, tmp_path):
    from semid.evaluate.dense import evaluate_dense

    ds, emb = cold_emb
    back = load_embeddings(emb.save(tmp_path / "hgnn"))
    np.testing.assert_array_equal(back.user_vectors, emb.user_vectors)
    assert back.meta["method"] == "hgnn" and back.meta["graph"]["links"] == ["co", "genre"]
    m = evaluate_dense(ds, back, show_progress=False).metrics
    assert m["enmf_rec_recall@30"] is not None and m["rec_recall@30"] is not None


def test_hgnn_same_seed_same_vectors():
    from conftest import build_tiny_dataset

    ds = build_tiny_dataset()
    cfg = {"epochs": 1, "dim": 8, "batch_size": 16}
    a = build_embeddings(ds, "hgnn", cfg, seed=3, show_progress=False)
    b = build_embeddings(ds, "hgnn", cfg, seed=3, show_progress=False)
    np.testing.assert_array_equal(a.vectors, b.vectors)


@pytest.mark.parametrize("opts, words", [
    ({"links": ["co", "actors"]}, "links"),
    ({"links": []}, "links"),
    ({"links": ["co", "co"]}, "twice"),
    ({"fanouts": [10, 5]}, "mapping"),
    ({"fanouts": {"co": [5, 5, 5]}, "links": ["co"]}, "fanouts.co"),
    ({"fanouts": {"co": 0}, "links": ["co"]}, "fanouts.co"),
    ({"fanouts": {"likes": 3}}, "unknown link type"),
    ({"pooling": "max"}, "pooling"),
    ({"batch_size": 1}, "batch_size"),
    ({"user_history": "all"}, "user_history"),
    ({"layers": 0}, "layers"),
    ({"logq_weight": 1.5}, "logq_weight"),
])
def test_bad_options_name_the_value(opts, words):
    with pytest.raises((ValueError, TypeError), match=words):
        make_config("hgnn", opts)


def test_cli_lists_hgnn_and_reports_bad_options(tmp_path, capsys):
    assert "hgnn" in EMBEDDERS
    with pytest.raises(SystemExit):
        main(["embed", "--help"])
    assert "hgnn" in capsys.readouterr().out
    from conftest import build_tiny_dataset

    build_tiny_dataset().save(tmp_path / "data")
    rc = main(["embed", "--data", str(tmp_path / "data"), "--method", "hgnn", "--out", str(tmp_path / "e"),
               "--set", "pooling=max"])
    assert rc == 2
    assert "pooling" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_cli_trains_hgnn(tmp_path):
    from conftest import build_tiny_dataset

    build_tiny_dataset().save(tmp_path / "data")
    rc = main(["embed", "--data", str(tmp_path / "data"), "--method", "hgnn", "--out", str(tmp_path / "e"),
               "--epochs", "1", "--dim", "8", "--batch-size", "16", "--set", "fanouts.co=3", "--no-progress"])
    assert rc == 0
    emb = load_embeddings(tmp_path / "e")
    assert emb.vectors.shape == (40, 8)
    assert emb.meta["config"]["fanouts"]["co"] == 3 and emb.meta["config"]["fanouts"]["genre"] == 5  # others kept


def test_logq_weight_scales_the_correction_between_none_and_full():
    from conftest import build_tiny_dataset

    ds = build_tiny_dataset()
    cfg = {"epochs": 1, "dim": 8, "batch_size": 16}

    def vecs(**o):
        return build_embeddings(ds, "hgnn", {**cfg, **o}, seed=1, show_progress=False).vectors

    off, zero, half, full = vecs(logq_correction=False), vecs(logq_weight=0.0), vecs(logq_weight=0.5), vecs()
    np.testing.assert_allclose(zero, off, atol=1e-6)  # weight 0 is no correction
    assert not np.allclose(half, off, atol=1e-4) and not np.allclose(half, full, atol=1e-4)


def test_text_features_from_an_embeddings_dir_and_a_mismatched_one(tmp_path):
    from conftest import build_tiny_dataset

    from semid.embed import EmbeddingError, ItemEmbeddings

    ds = build_tiny_dataset()
    ids = ds.items["item_id"].to_numpy()
    genre_onehot = np.eye(4, dtype=np.float32)[np.arange(40) % 4]
    ItemEmbeddings(genre_onehot, {"method": "content"}, item_ids=ids).save(tmp_path / "text")
    emb = build_embeddings(ds, "hgnn", {"epochs": 1, "dim": 8, "batch_size": 16, "text_model": str(tmp_path / "text")},
                           show_progress=False)
    assert emb.vectors.shape == (40, 8)
    ItemEmbeddings(genre_onehot[:30], {"method": "content"}, item_ids=ids[:30]).save(tmp_path / "short")
    with pytest.raises(EmbeddingError, match="30 item vectors but the dataset has 40"):
        build_embeddings(ds, "hgnn", {"epochs": 1, "text_model": str(tmp_path / "short")}, show_progress=False)
