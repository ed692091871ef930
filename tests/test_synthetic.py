"""The synthetic world: schema, title-free queries, determinism, sizes, and real disagreement
between content, search and interaction signals."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from semid.data import Dataset
from semid.data.synthetic import GENRES, KEYWORDS, SyntheticConfig, make_synthetic_world
from semid.data.text import contains_title, normalize

SMALL = dict(n_items=60, n_users=25, n_genres=4, n_topics=6, keywords_per_topic=5, n_tastes=5,
             min_interactions=8, max_interactions=12, n_train_queries=3, n_test_queries=2, min_history=3)


@pytest.fixture(scope="module")
def world() -> Dataset:
    return make_synthetic_world()


def test_round_trips_through_save_and_load(world, tmp_path):
    world.save(tmp_path / "data")
    back = Dataset.load(tmp_path / "data")
    for name in ("items", "interactions", "queries"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(world, name), check_dtype=False)
    assert back.meta["source"] == "synthetic"
    assert back.meta["config"] == dataclasses.asdict(SyntheticConfig())
    assert back.meta["n_items"] == 500


def test_default_world_shape(world):
    sizes = world.sizes()
    assert sizes["n_items"] == 500 and sizes["n_users"] == 300
    assert 20 * 300 <= sizes["n_interactions"] <= 40 * 300
    assert sizes["n_queries_train"] == sizes["n_queries_test"] == 5000
    assert world.items["title"].is_unique
    assert world.items["year"].notna().all()
    assert (world.items["genres"] != "").all() and (world.items["tags"] != "").all()
    assert (world.items["description"].str.len() > 20).all()
    assert set("|".join(world.items["genres"]).split("|")) <= set(GENRES)
    assert len(set(world.items["genres"].str.split("|").str[0])) == 10


def test_titles_share_no_word_with_metadata_or_queries(world):
    title_words = {w for t in world.items["title"] for w in normalize(t).split()} - {"of", "the", "and"}
    meta = " ".join(world.items["tags"].str.replace("|", " ") + " " + world.items["description"])
    assert not title_words & set(normalize(meta).split())
    titles = dict(zip(world.items["item_id"], world.items["title"], strict=True))
    q = world.queries
    assert not any(contains_title(t, titles[i]) for i, t in zip(q["item_id"], q["text"], strict=True))


def test_train_and_test_queries_differ_in_phrasing(world):
    q = world.queries
    pairs = set(zip(q.loc[q["split"] == "train", "item_id"], q.loc[q["split"] == "train", "text"], strict=True))
    test_pairs = set(zip(q.loc[q["split"] == "test", "item_id"], q.loc[q["split"] == "test", "text"], strict=True))
    assert not pairs & test_pairs
    assert q.groupby(["item_id", "split"])["text"].nunique().min() >= 8  # diverse within an item


def test_users_have_increasing_timestamps_and_no_repeats(world):
    df = world.interactions
    assert (df.groupby("user_id")["timestamp"].diff().dropna() > 0).all()
    assert not df.duplicated(["user_id", "item_id"]).any()
    assert (df.groupby("user_id").size().between(20, 40)).all()
    counts = np.sort(world.train_counts)[::-1]
    assert counts[:5].mean() > 4 * np.median(counts)  # Zipf: a popular head


def test_same_config_same_world_and_seed_matters():
    cfg = SyntheticConfig(**SMALL, seed=3)
    a, b = make_synthetic_world(cfg), make_synthetic_world(SyntheticConfig(**SMALL, seed=3))
    for name in ("items", "interactions", "queries"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    c = make_synthetic_world(SyntheticConfig(**SMALL, seed=4))
    assert not a.items["title"].equals(c.items["title"])
    assert not a.interactions["item_id"].equals(c.interactions["item_id"])


def test_sizes_are_configurable():
    ds = make_synthetic_world(SyntheticConfig(**SMALL))
    assert ds.n_items == 60
    assert ds.interactions["user_id"].nunique() == 25
    assert ds.interactions.groupby("user_id").size().between(8, 12).all()
    per_item = ds.queries.groupby(["item_id", "split"]).size().unstack()
    assert (per_item["train"] == 3).all() and (per_item["test"] == 2).all()
    assert ds.items["content_cluster"].nunique() == 6 and ds.items["taste_cluster"].max() < 5
    assert len(set(ds.items["genres"].str.split("|").str[0])) <= 4


def test_large_catalogues_get_unique_titles():
    from semid.data.synthetic import _titles

    titles = _titles(15_000, np.random.default_rng(0))  # beyond the word lists: sequels
    assert len(titles) == 15_000 and len(set(titles)) == 15_000
    assert any(t.endswith(" 2") for t in titles)


def test_generation_is_fast():
    start = time.process_time()
    make_synthetic_world()
    assert time.process_time() - start < 5.0


# ------------------------------------------------------------------ disagreement
def _same_taste_same_genre(ds: Dataset) -> float:
    """Share of same-taste-cluster item pairs whose main genre is the same."""
    genre = ds.items["genres"].str.split("|").str[0].to_numpy()
    taste = ds.items["taste_cluster"].to_numpy()
    same_taste = taste[:, None] == taste[None, :]
    np.fill_diagonal(same_taste, False)
    return float((genre[:, None] == genre[None, :])[same_taste].mean())


def _signals(ds: Dataset, k: int = 10) -> dict[str, float]:
    """Recall@k of interaction-based vs text-based item vectors, for recommendation and search.

    interaction: truncated SVD of the binary training user-item matrix;
    text: TF-IDF of the item text. Recommendation scores items by similarity to the last 5
    history items; search maps a query into each space (TF-IDF directly; for the
    interaction space a ridge regression fitted on the training queries).
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import normalize as l2

    tr = ds.interactions[ds.interactions["split"] == "train"]
    users = pd.factorize(tr["user_id"])[0]
    X = sp.csr_matrix((np.ones(len(tr)), (users, ds.to_index(tr["item_id"]))), shape=(users.max() + 1, ds.n_items))
    X.data[:] = 1.0
    V_int = l2(TruncatedSVD(32, random_state=0).fit(X).components_.T)
    qtr, qte = ds.queries_for("train"), ds.queries_for("test")
    tfidf = TfidfVectorizer(sublinear_tf=True).fit(ds.texts + qtr["text"].tolist())
    V_txt = l2(tfidf.transform(ds.texts))
    sims = {"int": V_int @ V_int.T, "txt": (V_txt @ V_txt.T).toarray()}

    out = {}
    examples = ds.rec_examples("test")
    for name, S in sims.items():
        hits = 0
        for e in examples:
            h = e.history[-5:]
            scores = ((0.7 ** np.arange(len(h))[::-1])[:, None] * S[h]).sum(0)
            scores[e.history] = -np.inf
            hits += e.target in np.argpartition(-scores, k)[:k]
        out[f"rec_{name}"] = hits / len(examples)
    target = qte["item_index"].to_numpy()[:, None]
    Q = tfidf.transform(qte["text"])
    search = {"txt": (l2(Q) @ V_txt.T).toarray(),
              "int": l2(Ridge(alpha=1.0).fit(tfidf.transform(qtr["text"]), V_int[qtr["item_index"]]).predict(Q)) @ V_int.T}
    for name, scores in search.items():
        out[f"search_{name}"] = float((np.argpartition(-scores, k, axis=1)[:, :k] == target).any(1).mean())
    return out


def test_taste_clusters_only_partly_follow_content(world):
    assert _same_taste_same_genre(world) < 0.5  # alignment 0.5: most same-taste pairs differ in genre
    aligned = make_synthetic_world(SyntheticConfig(content_alignment=1.0, n_users=20, n_train_queries=1,
                                                   n_test_queries=1))
    assert _same_taste_same_genre(aligned) > 0.95
    unaligned = make_synthetic_world(SyntheticConfig(content_alignment=0.0, n_users=20, n_train_queries=1,
                                                     n_test_queries=1))
    assert _same_taste_same_genre(unaligned) < 0.2


def test_interactions_win_recommendation_and_text_wins_search(world):
    s = _signals(world)
    chance = 10 / world.n_items
    assert s["rec_int"] > 2 * s["rec_txt"] and s["rec_int"] > 0.3, s
    assert s["search_txt"] > 1.8 * s["search_int"] and s["search_txt"] > 0.6, s
    assert min(s.values()) > chance, s  # every signal still carries something


# ------------------------------------------------------------------ config validation
@pytest.mark.parametrize("field_name, value", [
    ("n_items", 0), ("n_users", -1), ("n_genres", len(GENRES) + 1), ("n_topics", 0), ("n_tastes", 0),
    ("keywords_per_topic", 2), ("keywords_per_topic", len(KEYWORDS)), ("content_alignment", 1.5),
    ("content_alignment", float("nan")), ("popularity_skew", -0.1), ("sequential_strength", -0.2),
    ("community_focus", 2.0), ("head_fraction", 0.0), ("n_items", 3), ("max_interactions", 5),
    ("max_interactions", 100_000), ("min_interactions", 3), ("min_history", 0), ("n_train_queries", -1),
    ("n_users", 2.5), ("seed", True),
])
def test_bad_config_values_raise_naming_the_field(field_name, value):
    with pytest.raises(ValueError, match=field_name):
        SyntheticConfig(**{field_name: value})


def test_from_dict_and_make_world_reject_wrong_types():
    from semid.config import from_dict

    with pytest.raises(ValueError, match="n_itemz"):
        from_dict(SyntheticConfig, {"n_itemz": 5})
    with pytest.raises(TypeError, match="SyntheticConfig"):
        make_synthetic_world({"n_items": 5})  # type: ignore[arg-type]


def test_prepare_builds_the_synthetic_world():
    from semid.data.prepare import prepare

    ds = prepare(source="synthetic", seed=1, min_history=3, synthetic_options=dict(SMALL), show_progress=False)
    assert ds.n_items == 60 and ds.meta["source"] == "synthetic" and ds.meta["config"]["seed"] == 1
