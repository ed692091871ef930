"""`semid serve` against the real thing: uvicorn on 127.0.0.1 (a free port), called with httpx.

A tiny encoder-decoder model is trained here on the tiny dataset (IDs: RQ-KMeans with the
quantizer saved, so new items can be encoded for it). Every bad request gets a 4xx JSON answer
that names the problem, never a 500, and the server keeps answering afterwards. The same model
checks ``Retriever.add_items`` (new items searchable at once, without retraining)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from semid import Retriever
from semid.generative import TrainConfig, train_model
from semid.ids import build_ids
from semid.ids.encode import encode_new_items

TINY = dict(batch_size=16, lr=3e-3, d_model=32, heads=2, d_ff=64, decoder_layers=1, rec_layers=1, max_history=5,
            dropout=0.0, max_query_tokens=32)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def genre_vectors(n: int) -> np.ndarray:
    """float32 (n, 8): item i sits near the corner of its genre (i % 4), so level 0 of the IDs is the genre."""
    rng = np.random.default_rng(0)
    x = np.zeros((n, 8), np.float32)
    x[np.arange(n), np.arange(n) % 4] = 4.0
    return x + rng.normal(size=(n, 8)).astype(np.float32) * 0.3


@pytest.fixture(scope="module")
def model(tiny_dataset, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("serve")
    build_ids(genre_vectors(tiny_dataset.n_items), levels=2, codebook_size=4, popularity=tiny_dataset.train_counts,
              show_progress=False).save(root / "ids")
    train_model(tiny_dataset, root / "ids", TrainConfig(epochs=20, **TINY), root / "model", show_progress=False)
    return {"model": root / "model", "ids": root / "ids", "root": root}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadServer:
    """The app on a real uvicorn server in a thread (the in-process retriever stays inspectable)."""

    def __init__(self, retriever) -> None:
        import uvicorn

        from semid.serve.app import create_app

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_app(retriever, "tiny"), host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        return self.client

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def retriever(model) -> Retriever:
    return Retriever.load(model["model"], device="cpu")


@pytest.fixture(scope="module")
def client(retriever):
    with ThreadServer(retriever) as c:
        yield c


def _is_4xx(r: httpx.Response, status: int, *phrases: str) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert isinstance(body["error"], str) and "Traceback" not in r.text
    for p in phrases:
        assert p in body["error"], (p, body["error"])
    return body


def test_health_search_recommend_and_items_speak_catalogue_ids(client, tiny_dataset):
    ids = tiny_dataset.items["item_id"].tolist()
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["items"] == 40 and h["added_items"] == 0 and h["device"] == "cpu"
    r = client.post("/search", json={"query": "drama movie with tag2", "k": 5})
    assert r.status_code == 200
    (res,) = r.json()["results"]
    assert res["input"] == "drama movie with tag2" and [x["rank"] for x in res["hits"]] == [1, 2, 3, 4, 5]
    assert all(x["item_id"] in ids and x["title"].startswith("Film ") for x in res["hits"])
    batch = client.post("/search", json={"queries": ["comedy movie", "horror movie"], "k": 3}).json()["results"]
    assert [b["input"] for b in batch] == ["comedy movie", "horror movie"] and all(len(b["hits"]) == 3 for b in batch)
    rec = client.post("/recommend", json={"history": [ids[0], ids[4]], "k": 4}).json()["results"]
    assert len(rec) == 1 and len(rec[0]["hits"]) == 4 and all(x["item_id"] in ids for x in rec[0]["hits"])
    recs = client.post("/recommend", json={"histories": [[ids[1]], [str(ids[2]), ids[6]]], "k": 2}).json()["results"]
    assert len(recs) == 2
    assert client.get(f"/items/{ids[3]}").json() == {"item_id": ids[3], "title": "Film 3"}
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/search", "/recommend", "/items/{item_id}", "/health"}
    assert client.get("/docs").status_code == 200


def test_bad_requests_get_4xx_answers_that_name_the_problem_and_the_server_keeps_serving(client, tiny_dataset):
    ids = tiny_dataset.items["item_id"].tolist()
    post = client.post
    _is_4xx(post("/search", json={"query": ""}), 422, "query", "empty")
    _is_4xx(post("/search", json={"query": "   "}), 422, "query is empty")
    _is_4xx(post("/search", json={"query": "x" * 513}), 422, "query", "512")
    _is_4xx(post("/search", json={"queries": ["ok", " "]}), 422, "queries[1] is empty")
    _is_4xx(post("/search", json={"queries": ["y" * 600]}), 422, "queries[0] has 600 characters")
    _is_4xx(post("/search", json={"queries": []}), 422, "queries")
    _is_4xx(post("/search", json={"query": "ok", "k": 0}), 422, "k", "greater than or equal to 1")
    _is_4xx(post("/search", json={"query": "ok", "k": 101}), 422, "k", "less than or equal to 100")
    _is_4xx(post("/search", json={"query": "ok", "k": 41}), 422, "k: 41 is more than the 40 items")
    _is_4xx(post("/search", json={"query": "ok", "k": "ten"}), 422, "k", "integer")
    _is_4xx(post("/search", json={"query": "ok", "queries": ["ok"]}), 422, "exactly one of 'query'")
    _is_4xx(post("/search", json={}), 422, "exactly one of 'query'")
    _is_4xx(post("/search", json={"qeury": "ok"}), 422, "qeury", "Extra inputs")
    _is_4xx(post("/search", json=["ok"]), 422, "dictionary")
    _is_4xx(post("/search", content=b'{"query": "ok",', headers={"content-type": "application/json"}), 400,
            "malformed JSON body")
    body = _is_4xx(post("/recommend", json={"history": [ids[0], 99999, "abc", 99999]}), 422,
                   "unknown item id(s) in history: [99999, 'abc']")
    assert body["unknown_item_ids"] == [99999, "abc"]
    _is_4xx(post("/recommend", json={"history": []}), 422, "history")
    _is_4xx(post("/recommend", json={"histories": [[ids[0]], []]}), 422, "histories[1] is empty")
    _is_4xx(post("/recommend", json={"history": [ids[0]], "histories": [[ids[0]]]}), 422, "exactly one of 'history'")
    _is_4xx(client.get("/items/99999"), 404, "item id '99999' is not in the catalogue")
    _is_4xx(client.get("/items/film"), 404, "'film'")
    _is_4xx(client.get("/search"), 405, "GET /search")
    _is_4xx(client.get("/nowhere"), 404, "/nowhere", "/docs")
    # still serving, and as before
    assert client.get("/health").json()["status"] == "ok"
    assert len(post("/search", json={"query": "drama movie", "k": 3}).json()["results"][0]["hits"]) == 3


def _ranked(body: dict) -> list:
    return [[(h["item_id"], h["score"]) for h in res["hits"]] for res in body["results"]]


def test_concurrent_requests_get_the_answers_they_get_alone(client, tiny_dataset):
    """Concurrent requests are batched into one model call; each still gets its own answer."""
    ids = tiny_dataset.items["item_id"].tolist()
    reqs = [("/search", {"query": f"{g} movie with tag{i % 7}", "k": 5 + i % 2})
            for i, g in enumerate(["action", "comedy", "drama", "horror"] * 4)]
    reqs += [("/recommend", {"history": [ids[i], ids[i + 4]], "k": 3}) for i in range(8)]
    reqs += [("/recommend", {"history": [ids[0], 424242]}), ("/search", {"query": " "})]  # bad ones mixed in
    alone = [client.post(path, json=body) for path, body in reqs]
    with ThreadPoolExecutor(len(reqs)) as ex:
        together = list(ex.map(lambda r: client.post(r[0], json=r[1]), reqs))
    assert [r.status_code for r in together] == [200] * 24 + [422, 422] == [r.status_code for r in alone]
    for a, t in zip(alone[:24], together[:24], strict=True):
        ra, rt = _ranked(a.json()), _ranked(t.json())
        assert [[i for i, _ in x] for x in rt] == [[i for i, _ in x] for x in ra]
        assert np.allclose([s for x in rt for _, s in x], [s for x in ra for _, s in x], atol=1e-3)


def test_added_items_are_searchable_at_once_without_retraining(model, tiny_dataset, tmp_path):
    r = Retriever.load(model["model"], device="cpu")
    x = genre_vectors(tiny_dataset.n_items)
    new = encode_new_items(model["ids"], x[[2, 6]], [5000, 5001], ["New drama", "Another new drama"])
    assert r.add_items(new) == {"n_new": 2, "own_id": new.info["own_id"], "shared_id": new.info["shared_id"],
                                "unseen_quantizer_codes": new.info["unseen_quantizer_codes"]}
    assert r.n_items == 42 and r.n_trained == 40
    # a beam as wide as the catalogue reaches every ID: the new items are among the answers
    hits = r.search("drama movie with tag2", k=42, beam_size=64)[0]
    assert {5000, 5001} <= {h.item_id for h in hits}
    assert r.item(5001).title == "Another new drama"
    with pytest.raises(ValueError, match=r"already in the catalogue: \[5000\]"):
        r.add_items(encode_new_items(model["ids"], x[[2]], [5000]))
    with pytest.raises(ValueError, match="added after training"):
        r.recommend([[tiny_dataset.items["item_id"].iloc[0], 5000]])
    # items encoded for other IDs are refused
    build_ids(x[::-1].copy(), levels=2, codebook_size=4, show_progress=False).save(tmp_path / "other")
    with pytest.raises(ValueError, match="ids fingerprint differs"):
        r.add_items(encode_new_items(tmp_path / "other", x[[1]], [6000]))
    with ThreadServer(r) as c:
        assert c.get("/health").json()["added_items"] == 2
        assert c.get("/items/5000").json() == {"item_id": 5000, "title": "New drama"}
        res = c.post("/search", json={"query": "drama movie with tag2", "k": 42}).json()["results"][0]["hits"]
        assert len(res) == 42
        _is_4xx(c.post("/recommend", json={"history": [5000]}), 422, "added after training")


@pytest.mark.slow  # a fresh interpreter loading torch and the text encoder: 20-150 s on a shared 2-core machine
def test_semid_serve_command_loads_then_serves(model, tiny_dataset, tmp_path):
    from semid.cli import main

    x = genre_vectors(tiny_dataset.n_items)
    np.save(tmp_path / "new.npy", x[[1]])
    (tmp_path / "new.csv").write_text("item_id,title\n7000,Brand new\n")
    assert main(["-q", "ids", "encode", "--ids", str(model["ids"]), "--embeddings", str(tmp_path / "new.npy"),
                 "--items", str(tmp_path / "new.csv"), "--out", str(tmp_path / "new")]) == 0
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "semid.cli", "serve", str(model["model"]), "--port", str(port),
           "--new-items", str(tmp_path / "new"), "--no-access-log", "--device", "cpu"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"semid serve did not come up: {proc.communicate(timeout=5)[0][-2000:]}") from None
                time.sleep(0.3)
        # the port opens only after the model is loaded: the first answer already sees all items
        assert health.json()["items"] == 41 and health.json()["added_items"] == 1
        r = httpx.post(f"http://127.0.0.1:{port}/search", json={"query": "comedy movie", "k": 3}, timeout=120)
        assert r.status_code == 200 and len(r.json()["results"][0]["hits"]) == 3
        assert httpx.get(f"http://127.0.0.1:{port}/items/7000", timeout=5).json()["title"] == "Brand new"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert main(["serve", str(model["model"]), "--port", "70000"]) == 2


class _StubRetriever:
    """Only what ``semid recommend`` asks of a Retriever: ``find`` over a catalogue of ``ids``."""

    def __init__(self, ids):
        self.ids = ids
        self.seen = None

    def find(self, item_id):
        if item_id in self.ids:
            return item_id
        try:
            n = int(item_id)
        except ValueError:
            return None
        return n if n in self.ids else None

    def recommend(self, histories, k, beam_size):
        self.seen = histories
        return [[] for _ in histories]


@pytest.mark.parametrize("ids, typed, expected", [
    (["0000000003", "B00ABC"], "0000000003,B00ABC", ["0000000003", "B00ABC"]),  # all-digit ASINs stay strings
    ([3, 17], "3, 17", [3, 17]),                                                   # integer catalogues get integers
    ([3, 17], "3,99", [3, "99"]),                                                  # unknown ids go on as typed
])
def test_recommend_command_reads_history_ids_as_the_catalogue_spells_them(monkeypatch, capsys, ids, typed, expected):
    import argparse

    from semid.generative import query_cli

    stub = _StubRetriever(ids)
    monkeypatch.setattr(query_cli, "_load", lambda args: stub)
    args = argparse.Namespace(history=[typed], k=5, beam=None, json=True)
    assert query_cli._recommend(args) == 0
    assert stub.seen == [expected]
