"""`semid data prepare | stats | download`, run in-process through semid.cli.main."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from semid.cli import main
from semid.data import Dataset

SIZE_KEYS = {"n_items", "n_users", "n_interactions", "n_queries_train", "n_queries_test", "n_head", "n_torso"}
GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi"]
TITLES = ["Heat (1995)", "Clueless (1995)", "Casino (1995)", "Scream (1996)", "Emma (1996)", "Alien (1979)",
          "Fargo (1996)", "Twister (1996)"]


def tiny_movielens(d: Path, n_users: int = 6, per_user: int = 5, dup: bool = False) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    rows = [f"{i + 1},{t},{GENRES[i % 6]}|{GENRES[(i + 2) % 6]}" for i, t in enumerate(TITLES)]
    if dup:
        rows.append("3,Casino Again (1997),Drama")
    (d / "movies.csv").write_text("movieId,title,genres\n" + "\n".join(rows) + "\n", encoding="utf-8")
    ratings = [f"{u},{(u + k) % len(TITLES) + 1},{1 + (u * k) % 5}.0,{1000 * u + k}"
               for u in range(1, n_users + 1) for k in range(per_user)]
    (d / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "\n".join(ratings) + "\n", encoding="utf-8")
    (d / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,1,Heist,1\n2,1,heist,2\n1,6,space,3\n", encoding="utf-8")
    return d


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["-q", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def stats_json(capsys, path: Path) -> dict:
    rc, out, _ = run(capsys, "data", "stats", str(path), "--json")
    assert rc == 0
    return json.loads(out)


def test_prepare_and_stats_movielens(tmp_path: Path, capsys) -> None:
    src = tiny_movielens(tmp_path / "ml-tiny")
    out = tmp_path / "run" / "data"
    rc, text, err = run(capsys, "data", "prepare", "--source", "movielens", "--path", str(src), "--out", str(out))
    assert rc == 0, err
    assert "Prepared ml-tiny" in text and "8 items" in text and "6 users" in text
    ds = Dataset.load(out)
    assert ds.n_items == 8 and ds.meta["source"] == "movielens"
    st = stats_json(capsys, out)
    assert SIZE_KEYS <= set(st)
    assert {k: st[k] for k in SIZE_KEYS} == ds.sizes()
    assert (st["n_items"], st["n_users"], st["n_interactions"]) == (8, 6, 30)
    assert st["n_queries_train"] == st["n_queries_test"] == 80
    assert st["n_head"] == 1 and st["n_torso"] == 7
    assert (st["n_interactions_train"], st["n_interactions_valid"], st["n_interactions_test"]) == (18, 6, 6)
    assert st["history_length"]["p50"] == 3 and st["history_length"]["max"] == 3
    rc, text, _ = run(capsys, "data", "stats", str(out))
    assert rc == 0
    for word in ("items", "users", "interactions", "queries", "head 1", "torso 7", "p50 3", "train 80"):
        assert word in text


def test_prepare_synthetic(tmp_path: Path, capsys) -> None:
    pytest.importorskip("semid.data.synthetic", reason="semid.data.synthetic is not committed yet")
    out = tmp_path / "syn" / "data"
    rc, text, err = run(capsys, "data", "prepare", "--source", "synthetic", "--n-items", "60", "--n-users", "40",
                        "--seed", "3", "--out", str(out))
    assert rc == 0, err
    st = stats_json(capsys, out)
    assert st["n_items"] == 60 and 0 < st["n_users"] <= 40
    assert st["n_queries_train"] > 0 and st["n_queries_test"] > 0
    assert st["n_head"] + st["n_torso"] == 60


def test_failing_prepare_leaves_nothing_behind(tmp_path: Path, capsys) -> None:
    src = tiny_movielens(tmp_path / "ml-dup", dup=True)
    out = tmp_path / "run" / "data"
    rc, _, err = run(capsys, "data", "prepare", "--source", "movielens", "--path", str(src), "--out", str(out))
    assert rc == 2
    assert "movies.csv" in err and "duplicate movie id 3" in err and "Traceback" not in err
    assert not out.exists()
    assert not (tmp_path / "run").exists() or list((tmp_path / "run").iterdir()) == []


def test_no_user_with_enough_history_names_the_ratings_file(tmp_path: Path, capsys) -> None:
    src = tiny_movielens(tmp_path / "ml-short", per_user=3)
    out = tmp_path / "run" / "data"
    rc, _, err = run(capsys, "data", "prepare", "--source", "movielens", "--path", str(src),
                     "--min-history", "5", "--out", str(out))
    assert rc == 2
    assert str(src / "ratings.csv") in err and "min-history" in err
    assert not out.exists()


def test_argument_errors(tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "o")
    rc, _, err = run(capsys, "data", "prepare", "--source", "movielens", "--out", out)
    assert rc == 2 and "--path DIR" in err and "--download NAME" in err
    rc, _, err = run(capsys, "data", "prepare", "--source", "synthetic", "--path", str(tmp_path), "--out", out)
    assert rc == 2 and "--path" in err and "--source movielens" in err
    rc, _, err = run(capsys, "data", "prepare", "--source", "movielens", "--path", str(tmp_path / "none"), "--out", out)
    assert rc == 2 and "is not a directory" in err
    rc, _, err = run(capsys, "data", "stats", str(tmp_path / "missing"))
    assert rc == 2 and "semid data prepare" in err
    assert not Path(out).exists()


def test_prepare_from_download(tmp_path: Path, capsys) -> None:
    import io
    import zipfile

    from test_download import Server

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in tiny_movielens(tmp_path / "src").iterdir():
            zf.write(f, f"ml-latest-small/{f.name}")
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    out = tmp_path / "run" / "data"
    with Server({"/datasets/ml-latest-small.zip": data}) as srv:
        argv = ["data", "prepare", "--source", "movielens", "--download", "ml-latest-small", "--base-url", srv.url,
                "--sha256", digest, "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
        rc, _, err = run(capsys, *argv)
        assert rc == 0, err
        rc, _, err = run(capsys, *argv)  # second time from the cache
        assert rc == 0, err
    assert len(srv.requests) == 1
    assert stats_json(capsys, out)["n_items"] == 8


def test_real_ml_latest_small(ml_small_dir: Path, tmp_path: Path, capsys) -> None:
    from semid.data.text import contains_title

    out = tmp_path / "mls" / "data"
    t0 = time.perf_counter()
    rc, text, err = run(capsys, "data", "prepare", "--source", "movielens", "--path", str(ml_small_dir),
                        "--out", str(out))
    elapsed = time.perf_counter() - t0
    assert rc == 0, err
    st = stats_json(capsys, out)
    assert (st["n_items"], st["n_users"], st["n_interactions"]) == (9742, 610, 100836)
    assert st["n_head"] == 97 and st["n_queries_train"] == st["n_queries_test"] == 10 * 9742
    ds = Dataset.load(out)
    titles = dict(zip(ds.items["item_id"].tolist(), ds.items["title"].tolist(), strict=True))
    leaks = [(i, q) for i, q in zip(ds.queries["item_id"].tolist(), ds.queries["text"].tolist(), strict=True)
             if contains_title(q, titles[i])]
    assert leaks == []
    print(f"ml-latest-small prepare took {elapsed:.1f}s")
