"""Trie-constrained beam search against exhaustive scoring of every valid ID (tiny random T5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semid.generative.decode import constrained_beam_search, score_all_ids
from semid.generative.retriever import expand_items
from semid.generative.trie import IDTrie
from semid.ids.types import SemanticIDs

BASE_VOCAB = 20


def _ids(codes: np.ndarray, sizes: list[int]) -> SemanticIDs:
    names = [f"l{j}" for j in range(len(sizes))]
    cols = list(range(len(sizes)))
    return SemanticIDs(codes, names, sizes, {"search": cols, "rec": cols})


def _model(n_id_tokens: int, seed: int = 0):
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=BASE_VOCAB + n_id_tokens, d_model=32, d_kv=8, d_ff=64, num_layers=1,
                   num_decoder_layers=2, num_heads=4, dropout_rate=0.0, decoder_start_token_id=0,
                   pad_token_id=0, eos_token_id=1)
    model = T5ForConditionalGeneration(cfg).eval()
    with torch.no_grad():  # spread the logits so that rankings have no near-ties
        model.lm_head.weight.mul_(8.0)
    return model


@pytest.fixture(scope="module")
def setup2():
    """Depth-2 IDs: 6 x 7 codes, 30 items with 24 distinct IDs (some shared)."""
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(0, 6, 30), rng.integers(0, 7, 30)], 1)
    ids = _ids(codes, [6, 7])
    trie = IDTrie.build(ids, "search", popularity=rng.integers(0, 50, 30))
    model = _model(13)
    offsets = [BASE_VOCAB, BASE_VOCAB + 6]
    inp = torch.randint(2, BASE_VOCAB, (3, 9))
    mask = torch.ones_like(inp)
    mask[1, 6:] = 0  # a padded input
    inp[1, 6:] = 0
    return ids, trie, model, offsets, inp, mask


def test_full_beam_equals_exhaustive_ranking(setup2):
    ids, trie, model, offsets, inp, mask = setup2
    ref = score_all_ids(model, inp, mask, trie, offsets)
    res = constrained_beam_search(model, inp, mask, trie, offsets, beam_size=trie.n_leaves)
    for b in range(inp.shape[0]):
        order = np.argsort(-ref[b], kind="stable")
        np.testing.assert_array_equal(res.leaves[b], order)
        np.testing.assert_allclose(res.scores[b], ref[b][order], atol=1e-4)


def test_beam_keeping_all_prefixes_gives_exact_top(setup2):
    # with every first-level prefix kept, a depth-2 beam search returns the exact top-K
    ids, trie, model, offsets, inp, mask = setup2
    n_first = int((trie.children[0][0] >= 0).sum())
    assert n_first < trie.n_leaves
    ref = score_all_ids(model, inp, mask, trie, offsets)
    res = constrained_beam_search(model, inp, mask, trie, offsets, beam_size=n_first)
    for b in range(inp.shape[0]):
        np.testing.assert_array_equal(res.leaves[b], np.argsort(-ref[b], kind="stable")[:n_first])


def test_small_beam_returns_only_valid_distinct_ids_depth3():
    rng = np.random.default_rng(1)
    codes = np.stack([rng.integers(0, 3, 40), rng.integers(0, 4, 40), rng.integers(0, 5, 40)], 1)
    ids = _ids(codes, [3, 4, 5])
    trie = IDTrie.build(ids, "rec")
    model = _model(12, seed=1)
    offsets = [BASE_VOCAB, BASE_VOCAB + 3, BASE_VOCAB + 7]
    inp = torch.randint(2, BASE_VOCAB, (4, 5))
    mask = torch.ones_like(inp)
    ref = score_all_ids(model, inp, mask, trie, offsets)
    res = constrained_beam_search(model, inp, mask, trie, offsets, beam_size=4)
    for b in range(4):
        leaves = res.leaves[b][res.leaves[b] >= 0]
        assert len(leaves) == 4 and len(set(leaves.tolist())) == 4
        np.testing.assert_allclose(res.scores[b][:4], ref[b][leaves], atol=1e-4)
        assert np.all(np.diff(res.scores[b][:4]) <= 1e-6)
        # every ID exists: its items carry exactly these codes
        for leaf in leaves:
            assert {tuple(codes[i]) for i in trie.leaf_items(leaf)} == {tuple(trie.leaf_codes[leaf])}
    # a full beam over depth 3 is exhaustive as well
    full = constrained_beam_search(model, inp, mask, trie, offsets, beam_size=trie.n_leaves)
    for b in range(4):
        np.testing.assert_array_equal(full.leaves[b], np.argsort(-ref[b], kind="stable"))


def test_fewer_ids_than_beams_pads_with_minus_one():
    codes = np.array([[0, 1], [0, 2], [1, 0]])
    ids = _ids(codes, [2, 3])
    trie = IDTrie.build(ids, "search")
    model = _model(5)
    inp = torch.randint(2, BASE_VOCAB, (2, 4))
    res = constrained_beam_search(model, inp, torch.ones_like(inp), trie, [BASE_VOCAB, BASE_VOCAB + 2], beam_size=8)
    assert (res.leaves[:, :3] >= 0).all() and (res.leaves[:, 3:] == -1).all()
    assert np.isneginf(res.scores[:, 3:]).all()


def test_batched_equals_one_at_a_time(setup2):
    ids, trie, model, offsets, inp, mask = setup2
    res = constrained_beam_search(model, inp, mask, trie, offsets, beam_size=5)
    for b in range(inp.shape[0]):
        n = int(mask[b].sum())
        one = constrained_beam_search(model, inp[b:b + 1, :n], mask[b:b + 1, :n], trie, offsets, beam_size=5)
        np.testing.assert_array_equal(one.leaves[0], res.leaves[b])
        np.testing.assert_allclose(one.scores[0], res.scores[b], atol=1e-4)


def test_diverse_beam_search_is_valid_and_more_diverse(setup2):
    ids, trie, model, offsets, inp, mask = setup2
    ref = score_all_ids(model, inp, mask, trie, offsets)
    plain = constrained_beam_search(model, inp, mask, trie, offsets, beam_size=6, num_groups=3, diversity_penalty=0.0)
    diverse = constrained_beam_search(model, inp, mask, trie, offsets, beam_size=6, num_groups=3, diversity_penalty=50.0)
    for b in range(inp.shape[0]):
        for res in (plain, diverse):
            leaves = res.leaves[b][res.leaves[b] >= 0]
            assert len(set(leaves.tolist())) == len(leaves)
            # scores are the true log-probabilities, best first
            np.testing.assert_allclose(res.scores[b][:len(leaves)], ref[b][leaves], atol=1e-4)
            assert np.all(np.diff(res.scores[b][:len(leaves)]) <= 1e-6)
        # without a penalty the 3 groups find the same 2 IDs; a strong one spreads the groups out
        assert (plain.leaves[b] >= 0).sum() == 2
        firsts = {int(trie.leaf_codes[x][0]) for x in diverse.leaves[b] if x >= 0}
        assert len(firsts) >= 3


def test_shared_id_expands_into_items_by_popularity():
    codes = np.array([[0, 0], [0, 0], [0, 0], [1, 1], [1, 0]])
    ids = _ids(codes, [2, 2])
    pop = np.array([5, 9, 1, 3, 0])
    trie = IDTrie.build(ids, "search", popularity=pop)
    model = _model(4)
    inp = torch.randint(2, BASE_VOCAB, (1, 4))
    res = constrained_beam_search(model, inp, torch.ones_like(inp), trie, [BASE_VOCAB, BASE_VOCAB + 2], beam_size=3)
    items = expand_items(trie, res, k=5)[0]
    assert sorted(i for i, _ in items) == [0, 1, 2, 3, 4]
    shared = [(i, s) for i, s in items if i in (0, 1, 2)]
    assert [i for i, _ in shared] == [1, 0, 2]  # popularity order inside the ID
    assert len({s for _, s in shared}) == 1
    assert len(expand_items(trie, res, k=2)[0]) == 2


def test_bad_beam_arguments():
    codes = np.array([[0, 1], [1, 0]])
    ids = _ids(codes, [2, 2])
    trie = IDTrie.build(ids, "search")
    model = _model(4)
    inp = torch.randint(2, BASE_VOCAB, (1, 3))
    with pytest.raises(ValueError, match="multiple of num_groups"):
        constrained_beam_search(model, inp, torch.ones_like(inp), trie, [20, 22], beam_size=5, num_groups=2)
    with pytest.raises(ValueError, match="diversity_penalty"):
        constrained_beam_search(model, inp, torch.ones_like(inp), trie, [20, 22], beam_size=4, num_groups=2,
                                diversity_penalty=-1)
