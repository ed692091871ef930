"""Trie-constrained beam search against exhaustive scoring of every valid ID, for every backend
(a tiny random T5 and tiny random encoder-decoder ID decoders: transformer and prefix MLP)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semid.generative.backends.encoder_decoder import EDMemory, EncoderDecoderBackend
from semid.generative.backends.id_decoder import IDDecoder
from semid.generative.backends.mlp_decoder import PrefixMLPDecoder
from semid.generative.backends.t5 import T5Backend
from semid.generative.decode import constrained_beam_search, score_all_ids
from semid.generative.retriever import expand_items
from semid.generative.trie import IDTrie
from semid.ids.types import SemanticIDs

BASE_VOCAB = 20


def _ids(codes: np.ndarray, sizes: list[int]) -> SemanticIDs:
    names = [f"l{j}" for j in range(len(sizes))]
    cols = list(range(len(sizes)))
    return SemanticIDs(codes, names, sizes, {"search": cols, "rec": cols})


class _Case:
    """A backend with random weights over ``ids`` and a way to make memories for it."""

    def __init__(self, kind: str, ids: SemanticIDs, seed: int = 0) -> None:
        self.kind = kind
        torch.manual_seed(seed)
        if kind == "t5":
            from transformers import T5Config, T5ForConditionalGeneration

            n_tok = sum(ids.level_sizes)
            cfg = T5Config(vocab_size=BASE_VOCAB + n_tok, d_model=32, d_kv=8, d_ff=64, num_layers=1,
                           num_decoder_layers=2, num_heads=4, dropout_rate=0.0, decoder_start_token_id=0,
                           pad_token_id=0, eos_token_id=1)
            model = T5ForConditionalGeneration(cfg).eval()
            with torch.no_grad():  # spread the logits so that rankings have no near-ties
                model.lm_head.weight.mul_(8.0)
            offs = list(BASE_VOCAB + np.cumsum([0] + list(ids.level_sizes))[:-1])
            self.backend = T5Backend(model, offsets={t: [offs[j] for j in cols] for t, cols in ids.tasks.items()})
        elif kind == "encoder-decoder-mlp":
            dec = PrefixMLPDecoder(ids.level_sizes, ids.tasks, enc_dim=12, d_model=32, heads=4, d_ff=64, layers=2,
                                   dropout=0.0, search_memory="tokens").eval()
            with torch.no_grad():
                for p in dec.parameters():  # random everywhere, so that the memory read matters
                    p.normal_(0.0, 0.3)
                dec.tok.weight.mul_(10.0)
            self.backend = EncoderDecoderBackend(dec, ids, {"max_history": 5})
        else:  # the transformer; "-sum": without self-attention, pca projection, multi-query cross-attention
            fast = kind == "encoder-decoder-sum"
            dec = IDDecoder(ids.level_sizes, ids.tasks, enc_dim=12, d_model=8 if fast else 32, heads=4,
                            d_ff=64, layers=2, rec_layers=1, dropout=0.0, search_projection="pca" if fast else "learned",
                            cross_kv_heads=1 if fast else None, self_attention=not fast).eval()
            if fast:
                dec.q_proj.fit(np.random.default_rng(seed).normal(size=(500, 12)))
            with torch.no_grad():
                dec.out_norm.weight.mul_(8.0)
                dec.tok.weight.mul_(20.0)
            self.backend = EncoderDecoderBackend(dec, ids, {"max_history": 5})

    def memory(self, B: int, S: int, seed: int = 0, pad_row: int | None = None, task: str = "search"):
        g = torch.Generator().manual_seed(seed)
        mask = torch.ones(B, S, dtype=torch.long)
        if pad_row is not None:
            mask[pad_row, S - 3:] = 0
        if self.kind == "t5":
            inp = torch.randint(2, BASE_VOCAB, (B, S), generator=g)
            inp[mask == 0] = 0
            return self.backend.memory_from_tokens(inp, mask, task)
        states = torch.randn(B, S, 12, generator=g)
        mem, m = self.backend.decoder.search_memory(states, mask.bool())
        return EDMemory(mem.detach(), m, task)

    def one(self, memory, b: int):
        """The memory of input ``b`` alone, without its padding."""
        return self.backend.select(memory, b)


BACKENDS = ["t5", "encoder-decoder", "encoder-decoder-sum", "encoder-decoder-mlp"]


@pytest.fixture(scope="module", params=BACKENDS)
def setup2(request):
    """Depth-2 IDs: 6 x 7 codes, 30 items with 24 distinct IDs (some shared)."""
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(0, 6, 30), rng.integers(0, 7, 30)], 1)
    ids = _ids(codes, [6, 7])
    trie = IDTrie.build(ids, "search", popularity=rng.integers(0, 50, 30))
    case = _Case(request.param, ids)
    memory = case.memory(3, 9, pad_row=1)  # input 1 is padded
    return case, trie, memory


def test_full_beam_equals_exhaustive_ranking(setup2):
    case, trie, memory = setup2
    be = case.backend
    ref = score_all_ids(be, memory, trie)
    res = constrained_beam_search(be, memory, trie, beam_size=trie.n_leaves)
    for b in range(3):
        order = np.argsort(-ref[b], kind="stable")
        np.testing.assert_array_equal(res.leaves[b], order)
        np.testing.assert_allclose(res.scores[b], ref[b][order], atol=1e-4)


def test_beam_keeping_all_prefixes_gives_exact_top(setup2):
    # with every first-level prefix kept, a depth-2 beam search returns the exact top-K
    case, trie, memory = setup2
    n_first = int((trie.children[0][0] >= 0).sum())
    assert n_first < trie.n_leaves
    ref = score_all_ids(case.backend, memory, trie)
    res = constrained_beam_search(case.backend, memory, trie, beam_size=n_first)
    for b in range(3):
        np.testing.assert_array_equal(res.leaves[b], np.argsort(-ref[b], kind="stable")[:n_first])


@pytest.mark.parametrize("kind", BACKENDS)
def test_small_beam_returns_only_valid_distinct_ids_depth3(kind):
    rng = np.random.default_rng(1)
    codes = np.stack([rng.integers(0, 3, 40), rng.integers(0, 4, 40), rng.integers(0, 5, 40)], 1)
    ids = _ids(codes, [3, 4, 5])
    trie = IDTrie.build(ids, "rec")
    case = _Case(kind, ids, seed=1)
    memory = case.memory(4, 5, seed=1, task="rec")
    ref = score_all_ids(case.backend, memory, trie)
    res = constrained_beam_search(case.backend, memory, trie, beam_size=4)
    for b in range(4):
        leaves = res.leaves[b][res.leaves[b] >= 0]
        assert len(leaves) == 4 and len(set(leaves.tolist())) == 4
        np.testing.assert_allclose(res.scores[b][:4], ref[b][leaves], atol=1e-4)
        assert np.all(np.diff(res.scores[b][:4]) <= 1e-6)
        # every ID exists: its items carry exactly these codes
        for leaf in leaves:
            assert {tuple(codes[i]) for i in trie.leaf_items(leaf)} == {tuple(trie.leaf_codes[leaf])}
    # a full beam over depth 3 is exhaustive as well
    full = constrained_beam_search(case.backend, memory, trie, beam_size=trie.n_leaves)
    for b in range(4):
        np.testing.assert_array_equal(full.leaves[b], np.argsort(-ref[b], kind="stable"))


@pytest.mark.parametrize("kind", BACKENDS)
def test_fewer_ids_than_beams_pads_with_minus_one(kind):
    codes = np.array([[0, 1], [0, 2], [1, 0]])
    ids = _ids(codes, [2, 3])
    trie = IDTrie.build(ids, "search")
    case = _Case(kind, ids)
    res = constrained_beam_search(case.backend, case.memory(2, 4), trie, beam_size=8)
    assert (res.leaves[:, :3] >= 0).all() and (res.leaves[:, 3:] == -1).all()
    assert np.isneginf(res.scores[:, 3:]).all()


def test_batched_equals_one_at_a_time(setup2):
    case, trie, memory = setup2
    res = constrained_beam_search(case.backend, memory, trie, beam_size=5)
    for b in range(3):
        one = constrained_beam_search(case.backend, case.one(memory, b), trie, beam_size=5)
        np.testing.assert_array_equal(one.leaves[0], res.leaves[b])
        np.testing.assert_allclose(one.scores[0], res.scores[b], atol=1e-4)


def test_diverse_beam_search_is_valid_and_more_diverse(setup2):
    case, trie, memory = setup2
    ref = score_all_ids(case.backend, memory, trie)
    plain = constrained_beam_search(case.backend, memory, trie, beam_size=6, num_groups=3, diversity_penalty=0.0)
    diverse = constrained_beam_search(case.backend, memory, trie, beam_size=6, num_groups=3, diversity_penalty=50.0)
    for b in range(3):
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
    case = _Case("t5", ids)
    res = constrained_beam_search(case.backend, case.memory(1, 4), trie, beam_size=3)
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
    case = _Case("t5", ids)
    memory = case.memory(1, 3)
    with pytest.raises(ValueError, match="multiple of num_groups"):
        constrained_beam_search(case.backend, memory, trie, beam_size=5, num_groups=2)
    with pytest.raises(ValueError, match="diversity_penalty"):
        constrained_beam_search(case.backend, memory, trie, beam_size=4, num_groups=2, diversity_penalty=-1)
