"""Smoke tests of benchmarks/bench_beauty_vs_cornac.py: its split, its hand-off to cornac and its
scoring, on tiny files with known answers (no model is trained)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("cornac", reason="cornac is not installed (pip install 'semid[bench]')")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_beauty_vs_cornac.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_beauty_vs_cornac", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# Per user, the chronological sequence (timestamp = position, as in the shared Beauty copy).
# The file rows are shuffled within a user so that the split must sort by time.
SEQS = {
    "U_A": ["B001", "B002", "B003", "B004"],
    "U_B": ["B002", "B005", "B001"],
    "U_C": ["B006", "B003", "B005", "B002", "B007"],
    "U_D": ["B004", "B008", "B006"],
}


@pytest.fixture()
def beauty_dir(tmp_path: Path) -> Path:
    items = sorted({i for s in SEQS.values() for i in s} | {"B009"})  # B009: nobody bought it
    pd.DataFrame({"item_id": items, "title": [f"Product {i}" for i in items]}).to_csv(tmp_path / "items.csv", index=False)
    rows = [(u, i, t) for u, s in SEQS.items() for t, i in enumerate(s)]
    rows = [r for u in SEQS for r in reversed([r for r in rows if r[0] == u])]  # newest first in the file
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(tmp_path / "interactions.csv", index=False)
    return tmp_path


def _original_sequences(ds, splits) -> dict[str, list[str]]:
    """original user id -> the item ids of ``splits``, oldest first."""
    df = ds.interactions[ds.interactions["split"].isin(splits)].sort_values(["user_id", "timestamp"])
    return {u: g["item_id"].tolist() for u, g in df.groupby("original_user_id")}


def test_leave_last_out_split_on_the_files(bench, beauty_dir):
    ds = bench.load_beauty(beauty_dir)
    assert ds.n_items == 9  # the catalogue keeps the unbought item
    assert _original_sequences(ds, ["test"]) == {u: [s[-1]] for u, s in SEQS.items()}
    assert _original_sequences(ds, ["valid"]) == {u: [s[-2]] for u, s in SEQS.items()}
    assert _original_sequences(ds, ["train"]) == {u: s[:-2] for u, s in SEQS.items()}


def test_max_users_keeps_the_first_users_and_their_items(bench, beauty_dir):
    ds = bench.load_beauty(beauty_dir, max_users=2)
    assert sorted(ds.interactions["original_user_id"].unique()) == ["U_A", "U_B"]
    assert sorted(ds.items["item_id"]) == ["B001", "B002", "B003", "B004", "B005"]


def test_cornac_sessions_follow_cornac_leave_last_out(bench, beauty_dir):
    ds = bench.load_beauty(beauty_dir)
    train, val, test = bench.cornac_sessions(ds)
    names = dict(zip(ds.interactions["user_id"].astype(str), ds.interactions["original_user_id"], strict=True))

    def by_user(rows):
        out: dict[str, list[str]] = {}
        for u, s, i, _ in rows:
            assert u == s  # one session per user
            out.setdefault(names[u], []).append(i)
        return out

    assert by_user(train) == {u: s[:-2] for u, s in SEQS.items()}
    assert by_user(val) == {u: s[:-1] for u, s in SEQS.items()}
    assert by_user(test) == SEQS


def test_cornac_index_maps_round_trip(bench, beauty_dir):
    ds = bench.load_beauty(beauty_dir, max_users=3)  # every item of the cut has an interaction
    x = np.arange(ds.n_items * 4, dtype=np.float32).reshape(ds.n_items, 4)
    method, to_semid, to_cornac = bench.cornac_method(ds, x)
    assert sorted(to_semid.tolist()) == list(range(ds.n_items))
    assert np.array_equal(to_semid[to_cornac], np.arange(ds.n_items))
    # the features cornac hands to its models are the semid rows of the same items
    feats = method.train_set.item_feature.features
    assert np.array_equal(feats[: ds.n_items], x[to_semid])
    # cornac's training sessions hold the semid training histories
    hist = ds.user_histories(("train",))
    sessions = method.train_set.sessions
    got = sorted(tuple(to_semid[method.train_set.uir_tuple[1][m]].tolist()) for m in sessions.values())
    assert got == sorted(tuple(h.tolist()) for h in hist.values())


def test_cornac_method_refuses_items_nobody_bought(bench, beauty_dir):
    ds = bench.load_beauty(beauty_dir)  # B009 has no interaction: cornac cannot rank it
    with pytest.raises(RuntimeError, match="cornac knows 8 items, the catalogue has 9"):
        bench.cornac_method(ds, np.zeros((ds.n_items, 4), np.float32))


def test_top_k_from_scores_best_first_ties_by_index(bench):
    scores = np.array([0.1, 0.9, 0.5, 0.9, -1e10, 0.5])
    assert bench.top_k_from_scores(scores, 4).tolist() == [1, 3, 2, 5]
    assert bench.top_k_from_scores(scores, 10).tolist() == [1, 3, 2, 5, 0, 4]


def test_rank_metrics_known_answers(bench):
    ranks = np.array([0, 4, 5, 9, 29, -1])
    m = bench.rank_metrics(ranks)
    assert m["recall@5"] == pytest.approx(2 / 6)
    assert m["recall@10"] == pytest.approx(4 / 6)
    assert m["recall@30"] == pytest.approx(5 / 6)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / np.log2(6)) / 6)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / np.log2(6) + 1 / np.log2(7) + 1 / np.log2(11)) / 6)
    assert m["n_users"] == 6


@pytest.mark.parametrize("call, exc, match", [
    (lambda b, d: b.rank_metrics(np.array([], dtype=np.int64)), ValueError, "no test users"),
    (lambda b, d: b.load_beauty(d, max_users=0), ValueError, "--max-users must be >= 1"),
    (lambda b, d: b.load_beauty(d / "absent"), FileNotFoundError, "amazon-beauty directory"),
    (lambda b, d: b.cornac_model("bert", None, 10), ValueError, "unknown cornac model 'bert'"),
])
def test_bad_inputs(bench, beauty_dir, call, exc, match):
    with pytest.raises(exc, match=match):
        call(bench, beauty_dir)


def test_cli_refuses_a_beam_narrower_than_k(bench):
    with pytest.raises(SystemExit, match="--beam"):
        bench.main(["--beam", "10", "--k", "30"])


class _FakeModule:
    """Stands in for cornac.models.tiger.recom_tiger: a batch iterator that the budget wraps."""

    @staticmethod
    def session_seq_iter(n=5):
        yield from range(n)


def test_training_budget_stops_the_batches_and_restores_the_iterator(bench):
    orig = _FakeModule.session_seq_iter
    with bench.training_budget(_FakeModule, 1e-9) as state:
        assert list(_FakeModule.session_seq_iter(5)) == []  # the deadline has passed
    assert state == {"batches": 0, "stopped": True}
    assert _FakeModule.session_seq_iter is orig
    with bench.training_budget(_FakeModule, 3600.0) as state:
        assert list(_FakeModule.session_seq_iter(5)) == [0, 1, 2, 3, 4]
        assert list(_FakeModule.session_seq_iter(2)) == [0, 1]  # every epoch counts
    assert state == {"batches": 7, "stopped": False}
    with bench.training_budget(_FakeModule, None) as state:
        assert _FakeModule.session_seq_iter is orig  # no budget: cornac untouched


@pytest.mark.parametrize("value, expected", [("semid", -1.0), ("none", None), ("90", 90.0)])
def test_parse_budget(bench, value, expected):
    assert bench.parse_budget(value) == expected


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_parse_budget_refuses(bench, value):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="--cornac-budget"):
        bench.parse_budget(value)


def test_title_embeddings_of_a_cut_are_the_cached_rows_of_its_items(bench, beauty_dir, tmp_path):
    import hashlib

    from semid.data.files import read_items
    from semid.data.schema import validate_items

    full = validate_items(read_items(beauty_dir / "items.csv", "product"))
    key = hashlib.sha256("\n".join(full["text"].tolist()).encode()).hexdigest()[:12]
    cached = np.arange(len(full) * 3, dtype=np.float32).reshape(len(full), 3)  # row i: the i-th item of items.csv
    work = tmp_path / "work"
    work.mkdir()
    np.save(work / f"titles-{bench.ENCODER}-{key}.npy", cached)
    ds = bench.load_beauty(beauty_dir, max_users=2)
    x, seconds = bench.title_embeddings(ds, beauty_dir, work)
    assert seconds == 0.0  # nothing encoded
    rows = [full["item_id"].tolist().index(i) for i in ds.items["item_id"]]
    assert np.array_equal(x, cached[rows])


def test_parse_cornac_entries_with_budget_factors(bench):
    assert bench.parse_cornac("tiger, tiger@4,sasrec@0.5,") == [("tiger", None), ("tiger", 4.0), ("sasrec", 0.5)]


@pytest.mark.parametrize("value, match", [("bert4rec", "unknown model 'bert4rec'"), ("tiger@x", "number after '@'"),
                                          ("tiger@0", "must be > 0")])
def test_parse_cornac_refuses(bench, value, match):
    with pytest.raises(ValueError, match=match):
        bench.parse_cornac(value)
