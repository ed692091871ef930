"""`semid embed` and `semid evaluate-dense` end to end on the tiny dataset."""

from __future__ import annotations

import json

import numpy as np

from semid.cli import main


def test_embed_rec_fuse_and_evaluate(tiny_dataset, tmp_path, capsys):
    data = tiny_dataset.save(tmp_path / "data")
    rc = main(["embed", "--data", str(data), "--method", "rec", "--out", str(tmp_path / "emb/rec"),
               "--epochs", "2", "--dim", "8", "--seed", "1", "--no-progress"])
    assert rc == 0
    x = np.load(tmp_path / "emb/rec/embeddings.npy")
    assert x.shape == (40, 8) and x.dtype == np.float32
    meta = json.loads((tmp_path / "emb/rec/meta.json").read_text())
    assert meta["method"] == "rec" and meta["config"]["epochs"] == 2 and meta["seed"] == 1 and meta["data_hash"]
    np.save(tmp_path / "other.npy", np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32))
    rc = main(["embed", "--data", str(data), "--method", "fused-concat", "--out", str(tmp_path / "emb/fc"),
               "--inputs", str(tmp_path / "emb/rec"), str(tmp_path / "other.npy"), "--no-progress"])
    assert rc == 0 and np.load(tmp_path / "emb/fc/embeddings.npy").shape == (40, 13)
    rc = main(["evaluate-dense", "--data", str(data), "--embeddings", str(tmp_path / "emb/rec"), "--no-progress"])
    assert rc == 0
    m = json.loads((tmp_path / "emb/rec/dense/metrics.json").read_text())
    assert m["search_recall@30"] is None and 0 <= m["rec_recall@30"] <= 1 and "enmf_rec_recall@30" in m


def test_bad_input_gives_one_clear_line(tiny_dataset, tmp_path, capsys):
    data = tiny_dataset.save(tmp_path / "data")
    assert main(["embed", "--data", str(data), "--method", "word2vec", "--out", str(tmp_path / "x")]) == 2
    assert "unknown embedding method 'word2vec'" in capsys.readouterr().err
    assert main(["embed", "--data", str(data), "--method", "rec", "--model", "x", "--out", str(tmp_path / "x")]) == 2
    assert "--model does not apply to method 'rec'" in capsys.readouterr().err
    bad = np.ones((40, 3), np.float32)
    bad[7, 0] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    assert main(["evaluate-dense", "--data", str(data), "--embeddings", str(tmp_path / "bad.npy")]) == 2
    assert "NaN or inf" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
