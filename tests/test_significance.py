"""Paired t-tests with Bonferroni correction, against scipy on hand-made records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ttest_rel

from semid.evaluate.significance import EvalRecord, compare, load_records, per_example_values


def _hits(ranks_search, ranks_rec=None):
    rows = [("search", i, 0, r, False) for i, r in enumerate(ranks_search)]
    rows += [("rec", 100 + i, 0, r, i % 2 == 0) for i, r in enumerate(ranks_rec or [])]
    return pd.DataFrame(rows, columns=["task", "example", "target", "rank", "head"])


def test_pair_by_seed_matches_scipy_and_bonferroni():
    a = [0.30, 0.32, 0.31, 0.35]
    b = [0.20, 0.25, 0.24, 0.22]
    c = [0.21, 0.24, 0.25, 0.20]
    recs = [EvalRecord(v, s, {"search_recall@30": x, "rec_recall@30": 0.1})
            for v, xs in (("a", a), ("b", b), ("c", c)) for s, x in enumerate(xs)]
    res = compare(recs, metrics=("search_recall@30",))
    assert set(res.tests["pair_by"]) == {"seed"}
    row = res.tests[(res.tests.a == "a") & (res.tests.b == "b")].iloc[0]
    ref = ttest_rel(a, b)
    assert row.t == pytest.approx(ref.statistic) and row.p == pytest.approx(ref.pvalue)
    assert row.p_bonferroni == pytest.approx(min(1.0, ref.pvalue * 3))  # 3 pairs x 1 metric
    s = res.summary.set_index("variant").loc["a"]
    assert s["mean"] == pytest.approx(np.mean(a)) and s["std"] == pytest.approx(np.std(a, ddof=1))
    assert "± " in res.to_markdown()


def test_pair_by_example_detects_a_real_difference_and_not_a_fake_one():
    rng = np.random.default_rng(0)
    n = 400
    good = np.where(rng.random(n) < 0.6, 3, -1)
    bad = np.where(rng.random(n) < 0.2, 3, -1)
    good2 = np.where(rng.random(n) < 0.6, 3, -1)
    recs = [EvalRecord("good", 0, {}, _hits(good)), EvalRecord("bad", 0, {}, _hits(bad)),
            EvalRecord("good2", 0, {}, _hits(good2))]
    res = compare(recs, metrics=("search_recall@30",))
    t = res.tests.set_index(["a", "b"])
    assert t.loc[("good", "bad"), "significant"] and t.loc[("good", "bad"), "pair_by"] == "example"
    assert not t.loc[("good", "good2"), "significant"]
    ref = ttest_rel((good >= 0).astype(float), (bad >= 0).astype(float))
    assert t.loc[("good", "bad"), "p"] == pytest.approx(ref.pvalue)


def test_identical_variants_give_p_one():
    h = _hits([0, -1, 5, 40])
    res = compare([EvalRecord("x", 0, {}, h), EvalRecord("y", 0, {}, h.copy())], metrics=("search_recall@30",))
    assert res.tests.iloc[0].p == 1.0 and not res.tests.iloc[0].significant


def test_per_example_values():
    h = _hits([0, 9, 10, -1], [0, 29, 30, 2])
    assert per_example_values(h, "search_recall@10").tolist() == [1, 1, 0, 0]
    assert per_example_values(h, "rec_recall@30").tolist() == [1, 1, 0, 1]
    assert per_example_values(h, "rec_head_recall@30").tolist() == [1, 0]
    assert per_example_values(h, "search_ndcg@10").iloc[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="per-example"):
        per_example_values(h, "n_search")


def test_bad_records():
    with pytest.raises(ValueError, match="same seed"):
        compare([EvalRecord("a", 0, {"search_recall@30": 1}), EvalRecord("a", 0, {"search_recall@30": 1})])
    with pytest.raises(ValueError, match="pair_by"):
        compare([EvalRecord("a", 0, {})], pair_by="user")
    with pytest.raises(ValueError, match="hits"):
        compare([EvalRecord("a", 0, {"search_recall@30": 1}), EvalRecord("b", 0, {"search_recall@30": 1})],
                 metrics=("search_recall@30",), pair_by="example")


def test_load_records_names_variants_and_seeds(tmp_path):
    from semid.evaluate.generative import EvalResult

    for name in ("rqk-seed0", "rqk-seed1", "svd-seed0"):
        EvalResult({"search_recall@30": 0.1}, _hits([1, -1])).save(tmp_path / name)
    EvalResult({"search_recall@30": 0.2, "variant": "named", "seed": 7}, _hits([1, 1])).save(tmp_path / "m.json")
    recs = load_records(sorted(tmp_path.glob("*seed*")) + [tmp_path / "m.json"])
    assert [(r.variant, r.seed) for r in recs] == [("rqk", 0), ("rqk", 1), ("svd", 0), ("named", 7)]
    assert (tmp_path / "m.hits.parquet").exists()
