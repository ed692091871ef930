"""`semid evaluate --baseline popularity`: same figures as the dense popularity baseline, same sample as the model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semid.cli import main
from semid.evaluate.baselines import popularity_metrics, popularity_order
from semid.evaluate.generative import eval_examples, load_eval, popularity_baseline


def test_popularity_baseline_matches_popularity_metrics(tiny_dataset):
    res = popularity_baseline(tiny_dataset, k=10)
    ref = popularity_metrics(tiny_dataset, k=10)
    for key, v in ref.items():
        assert res.metrics[key] == pytest.approx(v), key
    assert "search_recall@10" not in res.metrics
    assert set(res.hits["task"]) == {"rec"}


def test_popularity_baseline_ranks_are_positions_in_the_popularity_list(tiny_dataset):
    res = popularity_baseline(tiny_dataset, k=5, max_examples=7, sample_seed=2)
    ex = eval_examples(tiny_dataset, max_examples=7, sample_seed=2)["rec"]
    np.testing.assert_array_equal(res.hits["example"].to_numpy(), ex["example"])  # the model's sample
    top = popularity_order(tiny_dataset)[:5].tolist()
    want = [top.index(t) if t in top else -1 for t in ex["targets"]]
    np.testing.assert_array_equal(res.hits["rank"].to_numpy(), want)


def test_cli_popularity_baseline(tiny_dataset, tmp_path, capsys):
    data = tmp_path / "data"
    tiny_dataset.save(data)
    assert main(["evaluate", "--baseline", "popularity", "--data", str(data), "--k", "10",
                 "--out", str(tmp_path / "pop")]) == 0
    assert "rec    R@10" in capsys.readouterr().out
    m = json.loads((tmp_path / "pop" / "metrics.json").read_text())
    assert m["evaluator"] == "popularity"
    assert len(load_eval(tmp_path / "pop").hits) == m["n_rec"]
