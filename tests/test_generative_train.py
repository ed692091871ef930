"""The generative model end to end on the tiny dataset: tokens, examples, training, resume, retrieval."""

from __future__ import annotations

import numpy as np
import pytest

from semid.generative import TrainConfig, load_model, train_model
from semid.generative.examples import TaskEncoder, build_examples
from semid.generative.model import add_id_tokens, build_model
from semid.ids.types import SemanticIDs
from tests.conftest import separate_ids

TINY = dict(backend="t5", batch_size=16, lr=3e-3, small_vocab_size=120, small_d_model=32, small_d_ff=64, small_layers=1,
            small_decoder_layers=1, small_heads=2, max_history=5, save_steps=2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def shared_ids(n: int, seed: int = 0) -> SemanticIDs:
    rng = np.random.default_rng(seed)
    codes = np.stack([np.arange(n) % 4, rng.integers(0, 5, n)], 1)
    return SemanticIDs(codes, ["a", "b"], [4, 5], {"search": [0, 1], "rec": [0, 1]})


@pytest.fixture(scope="module")
def trained(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "model"
    cfg = TrainConfig(epochs=1, **TINY)
    train_model(tiny_dataset, shared_ids(tiny_dataset.n_items), cfg, out, show_progress=False)
    return out


def _small(tiny_dataset, ids):
    model, tok = build_model("small", tiny_dataset.texts, vocab_size=120, d_model=32, d_ff=64, num_layers=1,
                             num_decoder_layers=1, num_heads=2)
    add_id_tokens(model, tok, ids, tiny_dataset.texts)
    return model, tok


def test_id_tokens_are_single_tokens_and_tasks_disjoint_under_separate(tiny_dataset):
    ids = separate_ids(tiny_dataset.n_items)
    model, tok = _small(tiny_dataset, ids)
    enc = TaskEncoder(tok, ids, max_history=3)
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    # a written-out ID string tokenizes into exactly its ID tokens
    text = "".join(ids.task_tokens("rec", 5))
    assert tok.convert_ids_to_tokens(tok(text, add_special_tokens=False)["input_ids"]) == ids.task_tokens("rec", 5)
    search_tok = set(enc.task_token_ids["search"].ravel().tolist())
    rec_tok = set(enc.task_token_ids["rec"].ravel().tolist())
    assert search_tok.isdisjoint(rec_tok)
    # rec inputs: prefix, then the last 3 history items in rec tokens, then </s>
    inp = enc.rec_input(np.array([0, 1, 2, 3]))
    expect = sum((enc.target("rec", i) for i in (1, 2, 3)), [])
    assert inp[-1] == tok.eos_token_id and inp[-7:-1] == expect
    assert tok.unk_token_id not in enc.search_inputs(["search: a drama movie!"])[0]


def test_content_mean_init_places_codes_at_their_items_text(tiny_dataset):
    ids = shared_ids(tiny_dataset.n_items)
    model, tok = _small(tiny_dataset, ids)
    emb = model.get_input_embeddings().weight.detach().numpy()
    n_base = len(tok) - len(ids.all_tokens())
    toks = tok(tiny_dataset.texts, add_special_tokens=False)["input_ids"]
    item_vec = np.stack([emb[[t for t in x if t < n_base]].mean(0) for x in toks])
    for c in range(4):
        expect = item_vec[ids.codes[:, 0] == c].mean(0)
        row = emb[tok.convert_tokens_to_ids(ids.token(0, c))]
        assert np.abs(row - expect).max() < 0.1 * np.abs(expect).max() + 1e-3


def test_rec_targets_all_vs_last(tiny_dataset):
    ids = shared_ids(tiny_dataset.n_items)
    _, tok = _small(tiny_dataset, ids)
    enc = TaskEncoder(tok, ids, max_history=4)
    hist = tiny_dataset.user_histories(("train",))
    all_ex = build_examples(tiny_dataset, enc, "all", tasks=("rec",))
    last_ex = build_examples(tiny_dataset, enc, "last", tasks=("rec",))
    assert len(all_ex) == sum(len(h) - 1 for h in hist.values())
    assert len(last_ex) == sum(len(h) > 1 for h in hist.values())
    both = build_examples(tiny_dataset, enc, "last")
    assert both.task.count("search") == len(tiny_dataset.queries_for("train"))
    with pytest.raises(ValueError, match="rec_targets"):
        build_examples(tiny_dataset, enc, "first")


def test_train_writes_self_contained_model_and_retrieves(trained, tiny_dataset):
    r = load_model(trained)
    cfg = r.config
    assert cfg["train_config"]["epochs"] == 1 and cfg["train_time_s"] > 0
    assert cfg["history"] and np.isfinite(cfg["history"][-1]["val_loss"])
    assert not (trained / "checkpoints").exists()
    out = r.retrieve("search", ["drama movie with tag2", "action"], k=7)
    assert len(out) == 2
    for lst in out:
        items = [i for i, _ in lst]
        assert len(items) == 7 and len(set(items)) == 7
        assert all(0 <= i < tiny_dataset.n_items for i in items)
        scores = [s for _, s in lst]
        assert scores == sorted(scores, reverse=True)
    rec = r.retrieve("rec", [tiny_dataset.rec_examples("test")[0].history], k=5, beam_size=6, num_groups=3,
                     diversity_penalty=0.25)
    assert len(rec[0]) == 5
    # rerunning the same training returns the finished model unchanged
    mtime = (trained / "config.json").stat().st_mtime
    train_model(tiny_dataset, shared_ids(tiny_dataset.n_items), TrainConfig(epochs=1, **TINY), trained,
                show_progress=False)
    assert (trained / "config.json").stat().st_mtime == mtime
    with pytest.raises(FileExistsError, match="other settings"):
        train_model(tiny_dataset, shared_ids(tiny_dataset.n_items), TrainConfig(epochs=2, **TINY), trained,
                    show_progress=False)


class Interrupt(Exception):
    pass


def test_interrupted_training_resumes_from_checkpoint(tiny_dataset, tmp_path):
    ids = shared_ids(tiny_dataset.n_items)
    cfg = TrainConfig(epochs=1, **{**TINY, "batch_size": 32})
    out = tmp_path / "m"

    def stop_at_5(step, loss):
        if step == 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_model(tiny_dataset, ids, cfg, out, show_progress=False, callback=stop_at_5)
    assert not (out / "config.json").exists()
    assert (out / "checkpoints" / "step-4.pt").exists()
    with pytest.raises(FileNotFoundError, match="unfinished"):
        load_model(out)
    steps = []
    train_model(tiny_dataset, ids, cfg, out, show_progress=False, callback=lambda s, loss: steps.append(s))
    assert steps[0] == 5  # continued after the step-4 checkpoint, not from step 0
    done = load_model(out).config
    assert done["steps"] == done["total_steps"] == steps[-1]


def test_bad_inputs(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="--model small"):
        build_model(str(tmp_path / "no-such-model"), [])
    with pytest.raises(ValueError, match="grad_accum"):
        TrainConfig(batch_size=10, grad_accum=3)
    with pytest.raises(ValueError, match="rec_targets"):
        TrainConfig(rec_targets="some")
    wrong = shared_ids(tiny_dataset.n_items + 1)
    with pytest.raises(ValueError, match="IDs cover"):
        train_model(tiny_dataset, wrong, TrainConfig(**TINY), tmp_path / "x", show_progress=False)
    with pytest.raises(FileNotFoundError, match="semid train"):
        load_model(tmp_path / "nothing")
