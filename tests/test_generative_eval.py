"""`semid train` / `semid evaluate` / `semid compare` on the tiny dataset, and the random-ID baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from semid.cli import main
from semid.evaluate.generative import (
    eval_examples,
    evaluate_generative,
    load_eval,
    random_id_baseline,
)
from semid.evaluate.metrics import METRIC_KEYS
from semid.ids.types import SemanticIDs


@pytest.fixture(scope="module")
def run(tiny_dataset, tmp_path_factory):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("run")
    tiny_dataset.save(root / "data")
    rng = np.random.default_rng(0)
    codes = np.stack([np.arange(tiny_dataset.n_items) % 4, rng.integers(0, 3, tiny_dataset.n_items)], 1)
    ids = SemanticIDs(codes, ["a", "b"], [4, 3], {"search": [0, 1], "rec": [0, 1]})
    ids.save(root / "ids")
    rc = main(["-q", "train", "--data", str(root / "data"), "--ids", str(root / "ids"), "--model", "small",
               "--out", str(root / "model"), "--epochs", "1", "--batch-size", "32", "--no-progress",
               "--set", "small_vocab_size=120", "--set", "small_d_model=32", "--set", "small_d_ff=64",
               "--set", "small_layers=1", "--set", "small_decoder_layers=1", "--set", "small_heads=2"])
    assert rc == 0
    yield root, ids
    torch.set_num_threads(n)


def test_evaluate_metrics_keys_sampling_and_hits(run, tiny_dataset):
    root, ids = run
    res = evaluate_generative(root / "model", tiny_dataset, k=10, max_examples=25, sample_seed=3, show_progress=False)
    m = res.metrics
    for key in METRIC_KEYS:
        assert key in m and 0.0 <= m[key] <= 1.0
    assert m["n_search"] == 25 and m["n_rec"] == 25
    assert m["sample"] == {"max_examples": 25, "seed": 3, "n_search_total": 80, "n_rec_total": 30, "sampled": True}
    assert set(res.hits["task"]) == {"search", "rec"} and len(res.hits) == 50
    assert res.hits["rank"].max() < 10
    # the recalls are the hits' averages
    s = res.hits[res.hits.task == "search"]
    assert m["search_recall@10"] == pytest.approx(float((s["rank"] >= 0).mean()))
    # the sample depends on the seed only, so a baseline sees the same examples
    base = random_id_baseline(tiny_dataset, ids, k=10, seed=0, max_examples=25, sample_seed=3)
    assert base.hits[["task", "example", "target"]].equals(res.hits[["task", "example", "target"]])
    other = eval_examples(tiny_dataset, 25, sample_seed=4)
    assert not np.array_equal(other["search"]["example"], res.hits[res.hits.task == "search"]["example"].to_numpy())


def test_random_baseline_recall_matches_its_expectation(tiny_dataset):
    # 40 items, each ID unique: k random distinct IDs hit the target with probability k / 40
    ids = SemanticIDs(np.stack([np.arange(40) // 8, np.arange(40) % 8], 1), ["a", "b"], [5, 8],
                      {"search": [0, 1], "rec": [0, 1]})
    res = random_id_baseline(tiny_dataset, ids, k=10, seed=0)
    assert res.metrics["n_search"] == 80
    assert abs(res.metrics["search_recall@10"] - 0.25) < 0.12
    lst = res.hits[res.hits.task == "search"]
    assert lst["rank"].max() < 10


def test_cli_evaluate_and_compare(run, tmp_path, capsys):
    root, _ = run
    data = str(root / "data")
    for seed in (0, 1):
        assert main(["-q", "evaluate", "--model", str(root / "model"), "--data", data, "--k", "10", "--no-progress",
                     "--out", str(tmp_path / f"gen-seed{seed}"), "--beam", "12", "--groups", "3",
                     "--diversity-penalty", "0.25"]) == 0
        assert main(["-q", "evaluate", "--baseline", "random-ids", "--ids", str(root / "ids"), "--data", data,
                     "--k", "10", "--seed", str(seed), "--out", str(tmp_path / f"random-seed{seed}")]) == 0
    m = json.loads((tmp_path / "gen-seed0" / "metrics.json").read_text())
    assert m["beam"] == 12 and m["num_groups"] == 3 and m["evaluator"] == "generative"
    assert len(load_eval(tmp_path / "gen-seed0").hits) == m["n_search"] + m["n_rec"]
    out = tmp_path / "cmp.json"
    # gen-seed1 was evaluated from the same model (seed 0 in metrics): name the seed explicitly
    for seed in (0, 1):
        mm = json.loads((tmp_path / f"gen-seed{seed}" / "metrics.json").read_text())
        mm["seed"] = seed
        (tmp_path / f"gen-seed{seed}" / "metrics.json").write_text(json.dumps(mm))
    assert main(["compare", *(str(tmp_path / f"{v}-seed{s}") for v in ("gen", "random") for s in (0, 1)),
                 "--pair-by", "example", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| gen |" in text and "Bonferroni" in text
    tests = json.loads(out.read_text())["tests"]
    assert len(tests) == 2 and {t["metric"] for t in tests} == {"search_recall@30", "rec_recall@30"}


def test_cli_errors(run, tmp_path, capsys):
    root, _ = run
    assert main(["evaluate", "--data", str(root / "data"), "--out", str(tmp_path / "x")]) == 2
    assert "exactly one of --model" in capsys.readouterr().err
    assert main(["evaluate", "--baseline", "random-ids", "--data", str(root / "data"), "--out", str(tmp_path / "x")]) == 2
    assert "--ids" in capsys.readouterr().err
