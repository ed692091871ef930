"""The RQ-VAE study: oracle ceilings with known answers, ID-space arithmetic vs simulation, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semid.ids.collisions import bucket_rank
from semid.studies.rqvae import ceiling, id_space_arithmetic, task_ceilings, uniform_ceiling_curve


def test_one_bucket_of_40_known_ceilings():
    codes = np.zeros((40, 2), dtype=np.int64)  # every item shares one ID
    pop = 40.0 - np.arange(40)  # item i has popularity 40 - i, so it sits at rank i
    rank, size = bucket_rank(codes, pop)
    assert rank.tolist() == list(range(40)) and (size == 40).all()
    assert ceiling(rank, np.ones(40), 30) == pytest.approx(30 / 40)
    # rec targets in proportion to popularity: (40 + 39 + ... + 11) / (40 + ... + 1) = 765 / 820
    assert ceiling(rank, pop, 30) == pytest.approx(765 / 820)
    c = task_ceilings(rank, np.ones(40), pop, head=np.arange(40) < 1, k=30)
    assert c["rec_head"] == 1.0 and c["rec_torso"] == pytest.approx((765 - 40) / (820 - 40))
    assert c["search_first"] == pytest.approx(1 / 40) and c["rec_first"] == pytest.approx(40 / 820)


def test_search_ceiling_does_not_depend_on_bucket_order():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 3, size=(500, 1))
    a, _ = bucket_rank(codes, rng.random(500))
    b, _ = bucket_rank(codes, None)
    assert ceiling(a, np.ones(500), 30) == pytest.approx(ceiling(b, np.ones(500), 30))


def test_ceiling_rejects_bad_weights():
    with pytest.raises(ValueError, match="one weight per item"):
        ceiling(np.zeros(3, dtype=int), np.ones(4))
    with pytest.raises(ValueError, match="non-negative"):
        ceiling(np.zeros(3, dtype=int), np.zeros(3))


@pytest.mark.parametrize("n,m,k", [(300, 256, 30), (2000, 50, 30), (400, 16, 5)])
def test_arithmetic_matches_monte_carlo(n, m, k):
    a = id_space_arithmetic(n, m, k)
    rng = np.random.default_rng(1)
    share, distinct, ceil = [], [], []
    for _ in range(300):
        ids = rng.integers(0, m, size=(n, 1))
        rank, size = bucket_rank(ids, None)
        share.append((size > 1).mean())
        distinct.append(len(np.unique(ids)))
        ceil.append((rank < k).mean())
    assert a["share_colliding"] == pytest.approx(np.mean(share), abs=0.01)
    assert a["expected_distinct"] == pytest.approx(np.mean(distinct), rel=0.01)
    assert a["search_ceiling"] == pytest.approx(np.mean(ceil), abs=0.01)


def test_paper_arithmetic():
    a = id_space_arithmetic(62_138, 65_536, 30)
    assert a["share_colliding"] == pytest.approx(0.6125, abs=1e-3)
    assert a["expected_distinct"] == pytest.approx(40_144, abs=5)
    assert a["search_ceiling"] == pytest.approx(1.0)  # buckets of <= 30 never cost Recall@30


def test_rec_ceiling_survives_collapse_better_than_search():
    pop = 1.0 / (np.random.default_rng(0).permutation(3000) + 1)
    c = uniform_ceiling_curve(3000, [10, 3000], pop, k=30)
    assert c["search"][0] == pytest.approx(0.1, abs=0.01)  # 30 of 300 items per bucket
    assert c["rec"][0] > 3 * c["search"][0]


def test_cli_on_tiny_random_vectors(tmp_path):
    from semid.cli import main

    X = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "docs" / "report.md"
    rc = main(["-q", "study", "rqvae", "--embeddings", f"tiny={tmp_path / 'x.npy'}", "--seeds", "0",
               "--codebook-size", "4", "--methods", "rq-kmeans", "rq-vae-naive", "--cache", str(tmp_path / "cache"),
               "--out", str(out), "--no-progress", "--threads", "1"])
    assert rc == 0
    text = out.read_text()
    assert "## Answer" in text and "rq-vae-naive" in text
    assert "### tiny: diagnostics" in (tmp_path / "docs" / "report-appendix.md").read_text()
    study = json.loads((tmp_path / "docs" / "figures" / "rqvae" / "study.json").read_text())["study"]
    assert {r["label"] for r in study["records"]} == {"rq-kmeans", "rq-vae-naive"}
    assert (tmp_path / "docs" / "figures" / "rqvae" / "bucket_sizes_tiny.png").exists()
    # rerun from the cache only: same numbers
    rc = main(["-q", "study", "rqvae", "--embeddings", f"tiny={tmp_path / 'x.npy'}", "--seeds", "0", "--codebook-size",
               "4", "--methods", "rq-kmeans", "rq-vae-naive", "--cache", str(tmp_path / "cache"), "--cached-only",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    again = json.loads((tmp_path / "docs" / "figures" / "rqvae" / "study.json").read_text())["study"]
    assert [r["distinct_ids"] for r in again["records"]] == [r["distinct_ids"] for r in study["records"]]


def test_cli_bad_embeddings_spec(tmp_path, capsys):
    from semid.cli import main

    assert main(["study", "rqvae", "--embeddings", "no-equals-sign", "--out", str(tmp_path / "r.md")]) == 2
    assert "NAME=PATH" in capsys.readouterr().err


def _fake_run(tmp_path, search_hit_rate: dict[str, float], n: int = 60, seeds=(0, 1, 2)):
    """A `semid run` directory as the runner writes it: results.json, eval/<slug>/{metrics.json,hits.parquet},
    ids/<slug>/bucket_rank_search.npy, data/. Items i < 40 sit at bucket rank i (one bucket of 40), the rest at 0."""
    import pandas as pd

    from semid.evaluate.generative import EvalResult
    from semid.io import write_json

    run = tmp_path / "run"
    (run / "syn" / "data").mkdir(parents=True)
    rank = np.where(np.arange(n) < 40, np.arange(n), 0)
    rng = np.random.default_rng(0)
    targets = np.arange(n)  # one search and one rec test example per item
    records = []
    for q, rate in search_hit_rate.items():
        for coll in ("none", "suffix"):
            for s in seeds:
                slug = f"multi-task__{q}__{coll}__s{s}"
                ids_dir = run / "syn" / "ids" / slug
                ids_dir.mkdir(parents=True)
                np.save(ids_dir / "bucket_rank_search.npy", rank)
                hit = rng.random(n) < rate
                hits = pd.DataFrame({"task": ["search"] * n + ["rec"] * n, "example": np.r_[targets, targets],
                                     "target": np.r_[targets, targets], "rank": np.r_[np.where(hit, 0, -1), np.zeros(n, int)],
                                     "head": np.r_[np.zeros(n, bool), targets < 1]})
                m = {"search_recall@30": float(hit.mean()), "rec_recall@30": 1.0}
                EvalResult(m, hits).save(run / "syn" / "eval" / slug)
                records.append({"kind": "generative", "dataset": "syn", "row": "multi-task", "quantizer": q,
                                "collisions": coll, "seed": s, **m, "eval_dir": str(run / "syn" / "eval" / slug)})
    for s in seeds:  # the untrained random-ID baseline: search hits 5% of the time, rec never
        hit = rng.random(n) < 0.05
        hits = pd.DataFrame({"task": ["search"] * n + ["rec"] * n, "example": np.r_[targets, targets],
                             "target": np.r_[targets, targets], "rank": np.r_[np.where(hit, 0, -1), -np.ones(n, int)],
                             "head": np.r_[np.zeros(n, bool), targets < 1]})
        m = {"search_recall@30": float(hit.mean()), "rec_recall@30": 0.0}
        EvalResult(m, hits).save(run / "syn" / "eval" / f"random-ids__s{s}")
        records.append({"kind": "random", "dataset": "syn", "seed": s, **m})
    records.append({"kind": "popularity", "dataset": "syn", "rec_recall@30": 0.5})
    write_json(run / "results.json", {"name": "fake", "records": records})
    write_json(run / "config.resolved.json", {"name": "fake", "ids": {"levels": 2, "codebook_size": 8}, "seeds": list(seeds),
                                              "datasets": [{"name": "syn"}], "train": {"epochs": 1}, "evaluate": {"k": 30}})
    return run


def test_downstream_results_reads_a_run_with_ceilings_and_tests(tmp_path):
    from semid.studies.rqvae_downstream import downstream_results

    run = _fake_run(tmp_path, {"rq-kmeans": 0.9, "rq-vae-naive": 0.05, "rq-vae-robust": 0.85})
    down = downstream_results(run, 30)
    assert down["setup"]["n_ids"] == 64 and [g["collisions"] for g in down["groups"]] == ["none", "suffix"]
    none = down["groups"][0]
    assert len(none["records"]) == 9
    c = none["records"][0]["ceiling"]
    # ranks 30..39 of 60 uniform targets fall out of the top 30
    assert c["search"] == pytest.approx(50 / 60) and c["search_id"] == c["search"]
    assert c["search_first"] == pytest.approx(21 / 60)  # item 0 and the 20 items >= 40
    sfx = down["groups"][1]["records"][0]["ceiling"]
    assert sfx["search_id"] == 1.0 and sfx["search"] == pytest.approx(50 / 60)
    t = [x for x in none["tests"] if {x["a"], x["b"]} == {"rq-kmeans", "rq-vae-naive"} and x["metric"] == "search_recall@30"]
    assert {x["pair_by"] for x in t} == {"example", "seed"}
    assert all(x["significant"] for x in t if x["pair_by"] == "example")
    same = [x for x in none["tests"] if {x["a"], x["b"]} == {"rq-kmeans", "rq-vae-robust"}
            and x["metric"] == "search_recall@30" and x["pair_by"] == "example"]
    assert not same[0]["significant"]
    assert {x["quantizer"] for x in down["collision_tests"]} == {"rq-kmeans", "rq-vae-naive", "rq-vae-robust"}
    assert [b["kind"] for b in down["baselines"]] == ["random"] * 3 + ["popularity"]
    vr = {(t["a"], t["metric"]): t for t in none["vs_random"]}
    assert vr[("rq-kmeans", "search_recall@30")]["significant"]
    assert not vr[("rq-vae-naive", "search_recall@30")]["significant"]  # 5% vs 5%: learned nothing
    assert len(none["vs_random"]) == 6 and all(t["p_bonferroni"] >= t["p"] for t in none["vs_random"])


def test_downstream_results_without_results_json(tmp_path):
    from semid.studies.rqvae_downstream import downstream_results

    assert downstream_results(tmp_path) is None


def test_two_datasets_report_their_own_id_space_and_baselines():
    """Regression: with per-dataset [ids] overrides the report used the global ID space, and it
    listed every dataset's baselines under each dataset."""
    from semid.studies.rqvae_tables import dataset_table, setup_line

    down = {"run": "r", "setup": {"name": "x", "levels": 2, "codebook_size": 256, "n_ids": 65536,
                                  "n_items": {"syn": 1000, "ml": 9742},
                                  "id_space": {"syn": {"levels": 2, "codebook_size": 32, "n_ids": 1024},
                                               "ml": {"levels": 2, "codebook_size": 256, "n_ids": 65536}},
                                  "train_overrides": {"syn": {"epochs": 2.5}}},
            "baselines": [{"kind": "popularity", "dataset": "syn", "rec_recall@30": 0.5},
                          {"kind": "popularity", "dataset": "ml", "rec_recall@30": 0.25}]}
    line = setup_line(down)
    assert "syn: 1,000 items for 2 × 32 = 1,024 IDs" in line and "ml: 9,742 items for 2 × 256 = 65,536 IDs" in line
    assert "syn trains with epochs=2.5" in line
    syn, ml = "\n".join(dataset_table(down, "syn")), "\n".join(dataset_table(down, "ml"))
    assert "| *popularity* | – | – | – | 0.500 |" in syn and "0.250" not in syn
    assert "| *popularity* | – | – | – | 0.250 |" in ml and "0.500" not in ml


def test_lsa_cli_writes_vectors_and_explains_a_missing_text_file(tmp_path):
    import subprocess
    import sys

    texts = tmp_path / "t.txt"
    texts.write_text("\n".join(f"passage {i} about topic {i % 3} and word{i}" for i in range(20)))
    out = tmp_path / "v.npy"
    subprocess.run([sys.executable, "-m", "semid.cli", "study", "lsa", "--texts", str(texts), "--out", str(out),
                    "--dim", "4"], check=True, capture_output=True)
    X = np.load(out)
    assert X.shape == (20, 4) and X.dtype == np.float32
    r = subprocess.run([sys.executable, "-m", "semid.cli", "study", "lsa", "--texts", str(tmp_path / "nope.txt"),
                        "--out", str(out)], capture_output=True, text=True)
    assert r.returncode != 0 and "--passages N" in r.stderr
