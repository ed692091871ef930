"""The encoder-decoder backend end to end on the tiny dataset: cached query states, training,
resume, every ID scheme, and retrieval that learns a task with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semid.generative import TrainConfig, load_model, train_model
from semid.generative.query_states import QueryStates, encode_states
from semid.ids.types import SemanticIDs
from tests.conftest import separate_ids

TINY = dict(batch_size=16, lr=3e-3, d_model=32, heads=2, d_ff=64, decoder_layers=1, rec_layers=1, max_history=5,
            save_steps=2, dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def genre_ids(n: int) -> SemanticIDs:
    """Level 0 is the item's genre (item i has genre i % 4), level 1 tells the items apart."""
    codes = np.stack([np.arange(n) % 4, np.arange(n) // 4], 1)
    return SemanticIDs(codes, ["a", "b"], [4, int(codes[:, 1].max()) + 1], {"search": [0, 1], "rec": [0, 1]})


@pytest.fixture(scope="module")
def states(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "states"
    encode_states(tiny_dataset.queries_for("train")["text"].tolist(), "all-MiniLM-L6-v2", 32,
                  show_progress=False).save(out)
    return out


#: the decoder variants that must all learn the known-answer task: the transformer reading the query's
#: pooled sentence embedding, or every token state through the fixed pca projection (the default) or a
#: learned one, and the prefix MLP
DECODERS = {"pooled": {"search_memory": "pooled"}, "tokens-pca": {"search_memory": "tokens"},
            "tokens-learned": {"search_memory": "tokens", "search_projection": "learned"},
            "mlp": {"decoder": "mlp", "rec_layers": 0}}


@pytest.fixture(scope="module", params=list(DECODERS))
def trained(request, tiny_dataset, states, tmp_path_factory):
    out = tmp_path_factory.mktemp("ed") / "model"
    cfg = TrainConfig(epochs=30, max_query_tokens=32, **{**TINY, **DECODERS[request.param]})
    train_model(tiny_dataset, genre_ids(tiny_dataset.n_items), cfg, out, show_progress=False, query_states=states)
    return out


def test_query_states_round_trip_and_ragged_gather(tiny_dataset, states):
    qs = QueryStates.load(states)
    texts = tiny_dataset.queries_for("train")["text"].tolist()
    assert len(qs) == len(texts) and qs.dim == 384 and qs.states.dtype == np.float16
    x, mask = qs.gather(np.array([0, 3]))
    lens = np.diff(qs.offsets)[[0, 3]]
    assert x.shape[:2] == mask.shape and mask.sum(1).tolist() == lens.tolist()
    assert np.all(x[~mask] == 0)
    qs.check("all-MiniLM-L6-v2", 32, texts)
    with pytest.raises(ValueError, match="do not match"):
        qs.check("all-MiniLM-L6-v2", 64, texts)
    with pytest.raises(ValueError, match="do not match"):
        qs.check("all-MiniLM-L6-v2", 32, texts[:-1] + ["another query"])


def test_learns_the_genre_of_a_query_and_of_a_history(trained, tiny_dataset):
    # queries name the genre, and users keep to one genre: a model that learned anything puts
    # the right genre's items first, where random IDs would be right a quarter of the time
    r = load_model(trained)
    assert r.config["backend"] == "encoder-decoder"
    assert r.config["n_trainable_parameters"] == r.config["n_parameters"]  # the encoder is not part of it
    genres = ["action", "comedy", "drama", "horror"]
    out = r.retrieve("search", [f"{g} movie with tag1" for g in genres], k=5)
    for g, lst in enumerate(out):
        items = [i for i, _ in lst]
        assert len(items) == 5 and len(set(items)) == 5
        assert all(i % 4 == g for i in items[:3]), (genres[g], items)
        scores = [s for _, s in lst]
        assert scores == sorted(scores, reverse=True)
    ex = tiny_dataset.rec_examples("test")
    rec = r.retrieve("rec", [e.history for e in ex], k=3, beam_size=6, num_groups=3, diversity_penalty=0.25)
    hit = np.mean([np.mean([i % 4 == e.history[-1] % 4 for i, _ in lst]) for e, lst in zip(ex, rec, strict=True)])
    assert hit > 0.6


def test_separate_ids_train_and_keep_tasks_apart(tiny_dataset, states, tmp_path):
    ids = separate_ids(tiny_dataset.n_items)
    cfg = TrainConfig(epochs=1, max_query_tokens=32, **TINY)
    out = train_model(tiny_dataset, ids, cfg, tmp_path / "m", show_progress=False, query_states=states)
    r = load_model(out)
    s = r.retrieve("search", ["drama movie with tag2"], k=4)[0]
    rec = r.retrieve("rec", [tiny_dataset.rec_examples("test")[0].history], k=4)[0]
    assert len(s) == 4 and len(rec) == 4
    # the two tasks' tries come from their own levels
    assert r.tries["search"].level_sizes == [4, 3] and r.tries["rec"].level_sizes == [6, 2]


class Interrupt(Exception):
    pass


def test_interrupted_training_resumes_and_encodes_states_itself(tiny_dataset, tmp_path):
    ids = genre_ids(tiny_dataset.n_items)
    cfg = TrainConfig(epochs=2, max_query_tokens=32, **TINY)
    out = tmp_path / "m"

    def stop_at_5(step, loss):
        if step == 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_model(tiny_dataset, ids, cfg, out, show_progress=False, callback=stop_at_5)
    assert (out / "checkpoints" / "query-states" / "meta.json").exists()
    steps = []
    train_model(tiny_dataset, ids, cfg, out, show_progress=False, callback=lambda s, loss: steps.append(s))
    assert steps[0] == 5  # continued after the step-4 checkpoint
    done = load_model(out).config
    assert done["steps"] == done["total_steps"] == steps[-1]


def test_states_of_another_dataset_are_refused(tiny_dataset, states, tmp_path):
    from tests.conftest import build_tiny_dataset

    other = build_tiny_dataset(n_items=44, seed=3)
    with pytest.raises(ValueError, match="do not match"):
        train_model(other, genre_ids(other.n_items), TrainConfig(epochs=1, max_query_tokens=32, **TINY),
                    tmp_path / "x", show_progress=False, query_states=states)


def test_bad_backend_settings():
    with pytest.raises(ValueError, match="backend"):
        TrainConfig(backend="gpt")
    with pytest.raises(ValueError, match="heads"):
        TrainConfig(d_model=30, heads=4)
    with pytest.raises(ValueError, match="search_memory.*'mean'"):
        TrainConfig(search_memory="mean")
    with pytest.raises(ValueError, match="decoder.*'rnn'"):
        TrainConfig(decoder="rnn")
    with pytest.raises(ValueError, match="rec_layers must be 0"):
        TrainConfig(decoder="mlp", rec_layers=1)
    with pytest.raises(ValueError, match="search_projection.*'svd'"):
        TrainConfig(search_projection="svd")


def test_pca_projection_wider_than_the_encoder_is_refused(tiny_dataset, states, tmp_path):
    cfg = TrainConfig(epochs=1, max_query_tokens=32, search_projection="pca", **{**TINY, "d_model": 512, "heads": 4})
    with pytest.raises(ValueError, match="d_model is 512; set d_model <= 384"):
        train_model(tiny_dataset, genre_ids(tiny_dataset.n_items), cfg, tmp_path / "m", show_progress=False,
                    query_states=states)


def test_pca_training_reads_states_projected_once_and_gets_the_same_loss(tiny_dataset, states):
    # the fixed projection is applied to every cached state once; a batch's loss from those must equal
    # the loss from the raw states projected inside the decoder (the inference path)
    from semid.generative.backends.encoder_decoder import EncoderDecoderBackend

    cfg = TrainConfig(max_query_tokens=32, search_memory="tokens", search_projection="pca",
                      **{**TINY, "rec_layers": 0})
    torch.manual_seed(0)
    be = EncoderDecoderBackend.create(tiny_dataset, genre_ids(tiny_dataset.n_items), cfg,
                                      states=QueryStates.load(states), show_progress=False)
    assert be.decoder.q_proj.fitted
    ex = be.training_examples(tiny_dataset)
    idx = np.arange(0, len(ex), 7)
    batch = be.collate(ex, idx)
    assert "q_memory" in batch and "i_memory" in batch and "q_states" not in batch
    raw = dict(batch)
    for part in ("q", "i"):
        rows = [ex.inputs[i] for i in idx if ex.task[i] == "search"]
        nq = len(be.states)
        sel = [r for r in rows if (r < nq) == (part == "q")]
        src = be.states if part == "q" else be.item_states
        st, _ = src.gather(np.asarray(sel) - (0 if part == "q" else nq))
        raw[f"{part}_states"] = torch.from_numpy(st)
        del raw[f"{part}_memory"]
    with torch.no_grad():
        fast, ref = be.decoder(**batch), be.decoder(**raw)
    assert torch.allclose(fast, ref, atol=1e-5), (fast, ref)


def test_pooled_states_are_the_encoders_sentence_embeddings(tiny_dataset, states):
    # the pooled search memory must be exactly what sentence-transformers returns for the query
    # (mean over tokens, then L2 norm), up to the float16 of the cached states
    from semid.generative.query_states import load_encoder

    qs = QueryStates.load(states)
    texts = tiny_dataset.queries_for("train")["text"].tolist()
    rows = np.array([0, 5, len(texts) - 1])
    ref = load_encoder("all-MiniLM-L6-v2", 32).encode([texts[i] for i in rows], normalize_embeddings=True)
    got = qs.pooled(rows)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=2e-3)
    assert qs.pooled(rows[::-1]).tolist() == got[::-1].tolist()  # any row order, computed once


def test_fine_tuning_the_top_encoder_layer_changes_only_that_layer(tiny_dataset, tmp_path):
    from semid.generative.query_states import load_encoder

    cfg = TrainConfig(epochs=1, max_query_tokens=32, encoder_train_layers=1, **{**TINY, "lr": 1e-2})
    out = train_model(tiny_dataset, genre_ids(tiny_dataset.n_items), cfg, tmp_path / "m", show_progress=False)
    assert not (out / "checkpoints").exists() and (out / "model" / "encoder").exists()
    r = load_model(out)
    decoder = sum(p.numel() for p in r.backend.decoder.parameters())
    assert r.config["n_parameters"] > r.config["n_trainable_parameters"] > decoder  # decoder + one encoder layer
    tuned = dict(r.backend.text_encoder().named_parameters())
    base = dict(load_encoder("all-MiniLM-L6-v2", 32).named_parameters())
    changed = {n for n, p in base.items() if not torch.equal(p, tuned[n].cpu())}
    assert changed and all(".layer.5." in n for n in changed), sorted(changed)[:5]
    assert len(r.retrieve("search", ["drama movie with tag2"], k=4)[0]) == 4


def test_retriever_api_and_commands_speak_catalogue_ids(trained, tiny_dataset, capsys):
    import json as _json

    from semid import Retriever
    from semid.cli import main

    r = Retriever.load(trained)
    ids = tiny_dataset.items["item_id"].tolist()
    hits = r.search("drama movie with tag2", k=5)[0]
    assert len(hits) == 5 and all(h.item_id in ids for h in hits)
    assert hits[0].title.startswith("Film ") and hits[0].score >= hits[-1].score
    rec = r.recommend([ids[0], ids[4], ids[8]], k=3)
    assert len(rec) == 1 and len(rec[0]) == 3
    with pytest.raises(ValueError, match="not in this model's catalogue: \\[99999\\]"):
        r.recommend([[ids[0], 99999]])
    with pytest.raises(ValueError, match="k must be"):
        r.search("x", k=0)
    assert main(["-q", "search", str(trained), "comedy movie", "--k", "4", "--json"]) == 0
    out = _json.loads(capsys.readouterr().out)
    assert [h["rank"] for h in out[0]] == [1, 2, 3, 4] and out[0][0]["item_id"] in ids
    assert main(["-q", "recommend", str(trained), "--history", f"{ids[1]},{ids[5]}", "--k", "3"]) == 0
    assert "rank" in capsys.readouterr().out
    assert main(["-q", "recommend", str(trained), "--history", "123456"]) == 2


def test_semid_train_reuses_given_item_text_states_and_refuses_mismatched_ones(tiny_dataset, states, tmp_path, capsys,
                                                                               monkeypatch):
    """`semid train --query-states Q --item-states I` encodes nothing itself; item states of other
    texts are refused (the CLI's error, exit 2) instead of training on the wrong texts."""
    from semid.cli import main

    data, ids_dir = tmp_path / "data", tmp_path / "ids"
    tiny_dataset.save(data)
    genre_ids(tiny_dataset.n_items).save(ids_dir)
    items = tmp_path / "item-states"
    encode_states(tiny_dataset.texts, "all-MiniLM-L6-v2", 32, show_progress=False).save(items)
    base = ["train", "--data", str(data), "--ids", str(ids_dir), "--query-states", str(states), "--epochs", "1",
            "--no-progress", "--set", "max_query_tokens=32", "--set", "d_model=32", "--set", "heads=2",
            "--set", "d_ff=64", "--batch-size", "16"]
    import semid.generative.backends.encoder_decoder as ed

    def no_encoding(*a, **k):
        raise AssertionError("states were encoded again")

    monkeypatch.setattr(ed, "encode_states", no_encoding)
    assert main(base + ["--item-states", str(items), "--out", str(tmp_path / "m")]) == 0
    # the training queries' states given as the item texts'
    assert main(base + ["--item-states", str(states), "--out", str(tmp_path / "m2")]) == 2
    assert "item-text states do not match" in capsys.readouterr().err
