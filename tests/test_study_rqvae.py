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
